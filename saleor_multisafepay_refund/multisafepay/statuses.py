"""Pure: what a MultiSafepay order's status means for the Saleor payment it belongs to.

    MultiSafepay status                          cart method (Klarna, PAD...)  other methods
    ==========================================  ============================  =============
    initialized, reserved, (other)               PENDING                       PENDING
    uncleared                                    AUTHORIZED (ship to capture)  PENDING
    completed                                    AUTHORIZED (ship to capture)  CAPTURED
    shipped                                      CAPTURED                      CAPTURED
    refunded, partial_refunded                   CAPTURED (was paid)           CAPTURED
    chargedback                                  CHARGED_BACK                  CHARGED_BACK
    declined, cancelled, canceled, void, expired FAILED                        FAILED

For buy-now-pay-later methods MultiSafepay's "completed" or "uncleared" (a recorded Pay After
Delivery order, fixtures/msp/order.json, is "uncleared" until shipped) means the provider
accepted the customer: ship now. The money is the shop's once the order is shipped (`PATCH
status shipped`), which is Saleor's capture. For other methods "uncleared" means MultiSafepay
is still checking the payment. A chargeback is money taken back: never a reason to place or
capture an order. An unknown status is PENDING: nothing is recorded on a guess.
"""

from __future__ import annotations

from enum import Enum

from .methods import is_cart_gateway


class PaymentState(str, Enum):
    PENDING = "pending"
    AUTHORIZED = "authorized"
    CAPTURED = "captured"
    FAILED = "failed"
    CHARGED_BACK = "charged_back"


_CAPTURED = frozenset({"shipped", "refunded", "partial_refunded"})
_FAILED = frozenset({"declined", "cancelled", "canceled", "void", "expired"})


def payment_state(status: str, gateway: str) -> PaymentState:
    """The Saleor side of MultiSafepay's order `status` for a payment by `gateway`."""
    status = status.strip().lower()
    if status in _FAILED:
        return PaymentState.FAILED
    if status in _CAPTURED:
        return PaymentState.CAPTURED
    if status == "chargedback":
        return PaymentState.CHARGED_BACK
    if status == "uncleared":
        return PaymentState.AUTHORIZED if is_cart_gateway(gateway) else PaymentState.PENDING
    if status == "completed":
        return PaymentState.AUTHORIZED if is_cart_gateway(gateway) else PaymentState.CAPTURED
    return PaymentState.PENDING
