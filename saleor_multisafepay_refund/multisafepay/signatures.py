"""MultiSafepay's notifications (webhooks): is this one really from MultiSafepay, and fresh?

Pure. MultiSafepay POSTs the order JSON to the notification URL with an `Auth` header:
base64("<timestamp>:<hex>"), where hex is HMAC-SHA512, keyed with the site's API key, over
"<timestamp>:" followed by the raw body (docs/msp-api.md). It is verified over the raw bytes,
compared in constant time, and refused when older (or further in the future) than `max_age`
seconds, as MultiSafepay's SDKs do (600 s), so a recorded notification cannot be replayed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from typing import Optional

from ..errors import MultiSafepayRefundError

MAX_AGE_SECONDS = 600


class InvalidNotification(MultiSafepayRefundError):
    """Not a notification MultiSafepay signed, or a stale one: it must change nothing."""


def sign_notification(raw_body: bytes, api_key: str, timestamp: int) -> str:
    """The `Auth` header MultiSafepay sends with `raw_body` (for the emulator and tests)."""
    digest = _digest(raw_body, api_key, str(timestamp))
    return base64.b64encode(f"{timestamp}:{digest}".encode("ascii")).decode("ascii")


def verify_notification(
    raw_body: bytes,
    auth_header: Optional[str],
    api_key: str,
    now: Optional[float] = None,
    max_age: int = MAX_AGE_SECONDS,
) -> int:
    """The notification's timestamp when `auth_header` signs `raw_body`; InvalidNotification
    otherwise. Messages never contain the key or the expected signature."""
    if not auth_header:
        raise InvalidNotification("The notification has no Auth header.")
    try:
        decoded = base64.b64decode(auth_header.strip(), validate=True).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidNotification("The notification's Auth header is not base64.") from None
    stamp, sep, signature = decoded.partition(":")
    if not sep or not stamp.isdigit() or not signature:
        raise InvalidNotification("The notification's Auth header is not timestamp:signature.")
    expected = _digest(raw_body, api_key, stamp)
    # Compared in constant time, so the signature cannot be guessed byte by byte.
    if not hmac.compare_digest(expected.encode("ascii"), signature.strip().lower().encode("ascii")):
        raise InvalidNotification(
            "The notification's signature does not match: not from MultiSafepay."
        )
    timestamp = int(stamp)
    age = (time.time() if now is None else now) - timestamp
    if abs(age) > max_age:
        raise InvalidNotification(
            f"The notification is {int(abs(age))} s {'old' if age > 0 else 'ahead'}: "
            f"more than {max_age} s, refused as a possible replay."
        )
    return timestamp


def _digest(raw_body: bytes, api_key: str, stamp: str) -> str:
    message = stamp.encode("ascii") + b":" + raw_body
    return hmac.new(api_key.encode("utf-8"), message, hashlib.sha512).hexdigest()
