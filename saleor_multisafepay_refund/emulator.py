"""A stateful emulator of MultiSafepay's order and refund API, serving real HTTP.

It checks refund requests as strictly as MultiSafepay's documentation allows
(docs/msp-api.md, the seed page), independently of this package's own refund-building code,
so the test suite catches the package's mistakes. It also ships for demos: stdlib only.

Routes, under `/v1/json/`; the API key goes in the `api_key` header or the `api_key` query
parameter and is checked first:

    GET   orders/{order_id}          -> {"success": true, "data": <order>}
    POST  orders/{order_id}/refunds  -> {"success": true, "data": {transaction_id, refund_id}}
    POST  orders                     -> {"success": true, "data": {order_id, payment_url}}
                                        (a cart must add up to the amount: 1027 otherwise)
    PATCH orders/{order_id}          -> {"success": true, "data": {}}
                                        ({"status": "shipped", ...} or {"status": "cancelled"})

The payment page, `payment_url`, takes no API key: the emulated customer pays there (or
`Emulator.pay` does the same without HTTP):

    GET   pay/{order_id}?gateway=KLARNA&outcome=completed|declined|cancelled
          -> 302 to payment_options.redirect_url (paid) or cancel_url (else redirect_url);
             200 text when the order has no such URL; 400/404/409 text when refused

Order `status` / `financial_status`, as MultiSafepay's status tables say (payment-statuses,
klarna, pay-after-delivery, riverty, billink, in3, e-invoicing pages of MultiSafepay/docs):

    created                          initialized / initialized
    paid, cart method (BNPL)         completed / uncleared (EINVOICE: completed / initialized):
                                     authorized, captured by PATCH shipped
    paid, other methods              completed / completed
    PATCH shipped (once paid)        shipped / unchanged; shipping again changes nothing
    declined                         declined / declined
    cancelled by the customer, or    void / cancelled (BNPL authorized, cancelled: void / void;
      PATCH cancelled while unpaid     IN3 and EINVOICE cannot be cancelled once authorized)
    expired (`Emulator.expire`)      expired / expired
    refunded                         refunded or partial_refunded (back to the status before
                                     when the refunds are declined or void)

Every status change, accepted refund and refund status change queues a notification (see
`Notification`) for orders created with a `payment_options.notification_url`: POST (GET
when `notification_method` is not POST, MultiSafepay's default) to that URL plus
`?transactionid=<order_id>&timestamp=<unix>`, the body the order as GET shows it, signed in
the `Auth` header. The test calls `deliver_pending` to send them.

Refunds counted but listed late, or never (`lists_refunds=False`, or per order
`set_refund_listing`): real answers have shown amount_refunded grown while
related_transactions is null or does not list the refund yet (the recorded card order,
fixtures/msp/credit-card-order.json, has `related_transactions: null`). Such a refund counts
at once as any other (amount_refunded, quantities, cart lines, status, duplicate window,
notifications, `set_refund_status`) but is kept aside; `list_refunds` appends the refunds
kept aside to related_transactions, as MultiSafepay does "a moment later". An order that
does not list refunds and lists none shows `related_transactions: null` (GET,
notifications, `Emulator.order`). When MultiSafepay lists them, and whether it notifies
then, is UNCONFIRMED: `list_refunds` queues no notification.

Refusals answer `{"success": false, "data": {}, "error_code": ..., "error_info": ...}`:

    =====  ======  =================================================================
    code   HTTP    when
    =====  ======  =================================================================
    1032   401     API key missing or wrong
    1006   404     unknown order
    9999   404     unknown route or method
    1016   400     body not a JSON object; amount and checkout_data mixed; amount on
                   a cart method; checkout_data on an amount method; checkout_data
                   items missing or not objects; no refund copy at all; a URL in
                   payment_options not http(s); PATCH with an unknown status, or a
                   status change the order's state does not allow; POST /orders with an
                   order_id already used, a cart item not an object or with a quantity
                   that is not a whole number above 0 (UNCONFIRMED code)
    1001   400     amount missing, 0, negative or not an integer (MultiSafepay would
                   refund the whole order); refund copies that add up to nothing
    1002   400     currency missing (amount refund) or not the order's
    1027   400     current cart not repeated unchanged and in order; a copy of an item
                   not in the cart, placed before its original, with a changed field
                   or a quantity that is not a whole number of the expected sign
    1029   400     a copy's tax_table_selector differs from its original's
    1031   400     a copy's unit_price is not what the gateway's sign convention wants;
                   POST /orders with a unit_price that is no number
    1034   400     more than the remaining amount (but see last_refund_takes_remainder
                   below); more of an item than was bought; the same amount refunded
                   within the duplicate window
    9999   500     the emulator failed (a bug, or order data it cannot read)
    =====  ======  =================================================================

The last refund's rounding: a cart refund's amount is its copies' total, each line with its
tax, rounded; the copies of the last units can then come to a cent more than remains
(5 x 54.32 at 9%: 296.04 paid, 118.42 for 2, then 177.63 for the other 3 where 177.62
remains). MultiSafepay's documentation is silent on this (UNCONFIRMED). By default the
emulator refuses it with 1034; with `last_refund_takes_remainder=True`, a cart refund after
which no unit of an item with a non-zero unit_price remains, and whose copies exceed what
remains by at most one minor unit per unit refunded on the order (earlier refunds and this
one), refunds exactly what remains and the order becomes refunded.

Faults (`Fault`, one-shot, queued with `Emulator.inject`) imitate an unreliable network; they
meet the payment page's GET requests too.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import hashlib
import hmac
import http.client
import itertools
import re
import socket
import threading
import time
import zlib
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from enum import Enum
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import (
    Any,
    Callable,
    Dict,
    Iterator,
    List,
    Mapping,
    Optional,
    Sequence,
    Set,
    Tuple,
    Union,
    cast,
)
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

from saleor_multisafepay_refund.multisafepay import wire
from saleor_multisafepay_refund.multisafepay.money import parse_decimal, round_money, to_minor_units
from saleor_multisafepay_refund.multisafepay.refund_body import (
    SignConvention,
    is_cart_gateway,
    sign_convention,
)

__all__ = [
    "Emulator",
    "Fault",
    "FaultKind",
    "Notification",
    "PaymentRefused",
    "RecordedRequest",
    "build_order",
]

API_PREFIX = "/v1/json/"

# Error codes MultiSafepay documents (docs/msp-api.md, "Errors worth mapping").
INVALID_AMOUNT = 1001
INVALID_CURRENCY = 1002
UNKNOWN_ORDER = 1006
MISSING_DATA = 1016
CART_MISMATCH = 1027
WRONG_ITEM_TAX = 1029
WRONG_ITEM_PRICE = 1031
INVALID_API_KEY = 1032
CANNOT_REFUND = 1034
UNKNOWN_ERROR = 9999

_HTTP_STATUS = {INVALID_API_KEY: 401, UNKNOWN_ORDER: 404}

_SERVER_ERROR_PAGE = (
    b"<html><head><title>500 Internal Server Error</title></head>"
    b"<body><h1>Internal Server Error</h1></body></html>"
)
# What a MALFORMED_JSON fault answers when the request was not processed.
_UNPROCESSED_TRUNCATED = b'{"success":true,"data":{"transaction_id":'

_MISSING = object()  # a field absent from an item, distinct from null

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
_REFUND_STATUSES = frozenset({"initialized", "reserved", "completed", "declined", "void"})
_OPEN_REFUND = frozenset({"initialized", "reserved"})
_NOT_COUNTED = frozenset({"declined", "void"})  # a refund that refunds nothing
_GATEWAY_CODE = re.compile(r"[A-Z0-9_]+\Z")
_NOTIFICATION_METHODS = ("POST", "GET")


class FaultKind(str, Enum):
    """How the emulator misbehaves for one request."""

    SERVER_ERROR = "server_error"  # HTTP 500 with an HTML body
    UNAVAILABLE = "unavailable"  # HTTP 503 with MultiSafepay's error envelope (9999)
    SLOW = "slow"  # the answer comes `delay` seconds late
    MALFORMED_JSON = "malformed_json"  # HTTP 200 with truncated JSON
    DROP_BEFORE = "drop_before"  # connection closed, request not processed
    DROP_AFTER = "drop_after"  # request processed, connection closed without an answer


_APPLIED_BY_DEFAULT = frozenset({FaultKind.SLOW, FaultKind.DROP_AFTER})


@dataclass(frozen=True)
class Fault:
    """A one-shot fault for the next request with this method (and order id, if given).

    `apply`: whether the request is processed (and a refund applied) despite the fault;
    None means True for SLOW and DROP_AFTER, False for the others. SLOW with apply=True
    applies the request first, then waits `delay` seconds before answering, so a client
    that timed out and reads the order back finds the refund; with apply=False it waits,
    then closes the connection without processing anything.
    """

    kind: FaultKind
    method: str = "POST"
    order_id: Optional[str] = None
    delay: float = 0.0
    apply: Optional[bool] = None
    after: int = 0  # matching requests to let through first

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", FaultKind(self.kind))
        object.__setattr__(self, "method", self.method.upper())
        if self.order_id is not None:
            object.__setattr__(self, "order_id", str(self.order_id))
        if self.apply is None:
            object.__setattr__(self, "apply", self.kind in _APPLIED_BY_DEFAULT)
        if self.delay < 0:
            raise ValueError("a fault's delay cannot be negative")

    def matches(self, method: str, order_id: Optional[str]) -> bool:
        return self.method == method and (self.order_id is None or self.order_id == order_id)


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the emulator received it (headers with lower-cased names).

    `client_port` tells connections apart: requests sent over one reused connection share it.
    """

    method: str
    path: str
    query: Dict[str, str]
    headers: Dict[str, str]
    body: bytes
    client_port: int = field(default=0, compare=False)

    @property
    def json(self) -> Any:
        """The body parsed with exact decimals, or None when empty or not JSON."""
        if not self.body:
            return None
        try:
            return wire.loads(self.body)
        except ValueError:
            return None


@dataclass(frozen=True)
class Notification:
    """A notification (webhook call) MultiSafepay sends about an order, as sent.

    `url`: the order's notification_url plus `transactionid` (the order id) and `timestamp`;
    `body`: the order as GET shows it when the notification was made (empty for GET);
    `headers`: `Auth` = base64("<timestamp>:<hex>"), hex being HMAC-SHA512 keyed with the API
    key over "<timestamp>:" + body (MultiSafepay's webhook page), and Content-Type.
    """

    order_id: str
    url: str
    body: bytes
    headers: Dict[str, str]
    timestamp: int
    method: str = "POST"


@dataclass
class _Queued:
    notification: Notification
    notification_url: str  # as the order gave it, for a re-signed retry
    attempts: int = 0
    delivered: bool = False


class PaymentRefused(ValueError):
    """The payment page cannot do what was asked (the order's state is unchanged)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class _Refusal(Exception):
    """A refusal MultiSafepay would answer with an error envelope."""

    def __init__(self, code: int, info: str) -> None:
        super().__init__(info)
        self.code = code
        self.info = info


@dataclass(frozen=True)
class _Route:
    kind: str  # "order", "refunds", "orders" (creation) or "pay" (the payment page)
    order_id: str


@dataclass(frozen=True)
class _Answer:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: Tuple[Tuple[str, str], ...] = ()


@dataclass
class _Copy:
    """A refund copy accepted in a request: where it is, which original, how many."""

    index: int
    item: Dict[str, Any]
    original: Dict[str, Any]
    quantity: int


@dataclass
class _Refund:
    """An accepted refund: its line in related_transactions and what it changed."""

    entry: Dict[str, Any]  # the related_transactions entry, updated in place
    amount: int
    copies: List[_Copy] = field(default_factory=list)
    lines: List[Dict[str, Any]] = field(default_factory=list)  # refund lines added to the cart


class _OrderState:
    """An order as GET shows it, plus what the emulator tracks beside it."""

    def __init__(self, data: Dict[str, Any], convention: Optional[SignConvention]) -> None:
        self.data = data
        # What POST /orders gave that GET does not show.
        self.payment_options: Dict[str, Any] = {}
        # The status the order has when no refund counts (refunds show over it).
        status = data.get("status")
        self.base_status = (
            status
            if isinstance(status, str) and status not in ("refunded", "partial_refunded")
            else "completed"
        )
        # Refunds accepted here, by refund id (as text).
        self.refunds: Dict[str, _Refund] = {}
        # Whether refunds accepted from now on are listed in related_transactions at once;
        # None: as the emulator's `lists_refunds` says.
        self.lists_refunds: Optional[bool] = None
        # Refunds counted but not listed yet, in the order they were made (list_refunds).
        self.unlisted: List[_Refund] = []
        # Indexes (into the cart) of the items bought; the other cart items are refund copies.
        self.original_indexes: List[int] = []
        # merchant_item_id (as JSON) -> quantity refunded so far, whatever the cart shows.
        self.refunded: Dict[str, int] = {}
        # (monotonic time, amount in minor units) of each accepted refund.
        self.accepted: List[Tuple[float, int]] = []
        cart = _cart(data)
        for index, item in enumerate(cart):
            found = None
            if convention is not None and isinstance(item, dict):
                found = _earlier_copy_of(item, [cart[i] for i in self.original_indexes], convention)
            if found is None:
                self.original_indexes.append(index)
            else:
                self.add_refunded(found)

    def originals(self) -> List[Tuple[int, Dict[str, Any]]]:
        cart = _cart(self.data)
        return [(i, cart[i]) for i in self.original_indexes]

    def add_refunded(self, copy_: _Copy, sign: int = 1) -> None:
        key = _item_key(copy_.item)
        self.refunded[key] = self.refunded.get(key, 0) + sign * copy_.quantity

    def has_cart(self) -> bool:
        return bool(self.original_indexes)

    def set_status(self, status: str, financial_status: str) -> None:
        self.base_status = status
        self.data["financial_status"] = financial_status
        self.show_status()

    def show_status(self) -> None:
        """The order's status: refunded or partial_refunded over the base status."""
        refunded = _minor_units(self.data.get("amount_refunded"), "amount_refunded")
        if refunded <= 0:
            self.data["status"] = self.base_status
        elif refunded >= _minor_units(self.data.get("amount"), "amount"):
            self.data["status"] = "refunded"
        else:
            self.data["status"] = "partial_refunded"


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator
        super().__init__(("127.0.0.1", 0), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that time out or hang up make writes fail; a test server stays silent.
        pass


class Emulator:
    """MultiSafepay's order and refund API on 127.0.0.1, with state, checks and faults."""

    def __init__(
        self,
        api_key: str = "test-key",
        *,
        cart_shows_refunds: bool = True,
        duplicate_window_seconds: float = 300.0,
        sign_conventions: Optional[Mapping[str, SignConvention]] = None,
        refund_status: str = "completed",
        clock: Callable[[], float] = time.time,
        lists_refunds: bool = True,
        last_refund_takes_remainder: bool = False,
    ) -> None:
        """`refund_status`: the status a new refund gets; `clock`: the time notifications
        are stamped with (a test moves it to make stale ones).

        `lists_refunds`: whether an accepted refund appears in related_transactions at once
        (the default for every order; `set_refund_listing` switches one order). When not,
        the refund counts as usual but is kept aside until `list_refunds`, and an order that
        lists no refund shows `related_transactions: null`, like the recorded card order
        (fixtures/msp/credit-card-order.json). How late MultiSafepay lists a refund it
        already counts in amount_refunded is UNCONFIRMED.

        `last_refund_takes_remainder`: whether a cart refund that refunds every remaining
        unit (of the items with a non-zero unit_price), and whose copies, rounded line by
        line, come to more than remains by at most one minor unit per unit refunded on the
        order, refunds exactly what remains (the order becomes refunded). Off, such a refund
        is refused with 1034. What MultiSafepay does is UNCONFIRMED: its documentation is
        silent on this rounding."""
        if not api_key:
            raise ValueError("the emulator needs an API key")
        if duplicate_window_seconds < 0:
            raise ValueError("duplicate_window_seconds cannot be negative")
        self._api_key = api_key
        self.cart_shows_refunds = cart_shows_refunds
        self.duplicate_window_seconds = duplicate_window_seconds
        self.sign_conventions: Dict[str, SignConvention] = dict(sign_conventions or {})
        self.refund_status = refund_status
        self.clock = clock
        self.lists_refunds = lists_refunds
        self.last_refund_takes_remainder = last_refund_takes_remainder
        self._lock = threading.RLock()
        self._delivery_lock = threading.Lock()  # one deliver_pending at a time
        self._notifications: List[_Queued] = []
        self._transaction_ids = itertools.count(5_000_001)
        self._stopping = threading.Event()
        self._orders: Dict[str, _OrderState] = {}
        self._faults: List[Fault] = []
        self._requests: List[Tuple[RecordedRequest, Optional[_Route]]] = []
        self._refund_ids = itertools.count(80_000_001)
        self._server: Optional[_Server] = None
        self._thread: Optional[threading.Thread] = None

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> Emulator:
        if self._server is not None:
            raise RuntimeError("the emulator is already running")
        self._stopping.clear()
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.01},  # stop() waits up to one interval
            name="multisafepay-emulator",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        self._stopping.set()  # wakes SLOW faults
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join()
        self._server = self._thread = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the emulator is not running: call start()")
        port = self._server.server_address[1]
        return f"http://127.0.0.1:{port}{API_PREFIX}"

    # -- state ----------------------------------------------------------------------------

    def add_order(self, data: Mapping[str, Any]) -> None:
        """Add (or replace) an order, given as the `data` of MultiSafepay's GET answer."""
        order = copy.deepcopy(dict(data))
        wire.dumps(order)  # fails now, not in a request, on a float or a non-JSON value
        if "order_id" not in order:
            raise ValueError("an order needs an order_id")
        if order.get("amount_refunded") is None:
            order["amount_refunded"] = 0
        if order.get("related_transactions") is None:
            order["related_transactions"] = []
        _minor_units(order.get("amount"), "amount")
        _minor_units(order["amount_refunded"], "amount_refunded")
        gateway = _gateway(order)
        convention = self._convention(gateway) if is_cart_gateway(gateway) else None
        with self._lock:
            self._orders[str(order["order_id"])] = _OrderState(order, convention)

    def order(self, order_id: Union[str, int]) -> Dict[str, Any]:
        """The order as GET would return it now (a copy)."""
        with self._lock:
            state = self._orders.get(str(order_id))
            if state is None:
                raise KeyError(f"no order {order_id!r} in the emulator")
            return copy.deepcopy(self._shown(state))

    def set_refund_listing(self, order_id: Union[str, int], lists: bool) -> None:
        """Whether the order's refunds accepted from now on are listed in
        related_transactions at once (this wins over the constructor's `lists_refunds`).
        Refunds already kept aside stay aside until `list_refunds`."""
        with self._lock:
            self._state(order_id).lists_refunds = bool(lists)

    def list_refunds(self, order_id: Union[str, int]) -> List[int]:
        """MultiSafepay lists them a moment later: every refund of the order kept aside
        (counted, not listed) is appended to related_transactions, in the order they were
        made, with its current status; returns their refund ids. Queues no notification:
        no status changes (UNCONFIRMED)."""
        with self._lock:
            state = self._state(order_id)
            listed, state.unlisted = state.unlisted, []
            state.data["related_transactions"].extend(refund.entry for refund in listed)
            return [int(refund.entry["transaction_id"]) for refund in listed]

    @property
    def requests(self) -> List[RecordedRequest]:
        with self._lock:
            return [request for request, _ in self._requests]

    def refund_posts(self, order_id: Union[str, int, None] = None) -> List[RecordedRequest]:
        """The POST .../refunds requests received, of one order or of all."""
        with self._lock:
            return [
                request
                for request, route in self._requests
                if request.method == "POST"
                and route is not None
                and route.kind == "refunds"
                and (order_id is None or route.order_id == str(order_id))
            ]

    # -- the customer, the merchant's dashboard, the payment providers -------------------

    def pay(
        self,
        order_id: Union[str, int],
        gateway: Optional[str] = None,
        outcome: str = "completed",
    ) -> str:
        """The customer finishes on the payment page (what GET payment_url does); returns the
        order's new status. PaymentRefused when the page cannot: no payment method chosen,
        another method than the order's, an order no longer waiting for payment.

        A cart-based method chosen for an order created without shopping_cart is declined:
        MultiSafepay needs the cart for buy-now-pay-later methods.
        """
        with self._lock:
            return self._pay(self._state(order_id), gateway, outcome)

    def expire(self, order_id: Union[str, int]) -> None:
        """The order expires: never paid, or a BNPL authorization never shipped."""
        with self._lock:
            state = self._state(order_id)
            if not (state.base_status == "initialized" or self._authorized_unshipped(state)):
                raise ValueError(f"a {state.data.get('status')} order does not expire")
            state.set_status(*_EXPIRED)
            self._notify(state)

    def set_refund_status(
        self, order_id: Union[str, int], refund_id: Union[str, int], status: str
    ) -> None:
        """A refund moves on: initialized or reserved -> reserved, completed, declined or
        void. A declined or void refund refunds nothing: its amount leaves amount_refunded,
        its quantities may be refunded again, its refund lines leave the cart."""
        if status not in _REFUND_STATUSES:
            raise ValueError(f"{status!r} is not a refund status: {sorted(_REFUND_STATUSES)}")
        with self._lock:
            state = self._state(order_id)
            refund = self._find_refund(state, refund_id)
            before = refund.entry.get("status")
            if before not in _OPEN_REFUND or status == before:
                raise ValueError(f"refund {refund_id} is {before}: it cannot become {status}")
            refund.entry["status"] = status
            if status in _NOT_COUNTED:
                self._uncount(state, refund)
            self._notify(state)

    def dashboard_refund(
        self,
        order_id: Union[str, int],
        amount_minor_units: int,
        description: str = "Refund from the MultiSafepay dashboard",
    ) -> int:
        """A refund of an amount made in MultiSafepay's dashboard, for any payment method;
        returns its refund id. It counts like an API refund (amount_refunded, status, the
        duplicate window) but adds no cart lines."""
        if type(amount_minor_units) is not int or amount_minor_units <= 0:
            raise ValueError("a dashboard refund is a whole number of minor units above 0")
        with self._lock:
            state = self._state(order_id)
            order = state.data
            remaining = _minor_units(order.get("amount"), "amount") - _minor_units(
                order.get("amount_refunded"), "amount_refunded"
            )
            if amount_minor_units > remaining:
                raise ValueError(f"only {remaining} of the order remains to refund")
            body = {"description": description}
            answer = self._apply(state, body, amount_minor_units, [], time.monotonic())
            return int(answer["refund_id"])

    # -- notifications --------------------------------------------------------------------

    def notifications(self, order_id: Union[str, int, None] = None) -> List[Notification]:
        """The notifications made so far (of one order, or of all), in order; delivered or
        not, none is ever removed."""
        with self._lock:
            return [
                queued.notification
                for queued in self._notifications
                if order_id is None or queued.notification.order_id == str(order_id)
            ]

    def deliver(self, notification: Notification, timeout: float = 5.0) -> Tuple[int, bytes]:
        """Send one notification over HTTP, following no redirect: (status, body) of the
        answer. Connection errors raise (OSError or http.client.HTTPException)."""
        split = urlsplit(notification.url)
        connection_type = (
            http.client.HTTPSConnection if split.scheme == "https" else http.client.HTTPConnection
        )
        connection = connection_type(split.hostname or "", split.port, timeout=timeout)
        target = urlunsplit(("", "", split.path or "/", split.query, ""))
        try:
            connection.request(
                notification.method,
                target,
                body=notification.body if notification.method == "POST" else None,
                headers=notification.headers,
            )
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    def deliver_pending(self, timeout: float = 5.0) -> List[Tuple[Notification, int, bytes]]:
        """Send each notification not yet acknowledged, in order, and return what was sent
        with the answer (status 0 and an empty body when the connection failed).

        Acknowledged, as MultiSafepay's webhook page says: HTTP 200 with "OK" in the first
        100 characters of the body. The others stay pending; MultiSafepay retries them
        "each with a new timestamp", so a retry is stamped and signed again with `clock`.
        """
        with self._delivery_lock:
            with self._lock:
                pending = [queued for queued in self._notifications if not queued.delivered]
            results: List[Tuple[Notification, int, bytes]] = []
            for queued in pending:
                sent = queued.notification
                if queued.attempts:
                    sent = self._stamped(
                        sent.order_id, queued.notification_url, sent.body, sent.method == "POST"
                    )
                queued.attempts += 1
                try:
                    status, body = self.deliver(sent, timeout)
                except (OSError, http.client.HTTPException):
                    status, body = 0, b""
                if status == 200 and b"OK" in body[:100]:
                    with self._lock:
                        queued.delivered = True
                results.append((sent, status, body))
            return results

    def inject(self, fault: Fault) -> None:
        """Queue a one-shot fault for the next matching request (after `fault.after` others)."""
        with self._lock:
            self._faults.append(fault)

    def clear_faults(self) -> None:
        """Forget the queued faults that no request has met."""
        with self._lock:
            self._faults.clear()

    # -- serving (called from the handler threads) ----------------------------------------

    def _arrive(self, request: RecordedRequest, route: Optional[_Route]) -> Optional[Fault]:
        """Record a request and take the first queued fault it matches."""
        with self._lock:
            self._requests.append((request, route))
            order_id = route.order_id if route is not None else None
            for index, fault in enumerate(self._faults):
                if fault.matches(request.method, order_id):
                    if fault.after:
                        self._faults[index] = replace(fault, after=fault.after - 1)
                        return None
                    return self._faults.pop(index)
        return None

    def _wait(self, seconds: float) -> None:
        self._stopping.wait(seconds)

    def _answer(self, request: RecordedRequest, route: Optional[_Route]) -> _Answer:
        if route is not None and route.kind == "pay":
            return self._payment_page(request, route)
        try:
            with self._lock:
                return _success(self._process(request, route))
        except _Refusal as refusal:
            return _failure(refusal.code, refusal.info)
        except Exception as error:  # any bug becomes MultiSafepay's 9999
            return _failure(UNKNOWN_ERROR, f"emulator error: {type(error).__name__}: {error}", 500)

    def _process(self, request: RecordedRequest, route: Optional[_Route]) -> Any:
        self._authenticate(request)
        if route is None or (request.method, route.kind) not in {
            ("GET", "order"),
            ("PATCH", "order"),
            ("POST", "refunds"),
            ("POST", "orders"),
        }:
            raise _Refusal(UNKNOWN_ERROR, f"no such endpoint: {request.method} {request.path}")
        if route.kind == "orders":
            return self._create_order(request.body)
        state = self._orders.get(route.order_id)
        if state is None:
            raise _Refusal(UNKNOWN_ORDER, f"order {route.order_id!r} does not exist")
        if request.method == "PATCH":
            return self._update_order(state, request.body)
        if route.kind == "order":
            return self._shown(state)
        return self._refund(state, request.body)

    def _authenticate(self, request: RecordedRequest) -> None:
        # The header wins when both are sent; the key given is never repeated in an answer.
        given = request.headers.get("api_key")
        if given is None:
            given = request.query.get("api_key")
        if not given:
            raise _Refusal(INVALID_API_KEY, "missing API key: send it in the api_key header")
        if not hmac.compare_digest(given.encode(), self._api_key.encode()):
            raise _Refusal(INVALID_API_KEY, "invalid API key")

    def _convention(self, gateway: str) -> SignConvention:
        return sign_convention(gateway, self.sign_conventions)

    # -- orders ---------------------------------------------------------------------------

    def _create_order(self, raw_body: bytes) -> Dict[str, Any]:
        """POST /orders: an order whose cart, for a cart method, adds up to its amount."""
        body = _parse_body(raw_body)
        order_id = body.get("order_id")
        if not isinstance(order_id, (str, int)) or isinstance(order_id, bool) or not str(order_id):
            raise _Refusal(MISSING_DATA, "order_id is missing")
        if len(str(order_id)) > 50:
            raise _Refusal(MISSING_DATA, "order_id is longer than 50 characters")
        if str(order_id) in self._orders:
            # 1016 (not 1006 "unknown order", which would say the opposite); the code
            # MultiSafepay uses is UNCONFIRMED.
            raise _Refusal(MISSING_DATA, f"order_id {str(order_id)!r} is already used")
        if body.get("type") not in ("redirect", "direct", "paymentlink"):
            raise _Refusal(MISSING_DATA, "type must be redirect, direct or paymentlink")
        amount = body.get("amount")
        if type(amount) is not int or amount <= 0:
            raise _Refusal(INVALID_AMOUNT, "amount must be a whole number of minor units above 0")
        currency = body.get("currency")
        if not isinstance(currency, str) or len(currency) != 3:
            raise _Refusal(INVALID_CURRENCY, "currency must be a 3-letter ISO code")
        gateway = body.get("gateway") or ""
        if not isinstance(gateway, str) or (gateway and not _GATEWAY_CODE.match(gateway)):
            raise _Refusal(MISSING_DATA, f"gateway {_show(gateway)} is not a gateway code")
        payment_options = _payment_options(body)
        customer = body.get("customer", {})
        delivery = body.get("delivery")
        if not isinstance(customer, dict) or not isinstance(delivery, (dict, type(None))):
            raise _Refusal(MISSING_DATA, "customer and delivery must be JSON objects")
        tables = _object(_object(body.get("checkout_options")).get("tax_tables"))
        cart = _object(body.get("shopping_cart"))
        items = cart.get("items") if isinstance(cart.get("items"), list) else None
        _check_new_cart(items or [], tables)
        order = build_order(
            str(order_id),
            gateway,
            copy.deepcopy(items or []),
            currency=currency,
            amount=amount,
        )
        # GET shows the description and the customer as given (no delivery, no
        # payment_options); without a gateway there is no transaction yet, so no PSP ID
        # (MultiSafepay's webhook page on pre-transactions).
        if "description" in body:
            order["description"] = copy.deepcopy(body["description"])
        order["customer"] = copy.deepcopy(customer) if customer else order["customer"]
        if not gateway:
            order["transaction_id"] = None
        order["related_transactions"] = []  # as add_order has it: refunds are appended
        # GET shows the tax tables flattened: default and alternate at the top.
        order["checkout_options"] = {
            "default": tables.get("default") or {"rate": "0", "shipping_taxed": True},
            "alternate": [
                dict(table, rules=[{"country": "", **rule} for rule in table.get("rules") or []])
                for table in tables.get("alternate") or []
                if isinstance(table, dict)
            ],
        }
        order["status"] = order["financial_status"] = "initialized"
        if (gateway and is_cart_gateway(gateway)) or items:
            if not items:
                raise _Refusal(MISSING_DATA, f"{gateway} needs shopping_cart.items")
            total = sum(
                (_line_total(order, i, i.get("unit_price"), i.get("quantity")) for i in items),
                Decimal(0),
            )
            if to_minor_units(total, currency) != amount:
                raise _Refusal(
                    CART_MISMATCH,
                    f"the shopping cart comes to {total} {currency}, not the amount "
                    f"{amount} (minor units)",
                )
        state = _OrderState(order, self._convention(gateway) if is_cart_gateway(gateway) else None)
        state.payment_options = payment_options
        self._orders[str(order_id)] = state
        return {
            "order_id": str(order_id),
            "payment_url": f"{self.base_url}pay/{quote(str(order_id), safe='')}",
        }

    def _update_order(self, state: _OrderState, raw_body: bytes) -> Dict[str, Any]:
        """PATCH /orders/{order_id}: ship or cancel. MultiSafepay answers `data: {}`
        (OpenAPI patchOrdersShip / patchOrdersCancel)."""
        body = _parse_body(raw_body)
        status = body.get("status")
        for name in ("tracktrace_code", "tracktrace_url", "carrier", "ship_date", "reason"):
            if name in body and not isinstance(body[name], str):
                raise _Refusal(MISSING_DATA, f"{name} must be a string")
        gateway = _gateway(state.data)
        now = state.data.get("status")
        if status == "shipped":
            if state.base_status == "shipped":
                # Magento 2 sends status shipped for every shipment of an order (partial
                # shipments too), so shipping again is taken as harmless (UNCONFIRMED).
                return {}
            if state.base_status not in _SHIPPABLE:
                raise _Refusal(
                    MISSING_DATA, f"a {now} order cannot be shipped: it is not paid (yet)"
                )
            state.set_status("shipped", str(state.data.get("financial_status")))
        elif status == "cancelled":
            if state.base_status == "initialized":
                state.set_status(*_CANCELLED)
            elif self._authorized_unshipped(state) and not state.refunds:
                if gateway in _NOT_CANCELLABLE_ONCE_PAID:
                    raise _Refusal(
                        MISSING_DATA,
                        f"a {gateway} order cannot be cancelled once authorized: refund it",
                    )
                state.set_status(*_VOIDED)
            else:
                raise _Refusal(
                    MISSING_DATA,
                    f"a {now} order cannot be cancelled: only an unpaid order, or a "
                    "buy-now-pay-later order not yet shipped; refund a paid one",
                )
        else:
            raise _Refusal(
                MISSING_DATA,
                f"status {_show(status if 'status' in body else _MISSING)}: an order is "
                'updated to "shipped" or "cancelled"',
            )
        self._notify(state)
        return {}

    # -- payment page ---------------------------------------------------------------------

    def _payment_page(self, request: RecordedRequest, route: _Route) -> _Answer:
        if request.method != "GET":
            return _page(405, "the payment page answers GET only")
        with self._lock:
            state = self._orders.get(route.order_id)
            if state is None:
                return _page(404, f"no order {route.order_id!r}")
            try:
                self._pay(
                    state, request.query.get("gateway"), request.query.get("outcome", "completed")
                )
            except PaymentRefused as refused:
                return _page(refused.status, str(refused))
            options = state.payment_options
            location = options.get("redirect_url") if state.base_status == "completed" else None
            location = location or options.get("cancel_url") or options.get("redirect_url")
        if not location:
            return _page(200, f"payment {state.data.get('status')}: no URL to go back to")
        return _Answer(302, b"", "text/plain; charset=utf-8", (("Location", str(location)),))

    def _pay(self, state: _OrderState, gateway: Optional[str], outcome: str) -> str:
        order = state.data
        if outcome not in OUTCOMES:
            raise PaymentRefused(400, f"outcome {outcome!r} is not one of {', '.join(OUTCOMES)}")
        if state.base_status != "initialized":
            raise PaymentRefused(
                409, f"the order is {order.get('status')}: it is not waiting for payment"
            )
        chosen = _gateway(order)
        if gateway:
            if not _GATEWAY_CODE.match(gateway):
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

    def _authorized_unshipped(self, state: _OrderState) -> bool:
        return state.base_status in _SHIPPABLE and is_cart_gateway(_gateway(state.data))

    def _state(self, order_id: Union[str, int]) -> _OrderState:
        state = self._orders.get(str(order_id))
        if state is None:
            raise KeyError(f"no order {order_id!r} in the emulator")
        return state

    def _lists_refunds(self, state: _OrderState) -> bool:
        return self.lists_refunds if state.lists_refunds is None else state.lists_refunds

    def _shown(self, state: _OrderState) -> Dict[str, Any]:
        """The order as MultiSafepay shows it (GET, notifications, `order`); not a copy.

        An order that does not list refunds and lists none shows related_transactions
        null, as the recorded card order does (fixtures/msp/credit-card-order.json)."""
        if not state.data.get("related_transactions") and not self._lists_refunds(state):
            return dict(state.data, related_transactions=None)
        return state.data

    # -- notifications (made under the lock) -----------------------------------------------

    def _notify(self, state: _OrderState) -> None:
        """Queue a notification of the order as it is now, if it has a notification_url."""
        url = state.payment_options.get("notification_url")
        if not url:
            return
        method = state.payment_options.get("notification_method")
        # Without notification_method POST, MultiSafepay calls with GET: its webhook page
        # recommends setting POST, as GET is what a site-level webhook gets otherwise.
        body = wire.dumps(self._shown(state)).encode("ascii") if method == "POST" else b""
        notification = self._stamped(str(state.data["order_id"]), url, body, method == "POST")
        self._notifications.append(_Queued(notification, url))

    def _stamped(
        self, order_id: str, notification_url: str, body: bytes, post: bool
    ) -> Notification:
        """A notification stamped now, for its first sending or a retry. A POST carries the
        order and the Auth header as MultiSafepay's webhook page describes it (computed here,
        not by the package's verifier); a GET carries neither."""
        timestamp = int(self.clock())
        if not post:
            return Notification(
                order_id=order_id,
                url=_notification_url(notification_url, order_id, timestamp),
                body=b"",
                headers={},
                timestamp=timestamp,
                method="GET",
            )
        digest = hmac.new(
            self._api_key.encode("utf-8"), f"{timestamp}:".encode("ascii") + body, hashlib.sha512
        ).hexdigest()
        auth = base64.b64encode(f"{timestamp}:{digest}".encode("ascii")).decode("ascii")
        return Notification(
            order_id=order_id,
            url=_notification_url(notification_url, order_id, timestamp),
            body=body,
            headers={"Auth": auth, "Content-Type": "application/json"},
            timestamp=timestamp,
        )

    # -- refunds --------------------------------------------------------------------------

    def _refund(self, state: _OrderState, raw_body: bytes) -> Dict[str, Any]:
        body = _parse_body(raw_body)
        if "amount" in body and "checkout_data" in body:
            raise _Refusal(
                MISSING_DATA,
                "amount and checkout_data in one request: a refund is either an amount "
                "or a shopping cart, never both",
            )
        order = state.data
        currency = order.get("currency")
        gateway = _gateway(order)
        copies: List[_Copy] = []
        if is_cart_gateway(gateway):
            copies = self._check_cart_refund(state, body, gateway)
            total = _copies_total(order, copies)
            _check_currency(body, currency, required=False)
        else:
            total = _check_amount_refund(body, gateway, currency)
        amount = _minor_units(order.get("amount"), "amount")
        refunded = _minor_units(order.get("amount_refunded"), "amount_refunded")
        # UNCONFIRMED: the last refund's rounding, off by default (see _takes_remainder).
        if total > amount - refunded and self._takes_remainder(
            state, copies, total, amount - refunded
        ):
            total = amount - refunded
        if total > amount - refunded:
            raise _Refusal(
                CANNOT_REFUND,
                f"cannot refund {total}: only {amount - refunded} of the order's {amount} "
                f"remains ({refunded} already refunded)",
            )
        now = time.monotonic()
        for accepted_at, accepted_amount in state.accepted:
            ago = now - accepted_at
            if accepted_amount == total and ago < self.duplicate_window_seconds:
                raise _Refusal(
                    CANNOT_REFUND,
                    f"the same amount ({total}) was refunded on this order {ago:.1f} s ago: "
                    f"a refund of the same amount is refused for "
                    f"{self.duplicate_window_seconds:g} s",
                )
        return self._apply(state, body, total, copies, now)

    def _takes_remainder(
        self, state: _OrderState, copies: List[_Copy], total: int, remaining: int
    ) -> bool:
        """Whether a cart refund whose copies come to more than remains refunds what remains
        instead (`last_refund_takes_remainder`).

        Each copy line is rounded with its tax, so the copies of the last units can come to a
        cent more than remains (5 x 54.32 at 9%: 296.04 paid, 118.42 + 177.63 refunded).
        MultiSafepay's documentation is silent on this: taking the remainder is UNCONFIRMED,
        and so is the bound, one minor unit per unit refunded on the order."""
        if not self.last_refund_takes_remainder or not copies:
            return False
        if remaining <= 0:
            return False  # nothing left: never a refund of 0
        after = dict(state.refunded)
        for key, quantity in _asked(copies).items():
            after[key] = after.get(key, 0) + quantity
        bought = _bought(state)
        priced: Set[str] = set()  # the merchant_item_ids of items with a non-zero unit_price
        for _, original in state.originals():
            try:
                if parse_decimal(original.get("unit_price")) != 0:
                    priced.add(_item_key(original))
            except ValueError:
                priced.add(_item_key(original))  # a price it cannot read might be non-zero
        if any(after.get(key, 0) < bought[key] for key in priced):
            return False  # units remain: not the last refund
        units = sum(quantity for quantity in after.values() if quantity > 0)
        return total - remaining <= units

    def _check_cart_refund(
        self, state: _OrderState, body: Dict[str, Any], gateway: str
    ) -> List[_Copy]:
        if "amount" in body:
            raise _Refusal(
                MISSING_DATA,
                f"this payment method ({gateway}) refunds by shopping cart: send "
                "checkout_data.items (the current cart plus refund copies), not an amount",
            )
        checkout_data = body.get("checkout_data")
        items = checkout_data.get("items") if isinstance(checkout_data, dict) else None
        if not isinstance(items, list):
            raise _Refusal(
                MISSING_DATA,
                f"checkout_data.items (a list) is missing: this payment method ({gateway}) "
                "refunds by shopping cart",
            )
        for index, item in enumerate(items):
            if not isinstance(item, dict):
                raise _Refusal(MISSING_DATA, f"checkout_data.items[{index}] is not an object")
        cart = _cart(state.data)
        positions = _match_cart(cart, items)
        matched = set(positions)
        convention = self._convention(gateway)
        originals = state.originals()
        by_id = _originals_by_id(originals)
        index_of = {id(original): i for i, original in originals}
        copies = []
        for index, item in enumerate(items):
            if index in matched:
                continue
            copy_ = _check_copy(index, item, by_id, convention, gateway)
            original_index = index_of[id(copy_.original)]
            if positions[original_index] > index:
                raise _Refusal(
                    CART_MISMATCH,
                    f"checkout_data.items[{index}] is a refund copy of "
                    f"checkout_data.items[{positions[original_index]}] but comes before it: "
                    "a refund copy follows the item it refunds",
                )
            copies.append(copy_)
        if not copies:
            raise _Refusal(
                MISSING_DATA,
                "nothing to refund: checkout_data.items holds the order's cart but no refund "
                "copy of an item",
            )
        _check_bought(state, copies)
        return copies

    def _apply(
        self,
        state: _OrderState,
        body: Dict[str, Any],
        total: int,
        copies: List[_Copy],
        now: float,
    ) -> Dict[str, Any]:
        order = state.data
        refund_id = next(self._refund_ids)
        entry = {
            "amount": total,
            "currency": order.get("currency"),
            "description": body.get("description", ""),
            "status": self.refund_status,
            "transaction_id": refund_id,
            "type": "refund",
            "created": datetime.now().replace(microsecond=0).isoformat(),
        }
        refund = _Refund(entry, total)
        if self._lists_refunds(state):
            order["related_transactions"].append(entry)
        else:
            # Counted at once, listed later (list_refunds): MultiSafepay has shown
            # amount_refunded grown with the refund not yet in related_transactions.
            state.unlisted.append(refund)
        state.refunds[str(refund_id)] = refund
        state.accepted.append((now, total))
        if self.refund_status not in _NOT_COUNTED:
            order["amount_refunded"] = _minor_units(order.get("amount_refunded"), "") + total
            refund.copies = list(copies)
            for copy_ in copies:
                state.add_refunded(copy_)
            if self.cart_shows_refunds and copies:
                # MultiSafepay's plugins read earlier refund lines from the GET cart
                # (UNCONFIRMED): the next refund must then repeat them as part of the cart.
                # Parsed for this request alone and never changed in place: no copy needed.
                refund.lines = [c.item for c in copies]
                _cart(order).extend(refund.lines)
            state.show_status()
        self._notify(state)
        return {"transaction_id": order.get("transaction_id"), "refund_id": refund_id}

    def _find_refund(self, state: _OrderState, refund_id: Union[str, int]) -> _Refund:
        refund = state.refunds.get(str(refund_id))
        if refund is not None:
            return refund
        # A refund the order came with (add_order): its amount is all that is known.
        for entry in state.data.get("related_transactions") or []:
            if (
                isinstance(entry, dict)
                and entry.get("type") == "refund"
                and str(entry.get("transaction_id")) == str(refund_id)
            ):
                refund = _Refund(entry, _minor_units(entry.get("amount"), "refund amount"))
                state.refunds[str(refund_id)] = refund
                return refund
        raise KeyError(f"order {state.data.get('order_id')!r} has no refund {refund_id!r}")

    def _uncount(self, state: _OrderState, refund: _Refund) -> None:
        """A declined or void refund refunds nothing: undo what it counted."""
        order = state.data
        order["amount_refunded"] = _minor_units(order.get("amount_refunded"), "") - refund.amount
        for copy_ in refund.copies:
            state.add_refunded(copy_, sign=-1)
        cart = _cart(order)
        for line in refund.lines:  # the very objects added, wherever they are now
            for index, item in enumerate(cart):
                if item is line:
                    del cart[index]
                    break
        refund.copies, refund.lines = [], []
        state.show_status()


class _Handler(BaseHTTPRequestHandler):
    # Keep-alive, like MultiSafepay's API: a client may send its GET and POST over one
    # connection. Every faulted answer closes the connection.
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; without TCP_NODELAY the second waits for the
    # client's delayed ACK (40 ms on Linux) on a kept-alive connection.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        pass  # silent: nothing per request on stderr

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def _serve(self) -> None:
        emulator = cast(_Server, self.server).emulator
        body = self._read_body()
        split = urlsplit(self.path)
        request = RecordedRequest(
            method=self.command,
            path=unquote(split.path),
            query=dict(parse_qsl(split.query, keep_blank_values=True)),
            headers={name.lower(): value for name, value in self.headers.items()},
            body=body,
            client_port=int(self.client_address[1]),
        )
        route = _route(split.path)
        fault = emulator._arrive(request, route)
        if fault is None:
            self._send(emulator._answer(request, route))
            return
        if fault.kind is FaultKind.DROP_BEFORE:
            self._drop()
            return
        answer = emulator._answer(request, route) if fault.apply else None
        if fault.kind is FaultKind.SLOW:
            emulator._wait(fault.delay)
            if answer is None:
                self._drop()
            else:
                self._send(answer)
        elif fault.kind is FaultKind.DROP_AFTER:
            self._drop()
        elif fault.kind is FaultKind.SERVER_ERROR:
            self._send(_Answer(500, _SERVER_ERROR_PAGE, "text/html; charset=utf-8"), close=True)
        elif fault.kind is FaultKind.UNAVAILABLE:
            unavailable = _failure(UNKNOWN_ERROR, "service temporarily unavailable", 503)
            self._send(unavailable, close=True)
        else:  # MALFORMED_JSON
            full = answer.body if answer is not None else _UNPROCESSED_TRUNCATED
            self._send(_Answer(200, full[: max(1, len(full) // 2)]), close=True)

    def _read_body(self) -> bytes:
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            return b"".join(self._read_chunks())
        try:
            length = int(self.headers.get("content-length") or 0)
        except ValueError:
            length = 0
        return self.rfile.read(length) if length > 0 else b""

    def _read_chunks(self) -> Iterator[bytes]:
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline().strip():  # trailers
                    pass
                return
            yield self.rfile.read(size)
            self.rfile.readline()

    def _send(self, answer: _Answer, close: bool = False) -> None:
        self.send_response(answer.status)
        self.send_header("Content-Type", answer.content_type)
        for name, value in answer.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer.body)))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(answer.body)

    def _drop(self) -> None:
        # Nothing written: the client reads end-of-stream where the status line should be.
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)


# -- building orders -----------------------------------------------------------------------


def build_order(
    order_id: Union[str, int],
    gateway: str,
    items: Sequence[Mapping[str, Any]],
    *,
    currency: str = "EUR",
    tax_rates: Optional[Mapping[str, Union[Decimal, str]]] = None,
    country: str = "NL",
    amount: Optional[int] = None,
    transaction_id: Union[str, int, None] = None,
) -> Dict[str, Any]:
    """An order `data` dict shaped like MultiSafepay's GET answer (see fixtures/msp/order.json).

    `items` go into the cart verbatim; `amount` (minor units) defaults to the cart's total
    with tax, line by line as the emulator computes refunds.
    """
    status = "uncleared" if is_cart_gateway(gateway) else "completed"
    rates = {"none": "0.00"} if tax_rates is None else tax_rates
    cart = [copy.deepcopy(dict(item)) for item in items]
    order: Dict[str, Any] = {
        "order_id": order_id,
        "transaction_id": (
            transaction_id
            if transaction_id is not None
            else 4_000_000 + zlib.crc32(str(order_id).encode()) % 1_000_000
        ),
        "status": status,
        "financial_status": status,
        "currency": currency,
        "amount": 0,
        "amount_refunded": 0,
        "payment_details": {"type": gateway},
        "customer": {"country": country},
        "shopping_cart": {"items": cart},
        "checkout_options": {
            "default": {"rate": "0.00", "shipping_taxed": True},
            "alternate": [
                {"name": name, "standalone": "", "rules": [{"country": "", "rate": rate}]}
                for name, rate in rates.items()
            ],
        },
        "related_transactions": None,
    }
    if amount is None:
        total = sum(
            (
                _line_total(order, item, item.get("unit_price"), item.get("quantity"))
                for item in cart
            ),
            Decimal(0),
        )
        amount = to_minor_units(total, currency)
    order["amount"] = amount
    return order


# -- pure helpers --------------------------------------------------------------------------


def _check_new_cart(items: List[Any], tables: Mapping[str, Any]) -> None:
    """A cart to create an order with: objects, a readable unit price, a whole quantity above
    zero, tax rules as objects; refused with the field named (never a 500)."""
    for index, item in enumerate(items):
        where = f"shopping_cart.items[{index}]"
        if not isinstance(item, dict):
            raise _Refusal(MISSING_DATA, f"{where} is not an object")
        try:
            parse_decimal(item.get("unit_price"))
        except ValueError:
            raise _Refusal(
                WRONG_ITEM_PRICE, f"{where}.unit_price {_show(item.get('unit_price'))} is no price"
            ) from None
        if not _POSITIVE_WHOLE.match(str(item.get("quantity"))) or isinstance(
            item.get("quantity"), bool
        ):
            raise _Refusal(
                MISSING_DATA,
                f"{where}.quantity {_show(item.get('quantity'))} is not a whole number above 0",
            )
    for table in tables.get("alternate") or []:
        rules = table.get("rules") if isinstance(table, dict) else None
        if not isinstance(table, dict) or not all(isinstance(r, dict) for r in rules or []):
            raise _Refusal(
                MISSING_DATA, "checkout_options.tax_tables: tables and rules are objects"
            )


def _object(value: Any) -> Dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _route(raw_path: str) -> Optional[_Route]:
    if not raw_path.startswith(API_PREFIX):
        return None
    parts = [unquote(part) for part in raw_path[len(API_PREFIX) :].split("/")]
    if parts in (["orders"], ["orders", ""]):
        return _Route("orders", "")
    if len(parts) == 2 and parts[0] == "orders" and parts[1]:
        return _Route("order", parts[1])
    if len(parts) == 3 and parts[0] == "orders" and parts[1] and parts[2] == "refunds":
        return _Route("refunds", parts[1])
    if len(parts) == 2 and parts[0] == "pay" and parts[1]:
        return _Route("pay", parts[1])
    return None


def _page(status: int, text: str) -> _Answer:
    """A payment page answer: plain text for whoever drives the emulated customer."""
    return _Answer(status, text.encode("utf-8"), "text/plain; charset=utf-8")


def _payment_options(body: Mapping[str, Any]) -> Dict[str, Any]:
    """POST /orders' payment_options, checked: URLs http(s), notification_method POST or GET.

    MultiSafepay wants https without a port for webhooks; the emulator takes http and ports,
    as its tests listen on 127.0.0.1.
    """
    options = body.get("payment_options", {})
    if not isinstance(options, dict):
        raise _Refusal(MISSING_DATA, "payment_options must be a JSON object")
    for name in ("notification_url", "redirect_url", "cancel_url"):
        url = options.get(name)
        if url is None or url == "":
            continue
        split = urlsplit(url) if isinstance(url, str) else None
        if split is None or split.scheme not in ("http", "https") or not split.hostname:
            raise _Refusal(
                MISSING_DATA, f"payment_options.{name} {_show(url)} is not an http(s) URL"
            )
    method = options.get("notification_method")
    if method is not None and method not in _NOTIFICATION_METHODS:
        raise _Refusal(
            MISSING_DATA, f"payment_options.notification_method {_show(method)}: POST or GET"
        )
    return copy.deepcopy(options)


def _notification_url(notification_url: str, order_id: str, timestamp: int) -> str:
    """The notification URL with MultiSafepay's `transactionid` and `timestamp` added."""
    split = urlsplit(notification_url)
    added = urlencode({"transactionid": order_id, "timestamp": str(timestamp)})
    query = f"{split.query}&{added}" if split.query else added
    return urlunsplit((split.scheme, split.netloc, split.path, query, split.fragment))


def _success(data: Any) -> _Answer:
    return _Answer(200, wire.dumps({"success": True, "data": data}).encode())


def _failure(code: int, info: str, status: Optional[int] = None) -> _Answer:
    envelope = {"success": False, "data": {}, "error_code": code, "error_info": info}
    if status is None:
        status = _HTTP_STATUS.get(code, 404 if code == UNKNOWN_ERROR else 400)
    return _Answer(status, wire.dumps(envelope).encode())


def _parse_body(raw: bytes) -> Dict[str, Any]:
    try:
        body = wire.loads(raw) if raw.strip() else None
    except ValueError:  # includes UnicodeDecodeError
        raise _Refusal(MISSING_DATA, "the request body is not JSON") from None
    if not isinstance(body, dict):
        raise _Refusal(MISSING_DATA, "the request body must be a JSON object")
    return body


def _gateway(order: Mapping[str, Any]) -> str:
    details = order.get("payment_details")
    gateway = details.get("type") if isinstance(details, dict) else None
    return gateway if isinstance(gateway, str) else ""


def _cart(order: Mapping[str, Any]) -> List[Any]:
    cart = order.get("shopping_cart")
    if not isinstance(cart, dict):
        return []
    items = cart.get("items")
    if not isinstance(items, list):
        return []
    return items


def _minor_units(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str, Decimal)):
        raise ValueError(f"order field {name} is not an integer amount: {value!r}")
    number = parse_decimal(value)
    if number != number.to_integral_value():
        raise ValueError(f"order field {name} is not an integer amount: {value!r}")
    return int(number)


def _check_currency(body: Mapping[str, Any], currency: Any, *, required: bool) -> None:
    if "currency" not in body:
        if required:
            raise _Refusal(
                INVALID_CURRENCY, f"currency is missing: the order's currency is {currency}"
            )
        return
    if not _same(body["currency"], currency):
        raise _Refusal(
            INVALID_CURRENCY,
            f"currency {_show(body['currency'])} is not the order's currency ({currency})",
        )


def _check_amount_refund(body: Mapping[str, Any], gateway: str, currency: Any) -> int:
    if "checkout_data" in body:
        raise _Refusal(
            MISSING_DATA,
            f"this payment method ({gateway}) refunds by amount: send amount and currency, "
            "not checkout_data",
        )
    if "amount" not in body:
        raise _Refusal(
            INVALID_AMOUNT,
            "amount is missing: MultiSafepay would refund the whole order (refused here)",
        )
    amount = body["amount"]
    if type(amount) is not int:
        raise _Refusal(
            INVALID_AMOUNT,
            f"amount {_show(amount)} is not an integer number of minor units",
        )
    if amount <= 0:
        raise _Refusal(
            INVALID_AMOUNT,
            f"amount {amount} is not positive: MultiSafepay would refund the whole order for "
            "0 (refused here)",
        )
    _check_currency(body, currency, required=True)
    return amount


def _match_cart(cart: List[Any], items: List[Dict[str, Any]]) -> List[int]:
    """Where each item of the current cart is in the request; refuses a cart not repeated.

    The cart must appear unchanged and in order; refund copies may come anywhere between
    (the seed page puts a copy right after its original, the SDKs append them at the end).
    """
    positions: List[int] = []
    for index, item in enumerate(items):
        if len(positions) < len(cart) and _same(item, cart[len(positions)]):
            positions.append(index)
    if len(positions) == len(cart):
        return positions
    missing = len(positions)
    expected = cart[missing]
    found = ""
    if isinstance(expected, dict):
        unmatched = [(i, item) for i, item in enumerate(items) if i not in set(positions)]
        same_id = [
            (i, item)
            for i, item in unmatched
            if _same(item.get("merchant_item_id", _MISSING), expected.get("merchant_item_id"))
        ]
        identical = [i for i, item in same_id if _same(item, expected)]
        if identical:
            found = f" (it is at checkout_data.items[{identical[0]}], out of order)"
        elif same_id:
            i, closest = same_id[0]
            found = (
                f" (checkout_data.items[{i}], with the same merchant_item_id, differs: "
                f"{_first_difference(expected, closest)})"
            )
        else:
            found = " (no item in checkout_data.items has its merchant_item_id)"
    raise _Refusal(
        CART_MISMATCH,
        f"the order's cart item {missing} ({_label(expected)}) is missing or changed in "
        f"checkout_data.items{found}: the request must repeat the order's whole current cart "
        f"({len(cart)} items, as GET /orders/{{order_id}} shows it) unchanged and in order, "
        "plus the refund copies",
    )


def _originals_by_id(
    originals: List[Tuple[int, Dict[str, Any]]],
) -> Dict[str, List[Dict[str, Any]]]:
    """The cart's original items by merchant_item_id, so each copy is checked in one look-up."""
    by_id: Dict[str, List[Dict[str, Any]]] = {}
    for _, original in originals:
        if isinstance(original, dict):
            key = _item_key(original)
            by_id.setdefault(key, []).append(original)
    return by_id


def _check_copy(
    index: int,
    item: Dict[str, Any],
    originals: Mapping[str, List[Dict[str, Any]]],
    convention: SignConvention,
    gateway: str,
) -> _Copy:
    """Check a request item outside the cart: a refund copy of an item bought."""
    merchant_item_id = item.get("merchant_item_id", _MISSING)
    candidates = [
        original
        for original in originals.get(_item_key(item), ())
        if _same(original.get("merchant_item_id", _MISSING), merchant_item_id)
    ]
    if not candidates:
        shown = (
            "no merchant_item_id"
            if merchant_item_id is _MISSING
            else f"merchant_item_id {_show(merchant_item_id)}"
        )
        raise _Refusal(
            CART_MISMATCH,
            f"checkout_data.items[{index}] is not in the order's cart and not a refund copy of "
            f"an item bought: {shown} matches no item of the order",
        )
    for original in candidates:
        try:
            return _match_copy(index, item, original, convention, gateway)
        except _Refusal:
            pass
    # None fits: explain against the closest original.
    closest = min(candidates, key=lambda original: _distance(item, original))
    return _match_copy(index, item, closest, convention, gateway)


def _earlier_copy_of(
    item: Dict[str, Any], originals: List[Any], convention: SignConvention
) -> Optional[_Copy]:
    """The item read as a refund copy of one of `originals`, or None (for add_order)."""
    for original in originals:
        if isinstance(original, dict) and _same(
            original.get("merchant_item_id", _MISSING), item.get("merchant_item_id", _MISSING)
        ):
            try:
                return _match_copy(-1, item, original, convention, "")
            except _Refusal:
                pass
    return None


def _match_copy(
    index: int,
    item: Dict[str, Any],
    original: Dict[str, Any],
    convention: SignConvention,
    gateway: str,
) -> _Copy:
    # The words of a refusal, made only when refusing: most copies are accepted.
    def where() -> str:
        return (
            f"checkout_data.items[{index}] (refund copy of merchant_item_id "
            f"{_show(original.get('merchant_item_id'))})"
        )

    def rule() -> str:
        return _convention_rule(gateway, convention, original)

    selector = item.get("tax_table_selector", _MISSING)
    if not _same(selector, original.get("tax_table_selector", _MISSING)):
        raise _Refusal(
            WRONG_ITEM_TAX,
            f"{where()}: tax_table_selector is {_show(selector)} but the item bought has "
            f"{_show(original.get('tax_table_selector', _MISSING))}: a refund copy keeps the "
            "original's tax table",
        )
    price = item.get("unit_price", _MISSING)
    bought_price = original.get("unit_price", _MISSING)
    negative_quantity = convention is SignConvention.NEGATIVE_QUANTITY
    wanted_price = bought_price if negative_quantity else _negated(bought_price)
    if not _same(price, wanted_price):
        raise _Refusal(
            WRONG_ITEM_PRICE,
            f"{where()}: unit_price is {_show(price)}, expected {_show(wanted_price)}: {rule()}",
        )
    difference = _first_difference(original, item, skip=("unit_price", "quantity"))
    if difference is not None:
        raise _Refusal(
            CART_MISMATCH,
            f"{where()}: {difference}: a refund copy repeats the item bought exactly, except "
            f"for the sign ({rule()})",
        )
    quantity = _whole_quantity(item.get("quantity", _MISSING), original.get("quantity"))
    if quantity is None or (quantity < 0) != negative_quantity:
        raise _Refusal(
            CART_MISMATCH,
            f"{where()}: quantity {_show(item.get('quantity', _MISSING))} is not "
            f"{'a negative' if negative_quantity else 'a positive'} whole number written like "
            f"the original's ({_show(original.get('quantity', _MISSING))}): {rule()}",
        )
    return _Copy(index=index, item=item, original=original, quantity=abs(quantity))


def _convention_rule(gateway: str, convention: SignConvention, original: Mapping[str, Any]) -> str:
    name = gateway or "this payment method"
    price = _show(original.get("unit_price", _MISSING))
    if convention is SignConvention.NEGATIVE_QUANTITY:
        return (
            f"{name} refunds by negative quantity: a refund copy keeps unit_price {price} "
            "and sets quantity to minus the quantity refunded"
        )
    return (
        f"{name} refunds by negative unit price: a refund copy sets unit_price to "
        f"{_show(_negated(original.get('unit_price', _MISSING)))} (the original {price} "
        "negated) and quantity to the quantity refunded, positive"
    )


def _bought(state: _OrderState) -> Dict[str, int]:
    """Quantity bought per item (merchant_item_id as JSON), over the order's original lines."""
    bought: Dict[str, int] = {}
    for _, original in state.originals():
        key = _item_key(original)
        quantity = _whole_quantity(original.get("quantity"), original.get("quantity"))
        bought[key] = bought.get(key, 0) + (quantity or 0)
    return bought


def _asked(copies: List[_Copy]) -> Dict[str, int]:
    """Quantity a refund's copies return per item."""
    asked: Dict[str, int] = {}
    for copy_ in copies:
        key = _item_key(copy_.item)
        asked[key] = asked.get(key, 0) + copy_.quantity
    return asked


def _check_bought(state: _OrderState, copies: List[_Copy]) -> None:
    bought = _bought(state)
    for key, quantity in _asked(copies).items():
        before = state.refunded.get(key, 0)
        if before + quantity > bought.get(key, 0):
            raise _Refusal(
                CANNOT_REFUND,
                f"merchant_item_id {key}: cannot refund {quantity} more, {before} of the "
                f"{bought.get(key, 0)} bought are already refunded",
            )


def _copies_total(order: Mapping[str, Any], copies: List[_Copy]) -> int:
    """The amount the copies refund, in minor units: each line with its tax, rounded."""
    currency = str(order.get("currency"))
    total = Decimal(0)
    for copy_ in copies:
        try:
            total += _line_total(
                order, copy_.item, copy_.item.get("unit_price"), copy_.item.get("quantity")
            )
        except ValueError as error:
            raise _Refusal(
                WRONG_ITEM_PRICE, f"checkout_data.items[{copy_.index}]: {error}"
            ) from None
    refund = -total
    if refund <= 0:
        raise _Refusal(
            INVALID_AMOUNT,
            f"the refund copies add up to {refund} {currency}: nothing would be refunded",
        )
    return to_minor_units(refund, currency)


def _line_total(
    order: Mapping[str, Any], item: Mapping[str, Any], price: Any, quantity: Any
) -> Decimal:
    """unit_price x quantity x (1 + the item's tax rate), rounded to the currency."""
    rate = _tax_rate(order, item.get("tax_table_selector"))
    value = parse_decimal(price) * parse_decimal(quantity) * (1 + rate)
    return round_money(value, str(order.get("currency")))


def _tax_rate(order: Mapping[str, Any], selector: Any) -> Decimal:
    """The rate of the tax table an item names; the default rate when it names none.

    A table's rule for the customer's country wins over its rule for every country ("").
    """
    options = order.get("checkout_options")
    options = options if isinstance(options, dict) else {}
    default = options.get("default")
    default_rate = default.get("rate") if isinstance(default, dict) else None
    if isinstance(selector, str) and selector:
        customer = order.get("customer")
        country = customer.get("country") if isinstance(customer, dict) else None
        for table in options.get("alternate") or []:
            if not isinstance(table, dict) or table.get("name") != selector:
                continue
            rules = [rule for rule in table.get("rules") or [] if isinstance(rule, dict)]
            for wanted in (country, ""):
                for rule in rules:
                    if wanted is not None and (rule.get("country") or "") == wanted:
                        return parse_decimal(rule.get("rate"))
            break
    return parse_decimal(default_rate) if default_rate is not None else Decimal(0)


_NEGATIVE_WHOLE = re.compile(r"-[1-9][0-9]*\Z")
_POSITIVE_WHOLE = re.compile(r"[1-9][0-9]*\Z")


def _whole_quantity(value: Any, like: Any) -> Optional[int]:
    """A non-zero whole number written with the JSON type of `like`, or None."""
    if isinstance(like, str):
        if isinstance(value, str) and (
            _NEGATIVE_WHOLE.match(value) or _POSITIVE_WHOLE.match(value)
        ):
            return int(value)
        return None
    if isinstance(like, bool) or not isinstance(like, (int, Decimal)):
        return None
    if type(value) is int and value != 0:
        return value
    if (
        isinstance(like, Decimal)
        and isinstance(value, Decimal)
        and value.is_finite()
        and value == value.to_integral_value()
        and value != 0
    ):
        return int(value)
    return None


def _negated(value: Any) -> Any:
    """The value with its sign flipped, written the same way ("90" -> "-90")."""
    if isinstance(value, str):
        return value[1:] if value.startswith("-") else "-" + value
    if isinstance(value, bool):
        return _MISSING
    if isinstance(value, int):
        return -value
    if isinstance(value, Decimal):
        return value.copy_negate()
    return _MISSING


def _same(a: Any, b: Any) -> bool:
    """JSON equality that also compares types and literals: "90" != 90 != 90.0."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict):
        return (
            isinstance(b, dict)
            and a.keys() == b.keys()
            and all(_same(value, b[key]) for key, value in a.items())
        )
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, Decimal):
        return isinstance(b, Decimal) and str(a) == str(b)
    if isinstance(a, int):
        return type(b) is int and a == b
    if isinstance(a, str):
        return isinstance(b, str) and a == b
    if a is None or a is _MISSING:
        return b is a
    return type(a) is type(b) and bool(a == b)


def _distance(item: Mapping[str, Any], original: Mapping[str, Any]) -> int:
    keys = set(item) | set(original)
    return sum(
        1
        for key in keys - {"quantity"}
        if not _same(item.get(key, _MISSING), original.get(key, _MISSING))
    )


def _first_difference(
    expected: Mapping[str, Any], actual: Mapping[str, Any], skip: Tuple[str, ...] = ()
) -> Optional[str]:
    for key, value in expected.items():
        if key in skip:
            continue
        if key not in actual:
            return f"field {key!r} is missing"
        if not _same(value, actual[key]):
            return (
                f"field {key!r} is {_show(value)} in the order but {_show(actual[key])} in "
                "the request"
            )
    for key in actual:
        if key not in expected and key not in skip:
            return f"field {key!r} is not in the order's item"
    return None


def _show(value: Any) -> str:
    """A JSON value with its type, for messages: "90" (string), 90 (number)."""
    if value is _MISSING:
        return "(missing)"
    if isinstance(value, bool) or value is None:
        return wire.dumps(value)
    if isinstance(value, str):
        return f"{wire.dumps(value)} (string)"
    if isinstance(value, (int, Decimal)):
        return f"{wire.dumps(value)} (number)"
    try:
        return wire.dumps(value)
    except (TypeError, ValueError):
        return repr(value)


def _label(item: Any) -> str:
    if not isinstance(item, dict):
        return _show(item)
    parts = [
        f"{key} {wire.dumps(item[key])}" for key in ("merchant_item_id", "name") if key in item
    ]
    return ", ".join(parts) or "an item without merchant_item_id"


def _item_key(item: Mapping[str, Any]) -> str:
    """An item's merchant_item_id as a dict key: one rule for counting what was bought and
    refunded, and for matching copies, so that an absent id and a null one stay apart."""
    merchant_item_id = item.get("merchant_item_id", _MISSING)
    return "(absent)" if merchant_item_id is _MISSING else _id_key(merchant_item_id)


def _id_key(merchant_item_id: Any) -> str:
    """merchant_item_id as a dict key that keeps "1" and 1 apart."""
    try:
        return wire.dumps(merchant_item_id)
    except (TypeError, ValueError):
        return repr(merchant_item_id)
