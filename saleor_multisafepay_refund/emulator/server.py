"""`Emulator`: MultiSafepay's API served over HTTP on 127.0.0.1, each request recorded, its API
key checked and routed to the module that does the work; and the calls a test makes.
"""

from __future__ import annotations

import contextlib
import copy
import hmac
import socket
import threading
import time
from dataclasses import dataclass, field
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
    Tuple,
    Union,
    cast,
)
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from ..multisafepay import wire
from ..multisafepay.methods import SignConvention
from .envelope import (
    INVALID_API_KEY,
    UNKNOWN_ERROR,
    UNKNOWN_ORDER,
    Answer,
    Refusal,
    failure,
    success,
)
from .faults import Fault, serve_fault, take_fault
from .notifications import Notification, Notifications, deliver
from .orders import OrderState, create_order, order_from_data
from .payments import Payments
from .refunds import REFUND_STATUSES, Refunds, list_refunds_kept_aside

API_PREFIX = "/v1/json/"


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


# What GET /gateways lists unless a test says otherwise: card, iDEAL and the cart methods the
# emulator's payments take (names as MultiSafepay's checkout shows them).
GATEWAY_NAMES = {
    "VISA": "Visa",
    "IDEAL": "iDEAL",
    "KLARNA": "Klarna - buy now, pay later",
    "PAYAFTER": "Pay After Delivery",
    "IN3": "in3",
    "AFTERPAY": "Riverty",
}
DEFAULT_GATEWAYS = tuple(GATEWAY_NAMES)


@dataclass(frozen=True)
class _Route:
    # "order", "refunds", "orders" (creation), "gateways" (the site's methods) or "pay" (the
    # payment page)
    kind: str
    order_id: str


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
        gateways: Sequence[str] = DEFAULT_GATEWAYS,
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
        # The site's payment methods, as GET /gateways lists them (a test may change them).
        self.gateways = tuple(gateways)
        self._lock = threading.RLock()  # orders, requests, faults and notifications
        # The options above are read where they are used, at each request or call: a test may
        # change them on a running emulator.
        self._notifications = Notifications(api_key, self, self._lock)
        self._refunds = Refunds(self, self._notifications.notify)
        self._payments = Payments(self._notifications.notify)
        self._stopping = threading.Event()
        self._orders: Dict[str, OrderState] = {}
        self._faults: List[Fault] = []
        self._requests: List[Tuple[RecordedRequest, Optional[_Route]]] = []
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
        state = order_from_data(data, self.sign_conventions)
        with self._lock:
            self._orders[str(state.data["order_id"])] = state

    def order(self, order_id: Union[str, int]) -> Dict[str, Any]:
        """The order as GET would return it now (a copy)."""
        with self._lock:
            state = self._orders.get(str(order_id))
            if state is None:
                raise KeyError(f"no order {order_id!r} in the emulator")
            return copy.deepcopy(state.shown(self.lists_refunds))

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
            return list_refunds_kept_aside(self._state(order_id))

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
            return self._payments.pay(self._state(order_id), gateway, outcome)

    def expire(self, order_id: Union[str, int]) -> None:
        """The order expires: never paid, or a BNPL authorization never shipped."""
        with self._lock:
            self._payments.expire(self._state(order_id))

    def set_refund_status(
        self, order_id: Union[str, int], refund_id: Union[str, int], status: str
    ) -> None:
        """A refund moves on: initialized or reserved -> reserved, completed, declined or
        void. A declined or void refund refunds nothing: its amount leaves amount_refunded,
        its quantities may be refunded again, its refund lines leave the cart."""
        if status not in REFUND_STATUSES:
            raise ValueError(f"{status!r} is not a refund status: {sorted(REFUND_STATUSES)}")
        with self._lock:
            self._refunds.set_status(self._state(order_id), refund_id, status)

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
            return self._refunds.dashboard_refund(
                self._state(order_id), amount_minor_units, description
            )

    # -- notifications --------------------------------------------------------------------

    def notifications(self, order_id: Union[str, int, None] = None) -> List[Notification]:
        """The notifications made so far (of one order, or of all), in order; delivered or
        not, none is ever removed."""
        return self._notifications.made(order_id)

    def deliver(self, notification: Notification, timeout: float = 5.0) -> Tuple[int, bytes]:
        """Send one notification over HTTP, following no redirect: (status, body) of the
        answer. Connection errors raise (OSError or http.client.HTTPException)."""
        return deliver(notification, timeout)

    def deliver_pending(self, timeout: float = 5.0) -> List[Tuple[Notification, int, bytes]]:
        """Send each notification not yet acknowledged, in order, and return what was sent
        with the answer (status 0 and an empty body when the connection failed).

        Acknowledged, as MultiSafepay's webhook page says: HTTP 200 with "OK" in the first
        100 characters of the body. The others stay pending; MultiSafepay retries them
        "each with a new timestamp", so a retry is stamped and signed again with `clock`.
        """
        return self._notifications.deliver_pending(timeout)

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
            return take_fault(self._faults, request.method, order_id)

    def _wait(self, seconds: float) -> None:
        self._stopping.wait(seconds)

    def _answer(self, request: RecordedRequest, route: Optional[_Route]) -> Answer:
        if route is not None and route.kind == "pay":
            with self._lock:
                state = self._orders.get(route.order_id)
                return self._payments.page(request.method, route.order_id, state, request.query)
        try:
            with self._lock:
                return success(self._process(request, route))
        except Refusal as refusal:
            return failure(refusal.code, refusal.info)
        except Exception as error:  # any bug becomes MultiSafepay's 9999
            return failure(UNKNOWN_ERROR, f"emulator error: {type(error).__name__}: {error}", 500)

    def _process(self, request: RecordedRequest, route: Optional[_Route]) -> Any:
        self._authenticate(request)
        if route is None or (request.method, route.kind) not in {
            ("GET", "order"),
            ("PATCH", "order"),
            ("POST", "refunds"),
            ("POST", "orders"),
            ("GET", "gateways"),
        }:
            raise Refusal(UNKNOWN_ERROR, f"no such endpoint: {request.method} {request.path}")
        if route.kind == "gateways":
            return [
                {"id": code, "description": GATEWAY_NAMES.get(code, code)} for code in self.gateways
            ]
        if route.kind == "orders":
            return self._create_order(request.body)
        state = self._orders.get(route.order_id)
        if state is None:
            raise Refusal(UNKNOWN_ORDER, f"order {route.order_id!r} does not exist")
        if request.method == "PATCH":
            return self._payments.update_order(state, request.body)
        if route.kind == "order":
            return state.shown(self.lists_refunds)
        return self._refunds.refund(state, request.body)

    def _create_order(self, raw_body: bytes) -> Dict[str, Any]:
        """POST /orders: the order kept, and the payment page where its customer pays."""
        state = create_order(raw_body, self._orders, self.sign_conventions)
        order_id = str(state.data["order_id"])
        self._orders[order_id] = state
        return {
            "order_id": order_id,
            "payment_url": f"{self.base_url}pay/{quote(order_id, safe='')}",
        }

    def _authenticate(self, request: RecordedRequest) -> None:
        # The header wins when both are sent; the key given is never repeated in an answer.
        given = request.headers.get("api_key")
        if given is None:
            given = request.query.get("api_key")
        if not given:
            raise Refusal(INVALID_API_KEY, "missing API key: send it in the api_key header")
        if not hmac.compare_digest(given.encode(), self._api_key.encode()):
            raise Refusal(INVALID_API_KEY, "invalid API key")

    def _state(self, order_id: Union[str, int]) -> OrderState:
        state = self._orders.get(str(order_id))
        if state is None:
            raise KeyError(f"no order {order_id!r} in the emulator")
        return state


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
        serve_fault(
            fault,
            process=lambda: emulator._answer(request, route),
            send=self._send,
            drop=self._drop,
            wait=emulator._wait,
        )

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

    def _send(self, answer: Answer, close: bool = False) -> None:
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


def _route(raw_path: str) -> Optional[_Route]:
    if not raw_path.startswith(API_PREFIX):
        return None
    parts = [unquote(part) for part in raw_path[len(API_PREFIX) :].split("/")]
    if parts in (["gateways"], ["gateways", ""]):
        return _Route("gateways", "")
    if parts in (["orders"], ["orders", ""]):
        return _Route("orders", "")
    if len(parts) == 2 and parts[0] == "orders" and parts[1]:
        return _Route("order", parts[1])
    if len(parts) == 3 and parts[0] == "orders" and parts[1] and parts[2] == "refunds":
        return _Route("refunds", parts[1])
    if len(parts) == 2 and parts[0] == "pay" and parts[1]:
        return _Route("pay", parts[1])
    return None
