"""The only module that speaks HTTP: MultiSafepay's order and refund API over `requests`.

Every call has connect and read timeouts and follows no redirect. A GET may be retried when
the connection could not be made or broke; a refund POST is never retried here, because
MultiSafepay has no idempotency key and a second POST refunds twice (see `refunds/send.py` for how
an unknown outcome is settled by reading the order back). The API key travels in the
`api_key` header only and is never part of a message, a log line or `repr`.
"""

from __future__ import annotations

import logging
import os
import time
from typing import List, Mapping, Optional, Tuple, Union
from urllib.parse import quote, urlsplit

import requests
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from .. import __version__
from ..errors import (
    ApiError,
    ConfigurationError,
    ConnectionDropped,
    ConnectionFailed,
    InvalidResponse,
    RequestTimeout,
    TransportError,
)
from ..multisafepay import wire

TEST_API_URL = "https://testapi.multisafepay.com/v1/json/"
LIVE_API_URL = "https://api.multisafepay.com/v1/json/"
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})

logger = logging.getLogger(__name__)


def check_api_url(url: str) -> str:
    """The base URL with one trailing slash, or `ConfigurationError` saying what is wrong with it.

    https is required except for this machine (a local emulator or proxy), because the API
    key travels in a header.
    """
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(f"Not an http(s) URL: {url!r}.")
    if parts.scheme == "http" and parts.hostname not in LOCAL_HOSTS:
        raise ConfigurationError(
            "The API URL must use https (http only for 127.0.0.1 or localhost)."
        )
    if parts.username or parts.password or parts.query or parts.fragment:
        # A key or password here would end up in logs; the key goes in the api_key setting.
        raise ConfigurationError("The API URL must not contain credentials, a query or a fragment.")
    return url.strip().rstrip("/") + "/"


def new_session(base_url: str) -> requests.Session:
    """A session for MultiSafepay at `base_url` that reads the environment once, here.

    requests reads it at every request when `trust_env` is on: the proxies (HTTPS_PROXY,
    NO_PROXY, ...), a CA bundle (REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE) and ~/.netrc, scanning
    every environment variable several times per call: about 0.4 ms of a refund's two calls
    on the project's machine. Every call of a session goes to the one host of `base_url`, so
    what requests would find is found once, set on the session, and `trust_env` is off.
    """
    session = requests.Session()
    session.proxies.update(requests.utils.get_environ_proxies(base_url))
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if bundle:
        session.verify = bundle
    netrc_auth = requests.utils.get_netrc_auth(base_url)
    if netrc_auth is not None:
        session.auth = netrc_auth
    session.trust_env = False
    return session


class MultiSafepayClient:
    """MultiSafepay's JSON API, version 1, over an injected `requests.Session`."""

    def __init__(
        self,
        api_key: str,
        base_url: str = TEST_API_URL,
        session: Optional[requests.Session] = None,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        get_attempts: int = 3,
        retry_pause: float = 0.25,
    ) -> None:
        if not api_key or not api_key.strip():
            raise ConfigurationError("No MultiSafepay API key given.")
        self._api_key = api_key.strip()
        self.base_url = check_api_url(base_url)
        self.session = session if session is not None else new_session(self.base_url)
        self.timeout: Tuple[float, float] = (connect_timeout, read_timeout)
        self.get_attempts = max(1, get_attempts)
        self.retry_pause = retry_pause

    def __repr__(self) -> str:
        return f"MultiSafepayClient(base_url={self.base_url!r})"

    def close(self) -> None:
        """Close the session's connections."""
        self.session.close()

    def get_order(self, order_id: str) -> Mapping[str, object]:
        """The `data` object of GET /orders/{order_id}."""
        path = f"orders/{_quote_id(order_id)}"
        for attempt in range(1, self.get_attempts + 1):
            try:
                return self._call("GET", path)
            except (ConnectionFailed, ConnectionDropped):
                # Reading is harmless to repeat; only the connection is retried, not an answer.
                if attempt == self.get_attempts:
                    raise
                time.sleep(self.retry_pause * attempt)
        raise AssertionError("unreachable")

    def create_order(self, body: Mapping[str, object]) -> Mapping[str, object]:
        """POST /orders, once (its order_id makes a repeat fail, not pay twice).

        Returns `data` ({order_id, payment_url})."""
        return self._call("POST", "orders", body)

    def update_order(self, order_id: str, body: Mapping[str, object]) -> Mapping[str, object]:
        """PATCH /orders/{order_id}, once: `{"status": "shipped"}` ships (captures) a
        buy-now-pay-later order, `{"status": "cancelled"}` cancels an unpaid one."""
        return self._call("PATCH", f"orders/{_quote_id(order_id)}", body)

    def refund(self, order_id: str, body: Union[Mapping[str, object], str]) -> Mapping[str, object]:
        """POST /orders/{order_id}/refunds, once. Returns `data` ({transaction_id, refund_id}).
        `body` as a mapping, or already serialized (`RefundPlan.body_json`)."""
        return self._call("POST", f"orders/{_quote_id(order_id)}/refunds", body)

    def gateways(self) -> List[object]:
        """`data` of GET /gateways: the site's payment methods, each `{id, description, ...}`.
        Changes nothing, so it is how a key is tried (a wrong key: ApiError 1032)."""
        data = self._request("GET", "gateways")
        if not isinstance(data, list):
            raise InvalidResponse("MultiSafepay (GET gateways) answered without its list.")
        return data

    def _call(
        self, method: str, path: str, body: Union[Mapping[str, object], str, None] = None
    ) -> Mapping[str, object]:
        """`data` of a call answered with an object (an order, a refund)."""
        data = self._request(method, path, body)
        if not isinstance(data, dict):
            raise InvalidResponse(f"MultiSafepay ({method} {path}) answered without data.")
        return data

    def _request(
        self, method: str, path: str, body: Union[Mapping[str, object], str, None] = None
    ) -> object:
        headers = {
            "api_key": self._api_key,
            "Accept": "application/json",
            "User-Agent": f"saleor-multisafepay-refund/{__version__}",
        }
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = (body if isinstance(body, str) else wire.dumps(body)).encode("utf-8")
        started = time.perf_counter()
        try:
            response = self._sent(method, path, headers, data)
        except requests.RequestException as exc:
            raise _transport_error(exc, method, path) from None
        logger.debug(
            "MultiSafepay %s %s -> HTTP %s in %.0f ms",
            method,
            path,
            response.status_code,
            (time.perf_counter() - started) * 1000,
        )
        try:
            return _envelope_data(response, method, path)
        except ApiError as exc:
            if self._api_key not in exc.error_info:
                raise
            # An echo of the key in MultiSafepay's own error text must not reach a log either.
            info = exc.error_info.replace(self._api_key, "***")
            raise ApiError(exc.error_code, info, exc.http_status) from None

    def _sent(
        self, method: str, path: str, headers: Mapping[str, str], data: Optional[bytes]
    ) -> requests.Response:
        session = self.session
        if session.trust_env:
            # A caller's session that reads the environment at every call (a CA bundle,
            # ~/.netrc), where new_session's have read it once: requests' own path reads it.
            return session.request(
                method,
                self.base_url + path,
                headers=headers,
                data=data,
                timeout=self.timeout,
                allow_redirects=False,
            )
        return session.send(
            self._prepared(method, path, headers, data),
            timeout=self.timeout,
            allow_redirects=False,
        )

    def _prepared(
        self, method: str, path: str, headers: Mapping[str, str], data: Optional[bytes]
    ) -> requests.PreparedRequest:
        """The request as `Session.request` would prepare it from a session that does not
        read the environment (`new_session`'s): the session's headers under ours, its
        parameters, cookies, auth (~/.netrc, read by `new_session`) and hooks.

        Prepared here because `Session.request` merges every setting generically (parameters,
        hooks, cookie jars copied, each value checked against typing protocols): a third of
        requests' own time per call, about 0.15 ms of each of a refund's two calls on the
        project's machine, for settings a MultiSafepay call never has. `Session.send` still
        does the rest: proxies, certificate checks, the hooks' calls, cookies kept from the
        answer.
        """
        session = self.session
        prepared = requests.PreparedRequest()
        prepared.prepare(
            method=method,
            url=self.base_url + path,
            headers={**session.headers, **headers},
            data=data,
            params=session.params,
            cookies=session.cookies,
            auth=session.auth,
            hooks=session.hooks,
        )
        return prepared


def _quote_id(order_id: str) -> str:
    text = str(order_id).strip()
    if not text:
        raise ConfigurationError("No MultiSafepay order id given.")
    return quote(text, safe="")


def _transport_error(exc: requests.RequestException, method: str, path: str) -> TransportError:
    # Messages are ours: a requests exception's text could carry anything the request had.
    where = f"MultiSafepay ({method} {path})"
    if isinstance(exc, requests.ConnectTimeout) or _never_connected(exc):
        return ConnectionFailed(f"Could not connect to {where}: nothing was sent.")
    if isinstance(exc, requests.Timeout):
        return RequestTimeout(f"{where} did not answer in time.")
    if isinstance(exc, requests.ConnectionError):
        return ConnectionDropped(f"The connection to {where} broke before an answer came.")
    return TransportError(f"The request to {where} failed ({type(exc).__name__}).")


def _never_connected(exc: BaseException) -> bool:
    """True when the TCP connection itself failed, so MultiSafepay cannot have seen anything."""
    seen: Optional[BaseException] = exc
    for _ in range(10):
        if seen is None:
            return False
        if isinstance(seen, (NewConnectionError, ConnectTimeoutError)):
            return True
        reason = getattr(seen, "reason", None)
        if isinstance(reason, (NewConnectionError, ConnectTimeoutError)):
            return True
        nested = seen.args[0] if seen.args and isinstance(seen.args[0], BaseException) else None
        seen = nested or seen.__cause__ or seen.__context__
    return False


def _envelope_data(response: requests.Response, method: str, path: str) -> object:
    """`data` of a success envelope; ApiError for an error envelope, whatever the HTTP status."""
    status = response.status_code
    where = f"MultiSafepay ({method} {path})"
    if 300 <= status < 400:
        raise InvalidResponse(f"{where} answered with a redirect (HTTP {status}).", status)
    try:
        envelope = wire.loads(response.content)
    except ValueError:
        raise InvalidResponse(
            f"{where} answered HTTP {status} without valid JSON.", status
        ) from None
    if not isinstance(envelope, dict) or not isinstance(envelope.get("success"), bool):
        raise InvalidResponse(f"{where} answered HTTP {status} without its JSON envelope.", status)
    if not envelope["success"]:
        code = envelope.get("error_code")
        try:
            error_code: Optional[int] = None if code in (None, "") else int(code)
        except (TypeError, ValueError):
            error_code = None
        info = envelope.get("error_info")
        raise ApiError(error_code, "" if info is None else str(info), status)
    if status >= 300:
        raise InvalidResponse(f"{where} answered HTTP {status} with a success envelope.", status)
    return envelope.get("data")
