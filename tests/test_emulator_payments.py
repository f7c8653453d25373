"""The emulator's payment step, over real HTTP: the payment page, shipping and cancelling,
refund statuses, dashboard refunds and signed notifications delivered to a local receiver."""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, Iterator, List, Optional, Tuple
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests

from saleor_multisafepay_refund.emulator import (
    Emulator,
    Fault,
    FaultKind,
    PaymentRefused,
)
from saleor_multisafepay_refund.multisafepay import wire
from saleor_multisafepay_refund.multisafepay.signatures import (
    InvalidNotification,
    verify_notification,
)

KEY = "test-key-0123456789abcdef"
SHOP = "https://shop.example"
CANDLES = {
    "name": "Geometric Candle Holders",
    "description": "",
    "unit_price": "50.00",
    "quantity": 2,
    "merchant_item_id": "111111",
    "tax_table_selector": "none",
    "weight": {"unit": "KG", "value": 0},
}
APPLE = {
    "name": "Nice apple",
    "description": "",
    "unit_price": "35.00",
    "quantity": 1,
    "merchant_item_id": "666666",
    "tax_table_selector": "none",
    "weight": {"unit": "KG", "value": 0},
}
CART_AMOUNT = 13500  # 2 x 50 + 35, no tax


# -- a local notification receiver ---------------------------------------------------------


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    query: Dict[str, str]
    headers: Dict[str, str]
    body: bytes


class Receiver:
    """The shop's webhook endpoint: records each call, answers from a queue (default OK)."""

    def __init__(self) -> None:
        self.received: List[Received] = []
        self.answers: List[Tuple[int, bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                self._record()

            def do_GET(self) -> None:
                self._record()

            def _record(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                split = urlsplit(self.path)
                receiver.received.append(
                    Received(
                        self.command,
                        split.path,
                        dict(parse_qsl(split.query)),
                        dict(self.headers.items()),
                        self.rfile.read(length) if length else b"",
                    )
                )
                status, body = receiver.answers.pop(0) if receiver.answers else (200, b"OK")
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/webhook?shop=1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(1_750_000_000.0)


@pytest.fixture
def emu(clock: Clock) -> Iterator[Emulator]:
    with Emulator(KEY, clock=clock) as emulator:
        yield emulator


@pytest.fixture
def reserved(clock: Clock) -> Iterator[Emulator]:
    """Refunds start reserved, as in MultiSafepay's test environment."""
    with Emulator(KEY, clock=clock, refund_status="reserved") as emulator:
        yield emulator


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    yield running
    running.stop()


# -- helpers -------------------------------------------------------------------------------


def order_body(
    order_id: str,
    gateway: str = "",
    cart: bool = True,
    notification_url: Optional[str] = None,
    **options: Any,
) -> Dict[str, Any]:
    payment_options: Dict[str, Any] = {
        "redirect_url": f"{SHOP}/paid?order={order_id}",
        "cancel_url": f"{SHOP}/cancelled",
        "close_window": False,
        **options,
    }
    if notification_url is not None:
        payment_options["notification_url"] = notification_url
        payment_options.setdefault("notification_method", "POST")
    body: Dict[str, Any] = {
        "type": "redirect",
        "order_id": order_id,
        "gateway": gateway,
        "currency": "EUR",
        "amount": CART_AMOUNT,
        "description": f"Order {order_id}",
        "payment_options": payment_options,
        "customer": {"first_name": "Jan", "country": "NL", "email": "jan@example.org"},
        "delivery": {"first_name": "Jan", "country": "NL", "city": "Amsterdam"},
    }
    if cart:
        body["shopping_cart"] = {"items": [copy.deepcopy(CANDLES), copy.deepcopy(APPLE)]}
        body["checkout_options"] = {
            "tax_tables": {"alternate": [{"name": "none", "rules": [{"rate": "0.00"}]}]}
        }
    return body


def api(emu: Emulator, method: str, path: str, body: Any = None) -> requests.Response:
    return requests.request(
        method,
        emu.base_url + path,
        data=None if body is None else wire.dumps(body).encode(),
        headers={"api_key": KEY, "Content-Type": "application/json"},
        timeout=5,
        allow_redirects=False,
    )


def create(emu: Emulator, order_id: str, **kwargs: Any) -> str:
    """Create the order; its payment_url."""
    response = api(emu, "POST", "orders", order_body(order_id, **kwargs))
    assert response.status_code == 200, response.text
    return str(wire.loads(response.content)["data"]["payment_url"])


def pay(payment_url: str, **params: str) -> requests.Response:
    """The customer on the payment page: no API key, no redirect followed."""
    return requests.get(payment_url, params=params, timeout=5, allow_redirects=False)


def get_order(emu: Emulator, order_id: str) -> Dict[str, Any]:
    response = api(emu, "GET", f"orders/{order_id}")
    assert response.status_code == 200
    return dict(wire.loads(response.content)["data"])


def patch(emu: Emulator, order_id: str, body: Dict[str, Any]) -> requests.Response:
    return api(emu, "PATCH", f"orders/{order_id}", body)


def error_code(response: requests.Response) -> int:
    envelope = wire.loads(response.content)
    assert envelope["success"] is False and envelope["data"] == {}
    return int(envelope["error_code"])


def statuses(emu: Emulator, order_id: str) -> Tuple[str, str]:
    order = get_order(emu, order_id)
    return order["status"], order["financial_status"]


def auth_for(body: bytes, timestamp: int, key: str = KEY) -> str:
    """MultiSafepay's webhook recipe, computed here from the docs, not by the package."""
    digest = hmac.new(key.encode(), f"{timestamp}:".encode() + body, hashlib.sha512).hexdigest()
    return base64.b64encode(f"{timestamp}:{digest}".encode()).decode()


def paid_order(emu: Emulator, order_id: str, gateway: str, **kwargs: Any) -> None:
    url = create(emu, order_id, gateway=gateway, **kwargs)
    assert pay(url).status_code == 302


# -- the payment page ----------------------------------------------------------------------


def test_given_no_gateway_when_the_customer_pays_by_klarna_then_authorized_and_redirected(
    emu: Emulator,
) -> None:
    payment_url = create(emu, "pay-1")
    before = get_order(emu, "pay-1")

    response = pay(payment_url, gateway="KLARNA")

    assert before["status"] == "initialized" and before["transaction_id"] is None
    assert response.status_code == 302
    assert response.headers["Location"] == f"{SHOP}/paid?order=pay-1"
    order = get_order(emu, "pay-1")
    # Klarna authorized, not captured: captured when shipped.
    assert (order["status"], order["financial_status"]) == ("completed", "uncleared")
    assert order["payment_details"]["type"] == "KLARNA"
    assert type(order["transaction_id"]) is int


@pytest.mark.parametrize(
    ("gateway", "expected"),
    [
        pytest.param("IDEAL", ("completed", "completed"), id="ideal"),
        pytest.param("VISA", ("completed", "completed"), id="card"),
        pytest.param("PAYAFTER", ("completed", "uncleared"), id="pay-after-delivery"),
        pytest.param("EINVOICE", ("completed", "initialized"), id="e-invoicing"),
    ],
)
def test_given_a_gateway_chosen_at_creation_when_paid_then_its_documented_statuses(
    emu: Emulator, gateway: str, expected: Tuple[str, str]
) -> None:
    payment_url = create(emu, "pay-2", gateway=gateway)

    response = pay(payment_url)

    assert response.status_code == 302
    assert statuses(emu, "pay-2") == expected
    assert get_order(emu, "pay-2")["payment_details"]["type"] == gateway


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [("declined", ("declined", "declined")), ("cancelled", ("void", "cancelled"))],
)
def test_given_an_unsuccessful_payment_when_finished_then_cancel_url_and_status(
    emu: Emulator, outcome: str, expected: Tuple[str, str]
) -> None:
    payment_url = create(emu, "pay-3", gateway="IDEAL", cart=False)

    response = pay(payment_url, outcome=outcome)

    assert response.status_code == 302
    assert response.headers["Location"] == f"{SHOP}/cancelled"
    assert statuses(emu, "pay-3") == expected


def test_given_no_cancel_url_when_declined_then_back_to_the_redirect_url(emu: Emulator) -> None:
    body = order_body("pay-4", gateway="IDEAL", cart=False)
    del body["payment_options"]["cancel_url"]
    assert api(emu, "POST", "orders", body).status_code == 200

    response = pay(f"{emu.base_url}pay/pay-4", outcome="declined")

    assert response.headers["Location"] == f"{SHOP}/paid?order=pay-4"


def test_given_an_order_without_gateway_when_paid_without_choosing_then_refused_unchanged(
    emu: Emulator,
) -> None:
    payment_url = create(emu, "pay-5", notification_url="https://shop.example/hook")
    before = get_order(emu, "pay-5")

    response = pay(payment_url)

    assert response.status_code == 400 and "no payment method chosen" in response.text
    assert get_order(emu, "pay-5") == before
    assert emu.notifications() == []


def test_given_an_order_without_gateway_when_the_customer_cancels_then_void(
    emu: Emulator,
) -> None:
    payment_url = create(emu, "pay-6")

    response = pay(payment_url, outcome="cancelled")

    assert response.headers["Location"] == f"{SHOP}/cancelled"
    assert statuses(emu, "pay-6") == ("void", "cancelled")


def test_given_a_cart_method_chosen_for_an_order_without_cart_when_paid_then_declined(
    emu: Emulator,
) -> None:
    payment_url = create(emu, "pay-7", cart=False)

    response = pay(payment_url, gateway="KLARNA")

    # MultiSafepay needs the shopping cart for buy-now-pay-later: the payment fails.
    assert response.status_code == 302
    assert response.headers["Location"] == f"{SHOP}/cancelled"
    assert statuses(emu, "pay-7") == ("declined", "declined")


def test_given_the_python_hook_when_a_cart_method_is_paid_without_cart_then_declined(
    emu: Emulator,
) -> None:
    create(emu, "pay-8", cart=False)

    assert emu.pay("pay-8", "PAYAFTER") == "declined"


@pytest.mark.parametrize(
    ("params", "status", "words"),
    [
        ({"gateway": "KLARNA"}, 400, "created for IDEAL"),
        ({"outcome": "paid"}, 400, "not one of"),
        ({"gateway": "klarna"}, 400, "not a gateway code"),
    ],
)
def test_given_a_wrong_choice_on_the_payment_page_when_paying_then_refused_unchanged(
    emu: Emulator, params: Dict[str, str], status: int, words: str
) -> None:
    payment_url = create(emu, "pay-9", gateway="IDEAL", cart=False)
    before = get_order(emu, "pay-9")

    response = pay(payment_url, **params)

    assert response.status_code == status and words in response.text
    assert get_order(emu, "pay-9") == before


def test_given_a_paid_order_when_paid_again_then_409_and_python_hook_refuses(
    emu: Emulator,
) -> None:
    payment_url = create(emu, "pay-10", gateway="IDEAL", cart=False)
    pay(payment_url)

    response = pay(payment_url)

    assert response.status_code == 409
    with pytest.raises(PaymentRefused):
        emu.pay("pay-10")
    assert statuses(emu, "pay-10") == ("completed", "completed")


def test_given_an_unknown_order_when_its_payment_page_is_opened_then_404(emu: Emulator) -> None:
    assert pay(f"{emu.base_url}pay/nope").status_code == 404


def test_given_an_order_when_created_then_get_shows_description_and_customer_only(
    emu: Emulator,
) -> None:
    create(emu, "pay-11", notification_url="https://shop.example/hook")

    order = get_order(emu, "pay-11")

    assert order["description"] == "Order pay-11"
    assert order["customer"] == {"first_name": "Jan", "country": "NL", "email": "jan@example.org"}
    assert "payment_options" not in order and "delivery" not in order
    assert order["related_transactions"] == [] and order["payment_details"]["type"] == ""


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"notification_url": "ftp://shop.example/hook"}, "notification_url"),
        ({"redirect_url": "shop.example/paid"}, "redirect_url"),
        ({"cancel_url": 12}, "cancel_url"),
        ({"notification_url": f"{SHOP}/hook", "notification_method": "PUT"}, "POST or GET"),
    ],
)
def test_given_bad_payment_options_when_creating_then_1016(
    emu: Emulator, options: Dict[str, Any], words: str
) -> None:
    body = order_body("pay-12")
    body["payment_options"].update(options)

    response = api(emu, "POST", "orders", body)

    assert error_code(response) == 1016 and words in wire.loads(response.content)["error_info"]


# -- notifications -------------------------------------------------------------------------


def test_given_a_payment_when_notified_then_signed_order_json_at_that_moment(
    emu: Emulator, receiver: Receiver, clock: Clock
) -> None:
    payment_url = create(emu, "note-1", notification_url=receiver.url)
    pay(payment_url, gateway="IDEAL")
    envelope = api(emu, "GET", "orders/note-1").content

    (notification,) = emu.notifications("note-1")

    stamp = int(clock.now)
    assert notification.order_id == "note-1" and notification.timestamp == stamp
    assert notification.url == f"{receiver.url}&transactionid=note-1&timestamp={stamp}"
    assert notification.headers == {
        "Auth": auth_for(notification.body, stamp),
        "Content-Type": "application/json",
    }
    # The body is the order exactly as GET serves it.
    assert envelope == b'{"success":true,"data":' + notification.body + b"}"
    assert wire.loads(notification.body)["status"] == "completed"


def test_given_a_notification_when_delivered_then_the_receiver_gets_it_verbatim(
    emu: Emulator, receiver: Receiver
) -> None:
    paid_order(emu, "note-2", "IDEAL", cart=False, notification_url=receiver.url)
    (notification,) = emu.notifications("note-2")

    status, body = emu.deliver(notification)

    assert (status, body) == (200, b"OK")
    (call,) = receiver.received
    assert call.method == "POST" and call.path == "/webhook"
    assert call.query == {
        "shop": "1",
        "transactionid": "note-2",
        "timestamp": str(notification.timestamp),
    }
    assert call.headers["Auth"] == notification.headers["Auth"]
    assert call.headers["Content-Type"] == "application/json"
    assert call.body == notification.body


def test_given_a_receiver_not_answering_ok_when_delivering_then_retried_with_a_new_stamp(
    emu: Emulator, receiver: Receiver, clock: Clock
) -> None:
    paid_order(emu, "note-3", "IDEAL", cart=False, notification_url=receiver.url)
    receiver.answers = [(500, b"OK"), (200, b"thanks")]

    first = emu.deliver_pending()
    second = emu.deliver_pending()
    clock.now += 900  # MultiSafepay retries 15 minutes later
    third = emu.deliver_pending()
    fourth = emu.deliver_pending()

    assert [(status, body) for _, status, body in first + second + third] == [
        (500, b"OK"),
        (200, b"thanks"),
        (200, b"OK"),
    ]
    assert fourth == []
    retried = third[0][0]
    assert retried.timestamp == int(clock.now)
    assert retried.headers["Auth"] == auth_for(retried.body, retried.timestamp)
    assert retried.body == first[0][0].body
    assert len(receiver.received) == 3
    assert len(emu.notifications()) == 1  # never removed, never duplicated


def test_given_no_receiver_listening_when_delivering_then_status_0_and_still_pending(
    emu: Emulator, receiver: Receiver
) -> None:
    paid_order(emu, "note-4", "IDEAL", cart=False, notification_url=receiver.url)
    receiver.stop()

    (result,) = emu.deliver_pending(timeout=1)

    assert result[1:] == (0, b"")
    assert len(emu.deliver_pending(timeout=1)) == 1


def test_given_emulator_notifications_when_the_package_verifies_them_then_fresh_ones_pass(
    emu: Emulator, clock: Clock
) -> None:
    paid_order(emu, "note-5", "IDEAL", cart=False, notification_url=f"{SHOP}/hook")
    clock.now += 700
    api(emu, "POST", "orders/note-5/refunds", {"currency": "EUR", "amount": 100})
    stale, fresh = emu.notifications()  # the payment's, 700 s before the refund's
    forged = fresh.body.replace(b'"amount_refunded":100', b'"amount_refunded":1')

    timestamp = verify_notification(fresh.body, fresh.headers["Auth"], KEY, now=clock.now)

    assert timestamp == int(clock.now)
    with pytest.raises(InvalidNotification, match="700 s old"):
        verify_notification(stale.body, stale.headers["Auth"], KEY, now=clock.now)
    assert forged != fresh.body
    with pytest.raises(InvalidNotification, match="does not match"):
        verify_notification(forged, fresh.headers["Auth"], KEY, now=clock.now)


def test_given_no_notification_url_when_the_order_changes_then_nothing_is_queued(
    emu: Emulator,
) -> None:
    paid_order(emu, "note-6", "KLARNA")
    patch(emu, "note-6", {"status": "shipped"})

    assert emu.notifications() == [] and emu.deliver_pending() == []


def test_given_no_notification_method_when_notified_then_a_get_without_body(
    emu: Emulator, receiver: Receiver
) -> None:
    body = order_body("note-7", gateway="IDEAL", cart=False)
    body["payment_options"]["notification_url"] = receiver.url  # no notification_method
    api(emu, "POST", "orders", body)
    pay(f"{emu.base_url}pay/note-7")

    ((sent, status, _),) = emu.deliver_pending()

    # MultiSafepay's default is GET: the shop must ask for POST to get the signed body.
    assert sent.method == "GET" and status == 200
    (call,) = receiver.received
    assert call.method == "GET" and call.body == b"" and "Auth" not in call.headers
    assert call.query["transactionid"] == "note-7"


# -- shipping and cancelling ---------------------------------------------------------------


@pytest.mark.parametrize("gateway", ["PAYAFTER", "KLARNA"])
def test_given_a_paid_bnpl_order_when_shipped_then_shipped_and_notified(
    emu: Emulator, gateway: str
) -> None:
    paid_order(emu, "ship-1", gateway, notification_url=f"{SHOP}/hook")
    shipment = {
        "status": "shipped",
        "tracktrace_code": "3SMSP0123456789",
        "carrier": "PostNL",
        "ship_date": "2025-06-15",
        "reason": "Shipped",
    }

    response = patch(emu, "ship-1", shipment)

    assert response.status_code == 200
    assert wire.loads(response.content) == {"success": True, "data": {}}
    # Captured: the provider invoices the customer; the money settles later.
    assert statuses(emu, "ship-1") == ("shipped", "uncleared")
    paid, shipped = emu.notifications("ship-1")
    assert wire.loads(shipped.body) == get_order(emu, "ship-1")
    assert wire.loads(paid.body)["status"] == "completed"


def test_given_an_unpaid_order_when_shipped_then_1016_and_unchanged(emu: Emulator) -> None:
    create(emu, "ship-2", gateway="KLARNA", notification_url=f"{SHOP}/hook")

    response = patch(emu, "ship-2", {"status": "shipped"})

    assert error_code(response) == 1016 and "not paid" in wire.loads(response.content)["error_info"]
    assert statuses(emu, "ship-2") == ("initialized", "initialized")
    assert emu.notifications() == []


def test_given_a_shipped_order_when_shipped_again_then_success_without_change(
    emu: Emulator,
) -> None:
    paid_order(emu, "ship-3", "KLARNA", notification_url=f"{SHOP}/hook")
    patch(emu, "ship-3", {"status": "shipped"})
    before = (get_order(emu, "ship-3"), len(emu.notifications()))

    response = patch(emu, "ship-3", {"status": "shipped", "tracktrace_code": "2nd parcel"})

    # Magento 2 sends "shipped" for every (partial) shipment: taken as harmless.
    assert wire.loads(response.content) == {"success": True, "data": {}}
    assert (get_order(emu, "ship-3"), len(emu.notifications())) == before


def test_given_a_card_order_when_shipped_then_status_shipped_money_unchanged(
    emu: Emulator,
) -> None:
    paid_order(emu, "ship-4", "VISA", cart=False)

    assert patch(emu, "ship-4", {"status": "shipped"}).status_code == 200
    assert statuses(emu, "ship-4") == ("shipped", "completed")


@pytest.mark.parametrize(
    ("gateway", "pay_first", "expected"),
    [
        pytest.param("", False, ("void", "cancelled"), id="unpaid"),
        pytest.param("KLARNA", True, ("void", "void"), id="klarna-authorized"),
        pytest.param("PAYAFTER", True, ("void", "void"), id="pad-authorized"),
    ],
)
def test_given_a_cancellable_order_when_cancelled_then_void_and_notified(
    emu: Emulator, gateway: str, pay_first: bool, expected: Tuple[str, str]
) -> None:
    payment_url = create(emu, "cancel-1", gateway=gateway, notification_url=f"{SHOP}/hook")
    if pay_first:
        pay(payment_url)

    response = patch(emu, "cancel-1", {"status": "cancelled", "exclude_order": True})

    assert wire.loads(response.content) == {"success": True, "data": {}}
    assert statuses(emu, "cancel-1") == expected
    assert wire.loads(emu.notifications()[-1].body)["status"] == "void"


@pytest.mark.parametrize(
    ("gateway", "ship", "words"),
    [
        pytest.param("IDEAL", False, "refund a paid one", id="paid-card"),
        pytest.param("KLARNA", True, "cannot be cancelled", id="shipped-klarna"),
        pytest.param("IN3", False, "once authorized", id="in3-authorized"),
    ],
)
def test_given_a_paid_order_that_cannot_be_cancelled_when_cancelled_then_1016(
    emu: Emulator, gateway: str, ship: bool, words: str
) -> None:
    paid_order(emu, "cancel-2", gateway)
    if ship:
        patch(emu, "cancel-2", {"status": "shipped"})
    before = statuses(emu, "cancel-2")

    response = patch(emu, "cancel-2", {"status": "cancelled"})

    assert error_code(response) == 1016 and words in wire.loads(response.content)["error_info"]
    assert statuses(emu, "cancel-2") == before


@pytest.mark.parametrize("body", [{"status": "completed"}, {"status": "void"}, {"reason": "x"}])
def test_given_an_unknown_status_change_when_patching_then_1016(
    emu: Emulator, body: Dict[str, Any]
) -> None:
    paid_order(emu, "patch-1", "KLARNA")

    assert error_code(patch(emu, "patch-1", body)) == 1016
    assert statuses(emu, "patch-1") == ("completed", "uncleared")


def test_given_a_dropped_answer_when_shipping_then_the_order_is_shipped_all_the_same(
    emu: Emulator,
) -> None:
    paid_order(emu, "patch-2", "KLARNA")
    emu.inject(Fault(FaultKind.DROP_AFTER, method="PATCH"))

    with pytest.raises(requests.ConnectionError):
        patch(emu, "patch-2", {"status": "shipped"})

    assert statuses(emu, "patch-2") == ("shipped", "uncleared")
    assert [r.method for r in emu.requests].count("PATCH") == 1


def test_given_an_expired_order_then_expired_and_no_longer_payable(emu: Emulator) -> None:
    payment_url = create(emu, "expire-1", gateway="IDEAL", cart=False)

    emu.expire("expire-1")

    assert statuses(emu, "expire-1") == ("expired", "expired")
    assert pay(payment_url).status_code == 409


# -- refund statuses and dashboard refunds -------------------------------------------------


def refund_amount(emu: Emulator, order_id: str, amount: int) -> int:
    response = api(emu, "POST", f"orders/{order_id}/refunds", {"currency": "EUR", "amount": amount})
    assert response.status_code == 200, response.text
    return int(wire.loads(response.content)["data"]["refund_id"])


def test_given_an_api_refund_when_accepted_then_notified_for_the_original_order(
    emu: Emulator,
) -> None:
    paid_order(emu, "refund-1", "IDEAL", cart=False, notification_url=f"{SHOP}/hook")

    refund_id = refund_amount(emu, "refund-1", 500)

    notification = emu.notifications("refund-1")[-1]
    order = wire.loads(notification.body)
    assert notification.order_id == "refund-1"
    assert order["status"] == "partial_refunded" and order["amount_refunded"] == 500
    assert order["related_transactions"][-1]["transaction_id"] == refund_id


def test_given_a_reserved_refund_when_completed_then_still_counted_and_notified(
    reserved: Emulator,
) -> None:
    paid_order(reserved, "refund-2", "IDEAL", cart=False, notification_url=f"{SHOP}/hook")
    refund_id = refund_amount(reserved, "refund-2", 500)
    before = len(reserved.notifications())

    reserved.set_refund_status("refund-2", refund_id, "completed")

    order = get_order(reserved, "refund-2")
    assert order["related_transactions"][-1]["status"] == "completed"
    assert (order["amount_refunded"], order["status"]) == (500, "partial_refunded")
    assert len(reserved.notifications()) == before + 1
    assert wire.loads(reserved.notifications()[-1].body) == order


@pytest.mark.parametrize("status", ["declined", "void"])
def test_given_a_reserved_refund_when_declined_or_void_then_it_no_longer_counts(
    reserved: Emulator, status: str
) -> None:
    paid_order(reserved, "refund-3", "IDEAL", cart=False, notification_url=f"{SHOP}/hook")
    refund_id = refund_amount(reserved, "refund-3", CART_AMOUNT)
    assert statuses(reserved, "refund-3")[0] == "refunded"

    reserved.set_refund_status("refund-3", refund_id, status)

    order = get_order(reserved, "refund-3")
    assert order["related_transactions"][-1]["status"] == status
    assert (order["amount_refunded"], order["status"]) == (0, "completed")
    assert wire.loads(reserved.notifications()[-1].body) == order
    refund_amount(reserved, "refund-3", CART_AMOUNT - 1)  # the money is refundable again


def test_given_a_declined_cart_refund_then_its_items_can_be_refunded_again(
    reserved: Emulator,
) -> None:
    paid_order(reserved, "refund-4", "PAYAFTER")
    cart = [copy.deepcopy(CANDLES), copy.deepcopy(APPLE)]
    one_candle = dict(copy.deepcopy(CANDLES), quantity=-1)
    response = api(
        reserved,
        "POST",
        "orders/refund-4/refunds",
        {"checkout_data": {"items": [*cart, one_candle]}},
    )
    refund_id = wire.loads(response.content)["data"]["refund_id"]

    reserved.set_refund_status("refund-4", refund_id, "declined")

    order = get_order(reserved, "refund-4")
    assert order["shopping_cart"]["items"] == cart  # the declined refund line is gone
    assert order["amount_refunded"] == 0
    both = dict(copy.deepcopy(CANDLES), quantity=-2)
    again = api(
        reserved, "POST", "orders/refund-4/refunds", {"checkout_data": {"items": [*cart, both]}}
    )
    assert again.status_code == 200, again.text
    assert get_order(reserved, "refund-4")["amount_refunded"] == 10000


def test_given_a_completed_refund_when_declined_then_value_error(emu: Emulator) -> None:
    paid_order(emu, "refund-5", "IDEAL", cart=False)
    refund_id = refund_amount(emu, "refund-5", 500)

    with pytest.raises(ValueError, match="is completed"):
        emu.set_refund_status("refund-5", refund_id, "declined")
    with pytest.raises(KeyError):
        emu.set_refund_status("refund-5", 1, "completed")
    with pytest.raises(ValueError, match="not a refund status"):
        emu.set_refund_status("refund-5", refund_id, "refunded")


def test_given_a_dashboard_refund_on_a_cart_order_then_counted_like_an_api_refund(
    emu: Emulator,
) -> None:
    paid_order(emu, "dash-1", "KLARNA", notification_url=f"{SHOP}/hook")
    patch(emu, "dash-1", {"status": "shipped"})

    refund_id = emu.dashboard_refund("dash-1", 3500, description="goodwill")

    order = get_order(emu, "dash-1")
    entry = order["related_transactions"][-1]
    assert (entry["transaction_id"], entry["type"], entry["amount"]) == (refund_id, "refund", 3500)
    assert entry["description"] == "goodwill"
    assert (order["amount_refunded"], order["status"]) == (3500, "partial_refunded")
    assert order["shopping_cart"]["items"] == [CANDLES, APPLE]  # an amount: no cart lines
    assert wire.loads(emu.notifications("dash-1")[-1].body) == order
    with pytest.raises(ValueError, match="only 10000"):
        emu.dashboard_refund("dash-1", 10001)


def test_given_a_get_notification_not_acknowledged_when_retried_then_a_get_again(
    emu: Emulator, receiver: Receiver
) -> None:
    body = order_body("note-8", gateway="IDEAL", cart=False)
    body["payment_options"]["notification_url"] = receiver.url  # no notification_method
    api(emu, "POST", "orders", body)
    pay(f"{emu.base_url}pay/note-8")
    receiver.answers = [(500, b"busy"), (200, b"OK")]

    emu.deliver_pending()
    ((retried, status, _),) = emu.deliver_pending()

    assert retried.method == "GET" and status == 200
    assert [call.method for call in receiver.received] == ["GET", "GET"]
    assert receiver.received[1].body == b"" and "Auth" not in receiver.received[1].headers
