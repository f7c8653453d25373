"""Saleor's transaction payloads -> the core's asks (door 2; Django-free).

The transaction's `pspReference` is its MultiSafepay order id; the ledger keys it by
`txn:<token>` (a TransactionItem's global ID does not fit the ledger's 64 characters).
"""

from __future__ import annotations

from typing import Collection, Mapping

from ..config import GatewayConfig
from ..errors import UnknownItem
from ..payments.ask import PaymentAsk
from ..payments.item_ids import merchant_item_id
from ..refunds.ask import AskedItem, RefundAsk
from .event_types import REFUND_SUCCESS
from .webhooks.payload import ActionRequested, GrantedLine, Transaction

# The App's keys in the ledger's table, which the plugin's entries (Saleor payments) share.
LEDGER_PREFIX = "txn:"


def ledger_key(token: str) -> str:
    """The ledger's key of a transaction: its token (its global ID is longer than the 64
    characters the key holds)."""
    return LEDGER_PREFIX + token


def refund_ask(
    config: GatewayConfig,
    event: ActionRequested,
    reported: Mapping[str, str] = {},
) -> RefundAsk:
    """What TRANSACTION_REFUND_REQUESTED asks. `reported`: the references the App reported
    pending refunds under -> the ledger's reference of each (what Saleor then holds)."""
    granted = event.granted_refund
    lines = granted.lines if granted is not None else ()
    items = tuple(_asked_item(line, config) for line in lines)
    transaction = event.transaction
    return RefundAsk(
        payment_id=ledger_key(transaction.token),
        msp_order_id=transaction.psp_reference,
        amount=event.amount,
        currency=event.currency,
        items=items,
        products_named=bool(items),
        shipping=granted is not None and granted.shipping_costs_included,
        recorded=frozenset(_recorded(transaction, reported or {})),
        saleor_order=transaction.order_number or transaction.order_id,
    )


def payment_ask(event: ActionRequested) -> PaymentAsk:
    """What TRANSACTION_CHARGE/CANCELATION_REQUESTED asks of the payment."""
    transaction = event.transaction
    return PaymentAsk(
        payment_id=ledger_key(transaction.token),
        amount=event.amount,
        currency=event.currency,
        msp_order_id=transaction.psp_reference,
        token=transaction.psp_reference,
    )


def _recorded(transaction: Transaction, reported: Mapping[str, str]) -> Collection[str]:
    """The ledger references of the refunds Saleor holds as succeeded."""
    references = set()
    for event in transaction.events:
        if event.type == REFUND_SUCCESS and event.psp_reference:
            references.add(event.psp_reference)
            if event.psp_reference in reported:
                references.add(reported[event.psp_reference])
    return references


def _asked_item(line: GrantedLine, config: GatewayConfig) -> AskedItem:
    order_line = line.order_line
    try:
        item_id = merchant_item_id(
            order_line.product_sku,
            order_line.product_variant_id,
            order_line.is_gift,
            order_line.product_name,
            config.merchant_item_id_source,
        )
    except UnknownItem:
        item_id = ""  # refused by the flow where items matter (cart methods) only
    return AskedItem(item_id, order_line.product_name, line.quantity)
