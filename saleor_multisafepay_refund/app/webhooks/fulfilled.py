"""ORDER_FULFILLED: capture is shipping. When every line of an order is fulfilled, each
MultiSafepay order the App made for it that is authorized (buy-now-pay-later) is shipped, and
Saleor hears CHARGE_SUCCESS, or CHARGE_FAILURE with the reason, so staff can press Capture
(which sends the same call)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Dict, List, Mapping, Tuple

from ...multisafepay.money import round_money
from ...payments import flow
from ...payments.ask import PaymentAsk
from .. import locks, reports
from ..asks import ledger_key
from ..context import AppContext
from ..event_types import CHARGE_FAILURE, CHARGE_SUCCESS
from ..installations import Installed
from ..models import TransactionOrder
from . import common
from .payload import (
    BadPayload,
    read_amount,
    read_channel,
    read_object,
    read_recipient,
    read_text,
)


@dataclass(frozen=True)
class Authorized:
    """A transaction of the order, with what is authorized and not charged yet."""

    transaction_id: str
    token: str
    psp_reference: str
    amount: Decimal
    currency: str


@dataclass(frozen=True)
class OrderFulfilled:
    recipient_id: str
    channel_slug: str
    transactions: Tuple[Authorized, ...]


def order_fulfilled(payload: object) -> OrderFulfilled:
    event = read_object(payload, "the payload")
    order = read_object(event.get("order"), "order")
    transactions = order.get("transactions") or []
    if not isinstance(transactions, list):
        raise BadPayload("order.transactions is not a list")
    return OrderFulfilled(
        recipient_id=read_recipient(event),
        channel_slug=read_channel(order),
        transactions=tuple(
            _authorized(read_object(t, "order.transactions[]")) for t in transactions
        ),
    )


def _authorized(data: Mapping[str, object]) -> Authorized:
    money = read_object(data.get("authorizedAmount"), "transaction.authorizedAmount")
    return Authorized(
        transaction_id=read_text(data.get("id"), "transaction.id"),
        token=read_text(data.get("token"), "transaction.token"),
        psp_reference=str(data.get("pspReference") or ""),
        amount=read_amount(money.get("amount"), "transaction.authorizedAmount"),
        currency=read_text(money.get("currency"), "transaction.authorizedAmount.currency"),
    )


def ship(context: AppContext, installed: Installed, event: OrderFulfilled) -> Mapping[str, object]:
    """Ship the order's authorized MultiSafepay orders; the outcome goes to Saleor as reports."""
    ours = {
        link.msp_order_id: link
        for link in TransactionOrder.objects.filter(
            saleor_api_url=installed.saleor_api_url,
            msp_order_id__in=[t.psp_reference for t in event.transactions if t.psp_reference],
        )
    }
    shipped: List[str] = []
    for transaction in event.transactions:
        link = ours.get(transaction.psp_reference)
        if link is None or transaction.amount <= 0:
            continue  # another App's transaction, or nothing authorized to capture
        config = common.settings_of(context, installed, event.channel_slug, "capture")
        if isinstance(config, str):
            _report(link, CHARGE_FAILURE, transaction, config)
            continue
        ask = PaymentAsk(
            payment_id=ledger_key(transaction.token),
            amount=round_money(transaction.amount, transaction.currency),
            currency=transaction.currency,
            msp_order_id=transaction.psp_reference,
            token=transaction.psp_reference,
        )
        with locks.held(ask.payment_id) as got:
            if not got:
                _report(
                    link,
                    CHARGE_FAILURE,
                    transaction,
                    "MultiSafepay capture not sent: the transaction was busy at MultiSafepay. "
                    "Press Capture to ship it.",
                )
                continue
            answer = flow.capture_payment(config, ask)
        if answer.is_success:
            _report(link, CHARGE_SUCCESS, transaction, "Shipped at MultiSafepay: captured.")
            shipped.append(transaction.psp_reference)
        else:
            message = answer.note or answer.error or "MultiSafepay capture failed."
            _report(link, CHARGE_FAILURE, transaction, f"{message} Press Capture to try again.")
    return {"shipped": shipped}


def _report(link: TransactionOrder, kind: str, transaction: Authorized, message: str) -> None:
    reports.report_event(
        reports.Where.of(link),
        link.msp_order_id,
        kind,
        transaction.amount,
        transaction.currency,
        message,
    )


def failure(event: OrderFulfilled, message: str) -> Dict[str, object]:
    return {"error": message}
