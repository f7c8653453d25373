"""MultiSafepay's payment methods: which refund by shopping cart, and how a refund copy is signed.

Decided here once for everything: the refund body, the payment flows, the emulator.
"""

from __future__ import annotations

import re
from enum import Enum
from typing import Mapping, Optional

# Payment methods that MultiSafepay refunds by shopping cart, not by amount (PHP SDK's list).
CART_GATEWAYS = frozenset(
    {
        "AFTERPAY", "BILLINK", "BNPL_INST", "BNPL_INSTM", "BNPL_MF", "BNPL_OB", "EINVOICE",
        "IN3", "IN3B2B", "KLARNA", "PAYAFTER", "SANTANDER", "ZINIA", "ZINIA_IN3",
    }
)  # fmt: skip


class SignConvention(str, Enum):
    """How a refund copy of a cart item says "this comes back"."""

    NEGATIVE_QUANTITY = "negative_quantity"
    NEGATIVE_UNIT_PRICE = "negative_unit_price"


# A MultiSafepay payment method code, upper case: KLARNA, PAYAFTER, IN3B2B.
GATEWAY_CODE = re.compile(r"[A-Z][A-Z0-9_]{1,31}\Z")


def is_cart_gateway(gateway: str) -> bool:
    return gateway.upper() in CART_GATEWAYS


def sign_convention(
    gateway: str, overrides: Optional[Mapping[str, SignConvention]] = None
) -> SignConvention:
    """The sign convention of a gateway's refund copies.

    MultiSafepay's sources disagree (docs/msp-api.md); the default is the seed page's rule:

    ==========================  =======================  ===================
    gateway                     copy's unit_price        copy's quantity
    ==========================  =======================  ===================
    KLARNA                      negated                  refunded, positive
    every other cart gateway    original                 refunded, negated
    ==========================  =======================  ===================

    `overrides` (gateway code -> convention, from the plugin's configuration) wins.
    """
    code = gateway.upper()
    if overrides:
        for key, convention in overrides.items():
            if key.upper() == code:
                return SignConvention(convention)
    if code == "KLARNA":
        return SignConvention.NEGATIVE_UNIT_PRICE
    return SignConvention.NEGATIVE_QUANTITY
