"""Pure: what a MultiSafepay order's status means for the Saleor payment it belongs to.

    MultiSafepay status                          cart method (Klarna, PAD...)  other methods
    ==========================================  ============================  =============
    initialized, uncleared, reserved, (other)   PENDING                       PENDING
    completed                                    AUTHORIZED (ship to capture)  CAPTURED
    shipped                                      CAPTURED                      CAPTURED
    refunded, partial_refunded, chargedback      CAPTURED (was paid)           CAPTURED
    declined, cancelled, canceled, void, expired FAILED                        FAILED

For buy-now-pay-later methods MultiSafepay's "completed" means the provider accepted the
customer; the money is the shop's once the order is shipped (`PATCH status shipped`), which is
Saleor's capture. An unknown status is PENDING: nothing is recorded on a guess.
"""

from __future__ import annotations

from enum import Enum

from .cart import is_cart_gateway


class PaymentState(str, Enum):
    PENDING = "pending"
    AUTHORIZED = "authorized"
    CAPTURED = "captured"
    FAILED = "failed"


_CAPTURED = frozenset({"shipped", "refunded", "partial_refunded", "chargedback"})
_FAILED = frozenset({"declined", "cancelled", "canceled", "void", "expired"})


def payment_state(status: str, gateway: str) -> PaymentState:
    """The Saleor side of MultiSafepay's order `status` for a payment by `gateway`."""
    status = status.strip().lower()
    if status in _FAILED:
        return PaymentState.FAILED
    if status in _CAPTURED:
        return PaymentState.CAPTURED
    if status == "completed":
        return PaymentState.AUTHORIZED if is_cart_gateway(gateway) else PaymentState.CAPTURED
    return PaymentState.PENDING
