"""Whether MultiSafepay accepts a site's API key, in words a shop owner acts on.

Tried with GET /gateways (the site's payment methods), which changes nothing: a key can be
checked before any payment, and the answer says which methods refund by shopping cart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple

from ..errors import INVALID_API_KEY, ApiError, InvalidResponse, TransportError
from .client import MultiSafepayClient
from .methods import is_cart_gateway


@dataclass(frozen=True)
class SiteCheck:
    accepted: bool
    message: str
    methods: Tuple[str, ...] = ()  # the site's payment method codes, as MultiSafepay lists them


def check_site(client: MultiSafepayClient, where: str) -> SiteCheck:
    """Ask MultiSafepay (`where`: which environment, in words) whether it accepts the key."""
    try:
        listed = client.gateways()
    except ApiError as exc:
        if exc.error_code == INVALID_API_KEY:
            return SiteCheck(
                False,
                f"{where} does not accept this API key. Copy it again from MultiSafepay "
                "(Settings > Sites), and check Test mode: a test account's keys work only "
                "with Test mode on, a live account's only with it off.",
            )
        return SiteCheck(False, f"{where} refused the check: {exc}")
    except InvalidResponse:
        return SiteCheck(
            False, f"{where} answered, but not as MultiSafepay does: check the API URL."
        )
    except TransportError as exc:
        return SiteCheck(False, f"{where} could not be reached ({exc}) Try again in a minute.")
    methods = tuple(
        str(gateway.get("id"))
        for gateway in listed
        if isinstance(gateway, dict) and gateway.get("id")
    )
    by_cart = [code for code in methods if is_cart_gateway(code)]
    if not methods:
        found = "It lists no payment methods for this site yet (MultiSafepay: Settings > Sites)."
    elif by_cart:
        found = (
            f"Payment methods of this site: {', '.join(methods)}. Refunded by item: "
            f"{', '.join(by_cart)}."
        )
    else:
        found = (
            f"Payment methods of this site: {', '.join(methods)}. None of them refunds by item "
            "(Klarna, Pay After Delivery, in3, Riverty...): enable them in MultiSafepay first."
        )
    return SiteCheck(True, f"{where} accepts this API key. {found}", methods)
