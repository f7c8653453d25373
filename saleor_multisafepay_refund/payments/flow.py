"""Payments through MultiSafepay: a Saleor checkout in, an order and a gateway answer out.

Imports nothing of Saleor or Django: `plugin.py` passes Saleor's PaymentData and a
`CheckoutTotals` read from the checkout, and turns the `GatewayAnswer` into a GatewayResponse.
Saleor's legacy checkout flow calls, in order:

    process_payment  POST /orders (redirect); Saleor answers confirmationNeeded with the
                     payment URL, and keeps the MultiSafepay order id as the transaction token
    confirm_payment  GET /orders/{id}: authorized (cart methods), captured, pending or failed
    capture_payment  cart methods: PATCH status shipped, when the order is fulfilled
    void_payment     PATCH status cancelled, before it is shipped

The cart is built with the refunds' own merchant_item_id rule (`line_ids.py`), so
every refund finds its items again.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, replace
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Sequence, Tuple

from ..answers import (
    ACTION_TO_CONFIRM,
    AUTH,
    CAPTURE,
    PENDING,
    VOID,
    GatewayAnswer,
    failure,
    msp_order_id,
)
from ..config import GatewayConfig
from ..errors import (
    AmbiguousItem,
    ApiError,
    InvalidResponse,
    MultiSafepayRefundError,
    RefundRefused,
    TransportError,
)
from ..multisafepay.client import MultiSafepayClient
from ..multisafepay.money import from_minor_units, line_total, quantum, round_money, to_minor_units
from ..multisafepay.order import parse_order
from ..multisafepay.order_body import Address, PaymentOrder, order_body
from ..multisafepay.order_cart import (
    BALANCING_ITEM_ID,
    CartDoesNotAddUp,
    CartLine,
    OrderCart,
    build_order_cart,
)
from ..multisafepay.refund_body import GATEWAY_CODE, is_cart_gateway
from ..multisafepay.statuses import PaymentState, payment_state
from ..plugin.line_ids import merchant_item_id

if TYPE_CHECKING:
    import requests

logger = logging.getLogger(__name__)

DISCOUNT_ITEM_ID = "msp-discount"
GIFT_CARD_ITEM_ID = "msp-gift-card"
# Bank transfer orders stay "initialized" until the money arrives, days later: the customer
# is not sent back to the payment page, the order is placed with its payment pending.
_PAID_LATER = frozenset({"BANKTRANS"})
# MultiSafepay reads unit prices with up to 10 decimals (docs/msp-api.md).
_UNIT_PRICE_QUANTUM = Decimal("1e-10")


class UnknownPaymentMethod(MultiSafepayRefundError):
    """The storefront's paymentData names no MultiSafepay payment method code."""


@dataclass(frozen=True)
class CheckoutLineTotals:
    """One checkout line as Saleor priced it; named like an order line for `merchant_item_id`."""

    product_name: str
    product_sku: Optional[str]
    product_variant_id: str  # the variant's global ID, as Saleor's order line will keep it
    quantity: int
    total_gross: Decimal
    total_net: Decimal
    tax_rate: Optional[Decimal] = None  # a fraction; None: derived from gross and net
    is_gift: bool = False  # a promotion's free gift (its own merchant_item_id)


@dataclass(frozen=True)
class CheckoutTotals:
    lines: Tuple[CheckoutLineTotals, ...]
    shipping_gross: Decimal
    shipping_net: Decimal
    shipping_tax_rate: Optional[Decimal]
    total_gross: Decimal  # after discounts, before gift cards
    voucher_code: str = ""


@dataclass(frozen=True)
class PaymentContext:
    """What Saleor knows of a payment beyond its PaymentData."""

    notification_url: str
    return_url: str = ""
    checkout: Optional[CheckoutTotals] = None
    locale: str = ""


@dataclass(frozen=True)
class PaymentView:
    """What a payment needs of MultiSafepay's order (GET /orders/{id})."""

    order_id: str
    status: str
    gateway: str  # empty until the customer chose a method
    amount: int
    currency: str

    @property
    def state(self) -> PaymentState:
        return payment_state(self.status, self.gateway)

    def raw_response(self) -> Dict[str, str]:
        """What Saleor keeps of it in the payment's transaction."""
        return {
            "multisafepay_order_id": self.order_id,
            "status": self.status,
            "gateway": self.gateway,
        }


def read_payment(data: Mapping[str, Any]) -> PaymentView:
    """A `PaymentView` of MultiSafepay's order; InvalidResponse when it cannot be read."""
    details = data.get("payment_details")
    gateway = details.get("type") if isinstance(details, Mapping) else None
    amount = data.get("amount")
    if type(amount) is not int or not isinstance(data.get("currency"), str):
        raise InvalidResponse("MultiSafepay's order has no readable amount and currency.")
    return PaymentView(
        order_id=str(data.get("order_id") or ""),
        status=str(data.get("status") or "").lower(),
        gateway=str(gateway or "").upper(),
        amount=amount,
        currency=str(data["currency"]).upper(),
    )


def cart_lines(
    config: GatewayConfig, checkout: CheckoutTotals, amount: Decimal, currency: str
) -> List[CartLine]:
    """The checkout as MultiSafepay cart lines: products, shipping, discount, gift cards.

    Each unit price excludes tax and is the line's gross divided back, so that MultiSafepay's
    own arithmetic (price x quantity x (1 + rate), rounded per line) gives Saleor's gross for
    the line, and a refund of n items comes to n x Saleor's unit price.
    """
    lines = _merged(
        [
            CartLine(
                merchant_item_id(line, config.merchant_item_id_source),
                line.product_name,
                _unit_price(line.total_gross, line.quantity, _rate(line, currency)),
                line.quantity,
                _rate(line, currency),
            )
            for line in checkout.lines
            if line.quantity > 0
        ]
    )
    if checkout.shipping_gross > 0:
        rate = _known_rate(
            checkout.shipping_tax_rate, checkout.shipping_gross, checkout.shipping_net, currency
        )
        price = _unit_price(checkout.shipping_gross, 1, rate)
        lines.append(CartLine(config.shipping_item_id, "Shipping", price, 1, rate))
    before_discount = sum((line.total_gross for line in checkout.lines), Decimal(0))
    # A discount Saleor did not spread over the lines (an entire-order voucher in older
    # Saleor) is one negative item, untaxed, so the cart still adds up to what is paid.
    discount = before_discount + checkout.shipping_gross - checkout.total_gross
    if discount > 0:
        name = f"Discount {checkout.voucher_code}".strip()
        lines.append(CartLine(DISCOUNT_ITEM_ID, name, -discount, 1, Decimal(0)))
    gift_cards = checkout.total_gross - amount
    if gift_cards > 0:
        lines.append(CartLine(GIFT_CARD_ITEM_ID, "Gift card", -gift_cards, 1, Decimal(0)))
    return lines


def _merged(lines: List[CartLine]) -> List[CartLine]:
    """One cart line per merchant_item_id: a refund names items by id, so two checkout lines of
    one product (Saleor's forceNewLine) become one line; at two prices they are refused."""
    merged: Dict[str, CartLine] = {}
    for line in lines:
        seen = merged.get(line.merchant_item_id)
        if seen is None:
            merged[line.merchant_item_id] = line
        elif (seen.unit_price, seen.tax_rate) == (line.unit_price, line.tax_rate):
            merged[line.merchant_item_id] = replace(seen, quantity=seen.quantity + line.quantity)
        else:
            raise AmbiguousItem(
                f"two checkout lines of {line.merchant_item_id} have different prices "
                f"({seen.unit_price} and {line.unit_price} without tax): a refund could not "
                "tell them apart."
            )
    return list(merged.values())


def new_order_id(payment_information: Any) -> str:
    """A MultiSafepay order id for a Saleor payment: its id and a random part, so that two
    Saleor databases (a reset test shop) never meet the same id at MultiSafepay."""
    return f"saleor-{payment_information.payment_id}-{secrets.token_hex(4)}"


def chosen_gateway(payment_information: Any) -> str:
    """The method the storefront chose (`paymentData: {"gateway": "KLARNA"}`), or ""."""
    data = getattr(payment_information, "data", None) or {}
    value = data.get("gateway") if isinstance(data, Mapping) else None
    if value in (None, ""):
        return ""
    code = str(value).strip().upper()
    if not GATEWAY_CODE.match(code):
        raise UnknownPaymentMethod(
            f"{str(value)[:40]!r} is not a MultiSafepay payment method code."
        )
    return code


def payment_order(
    config: GatewayConfig, payment_information: Any, context: PaymentContext
) -> PaymentOrder:
    """The MultiSafepay order for a Saleor payment; a cart method without a cart is refused."""
    amount = Decimal(payment_information.amount)
    currency = str(payment_information.currency)
    gateway = chosen_gateway(payment_information)
    cart: Optional[OrderCart] = None
    reason = "Saleor gave no checkout lines"
    if context.checkout is not None:
        try:
            lines = cart_lines(config, context.checkout, amount, currency)
            cart = build_order_cart(lines, amount, currency)
        except (CartDoesNotAddUp, RefundRefused) as exc:
            reason = str(exc)
    if cart is None:
        if is_cart_gateway(gateway):
            raise CartDoesNotAddUp(
                f"{gateway} needs the order's items, and they cannot be sent: {reason}"
            )
        # Other methods need no cart; the payment page will not offer the cart methods.
        logger.warning("MultiSafepay order created without a shopping cart: %s", reason)
    return PaymentOrder(
        order_id=new_order_id(payment_information),
        amount=amount,
        currency=currency,
        description=f"Saleor payment {payment_information.payment_id}",
        gateway=gateway,
        cart=cart,
        notification_url=context.notification_url,
        redirect_url=context.return_url,
        cancel_url=context.return_url,
        email=str(getattr(payment_information, "customer_email", "") or ""),
        ip_address=str(getattr(payment_information, "customer_ip_address", "") or ""),
        locale=context.locale,
        billing=_address(getattr(payment_information, "billing", None)),
        shipping=_address(getattr(payment_information, "shipping", None)),
    )


def process_payment(
    config: GatewayConfig,
    payment_information: Any,
    context: PaymentContext,
    session: Optional[requests.Session] = None,
) -> GatewayAnswer:
    """Create the MultiSafepay order; the answer sends the customer to its payment page."""
    recorded = _recorded(payment_information)
    if recorded is not None:
        # Paid already (Saleor stopped between the payment and the order): no second order.
        return recorded
    try:
        order = payment_order(config, payment_information, context)
        body = order_body(order)
    except (MultiSafepayRefundError, ValueError) as exc:
        return failure(
            payment_information, "", f"MultiSafepay payment not started: {exc}", ACTION_TO_CONFIRM
        )
    try:
        with config.connected(session) as client:
            created = client.create_order(body)
    except MultiSafepayRefundError as exc:
        # Nothing is charged by creating an order: a lost answer leaves an order nobody pays.
        return failure(
            payment_information,
            order.order_id,
            f"MultiSafepay payment not started: {str(exc).rstrip('.')}. Nothing was charged; "
            "try again.",
            ACTION_TO_CONFIRM,
        )
    payment_url = str(created.get("payment_url") or "")
    if not payment_url:
        return failure(
            payment_information,
            order.order_id,
            "MultiSafepay payment not started: MultiSafepay gave no payment page. Nothing was "
            "charged; try again.",
            ACTION_TO_CONFIRM,
        )
    data = {"payment_url": payment_url, "multisafepay_order_id": order.order_id}
    return _answer(
        payment_information,
        order.order_id,
        ACTION_TO_CONFIRM,
        {**data, "gateway": order.gateway},
        action_required_data=data,
    )


def confirm_payment(
    config: GatewayConfig,
    payment_information: Any,
    session: Optional[requests.Session] = None,
    checkout: Optional[CheckoutTotals] = None,
) -> GatewayAnswer:
    """What became of the payment at MultiSafepay, once the customer is back (or notified).

    With the `checkout` as it is now, a cart method's order is checked against it: the customer
    may have changed the checkout while on the payment page, and MultiSafepay's cart is what
    the provider invoices and what every refund must find again.
    """
    recorded = _recorded(payment_information)
    if recorded is not None:
        # Saleor recorded it already (a notification placed the order first): the same answer,
        # marked so that Saleor counts it once.
        return recorded
    order_id = msp_order_id(payment_information)
    try:
        with config.connected(session) as client:
            data = client.get_order(order_id)
            view = _checked(read_payment(data), payment_information)
            changed = _cart_changed(config, data, view, payment_information, checkout)
            if changed and view.state in (PaymentState.AUTHORIZED, PaymentState.PENDING):
                # Unpaid or not shipped: cancelled, so that nothing of it is ever invoiced.
                client.update_order(order_id, {"status": "cancelled"})
    except MultiSafepayRefundError as exc:
        return failure(
            payment_information, order_id, f"MultiSafepay payment unclear: {exc}", ACTION_TO_CONFIRM
        )
    if changed:
        return failure(
            payment_information,
            order_id,
            f"The checkout changed after the payment started ({changed}): MultiSafepay's order "
            f"{order_id} is cancelled and nothing is charged. Pay again.",
            ACTION_TO_CONFIRM,
        )
    raw = view.raw_response()
    state = view.state
    if state is PaymentState.AUTHORIZED:
        return _answer(payment_information, order_id, AUTH, raw)
    if state is PaymentState.CAPTURED:
        return _answer(payment_information, order_id, CAPTURE, raw)
    if state in (PaymentState.FAILED, PaymentState.CHARGED_BACK):
        return failure(
            payment_information,
            order_id,
            f"MultiSafepay payment {view.status}: nothing was charged. Pay again, with this or "
            "another method.",
            ACTION_TO_CONFIRM,
        )
    payment_url = _payment_url(payment_information)
    if view.status == "initialized" and payment_url and view.gateway not in _PAID_LATER:
        # The customer came back without finishing: send them to the payment page again.
        data = {"payment_url": payment_url, "multisafepay_order_id": order_id}
        return _answer(
            payment_information, order_id, ACTION_TO_CONFIRM, raw, action_required_data=data
        )
    # Paid and still being checked (uncleared): the order is placed, the notification of the
    # outcome records the capture.
    return _answer(payment_information, order_id, PENDING, raw)


def capture_payment(
    config: GatewayConfig, payment_information: Any, session: Optional[requests.Session] = None
) -> GatewayAnswer:
    """Capture: a cart method's order is shipped (MultiSafepay then invoices the customer)."""
    order_id = msp_order_id(payment_information)
    try:
        with config.connected(session) as client:
            view = _checked(read_payment(client.get_order(order_id)), payment_information, False)
            if view.state is PaymentState.AUTHORIZED and view.status != "completed":
                # Pay After Delivery's "uncleared": MultiSafepay still decides (within two
                # business days, its payment-flow page); shipping now could ship unpaid goods.
                raise RefundRefused(
                    f"MultiSafepay has not approved order {order_id} yet ({view.status}): "
                    "capture it (ship) once MultiSafepay shows it completed."
                )
            if view.state is PaymentState.AUTHORIZED:
                amount = Decimal(payment_information.amount)
                if to_minor_units(amount, view.currency) != view.amount:
                    raise RefundRefused(
                        f"{view.gateway} is captured whole, when the order is shipped: "
                        f"{view.currency} {from_minor_units(view.amount, view.currency)}, not "
                        f"{view.currency} {amount}."
                    )
                view = _ship(client, view)
    except MultiSafepayRefundError as exc:
        return failure(
            payment_information, order_id, f"MultiSafepay capture failed: {exc}", CAPTURE
        )
    raw = view.raw_response()
    if view.state is PaymentState.CAPTURED:
        return _answer(payment_information, order_id, CAPTURE, raw)
    return failure(
        payment_information,
        order_id,
        f"MultiSafepay capture not possible: the order is {view.status or 'without a status'}.",
        CAPTURE,
    )


def void_payment(
    config: GatewayConfig, payment_information: Any, session: Optional[requests.Session] = None
) -> GatewayAnswer:
    """Cancel an order that is not shipped (captured) yet."""
    order_id = msp_order_id(payment_information)
    try:
        with config.connected(session) as client:
            view = _checked(read_payment(client.get_order(order_id)), payment_information, False)
            if view.state in (PaymentState.AUTHORIZED, PaymentState.PENDING):
                client.update_order(order_id, {"status": "cancelled"})
                # MultiSafepay said yes: a cancelled order's status is "void".
                view = replace(view, status="void")
    except MultiSafepayRefundError as exc:
        return failure(payment_information, order_id, f"MultiSafepay void failed: {exc}", VOID)
    raw = view.raw_response()
    if view.state is PaymentState.FAILED:
        return _answer(payment_information, order_id, VOID, raw)
    return failure(
        payment_information,
        order_id,
        f"MultiSafepay void not possible: the order is {view.status}"
        + (": refund it instead." if view.state is PaymentState.CAPTURED else "."),
        VOID,
    )


def _ship(client: MultiSafepayClient, view: PaymentView) -> PaymentView:
    """PATCH status shipped: the order as it is then; a lost answer is read back."""
    try:
        client.update_order(view.order_id, {"status": "shipped"})
    except (TransportError, ApiError) as exc:
        # Shipping is a status, not money sent: reading the order back tells whether it took.
        after = read_payment(client.get_order(view.order_id))
        if after.state is not PaymentState.CAPTURED:
            raise exc from None
        return after
    # MultiSafepay said yes to the shipment: that is the capture, no need to read it back.
    return replace(view, status="shipped")


def _cart_changed(
    config: GatewayConfig,
    data: Mapping[str, Any],
    view: PaymentView,
    payment_information: Any,
    checkout: Optional[CheckoutTotals],
) -> str:
    """What differs between MultiSafepay's cart and the checkout now, item by item (quantity,
    and the line's total with tax to the cent); "" when nothing does, or when there is nothing
    to compare (no checkout, a method that refunds by amount). Free lines (a promotion's gift
    that came or went with a recalculation) and what gift cards or rounding paid are no items
    a refund or an invoice depends on: they are not compared."""
    if checkout is None or not is_cart_gateway(view.gateway):
        return ""
    try:
        # At the checkout's own total: what is paid by gift card or rounded is not an item.
        lines = cart_lines(config, checkout, checkout.total_gross, view.currency)
    except RefundRefused as exc:
        return str(exc)
    order = parse_order(data)
    now = {
        line.merchant_item_id: (
            line.quantity,
            line_total(line.unit_price, line.quantity, line.tax_rate, view.currency),
        )
        for line in lines
        if line.unit_price
    }
    paid = {
        item.merchant_item_id: (
            item.quantity,
            line_total(
                item.unit_price,
                item.quantity,
                order.tax_rates.rate_for(item.tax_table_selector),
                view.currency,
            ),
        )
        for item in order.items
        if item.unit_price and item.merchant_item_id not in (GIFT_CARD_ITEM_ID, BALANCING_ITEM_ID)
    }
    tolerance = quantum(view.currency)
    differences = [
        _difference(key, paid.get(key), now.get(key), view.currency)
        for key in sorted(set(now) | set(paid))
        if paid.get(key) is None
        or now.get(key) is None
        or paid[key][0] != now[key][0]
        or abs(paid[key][1] - now[key][1]) > tolerance
    ]
    return "; ".join(differences)


def _difference(
    key: str, paid: Optional[Tuple[int, Decimal]], now: Optional[Tuple[int, Decimal]], currency: str
) -> str:
    def shown(line: Optional[Tuple[int, Decimal]]) -> str:
        return "none" if line is None else f"{line[0]} for {currency} {line[1]}"

    return f"{key}: paid {shown(paid)}, now {shown(now)}"


def _checked(view: PaymentView, payment_information: Any, whole: bool = True) -> PaymentView:
    """`view`, refused when it is not this payment's order (another currency, or with
    `whole` another amount: a capture or void may be asked for part of it)."""
    order_id = view.order_id
    currency = str(payment_information.currency).upper()
    if view.currency != currency or (
        whole and view.amount != to_minor_units(Decimal(payment_information.amount), currency)
    ):
        raise InvalidResponse(
            f"MultiSafepay's order {order_id} is for {view.currency} "
            f"{from_minor_units(view.amount, view.currency)}, the payment for {currency} "
            f"{payment_information.amount}: not this payment's order."
        )
    return view


def _recorded(payment_information: Any) -> Optional[GatewayAnswer]:
    """The authorization or capture Saleor already holds for this payment, if any."""
    for transaction in reversed(getattr(payment_information, "transactions", None) or ()):
        if transaction.kind in (AUTH, CAPTURE) and transaction.is_success and transaction.token:
            answer = _answer(
                payment_information,
                str(transaction.token),
                transaction.kind,
                {"multisafepay_order_id": str(transaction.token), "status": "recorded"},
            )
            # Saleor's TransactionData.amount: {"amount": "10.00", "currency": "EUR"}.
            amount = Decimal(str(transaction.amount["amount"]))
            return replace(answer, amount=amount, transaction_already_processed=True)
    return None


def _payment_url(payment_information: Any) -> str:
    """The payment page given when the order was created (kept in Saleor's transaction)."""
    for transaction in reversed(getattr(payment_information, "transactions", None) or ()):
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


def _rate(line: CheckoutLineTotals, currency: str) -> Decimal:
    return _known_rate(line.tax_rate, line.total_gross, line.total_net, currency)


def _known_rate(rate: Optional[Decimal], gross: Decimal, net: Decimal, currency: str) -> Decimal:
    if rate is not None:
        return Decimal(rate)
    if net <= 0 or gross <= net:
        return Decimal(0)
    # Saleor's gross and net are rounded to the currency, so gross / net - 1 carries that
    # rounding (10.00 / 8.26 - 1 = 0.2107 for 21 %), and MultiSafepay would print it on the
    # invoice: the rate is the one with the fewest decimals (Saleor keeps 4) from which the
    # gross gives Saleor's net back. Any rate keeps the cart adding up: unit prices are the
    # gross divided back by it.
    exact = gross / net - 1
    for places in ("0.01", "0.001", "0.0001"):
        candidate = exact.quantize(Decimal(places), rounding=ROUND_HALF_UP)
        if round_money(gross / (1 + candidate), currency) == round_money(net, currency):
            return candidate
    return exact.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)


def _unit_price(gross: Decimal, quantity: int, rate: Decimal) -> Decimal:
    unit = (gross / (1 + rate) / quantity).quantize(_UNIT_PRICE_QUANTUM, rounding=ROUND_HALF_UP)
    return unit.normalize() if unit else Decimal(0)


def _answer(
    payment_information: Any,
    order_id: str,
    kind: str,
    raw: Dict[str, str],
    action_required_data: Optional[Dict[str, str]] = None,
) -> GatewayAnswer:
    return GatewayAnswer(
        is_success=True,
        amount=Decimal(payment_information.amount),
        currency=str(payment_information.currency),
        transaction_id=order_id,
        error=None,
        raw_response=raw,
        psp_reference=order_id,
        kind=kind,
        action_required=action_required_data is not None,
        action_required_data=action_required_data,
    )


__all__: Sequence[str] = [
    "CheckoutLineTotals",
    "CheckoutTotals",
    "PaymentContext",
    "capture_payment",
    "confirm_payment",
    "process_payment",
    "void_payment",
]
