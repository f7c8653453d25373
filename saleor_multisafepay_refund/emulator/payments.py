"""Payments: the customer on the payment page, an order expiring, the merchant shipping or
cancelling (PATCH); each moves the order through MultiSafepay's status tables and notifies.
"""

from __future__ import annotations

import itertools
from typing import Any, Callable, Dict, Mapping, Optional

from ..multisafepay.methods import is_cart_gateway
from .envelope import MISSING_DATA, Answer, Refusal, parse_body
from .json_values import MISSING, show
from .orders import GATEWAY_CODE, OrderState, gateway_of

# The payment page's outcomes, and (status, financial_status) each leaves, from the status
# tables of MultiSafepay's docs (payment-statuses and the per-method pages).
OUTCOMES = ("completed", "declined", "cancelled")
_PAID = ("completed", "completed")
_PAID_CART = ("completed", "uncleared")  # authorized: captured by PATCH shipped
_PAID_BY_GATEWAY = {"EINVOICE": ("completed", "initialized")}  # e-invoicing's table
_DECLINED = ("declined", "declined")
_CANCELLED = ("void", "cancelled")  # "The transaction has been cancelled: Void / Cancelled"
_VOIDED = ("void", "void")  # an authorized BNPL order cancelled before capture
_EXPIRED = ("expired", "expired")
# Cart methods whose docs say that, once authorized, "you can no longer cancel; only refund".
_NOT_CANCELLABLE_ONCE_PAID = frozenset({"IN3", "EINVOICE"})
# Order statuses a paid order can be shipped from (uncleared: authorizing, or card review).
_SHIPPABLE = frozenset({"completed", "uncleared"})


class PaymentRefused(ValueError):
    """The payment page cannot do what was asked (the order's state is unchanged)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class Payments:
    """The payments of the emulator's orders, made under the emulator's lock; each status
    change queues a notification through `notify`."""

    def __init__(self, notify: Callable[[OrderState], None]) -> None:
        self._notify = notify
        self._transaction_ids = itertools.count(5_000_001)

    def page(
        self, method: str, order_id: str, state: Optional[OrderState], query: Mapping[str, str]
    ) -> Answer:
        """GET pay/{order_id}: the customer pays (`pay`), then is sent back to the shop."""
        if method != "GET":
            return _page(405, "the payment page answers GET only")
        if state is None:
            return _page(404, f"no order {order_id!r}")
        try:
            self.pay(state, query.get("gateway"), query.get("outcome", "completed"))
        except PaymentRefused as refused:
            return _page(refused.status, str(refused))
        options = state.payment_options
        location = options.get("redirect_url") if state.base_status == "completed" else None
        location = location or options.get("cancel_url") or options.get("redirect_url")
        if not location:
            return _page(200, f"payment {state.data.get('status')}: no URL to go back to")
        return Answer(302, b"", "text/plain; charset=utf-8", (("Location", str(location)),))

    def pay(self, state: OrderState, gateway: Optional[str], outcome: str) -> str:
        """The customer finishes on the payment page; the order's new status."""
        order = state.data
        if outcome not in OUTCOMES:
            raise PaymentRefused(400, f"outcome {outcome!r} is not one of {', '.join(OUTCOMES)}")
        if state.base_status != "initialized":
            raise PaymentRefused(
                409, f"the order is {order.get('status')}: it is not waiting for payment"
            )
        chosen = gateway_of(order)
        if gateway:
            if not GATEWAY_CODE.match(gateway):
                raise PaymentRefused(400, f"gateway {gateway!r} is not a gateway code")
            if chosen and gateway != chosen:
                raise PaymentRefused(
                    400, f"the order was created for {chosen}: the page offers no {gateway}"
                )
            chosen = gateway
        if not chosen and outcome != "cancelled":
            raise PaymentRefused(
                400, "no payment method chosen: the order has no gateway, give ?gateway=..."
            )
        if chosen:
            details = order.get("payment_details")
            order["payment_details"] = dict(details if isinstance(details, dict) else {})
            order["payment_details"]["type"] = chosen
            if order.get("transaction_id") is None:
                order["transaction_id"] = next(self._transaction_ids)
        if outcome == "completed" and is_cart_gateway(chosen) and not state.has_cart():
            # MultiSafepay requires the shopping cart for these methods (PHP SDK's
            # SHOPPING_CART_REQUIRED_GATEWAYS); the order has none, so the method fails.
            outcome = "declined"
        if outcome == "completed":
            paid = _PAID_BY_GATEWAY.get(chosen, _PAID_CART if is_cart_gateway(chosen) else _PAID)
            state.set_status(*paid)
        else:
            state.set_status(*(_DECLINED if outcome == "declined" else _CANCELLED))
        self._notify(state)
        return str(order["status"])

    def expire(self, state: OrderState) -> None:
        """The order expires (ValueError when it cannot)."""
        if not (state.base_status == "initialized" or _authorized_unshipped(state)):
            raise ValueError(f"a {state.data.get('status')} order does not expire")
        state.set_status(*_EXPIRED)
        self._notify(state)

    def update_order(self, state: OrderState, raw_body: bytes) -> Dict[str, Any]:
        """PATCH /orders/{order_id}: ship or cancel. MultiSafepay answers `data: {}`
        (OpenAPI patchOrdersShip / patchOrdersCancel)."""
        body = parse_body(raw_body)
        status = body.get("status")
        for name in ("tracktrace_code", "tracktrace_url", "carrier", "ship_date", "reason"):
            if name in body and not isinstance(body[name], str):
                raise Refusal(MISSING_DATA, f"{name} must be a string")
        gateway = gateway_of(state.data)
        now = state.data.get("status")
        if status == "shipped":
            if state.base_status == "shipped":
                # Magento 2 sends status shipped for every shipment of an order (partial
                # shipments too), so shipping again is taken as harmless (UNCONFIRMED).
                return {}
            if state.base_status not in _SHIPPABLE:
                raise Refusal(
                    MISSING_DATA, f"a {now} order cannot be shipped: it is not paid (yet)"
                )
            state.set_status("shipped", str(state.data.get("financial_status")))
        elif status == "cancelled":
            if state.base_status == "initialized":
                state.set_status(*_CANCELLED)
            elif _authorized_unshipped(state) and not state.refunds:
                if gateway in _NOT_CANCELLABLE_ONCE_PAID:
                    raise Refusal(
                        MISSING_DATA,
                        f"a {gateway} order cannot be cancelled once authorized: refund it",
                    )
                state.set_status(*_VOIDED)
            else:
                raise Refusal(
                    MISSING_DATA,
                    f"a {now} order cannot be cancelled: only an unpaid order, or a "
                    "buy-now-pay-later order not yet shipped; refund a paid one",
                )
        else:
            raise Refusal(
                MISSING_DATA,
                f"status {show(status if 'status' in body else MISSING)}: an order is "
                'updated to "shipped" or "cancelled"',
            )
        self._notify(state)
        return {}


def _authorized_unshipped(state: OrderState) -> bool:
    return state.base_status in _SHIPPABLE and is_cart_gateway(gateway_of(state.data))


def _page(status: int, text: str) -> Answer:
    """A payment page answer: plain text for whoever drives the emulated customer."""
    return Answer(status, text.encode("utf-8"), "text/plain; charset=utf-8")
