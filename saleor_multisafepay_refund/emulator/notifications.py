"""Notifications: what MultiSafepay sends an order's notification_url when the order changes,
signed with the API key as its webhook page says, queued, and delivered over HTTP.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import threading
from dataclasses import dataclass
from typing import Callable, Dict, List, Protocol, Tuple, Union
from urllib.parse import urlencode, urlsplit, urlunsplit

from ..multisafepay import wire
from .orders import OrderState


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


class NotificationSettings(Protocol):
    """The emulator's options a notification reads when it is made (see `Emulator`)."""

    clock: Callable[[], float]
    lists_refunds: bool


class Notifications:
    """The notifications made, in order, none ever removed, and their delivery. Made under the
    emulator's lock; delivered outside it, one `deliver_pending` at a time."""

    def __init__(self, api_key: str, settings: NotificationSettings, lock: threading.RLock) -> None:
        self._api_key = api_key
        self._settings = settings
        self._lock = lock
        self._delivery_lock = threading.Lock()  # one deliver_pending at a time
        self._queue: List[_Queued] = []

    def made(self, order_id: Union[str, int, None] = None) -> List[Notification]:
        """The notifications made so far, of one order or of all, in order."""
        with self._lock:
            return [
                queued.notification
                for queued in self._queue
                if order_id is None or queued.notification.order_id == str(order_id)
            ]

    def notify(self, state: OrderState) -> None:
        """Queue a notification of the order as it is now, if it has a notification_url."""
        url = state.payment_options.get("notification_url")
        if not url:
            return
        method = state.payment_options.get("notification_method")
        # Without notification_method POST, MultiSafepay calls with GET: its webhook page
        # recommends setting POST, as GET is what a site-level webhook gets otherwise.
        body = (
            wire.dumps(state.shown(self._settings.lists_refunds)).encode("ascii")
            if method == "POST"
            else b""
        )
        notification = self._stamped(str(state.data["order_id"]), url, body, method == "POST")
        self._queue.append(_Queued(notification, url))

    def deliver_pending(self, timeout: float = 5.0) -> List[Tuple[Notification, int, bytes]]:
        """Send each notification not yet acknowledged, in order (see `Emulator`)."""
        with self._delivery_lock:
            with self._lock:
                pending = [queued for queued in self._queue if not queued.delivered]
            results: List[Tuple[Notification, int, bytes]] = []
            for queued in pending:
                sent = queued.notification
                # MultiSafepay retries "each with a new timestamp": stamped and signed again.
                if queued.attempts:
                    sent = self._stamped(
                        sent.order_id, queued.notification_url, sent.body, sent.method == "POST"
                    )
                queued.attempts += 1
                try:
                    status, body = deliver(sent, timeout)
                except (OSError, http.client.HTTPException):
                    status, body = 0, b""
                # Acknowledged, as MultiSafepay's webhook page says: 200, "OK" in 100 characters.
                if status == 200 and b"OK" in body[:100]:
                    with self._lock:
                        queued.delivered = True
                results.append((sent, status, body))
            return results

    def _stamped(
        self, order_id: str, notification_url: str, body: bytes, post: bool
    ) -> Notification:
        """A notification stamped now, for its first sending or a retry. A POST carries the
        order and the Auth header as MultiSafepay's webhook page describes it (computed here,
        not by the package's verifier); a GET carries neither."""
        timestamp = int(self._settings.clock())
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


def deliver(notification: Notification, timeout: float = 5.0) -> Tuple[int, bytes]:
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


def _notification_url(notification_url: str, order_id: str, timestamp: int) -> str:
    """The notification URL with MultiSafepay's `transactionid` and `timestamp` added."""
    split = urlsplit(notification_url)
    added = urlencode({"transactionid": order_id, "timestamp": str(timestamp)})
    query = f"{split.query}&{added}" if split.query else added
    return urlunsplit((split.scheme, split.netloc, split.path, query, split.fragment))
