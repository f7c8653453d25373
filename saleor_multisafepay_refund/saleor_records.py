"""Refunds MultiSafepay made that Saleor has not recorded, recorded in Saleor once (Saleor glue).

A refund whose answer was lost and that staff do not retry, or one made in MultiSafepay's
dashboard, is money the customer got back: Saleor's payment must say so. It is recorded after
Saleor's own transaction commits, with the payment locked, as Saleor records a refund: a
refund transaction with the refund id as its token, Saleor's own charge-status update, and a
"payment refunded" event.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Sequence, Tuple

from django.db import transaction
from saleor.order.events import payment_refunded_event
from saleor.payment import TransactionKind
from saleor.payment.models import Payment
from saleor.payment.utils import update_payment_charge_status

logger = logging.getLogger(__name__)

Refund = Tuple[str, Decimal, str]  # refund id, amount, currency


def record_after_commit(payment_id: int, refunds: Sequence[Refund]) -> None:
    """Record `refunds` once Saleor's current transaction has committed (now, if none)."""
    if refunds:
        transaction.on_commit(lambda: _record(payment_id, tuple(refunds)))


def _record(payment_id: int, refunds: Sequence[Refund]) -> None:
    try:
        with transaction.atomic():
            payment = Payment.objects.select_for_update().get(pk=payment_id)
            known = set(
                payment.transactions.filter(
                    kind=TransactionKind.REFUND, is_success=True
                ).values_list("token", flat=True)
            )
            for refund_id, amount, currency in refunds:
                if refund_id in known:
                    continue  # recorded already (by Saleor, or by another request)
                recorded = payment.transactions.create(
                    kind=TransactionKind.REFUND,
                    is_success=True,
                    action_required=False,
                    token=refund_id,
                    amount=amount,
                    currency=currency,
                    gateway_response={"multisafepay_refund_id": refund_id},
                )
                update_payment_charge_status(payment, recorded)
                if payment.order_id:
                    payment_refunded_event(
                        order=payment.order, user=None, app=None, amount=amount, payment=payment
                    )
                known.add(refund_id)
    except Exception:
        # After the commit nothing may fail the request: the next refund tries again.
        logger.exception("Could not record MultiSafepay's refunds in Saleor")
