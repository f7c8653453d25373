"""Which Saleor transaction each of the App's ledger keys belongs to, for the App's page: kept
at a transaction's first refund (and known from its payment, when the App took it)."""

from __future__ import annotations

import time
from typing import Dict

from django.db import IntegrityError, transaction

from .asks import ledger_key
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


def of_saleor(saleor_api_url: str) -> Dict[str, RefundedTransaction]:
    """That Saleor's transactions the App knows, by ledger key."""
    known = {
        row.payment_id: row
        for row in RefundedTransaction.objects.filter(saleor_api_url=saleor_api_url)
    }
    for link in TransactionOrder.objects.filter(saleor_api_url=saleor_api_url):
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
