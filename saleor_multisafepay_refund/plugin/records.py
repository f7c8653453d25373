"""Refunds MultiSafepay made that Saleor has not recorded, recorded in Saleor once (Saleor glue).

A refund whose answer was lost and that staff do not retry, or one made in MultiSafepay's
dashboard, is money the customer got back: Saleor's payment must say so. It is recorded after
Saleor's own transaction commits, with the payment locked, as Saleor records a refund: a
refund transaction whose token is the refund's reference (MultiSafepay's refund id, or the
ledger's own for a refund MultiSafepay counted without listing it), Saleor's own charge-status
update, and a "payment refunded" event. A refund Saleor recorded that MultiSafepay then
declined or voided is reversed the same way, once (Saleor's "refund reversed").
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import List, Sequence, Set, Tuple

from django.db import transaction
from saleor.order.events import payment_refunded_event
from saleor.payment import TransactionKind
from saleor.payment.models import Payment
from saleor.payment.utils import update_payment_charge_status

logger = logging.getLogger(__name__)

# The reference to record a refund under (MultiSafepay's refund id, or the ledger's own for a
# refund MultiSafepay counted without listing it: ledger.LedgerEntry.reference), amount, currency.
Refund = Tuple[str, Decimal, str]


def record_after_commit(payment_id: int, refunds: Sequence[Refund]) -> None:
    """Record `refunds` once Saleor's current transaction has committed (now, if none)."""
    if refunds:
        transaction.on_commit(lambda: _record(payment_id, tuple(refunds)))


def reverse_refunds(payment_id: int, refunds: Sequence[Refund]) -> None:
    """Saleor's "refund reversed", once per refund Saleor recorded and MultiSafepay declined
    or voided: the money counts as not refunded again."""
    with transaction.atomic():
        payment = Payment.objects.select_for_update().get(pk=payment_id)
        recorded = {
            str(t.token): t.amount
            for t in payment.transactions.filter(kind=TransactionKind.REFUND, is_success=True)
        }
        # Exactly what Saleor recorded is reversed, whatever the ledger's amount says.
        wanted = [(i, recorded[i], currency) for i, _, currency in refunds if i in recorded]
        _add_once(payment, TransactionKind.REFUND_REVERSED, wanted, "declined")


def _record(payment_id: int, refunds: Sequence[Refund]) -> None:
    try:
        with transaction.atomic():
            payment = Payment.objects.select_for_update().get(pk=payment_id)
            for amount in _add_once(payment, TransactionKind.REFUND, refunds, "refunded"):
                if payment.order_id:
                    payment_refunded_event(
                        order=payment.order, user=None, app=None, amount=amount, payment=payment
                    )
    except Exception:
        # After the commit nothing may fail the request: the next refund tries again.
        logger.exception("Could not record MultiSafepay's refunds in Saleor")


def _add_once(payment: Payment, kind: str, refunds: Sequence[Refund], status: str) -> List[Decimal]:
    """A `kind` transaction per refund id the payment has none of yet, with Saleor's own
    charge-status update; the amounts added. The payment is locked by the caller."""
    known = _tokens(payment, kind)  # by Saleor, or by another request
    added = []
    for refund_id, amount, currency in refunds:
        if refund_id in known:
            continue
        record = payment.transactions.create(
            kind=kind,
            is_success=True,
            action_required=False,
            token=refund_id,
            amount=amount,
            currency=currency,
            gateway_response={"multisafepay_refund_id": refund_id, "status": status},
        )
        update_payment_charge_status(payment, record)
        known.add(refund_id)
        added.append(amount)
    return added


def _tokens(payment: Payment, kind: str) -> Set[str]:
    successful = payment.transactions.filter(kind=kind, is_success=True)
    return set(successful.values_list("token", flat=True))
