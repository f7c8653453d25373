"""Who is asking, on the App's page: the staff user of a Saleor that installed the App, proven by
the token the Dashboard hands the page (Saleor's App Bridge handshake).

That token is a JWT Saleor signs with the key it signs webhooks with (`saleor/core/jwt.py`,
`create_access_token_for_app`): type "thirdparty", `app` the App's ID, `user_permissions` the
user's own, valid for minutes (the Dashboard sends a fresh one, `tokenRefresh`). Saleor signs
its customers' tokens with the same key: the type and the App's ID tell them apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import FrozenSet, Mapping

import jwt
from jwt.exceptions import InvalidTokenError

from ...errors import MultiSafepayRefundError
from .. import installations, trust
from ..installations import Installed

# What each part of the page needs the user to hold in that Saleor.
CONFIGURE = "MANAGE_APPS"  # the payment keys are the App's settings, as Saleor's own apps have it
SEE_REFUNDS = "MANAGE_ORDERS"
# Clocks of Saleor and the App may differ a little; the token lives for minutes.
LEEWAY_SECONDS = 10
THIRD_PARTY = "thirdparty"


class NotAllowed(MultiSafepayRefundError):
    """Answered with `status` and the message; the page then shows nothing else."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Staff:
    installed: Installed
    email: str
    permissions: FrozenSet[str]

    @property
    def saleor_api_url(self) -> str:
        return self.installed.saleor_api_url

    def may(self, permission: str) -> bool:
        return permission in self.permissions

    def require(self, permission: str) -> None:
        if not self.may(permission):
            raise NotAllowed(
                403,
                f"Your Saleor account lacks the {permission} permission this needs. Ask a "
                "Saleor administrator for it.",
            )


def staff(headers: Mapping[str, str]) -> Staff:
    """The staff user of a request's `Authorization: Bearer` token and `Saleor-Api-Url`
    header, or NotAllowed."""
    bearer = headers.get("Authorization", "")
    token = bearer[len("Bearer ") :].strip() if bearer.startswith("Bearer ") else ""
    api_url = headers.get("Saleor-Api-Url", "")
    if not token or not api_url:
        raise NotAllowed(
            401,
            "Open this page from the Saleor Dashboard (Apps > MultiSafepay): it shows nothing "
            "without the Dashboard's sign-in.",
        )
    try:
        installed = installations.find(api_url)
    except ValueError:
        installed = None
    if installed is None:
        raise NotAllowed(401, "The App is not installed in this Saleor.")
    claims = _verified(installed, token)
    if claims.get("type") != THIRD_PARTY or claims.get("app") != installed.app_id:
        raise NotAllowed(401, "This sign-in is not the Dashboard's for this App. Reopen the App.")
    permissions = claims.get("user_permissions")
    if not isinstance(permissions, list):
        raise NotAllowed(401, "This sign-in does not say what you may do. Reopen the App.")
    return Staff(installed, str(claims.get("email", "")), frozenset(map(str, permissions)))


def _verified(installed: Installed, token: str) -> Mapping[str, object]:
    """The token's claims, once its signature (that Saleor's key), expiry and issue time hold."""
    try:
        header = jwt.get_unverified_header(token)
    except InvalidTokenError:
        raise NotAllowed(
            401, "The Dashboard's sign-in could not be read. Reopen the App."
        ) from None
    if header.get("alg") not in trust.ALGORITHMS:
        raise NotAllowed(401, "The Dashboard's sign-in is not signed by Saleor.")
    kid = str(header.get("kid", ""))
    expired = False
    for fresh in (False, True):
        key = trust.saleor_key(installed, kid, fresh)
        if key is None:
            continue
        try:
            claims: Mapping[str, object] = jwt.decode(
                token,
                key=key,
                algorithms=trust.ALGORITHMS,
                leeway=LEEWAY_SECONDS,
                # `aud` is set only for Apps with an audience; the App's ID is checked instead.
                options={"require": ["exp", "iat"], "verify_aud": False},
            )
            return claims
        except jwt.ExpiredSignatureError:
            expired = True
            break
        except InvalidTokenError:
            continue
    if expired:
        raise NotAllowed(401, "Your Dashboard sign-in expired. Reopen the App.")
    raise NotAllowed(401, "The Dashboard's sign-in is not signed by this Saleor.")
