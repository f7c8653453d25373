"""Payments through MultiSafepay: a `PaymentAsk` and the checkout in, an order and an answer out.

Knows nothing of Saleor: a door builds the `PaymentAsk` and the `CheckoutTotals` from Saleor's
data and turns the `GatewayAnswer` into Saleor's. Saleor's legacy checkout flow calls, in order:

    process_payment  POST /orders (redirect); Saleor answers confirmationNeeded with the
                     payment URL, and keeps the MultiSafepay order id as the transaction token
    confirm_payment  GET /orders/{id}: authorized (cart methods), captured, pending or failed
    capture_payment  cart methods: PATCH status shipped, when the order is fulfilled
    void_payment     PATCH status cancelled, before it is shipped

The cart is built with the refunds' own merchant_item_id rule (`item_ids.py`), so
every refund finds its items again.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, replace
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Dict, List, Mapping, Optional, Sequence, Tuple

from ..answers import (
    ACTION_TO_CONFIRM,
    AUTH,
    CAPTURE,
    PENDING,
    VOID,
    GatewayAnswer,
    failure,
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
from ..multisafepay.methods import GATEWAY_CODE, is_cart_gateway
from ..multisafepay.money import (
    from_minor_units,
    line_total,
    quantum,
    round_money,
    shown,
    shown_minor,
    to_minor_units,
)
from ..multisafepay.order import parse_order
from ..multisafepay.order_body import PaymentOrder, order_body
from ..multisafepay.order_cart import (
    BALANCING_ITEM_ID,
    CartDoesNotAddUp,
    CartLine,
    OrderCart,
    build_order_cart,
)
from ..multisafepay.statuses import PaymentState, payment_state
from .ask import CheckoutLineTotals, CheckoutTotals, PaymentAsk, PaymentContext
from .item_ids import merchant_item_id

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
class PaymentView:
    """What a payment needs of MultiSafepay's order (GET /orders/{id})."""

    order_id: str
    status: str
    gateway: str  # empty until the customer chose a method
    amount: int
    currency: str
    amount_refunded: int = 0

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


def read_payment(data: Mapping[str, object]) -> PaymentView:
    """A `PaymentView` of MultiSafepay's order; InvalidResponse when it cannot be read."""
    details = data.get("payment_details")
    gateway = details.get("type") if isinstance(details, Mapping) else None
    amount = data.get("amount")
    refunded = data.get("amount_refunded")
    if type(amount) is not int or not isinstance(data.get("currency"), str):
        raise InvalidResponse("MultiSafepay's order has no readable amount and currency.")
    return PaymentView(
        order_id=str(data.get("order_id") or ""),
        status=str(data.get("status") or "").lower(),
        gateway=str(gateway or "").upper(),
        amount=amount,
        currency=str(data["currency"]).upper(),
        # Only whether the order was given back already is read from it: 0 when unreadable.
        amount_refunded=refunded if type(refunded) is int else 0,
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
                merchant_item_id(
                    line.product_sku,
                    line.product_variant_id,
                    line.is_gift,
                    line.product_name,
                    config.merchant_item_id_source,
                ),
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


def new_order_id(ask: PaymentAsk) -> str:
    """A MultiSafepay order id for a Saleor payment: its id and a random part, so that two
    Saleor databases (a reset test shop) never meet the same id at MultiSafepay."""
    return f"saleor-{ask.payment_id}-{secrets.token_hex(4)}"


def chosen_gateway(ask: PaymentAsk) -> str:
    """The method the storefront chose (`paymentData: {"gateway": "KLARNA"}`), or ""."""
    if not ask.method:
        return ""
    code = ask.method.strip().upper()
    if not GATEWAY_CODE.match(code):
        raise UnknownPaymentMethod(
            f"{ask.method[:40]!r} is not a MultiSafepay payment method code."
        )
    return code


def payment_order(config: GatewayConfig, ask: PaymentAsk, context: PaymentContext) -> PaymentOrder:
    """The MultiSafepay order for a Saleor payment; a cart method without a cart is refused."""
    amount = ask.amount
    currency = ask.currency
    gateway = chosen_gateway(ask)
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
        order_id=new_order_id(ask),
        amount=amount,
        currency=currency,
        description=f"Saleor payment {ask.payment_id}",
        gateway=gateway,
        cart=cart,
        notification_url=context.notification_url,
        redirect_url=context.return_url,
        cancel_url=context.return_url,
        email=ask.email,
        ip_address=ask.ip_address,
        locale=context.locale,
        billing=ask.billing,
        shipping=ask.shipping,
    )


def process_payment(
    config: GatewayConfig,
    ask: PaymentAsk,
    context: PaymentContext,
    session: Optional[requests.Session] = None,
) -> GatewayAnswer:
    """Create the MultiSafepay order; the answer sends the customer to its payment page."""
    recorded = _recorded(ask)
    if recorded is not None:
        # Paid already (Saleor stopped between the payment and the order): no second order.
        return recorded
    try:
        order = payment_order(config, ask, context)
        body = order_body(order)
    except (MultiSafepayRefundError, ValueError) as exc:
        return failure(ask, "", f"MultiSafepay payment not started: {exc}", ACTION_TO_CONFIRM)
    try:
        with config.connected(session) as client:
            created = client.create_order(body)
    except MultiSafepayRefundError as exc:
        # Nothing is charged by creating an order: a lost answer leaves an order nobody pays.
        return failure(
            ask,
            order.order_id,
            f"MultiSafepay payment not started: {str(exc).rstrip('.')}. Nothing was charged; "
            "try again.",
            ACTION_TO_CONFIRM,
        )
    payment_url = str(created.get("payment_url") or "")
    if not payment_url:
        return failure(
            ask,
            order.order_id,
            "MultiSafepay payment not started: MultiSafepay gave no payment page. Nothing was "
            "charged; try again.",
            ACTION_TO_CONFIRM,
        )
    data = {"payment_url": payment_url, "multisafepay_order_id": order.order_id}
    return _answer(
        ask,
        order.order_id,
        ACTION_TO_CONFIRM,
        {**data, "gateway": order.gateway},
        action_required_data=data,
    )


def confirm_payment(
    config: GatewayConfig,
    ask: PaymentAsk,
    session: Optional[requests.Session] = None,
    checkout: Optional[CheckoutTotals] = None,
) -> GatewayAnswer:
    """What became of the payment at MultiSafepay, once the customer is back (or notified).

    With the `checkout` as it is now, a cart method's order is checked against it: the customer
    may have changed the checkout while on the payment page, and MultiSafepay's cart is what
    the provider invoices and what every refund must find again.
    """
    recorded = _recorded(ask)
    if recorded is not None:
        # Saleor recorded it already (a notification placed the order first): the same answer,
        # marked so that Saleor counts it once.
        return recorded
    order_id = ask.msp_order_id
    try:
        with config.connected(session) as client:
            data = client.get_order(order_id)
            view = _checked(read_payment(data), ask)
            changed = _cart_changed(config, data, view, ask, checkout)
            if changed and view.state in (PaymentState.AUTHORIZED, PaymentState.PENDING):
                # Unpaid or not shipped: cancelled, so that nothing of it is ever invoiced.
                client.update_order(order_id, {"status": "cancelled"})
    except MultiSafepayRefundError as exc:
        return failure(ask, order_id, f"MultiSafepay payment unclear: {exc}", ACTION_TO_CONFIRM)
    if changed:
        return failure(
            ask,
            order_id,
            f"The checkout changed after the payment started ({changed}): MultiSafepay's order "
            f"{order_id} is cancelled and nothing is charged. Pay again.",
            ACTION_TO_CONFIRM,
        )
    raw = view.raw_response()
    state = view.state
    if state is PaymentState.AUTHORIZED:
        return _answer(ask, order_id, AUTH, raw)
    if state is PaymentState.CAPTURED:
        return _answer(ask, order_id, CAPTURE, raw)
    if state in (PaymentState.FAILED, PaymentState.CHARGED_BACK):
        return failure(
            ask,
            order_id,
            f"MultiSafepay payment {view.status}: nothing was charged. Pay again, with this or "
            "another method.",
            ACTION_TO_CONFIRM,
        )
    payment_url = ask.payment_url
    if view.status == "initialized" and payment_url and view.gateway not in _PAID_LATER:
        # The customer came back without finishing: send them to the payment page again.
        page = {"payment_url": payment_url, "multisafepay_order_id": order_id}
        return _answer(ask, order_id, ACTION_TO_CONFIRM, raw, action_required_data=page)
    # Paid and still being checked (uncleared): the order is placed, the notification of the
    # outcome records the capture.
    return _answer(ask, order_id, PENDING, raw)


def capture_payment(
    config: GatewayConfig, ask: PaymentAsk, session: Optional[requests.Session] = None
) -> GatewayAnswer:
    """Capture: a cart method's order is shipped (MultiSafepay then invoices the customer)."""
    order_id = ask.msp_order_id
    try:
        with config.connected(session) as client:
            view = _checked(read_payment(client.get_order(order_id)), ask, False)
            if view.state is PaymentState.AUTHORIZED and view.status != "completed":
                # Pay After Delivery's "uncleared": MultiSafepay still decides (within two
                # business days, its payment-flow page); shipping now could ship unpaid goods.
                raise RefundRefused(
                    f"MultiSafepay has not approved order {order_id} yet ({view.status}): "
                    "capture it (ship) once MultiSafepay shows it completed."
                )
            if view.state is PaymentState.AUTHORIZED:
                amount = ask.amount
                if to_minor_units(amount, view.currency) != view.amount:
                    raise RefundRefused(
                        f"{view.gateway} is captured whole, when the order is shipped: "
                        f"{shown_minor(view.amount, view.currency)}, not "
                        f"{shown(amount, view.currency)}."
                    )
                view = _ship(client, view)
    except MultiSafepayRefundError as exc:
        return failure(ask, order_id, f"MultiSafepay capture failed: {exc}", CAPTURE)
    raw = view.raw_response()
    if view.state is PaymentState.CAPTURED:
        return _answer(ask, order_id, CAPTURE, raw)
    return failure(
        ask,
        order_id,
        f"MultiSafepay capture not possible: the order is {view.status or 'without a status'}.",
        CAPTURE,
    )


def void_payment(
    config: GatewayConfig, ask: PaymentAsk, session: Optional[requests.Session] = None
) -> GatewayAnswer:
    """Cancel an order that is not shipped (captured) yet."""
    order_id = ask.msp_order_id
    try:
        with config.connected(session) as client:
            view = _checked(read_payment(client.get_order(order_id)), ask, False)
            if view.state in (PaymentState.AUTHORIZED, PaymentState.PENDING):
                client.update_order(order_id, {"status": "cancelled"})
                # MultiSafepay said yes: a cancelled order's status is "void".
                view = replace(view, status="void")
    except MultiSafepayRefundError as exc:
        return failure(ask, order_id, f"MultiSafepay void failed: {exc}", VOID)
    raw = view.raw_response()
    if view.state is PaymentState.FAILED:
        return _answer(ask, order_id, VOID, raw)
    return failure(
        ask,
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
    data: Mapping[str, object],
    view: PaymentView,
    ask: PaymentAsk,
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
    def of(line: Optional[Tuple[int, Decimal]]) -> str:
        return "none" if line is None else f"{line[0]} for {shown(line[1], currency)}"

    return f"{key}: paid {of(paid)}, now {of(now)}"


def _checked(view: PaymentView, ask: PaymentAsk, whole: bool = True) -> PaymentView:
    """`view`, refused when it is not this payment's order (another currency, or with
    `whole` another amount: a capture or void may be asked for part of it)."""
    order_id = view.order_id
    currency = ask.currency.upper()
    if view.currency != currency or (whole and view.amount != to_minor_units(ask.amount, currency)):
        raise InvalidResponse(
            f"MultiSafepay's order {order_id} is for {view.currency} "
            f"{from_minor_units(view.amount, view.currency)}, the payment for {currency} "
            f"{ask.amount}: not this payment's order."
        )
    return view


def _recorded(ask: PaymentAsk) -> Optional[GatewayAnswer]:
    """The authorization or capture Saleor already holds for this payment, if any."""
    recorded = ask.recorded
    if recorded is None:
        return None
    raw = {"multisafepay_order_id": recorded.reference, "status": "recorded"}
    answer = _answer(ask, recorded.reference, recorded.kind, raw)
    return replace(answer, amount=recorded.amount, transaction_already_processed=True)


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
    ask: PaymentAsk,
    order_id: str,
    kind: str,
    raw: Dict[str, str],
    action_required_data: Optional[Dict[str, str]] = None,
) -> GatewayAnswer:
    return GatewayAnswer(
        is_success=True,
        amount=ask.amount,
        currency=ask.currency,
        transaction_id=order_id,
        error=None,
        raw_response=raw,
        psp_reference=order_id,
        kind=kind,
        action_required=action_required_data is not None,
        action_required_data=action_required_data,
    )


__all__: Sequence[str] = [
    "capture_payment",
    "confirm_payment",
    "process_payment",
    "void_payment",
]
