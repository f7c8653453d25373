"""Saleor's transaction webhook payloads, read into frozen dataclasses (amounts `Decimal`).

What is missing or of the wrong type raises BadPayload, which the handler answers as a
failure with the message: Saleor records it, staff see it, nothing is retried.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Mapping, Optional, Tuple

from ...errors import MultiSafepayRefundError


class BadPayload(MultiSafepayRefundError):
    """Saleor's payload lacks what the App needs."""


@dataclass(frozen=True)
class TransactionEvent:
    type: str
    psp_reference: str
    amount: Optional[Decimal]


@dataclass(frozen=True)
class Transaction:
    id: str  # the TransactionItem's global ID, for transactionEventReport
    token: str
    psp_reference: str  # the MultiSafepay order id
    events: Tuple[TransactionEvent, ...]
    order_id: str  # "" for a transaction on a checkout
    order_number: str
    channel_slug: str


@dataclass(frozen=True)
class OrderLine:
    product_name: str
    product_sku: str
    product_variant_id: str
    is_gift: bool


@dataclass(frozen=True)
class GrantedLine:
    quantity: int
    order_line: OrderLine


@dataclass(frozen=True)
class GrantedRefund:
    id: str
    amount: Decimal
    shipping_costs_included: bool
    lines: Tuple[GrantedLine, ...]


@dataclass(frozen=True)
class ActionRequested:
    """TRANSACTION_REFUND/CHARGE/CANCELATION_REQUESTED."""

    recipient_id: str
    action_type: str
    amount: Decimal
    currency: str
    transaction: Transaction
    granted_refund: Optional[GrantedRefund] = None


def action_requested(payload: object) -> ActionRequested:
    event = read_object(payload, "the payload")
    action = read_object(event.get("action"), "action")
    transaction = read_object(event.get("transaction"), "transaction")
    granted = event.get("grantedRefund")
    return ActionRequested(
        recipient_id=read_recipient(event),
        action_type=read_text(action.get("actionType"), "action.actionType"),
        amount=read_amount(action.get("amount"), "action.amount"),
        currency=read_text(action.get("currency"), "action.currency"),
        transaction=_transaction(transaction),
        granted_refund=None if granted is None else _granted(read_object(granted, "grantedRefund")),
    )


def _transaction(data: Mapping[str, object]) -> Transaction:
    order = data.get("order")
    order_data = read_object(order, "transaction.order") if order is not None else {}
    # A transaction on a checkout not yet an order: the checkout's channel.
    checkout = data.get("checkout")
    owner = order_data or (read_object(checkout, "transaction.checkout") if checkout else {})
    events = data.get("events") or []
    if not isinstance(events, list):
        raise BadPayload("transaction.events is not a list")
    return Transaction(
        id=read_text(data.get("id"), "transaction.id"),
        token=read_text(data.get("token"), "transaction.token"),
        psp_reference=str(data.get("pspReference") or ""),
        events=tuple(_event(read_object(event, "transaction.events[]")) for event in events),
        order_id=str(order_data.get("id") or ""),
        order_number=str(order_data.get("number") or ""),
        channel_slug=read_channel(owner),
    )


def _event(data: Mapping[str, object]) -> TransactionEvent:
    amount = data.get("amount")
    value = amount.get("amount") if isinstance(amount, dict) else None
    return TransactionEvent(
        type=str(data.get("type") or ""),
        psp_reference=str(data.get("pspReference") or ""),
        amount=None if value is None else read_amount(value, "events[].amount"),
    )


def _granted(data: Mapping[str, object]) -> GrantedRefund:
    lines = data.get("lines") or []
    if not isinstance(lines, list):
        raise BadPayload("grantedRefund.lines is not a list")
    return GrantedRefund(
        id=read_text(data.get("id"), "grantedRefund.id"),
        amount=read_amount(
            read_object(data.get("amount"), "grantedRefund.amount").get("amount"),
            "grantedRefund.amount",
        ),
        shipping_costs_included=data.get("shippingCostsIncluded") is True,
        lines=tuple(_line(read_object(line, "grantedRefund.lines[]")) for line in lines),
    )


def _line(data: Mapping[str, object]) -> GrantedLine:
    quantity = data.get("quantity")
    if not isinstance(quantity, int) or isinstance(quantity, bool):
        raise BadPayload("a granted line has no whole quantity")
    order_line = read_object(data.get("orderLine"), "grantedRefund.lines[].orderLine")
    return GrantedLine(
        quantity=quantity,
        order_line=OrderLine(
            product_name=str(order_line.get("productName") or ""),
            product_sku=str(order_line.get("productSku") or ""),
            product_variant_id=str(order_line.get("productVariantId") or ""),
            is_gift=order_line.get("isGift") is True,
        ),
    )


def read_recipient(event: Mapping[str, object]) -> str:
    """The App the event is for (its ID in that Saleor)."""
    return read_text(read_object(event.get("recipient"), "recipient").get("id"), "recipient.id")


def read_channel(owner: Mapping[str, object]) -> str:
    """The slug of an order's or checkout's channel; "" when Saleor did not say."""
    channel = owner.get("channel")
    return str(channel.get("slug") or "") if isinstance(channel, dict) else ""


def read_object(value: object, what: str) -> Mapping[str, object]:
    if not isinstance(value, dict):
        raise BadPayload(f"Saleor's payload has no {what}")
    return value


def read_text(value: object, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise BadPayload(f"Saleor's payload has no {what}")
    return value


def read_amount(value: object, what: str) -> Decimal:
    # Parsed with parse_float=Decimal: a float here would be a bug upstream, never money.
    if isinstance(value, bool) or not isinstance(value, (int, Decimal)):
        raise BadPayload(f"Saleor's payload has no amount in {what}")
    return Decimal(value)
