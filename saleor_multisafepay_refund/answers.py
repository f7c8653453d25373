"""What the refund and payment flows answer: our own type, which a door turns into Saleor's.

`refunds/flow.py` and `payments/flow.py` answer with a `GatewayAnswer` (the fields of the
legacy Payments API's GatewayResponse, which `plugin/hooks.py` builds from it) plus the note
for the order's history.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Dict, Optional, Protocol, Tuple

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
    """The fields of Saleor's GatewayResponse, for a refund or a payment."""

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
    # A refund sent whose outcome is not known yet: its ledger entry. The plugin answers the
    # failure (Saleor's legacy API has no pending refund); the App answers it pending and
    # reports the outcome once the ledger settles it.
    open_entry: str = ""


def short_error(message: str) -> str:
    """`message` as Saleor's Transaction.error can hold it."""
    return message[: ERROR_LENGTH - 1] + "…" if len(message) > ERROR_LENGTH else message


class Asked(Protocol):
    """What an answer needs of the request it answers (a refund's or a payment's ask)."""

    @property
    def amount(self) -> Decimal: ...

    @property
    def currency(self) -> str: ...

    @property
    def token(self) -> str: ...


def failure(asked: Asked, order_id: str, message: str, kind: str = REFUND) -> GatewayAnswer:
    """The answer when nothing was done: `message` as Saleor's error (shortened) and as the
    order's note (whole)."""
    return GatewayAnswer(
        is_success=False,
        amount=asked.amount,
        currency=asked.currency,
        transaction_id=order_id or asked.token,
        error=short_error(message),
        raw_response={"multisafepay_order_id": order_id, "error": message},
        kind=kind,
        note=message,
    )
