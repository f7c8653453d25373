"""Whether a request really comes from a Saleor that installed the App: its webhooks here, the
Dashboard's tokens in `dashboard/staff.py`, both checked with that Saleor's keys (its JWKS).

A webhook's `Saleor-Signature` is a JWS (RS256) with a detached, unencoded payload (RFC 7797,
`b64: false`): the signature covers `base64url(header) + "." + the raw body`. It is checked
against the key of that Saleor's JWKS whose `kid` the header names. The algorithm is ours
(RS256), never the header's: a header saying "none" or "HS256" is refused.
"""

from __future__ import annotations

import threading
import time
from typing import Dict, Mapping, Optional, Tuple

import jwt
from jwt.exceptions import InvalidTokenError, PyJWKError

from ..errors import MultiSafepayRefundError
from . import installations, saleor_api
from .installations import Installed

ALGORITHMS = ["RS256"]
# An unknown key or a failed check fetches Saleor's keys again (it may have rotated them), at
# most this often per Saleor: a flood of forged webhooks must not become a flood of fetches.
REFETCH_AFTER_SECONDS = 60.0
# Inside a webhook, within Saleor's 18 s.
JWKS_TIMEOUT = (2.0, 3.0)


class Untrusted(MultiSafepayRefundError):
    """Not proven to come from an installed Saleor: answered 401, nothing read further."""


_lock = threading.Lock()
# Saleor API URL -> (keys by kid, when fetched), shared by the threads of one process.
_keys: Dict[str, Tuple[Dict[str, Dict[str, object]], float]] = {}


def verify_webhook(installed: Installed, body: bytes, signature: str) -> None:
    """Raises Untrusted unless `signature` is that Saleor's over exactly `body`."""
    if not signature:
        raise Untrusted("no Saleor-Signature header")
    try:
        header = jwt.get_unverified_header(signature)
    except InvalidTokenError:
        raise Untrusted("Saleor-Signature is not a JWS") from None
    if header.get("alg") not in ALGORITHMS:
        raise Untrusted(f"Saleor-Signature uses {header.get('alg')!r}, not RS256")
    # Only a detached, unencoded payload signs the body. Any other token Saleor signed with the
    # same key (a customer's access token, anyone can get one) carries its own payload, and
    # PyJWT before 2.14 checks that one and ignores the body: refused here, whatever PyJWT does.
    crit = header.get("crit")
    if (
        header.get("b64") is not False
        or not isinstance(crit, list)
        or "b64" not in crit
        or signature.count(".") != 2
        or signature.split(".")[1] != ""
    ):
        raise Untrusted("Saleor-Signature is not a detached signature of the body")
    kid = str(header.get("kid", ""))
    for fresh in (False, True):
        key = saleor_key(installed, kid, fresh)
        if key is None:
            continue
        try:
            jwt.api_jws.decode_complete(
                signature, key=key, algorithms=ALGORITHMS, detached_payload=body
            )
            return
        except InvalidTokenError:
            continue
    raise Untrusted("Saleor-Signature does not match the body and Saleor's keys")


def saleor_key(installed: Installed, kid: str, fresh: bool) -> Optional[jwt.PyJWK]:
    """The public key `kid` of that Saleor; `fresh`: fetched again first (rate-limited)."""
    url = installed.saleor_api_url
    with _lock:
        keys, fetched_at = _keys.get(url) or (_by_kid(installed.jwks), installed.jwks_fetched_at)
        _keys[url] = (keys, fetched_at)
    if fresh:
        with _lock:
            # The attempt counts, not its success: while Saleor's keys cannot be read, forged
            # requests must not each wait on a fetch. Claimed under the lock: one thread fetches.
            keys, fetched_at = _keys[url]
            if time.time() - fetched_at < REFETCH_AFTER_SECONDS:
                return None
            _keys[url] = (keys, time.time())
        try:
            jwks = saleor_api.fetch_jwks(url, timeout=JWKS_TIMEOUT)
        except saleor_api.SaleorApiError:
            return None
        keys = _by_kid(jwks)
        with _lock:
            _keys[url] = (keys, time.time())
        installations.keep_jwks(url, jwks)
    jwk = keys.get(kid)
    if jwk is None and not kid and len(keys) == 1:
        jwk = next(iter(keys.values()))
    if jwk is None:
        return None
    try:
        return jwt.PyJWK(jwk, algorithm="RS256")
    except (PyJWKError, jwt.PyJWTError):  # not an RSA key: it signs nothing of ours
        return None


def _by_kid(jwks: Mapping[str, object]) -> Dict[str, Dict[str, object]]:
    keys = jwks.get("keys")
    if not isinstance(keys, list):
        return {}
    return {str(key.get("kid", "")): key for key in keys if isinstance(key, dict)}


def forget_keys() -> None:
    """Drop the cached keys (a reinstall brings new ones)."""
    with _lock:
        _keys.clear()
