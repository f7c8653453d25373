"""What the Saleor-facing flows answer Saleor, and which MultiSafepay order a payment is.

Pure. `gateway.py` (refunds) and `payments.py` (payments) answer with a `GatewayAnswer`: the
fields of Saleor's GatewayResponse, which `plugin.py` turns into one, plus the note for the
order's history.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Dict, Optional, Tuple

# saleor.payment.TransactionKind values the flows answer with
ACTION_TO_CONFIRM = "action_to_confirm"
AUTH = "auth"
CAPTURE = "capture"
PENDING = "pending"
REFUND = "refund"
VOID = "void"
# Saleor's Transaction.error holds 256 characters; the order note carries the whole text.
ERROR_LENGTH = 256


@dataclass(frozen=True)
class GatewayAnswer:
    """The fields of Saleor's GatewayResponse, for a refund or a payment (`payments.py`)."""

    is_success: bool
    amount: Decimal
    currency: str
    transaction_id: str
    error: Optional[str]
    raw_response: Dict[str, str]
    psp_reference: Optional[str] = None
    kind: str = REFUND
    action_required: bool = False
    # For a payment: where the storefront sends the customer (Saleor's confirmationData), and
    # whether Saleor holds this very answer already (it then records nothing twice).
    action_required_data: Optional[Dict[str, str]] = None
    transaction_already_processed: bool = False
    # Not part of Saleor's response: what the order's history says of this refund, and refunds
    # MultiSafepay made that Saleor has not recorded (refund id, amount, currency).
    note: str = ""
    unrecorded: Tuple[Tuple[str, Decimal, str], ...] = ()


def short_error(message: str) -> str:
    """`message` as Saleor's Transaction.error can hold it."""
    return message[: ERROR_LENGTH - 1] + "…" if len(message) > ERROR_LENGTH else message


def failure(
    payment_information: Any, order_id: str, message: str, kind: str = REFUND
) -> GatewayAnswer:
    """The answer when nothing was done: `message` as Saleor's error (shortened) and as the
    order's note (whole)."""
    return GatewayAnswer(
        is_success=False,
        amount=Decimal(payment_information.amount),
        currency=str(payment_information.currency),
        transaction_id=order_id or str(payment_information.token or ""),
        error=short_error(message),
        raw_response={"multisafepay_order_id": order_id, "error": message},
        kind=kind,
        note=message,
    )


def msp_order_id(payment_information: Any) -> str:
    """The MultiSafepay order of a payment: the token Saleor passes (the authorization's or
    capture's transaction id, which is the order id), else its PSP reference; "" if neither."""
    for value in (payment_information.token, payment_information.psp_reference):
        if value not in (None, ""):
            return str(value)
    return ""
