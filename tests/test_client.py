"""The HTTP client against the emulator over real sockets: envelopes, errors, faults, secrets."""

from __future__ import annotations

import logging
import socket
import threading
from contextlib import contextmanager
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import ClassVar, Dict, Iterator, List, Type

import pytest
import requests

from saleor_multisafepay_refund.emulator import Fault, FaultKind
from saleor_multisafepay_refund.errors import (
    ApiError,
    ConfigurationError,
    ConnectionDropped,
    ConnectionFailed,
    InvalidResponse,
    RequestTimeout,
    TransportError,
)
from saleor_multisafepay_refund.multisafepay.client import (
    LIVE_API_URL,
    TEST_API_URL,
    MultiSafepayClient,
    check_api_url,
    new_session,
)

from .factories import seed_order

KEY = "test-key-0123456789abcdef"


def client_for(emulator, **options) -> MultiSafepayClient:
    options.setdefault("retry_pause", 0.01)
    return MultiSafepayClient(KEY, base_url=emulator.base_url, **options)


def test_get_order_sends_the_key_in_a_header_only_and_reads_exact_decimals(emulator):
    emulator.add_order(seed_order(order_id="ord/1 ?#"))

    data = client_for(emulator).get_order("ord/1 ?#")

    assert data["order_id"] == "ord/1 ?#"
    assert data["shopping_cart"]["items"][0]["unit_price"] == "90"
    [request] = emulator.requests
    assert request.method == "GET"
    assert request.path == "/v1/json/orders/ord/1 ?#"
    assert request.headers["api_key"] == KEY
    assert request.query == {}
    assert "allow" not in request.headers  # nothing but what the client meant to send


def test_refund_posts_the_body_once_and_returns_the_refund_id(emulator):
    emulator.add_order(seed_order(order_id="o1"))
    body = {"checkout_data": {"items": [*seed_order()["shopping_cart"]["items"]]}}
    body["checkout_data"]["items"].insert(1, dict(body["checkout_data"]["items"][0], quantity="-1"))

    answer = client_for(emulator).refund("o1", body)

    assert answer["refund_id"]
    [post] = emulator.refund_posts("o1")
    assert post.json == body
    assert post.headers["content-type"] == "application/json"


@pytest.mark.parametrize(
    ("key", "order_id", "code", "status", "words"),
    [
        ("wrong-key", "o1", 1032, 401, "API key"),
        (KEY, "nope", 1006, 404, "does not know this order"),
    ],
)
def test_error_envelopes_become_api_errors_whatever_the_status(
    emulator, key, order_id, code, status, words
):
    emulator.add_order(seed_order(order_id="o1"))
    client = MultiSafepayClient(key, base_url=emulator.base_url)

    with pytest.raises(ApiError) as raised:
        client.get_order(order_id)

    assert (raised.value.error_code, raised.value.http_status) == (code, status)
    assert words in str(raised.value)
    assert key not in str(raised.value)


def test_get_retries_a_dropped_connection_and_succeeds(emulator):
    emulator.add_order(seed_order(order_id="o1"))
    emulator.inject(Fault(FaultKind.DROP_BEFORE, method="GET"))

    data = client_for(emulator).get_order("o1")

    assert data["order_id"] == "o1"
    assert [r.method for r in emulator.requests] == ["GET", "GET"]


def test_get_gives_up_after_its_attempts(emulator):
    emulator.add_order(seed_order(order_id="o1"))
    for _ in range(3):
        emulator.inject(Fault(FaultKind.DROP_BEFORE, method="GET"))

    with pytest.raises(ConnectionDropped):
        client_for(emulator, get_attempts=3).get_order("o1")

    assert len(emulator.requests) == 3


@pytest.mark.parametrize(
    ("method", "fault", "error"),
    [
        ("GET", Fault(FaultKind.SERVER_ERROR, method="GET"), InvalidResponse),
        ("GET", Fault(FaultKind.MALFORMED_JSON, method="GET"), InvalidResponse),
        ("GET", Fault(FaultKind.SLOW, method="GET", delay=0.5), RequestTimeout),
        ("POST", Fault(FaultKind.SERVER_ERROR), InvalidResponse),
        ("POST", Fault(FaultKind.MALFORMED_JSON), InvalidResponse),
        ("POST", Fault(FaultKind.SLOW, delay=0.5), RequestTimeout),
        ("POST", Fault(FaultKind.DROP_BEFORE), ConnectionDropped),
        ("POST", Fault(FaultKind.DROP_AFTER), ConnectionDropped),
    ],
)
def test_each_fault_is_one_clear_transport_error_and_a_post_is_never_retried(
    emulator, method, fault, error
):
    emulator.add_order(seed_order(order_id="o1", gateway="VISA"))
    emulator.inject(fault)
    client = client_for(emulator, read_timeout=0.2)

    with pytest.raises(error) as raised:
        if method == "GET":
            client.get_order("o1")
        else:
            client.refund("o1", {"currency": "EUR", "amount": 100})

    assert raised.value.may_have_arrived is True
    assert len(emulator.requests) == 1
    assert KEY not in str(raised.value)


def test_a_closed_port_is_a_connection_failure_where_nothing_was_sent():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = MultiSafepayClient(KEY, base_url=f"http://127.0.0.1:{port}/v1/json/", retry_pause=0)

    with pytest.raises(ConnectionFailed) as raised:
        client.refund("o1", {"currency": "EUR", "amount": 100})

    assert raised.value.may_have_arrived is False
    assert isinstance(raised.value, TransportError)


class _Redirecting(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(302)
        self.send_header("Location", "http://127.0.0.1:9/elsewhere")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def _serving(handler: Type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """A server of `handler` on a free port of 127.0.0.1: its http://host:port."""
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def redirecting_server() -> Iterator[str]:
    with _serving(_Redirecting) as url:
        yield f"{url}/v1/json/"


def test_a_redirect_is_not_followed(redirecting_server):
    with pytest.raises(InvalidResponse) as raised:
        MultiSafepayClient(KEY, base_url=redirecting_server).get_order("o1")

    assert raised.value.http_status == 302


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (TEST_API_URL, TEST_API_URL),
        (LIVE_API_URL, LIVE_API_URL),
        ("https://proxy.example/v1/json", "https://proxy.example/v1/json/"),
        ("http://127.0.0.1:8080/v1/json/", "http://127.0.0.1:8080/v1/json/"),
        ("http://localhost/v1/json/", "http://localhost/v1/json/"),
    ],
)
def test_accepted_api_urls(url, expected):
    assert check_api_url(url) == expected


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://api.multisafepay.com/v1/json/", "must use https"),
        ("ftp://x/v1/json/", "Not an http(s) URL"),
        ("https://user:pw@proxy.example/v1/json/", "credentials"),
        ("https://proxy.example/v1/json/?api_key=abc", "credentials, a query"),
        ("", "Not an http(s) URL"),
    ],
)
def test_refused_api_urls(url, words):
    with pytest.raises(ConfigurationError) as raised:
        check_api_url(url)

    assert words in str(raised.value)


def test_the_key_is_not_in_the_clients_repr():
    assert KEY not in repr(MultiSafepayClient(KEY)) and "testapi" in repr(MultiSafepayClient(KEY))


def test_amounts_in_a_refund_body_are_sent_as_exact_numbers(emulator):
    emulator.add_order(seed_order(order_id="o1", gateway="VISA"))

    client_for(emulator).refund("o1", {"currency": "EUR", "amount": 1250, "x": Decimal("1.10")})

    assert emulator.refund_posts()[0].body == b'{"currency":"EUR","amount":1250,"x":1.10}'


def test_with_debug_logging_the_key_is_in_no_log_record(emulator, caplog):
    emulator.add_order(seed_order(order_id="o1", gateway="VISA"))
    emulator.inject(Fault(FaultKind.DROP_BEFORE))
    caplog.set_level(logging.DEBUG)
    client = client_for(emulator)

    client.get_order("o1")
    with pytest.raises(ConnectionDropped):
        client.refund("o1", {"currency": "EUR", "amount": 100})
    with pytest.raises(ApiError):
        MultiSafepayClient("wrong-key-ABCDEFGHIJ", base_url=emulator.base_url).get_order("o1")

    assert any("MultiSafepay GET orders/o1" in r.getMessage() for r in caplog.records)
    assert any(r.name.startswith("urllib3") for r in caplog.records)
    for record in caplog.records:
        text = record.getMessage() + repr(record.args)
        assert KEY not in text and "wrong-key-ABCDEFGHIJ" not in text


# -- the environment: read once per session, as requests would read it per request ----------


class _Proxy(BaseHTTPRequestHandler):
    """An HTTP proxy that answers every request itself, and records the URL it was asked for."""

    asked: ClassVar[List[str]] = []

    def do_GET(self) -> None:
        type(self).asked.append(self.path)
        body = b'{"success": true, "data": {"order_id": "via-proxy"}}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def proxy() -> Iterator[str]:
    _Proxy.asked = []
    with _serving(_Proxy) as url:
        yield url


@pytest.fixture
def clean_environment(monkeypatch):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "REQUESTS_CA_BUNDLE"):
        for spelled in (name, name.lower()):
            monkeypatch.delenv(spelled, raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    monkeypatch.setenv("NETRC", "/nonexistent/netrc")
    return monkeypatch


def test_a_proxy_of_the_environment_carries_the_calls(emulator, proxy, clean_environment):
    clean_environment.setenv("HTTP_PROXY", proxy)
    emulator.add_order(seed_order(order_id="o1"))

    data = client_for(emulator).get_order("o1")

    assert data == {"order_id": "via-proxy"}
    assert _Proxy.asked == [f"{emulator.base_url}orders/o1"]
    assert emulator.requests == []


def test_no_proxy_of_the_environment_is_honoured(emulator, proxy, clean_environment):
    clean_environment.setenv("HTTP_PROXY", proxy)
    clean_environment.setenv("NO_PROXY", "127.0.0.1")
    emulator.add_order(seed_order(order_id="o1"))

    assert client_for(emulator).get_order("o1")["order_id"] == "o1"
    assert _Proxy.asked == []


def test_the_environment_is_read_when_the_session_is_made(emulator, proxy, clean_environment):
    emulator.add_order(seed_order(order_id="o1"))
    client = client_for(emulator)
    clean_environment.setenv("HTTP_PROXY", proxy)  # too late for this client's session

    assert client.get_order("o1")["order_id"] == "o1"
    assert _Proxy.asked == []
    assert client_for(emulator).get_order("o1") == {"order_id": "via-proxy"}


def test_a_ca_bundle_of_the_environment_verifies_the_server(clean_environment):
    clean_environment.setenv("REQUESTS_CA_BUNDLE", "/etc/shop/ca.pem")

    assert new_session(TEST_API_URL).verify == "/etc/shop/ca.pem"
    clean_environment.delenv("REQUESTS_CA_BUNDLE")
    assert new_session(TEST_API_URL).verify is True


def test_a_netrc_login_for_the_host_is_sent_as_requests_would(
    emulator, clean_environment, tmp_path
):
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login shop password secret\n")
    netrc.chmod(0o600)
    clean_environment.setenv("NETRC", str(netrc))
    emulator.add_order(seed_order(order_id="o1"))

    client_for(emulator).get_order("o1")

    [request] = emulator.requests
    assert request.headers["authorization"] == "Basic c2hvcDpzZWNyZXQ="  # shop:secret
    assert request.headers["api_key"] == KEY


def test_a_callers_session_that_reads_the_environment_reads_it_at_every_call(
    emulator, clean_environment, tmp_path
):
    # requests.Session() reads ~/.netrc (and a CA bundle) per request; new_session's read it once.
    emulator.add_order(seed_order(order_id="o1"))
    client = client_for(emulator, session=requests.Session())
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login shop password secret\n")
    netrc.chmod(0o600)
    clean_environment.setenv("NETRC", str(netrc))

    client.get_order("o1")

    [request] = emulator.requests
    assert request.headers["authorization"] == "Basic c2hvcDpzZWNyZXQ="  # shop:secret


class _SettingACookie(BaseHTTPRequestHandler):
    """Answers every call with an order and a cookie, and records the headers of each call
    (HTTP/1.0: one connection per call, so that the single-threaded server serves two clients)."""

    seen: ClassVar[List[Dict[str, str]]] = []

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        type(self).seen.append({name.lower(): value for name, value in self.headers.items()})
        body = b'{"success": true, "data": {"order_id": "o1"}}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Set-Cookie", "route=node-7; Path=/")
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args: object) -> None:
        pass


def test_a_call_sends_what_requests_session_request_would_send(clean_environment, tmp_path):
    """The client prepares its requests itself (cheaper than `Session.request`): the headers,
    the netrc login and a cookie MultiSafepay's answer set go out just as requests sends them."""
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login shop password secret\n")
    netrc.chmod(0o600)
    clean_environment.setenv("NETRC", str(netrc))
    with _serving(_SettingACookie) as url:
        base = f"{url}/v1/json/"
        _SettingACookie.seen = []
        client = MultiSafepayClient(KEY, base_url=base)
        client.get_order("o1")
        client.refund("o1", '{"currency":"EUR","amount":100}')
        ours = _SettingACookie.seen

        _SettingACookie.seen = []
        session = new_session(base)
        for method, path, body in (
            ("GET", "orders/o1", None),
            ("POST", "orders/o1/refunds", b'{"currency":"EUR","amount":100}'),
        ):
            headers = {
                "api_key": KEY,
                "Accept": "application/json",
                "User-Agent": ours[0]["user-agent"],
            }
            if body is not None:
                headers["Content-Type"] = "application/json"
            session.request(method, base + path, headers=headers, data=body, allow_redirects=False)
        theirs = _SettingACookie.seen

    assert ours == theirs
    assert ours[1]["cookie"] == "route=node-7"
    assert ours[0]["authorization"] == "Basic c2hvcDpzZWNyZXQ="
    assert "gzip" in ours[0]["accept-encoding"]
