"""Which Saleor transaction each of the App's ledger keys belongs to, for the App's page: kept
at a transaction's first refund (and known from its payment, when the App took it)."""

from __future__ import annotations

import time
from typing import Dict, Iterable, Optional

from django.db import IntegrityError, transaction
from django.db.models import Q

from .asks import LEDGER_PREFIX, ledger_key
from .models import RefundedTransaction, TransactionOrder
from .reports import Where


def keep(where: Where, order_number: str, msp_order_id: str) -> None:
    """Remember the transaction of `where.payment_id` (once; a repeat changes nothing)."""
    if RefundedTransaction.objects.filter(payment_id=where.payment_id).exists():
        return
    try:
        with transaction.atomic():
            RefundedTransaction.objects.create(
                payment_id=where.payment_id,
                saleor_api_url=where.saleor_api_url,
                channel_slug=where.channel_slug,
                transaction_id=where.transaction_id,
                order_number=order_number,
                msp_order_id=msp_order_id,
                created_at=time.time(),
            )
    except IntegrityError:  # another instance kept it meanwhile
        pass


def find(
    saleor_api_url: str, keys: Optional[Iterable[str]] = None, order: str = ""
) -> Dict[str, RefundedTransaction]:
    """That Saleor's transactions the App knows, by ledger key: of these `keys`, or of one
    `order` (Saleor's order number, or MultiSafepay's order id), or all."""
    refunded = RefundedTransaction.objects.filter(saleor_api_url=saleor_api_url)
    paid = TransactionOrder.objects.filter(saleor_api_url=saleor_api_url)
    if keys is not None:
        wanted = list(keys)
        refunded = refunded.filter(payment_id__in=wanted)
        paid = paid.filter(
            transaction_token__in=[
                k[len(LEDGER_PREFIX) :] for k in wanted if k.startswith(LEDGER_PREFIX)
            ]
        )
    if order:
        refunded = refunded.filter(Q(order_number=order) | Q(msp_order_id=order))
        paid = paid.filter(msp_order_id=order)
    known = {row.payment_id: row for row in refunded}
    for link in paid:
        key = ledger_key(link.transaction_token)
        if key not in known:  # paid through the App, not refunded through Saleor yet
            known[key] = RefundedTransaction(
                payment_id=key,
                saleor_api_url=link.saleor_api_url,
                channel_slug=link.channel_slug,
                transaction_id=link.transaction_id,
                msp_order_id=link.msp_order_id,
                created_at=link.created_at,
            )
    return known
