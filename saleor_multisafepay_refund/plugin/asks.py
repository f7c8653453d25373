"""The plugin's door: Saleor's PaymentData and RefundData turned into our asks, and the flows run.

Saleor's objects (PaymentData, RefundData, OrderLineInfo, FulfillmentLineData, OrderLine,
FulfillmentLine, TransactionData, AddressData) are read here by attribute and nowhere below,
so this module imports nothing of Saleor and is tested with plain objects of the same shape.
`hooks.py` calls it from the BasePlugin's hooks and turns the answers into GatewayResponses.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any, List, Optional

from ..answers import ACTION_TO_CONFIRM, AUTH, CAPTURE, REFUND, GatewayAnswer, failure
from ..config import GatewayConfig, ItemIdSource
from ..errors import ConfigurationError, UnknownItem
from ..multisafepay.order_body import Address
from ..payments.ask import PaymentAsk, RecordedPayment
from ..payments.item_ids import merchant_item_id
from ..refunds import flow
from ..refunds.ask import AskedItem, RefundAsk
from ..refunds.ledger import LedgerStore

if TYPE_CHECKING:
    import requests

logger = logging.getLogger(__name__)

# saleor.order.FulfillmentStatus.REFUNDED: Saleor passes such lines but does not count them.
FULFILLMENT_REFUNDED = "refunded"


def refund_payment(
    config: GatewayConfig,
    payment_information: Any,
    ledger: LedgerStore,
    session: Optional[requests.Session] = None,
) -> GatewayAnswer:
    """Saleor's refund of `payment_information`, at most once; never raises."""
    try:
        ask = refund_ask(config, payment_information)
    except Exception:
        # Saleor turns an exception into an internal error and loses the reason: answer instead.
        logger.exception("Saleor's refund data could not be read")
        return failure(
            _bare_refund_ask(payment_information),
            msp_order_id(payment_information),
            "MultiSafepay refund not sent: it stopped on an unexpected error reading Saleor's "
            "refund data (the server log says which).",
        )
    return flow.refund_payment(config, ask, ledger, session)


# Where the plugin's configuration is changed, in Saleor's Dashboard.
SETTINGS_PLACE = "Configuration > Plugins > MultiSafepay"


def refuse_unconfigured(payment_information: Any, error: ConfigurationError) -> GatewayAnswer:
    """The answer when the plugin's configuration cannot be used: nothing is sent."""
    return flow.refuse_unconfigured(_bare_refund_ask(payment_information), error, SETTINGS_PLACE)


def refund_ask(config: GatewayConfig, payment_information: Any) -> RefundAsk:
    """What Saleor's PaymentData (with its RefundData) asks to refund."""
    refund_data = payment_information.refund_data
    order_lines = list(refund_data.order_lines_to_refund) if refund_data is not None else []
    fulfillment_lines = (
        list(refund_data.fulfillment_lines_to_refund) if refund_data is not None else []
    )
    items: List[AskedItem] = [
        _asked_item(info.line, info.quantity, config.merchant_item_id_source)
        for info in order_lines
    ]
    for data in fulfillment_lines:
        if getattr(data, "replace", False):
            continue  # replaced, not refunded
        fulfillment = getattr(data.line, "fulfillment", None)
        if getattr(fulfillment, "status", None) == FULFILLMENT_REFUNDED:
            continue  # refunded before: Saleor does not count it again, nor may we
        items.append(
            _asked_item(data.line.order_line, data.quantity, config.merchant_item_id_source)
        )
    return replace(
        _bare_refund_ask(payment_information),
        items=tuple(items),
        products_named=bool(order_lines or fulfillment_lines),
        shipping=refund_data is not None and bool(refund_data.refund_shipping_costs),
        recorded=frozenset(
            str(transaction.token)
            for transaction in _transactions(payment_information)
            if transaction.kind == REFUND and transaction.is_success and transaction.token
        ),
        saleor_order=_saleor_order(payment_information),
    )


def payment_ask(payment_information: Any) -> PaymentAsk:
    """What a payment flow needs of Saleor's PaymentData."""
    data = getattr(payment_information, "data", None) or {}
    method = data.get("gateway") if isinstance(data, Mapping) else None
    return replace(
        bare_payment_ask(payment_information),
        msp_order_id=msp_order_id(payment_information),
        method="" if method in (None, "") else str(method),
        email=str(getattr(payment_information, "customer_email", "") or ""),
        ip_address=str(getattr(payment_information, "customer_ip_address", "") or ""),
        billing=_address(getattr(payment_information, "billing", None)),
        shipping=_address(getattr(payment_information, "shipping", None)),
        recorded=_recorded(payment_information),
        payment_url=_payment_url(payment_information),
    )


def line_item_id(line: Any, source: ItemIdSource) -> str:
    """The merchant_item_id of a Saleor order or checkout line (`payments.item_ids`): read from
    `product_sku`, `product_variant_id` (the variant's global ID, as an order line keeps it)
    or `variant_id`, `is_gift`, `product_name`."""
    variant = line.product_variant_id or (
        str(line.variant_id) if getattr(line, "variant_id", None) is not None else ""
    )
    return merchant_item_id(
        line.product_sku,
        str(variant),
        bool(getattr(line, "is_gift", False)),
        line.product_name,
        source,
    )


def msp_order_id(payment_information: Any) -> str:
    """The MultiSafepay order of a payment: the token Saleor passes (the authorization's or
    capture's transaction id, which is the order id), else its PSP reference; "" if neither."""
    for value in (payment_information.token, payment_information.psp_reference):
        if value not in (None, ""):
            return str(value)
    return ""


def _asked_item(line: Any, quantity: Any, source: ItemIdSource) -> AskedItem:
    try:
        item_id = line_item_id(line, source)
    except UnknownItem:
        item_id = ""  # refused by the flow where items matter (cart methods) only
    return AskedItem(item_id, str(line.product_name), int(quantity))


def bare_payment_ask(payment_information: Any) -> PaymentAsk:
    """The payment's identity and amount only: what a failure answer needs, and what the
    whole ask is built on."""
    return PaymentAsk(
        payment_id=str(payment_information.payment_id),
        amount=Decimal(payment_information.amount),
        currency=str(payment_information.currency),
        token=str(payment_information.token or ""),
    )


def _bare_refund_ask(payment_information: Any) -> RefundAsk:
    """The refund's payment, order and amount only: what a failure answer needs, and what the
    whole ask is built on."""
    return RefundAsk(
        payment_id=str(payment_information.payment_id),
        msp_order_id=msp_order_id(payment_information),
        amount=Decimal(payment_information.amount),
        currency=str(payment_information.currency),
    )


def _saleor_order(payment_information: Any) -> str:
    # Saleor passes str(None) for a payment without an order (a failed checkout).
    order_id = getattr(payment_information, "order_id", None)
    return "" if order_id in (None, "", "None") else str(order_id)


def _transactions(payment_information: Any) -> List[Any]:
    return list(getattr(payment_information, "transactions", None) or ())


def _recorded(payment_information: Any) -> Optional[RecordedPayment]:
    """The authorization or capture Saleor already holds for this payment, if any."""
    for transaction in reversed(_transactions(payment_information)):
        if transaction.kind in (AUTH, CAPTURE) and transaction.is_success and transaction.token:
            # Saleor's TransactionData.amount: {"amount": "10.00", "currency": "EUR"}.
            amount = Decimal(str(transaction.amount["amount"]))
            return RecordedPayment(str(transaction.kind), str(transaction.token), amount)
    return None


def _payment_url(payment_information: Any) -> str:
    """The payment page given when the order was created (kept in Saleor's transaction)."""
    for transaction in reversed(_transactions(payment_information)):
        response = getattr(transaction, "gateway_response", None) or {}
        if transaction.kind == ACTION_TO_CONFIRM and response.get("payment_url"):
            return str(response["payment_url"])
    return ""


def _address(data: Any) -> Optional[Address]:
    if data is None:
        return None
    return Address(
        **{name: str(getattr(data, name, "") or "") for name in Address.__dataclass_fields__}
    )
