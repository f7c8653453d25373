"""Notifications: only MultiSafepay's own, fresh ones are believed."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from saleor_multisafepay_refund.multisafepay.signatures import (
    InvalidNotification,
    sign_notification,
    verify_notification,
)

KEY = "notify-key-0123456789abcdef"
BODY = b'{"order_id":"o1","status":"completed","amount":31500}'
NOW = 1_790_000_000


def test_a_notification_signed_as_msp_documents_is_accepted():
    # Built here from the documented recipe, independently of sign_notification.
    digest = hmac.new(KEY.encode(), f"{NOW}:".encode() + BODY, hashlib.sha512).hexdigest()
    header = base64.b64encode(f"{NOW}:{digest}".encode()).decode()

    assert verify_notification(BODY, header, KEY, now=NOW + 5) == NOW
    assert sign_notification(BODY, KEY, NOW) == header


@pytest.mark.parametrize(
    ("body", "header", "key", "now", "words"),
    [
        (BODY, None, KEY, NOW, "no Auth header"),
        (BODY, "not base64!", KEY, NOW, "not base64"),
        (BODY, base64.b64encode(b"no-colon").decode(), KEY, NOW, "timestamp:signature"),
        (BODY + b" ", sign_notification(BODY, KEY, NOW), KEY, NOW, "does not match"),
        (BODY, sign_notification(BODY, "other-key", NOW), KEY, NOW, "does not match"),
        (BODY, sign_notification(BODY, KEY, NOW), KEY, NOW + 601, "601 s old"),
        (BODY, sign_notification(BODY, KEY, NOW + 700), KEY, NOW, "700 s ahead"),
    ],
    ids=["missing", "garbage", "shape", "body-changed", "wrong-key", "stale", "future"],
)
def test_anything_else_is_refused_without_showing_the_key(body, header, key, now, words):
    with pytest.raises(InvalidNotification) as refused:
        verify_notification(body, header, key, now=now)

    assert words in str(refused.value)
    assert KEY not in str(refused.value)
    assert sign_notification(BODY, KEY, NOW).split(":")[-1] not in str(refused.value)


def test_the_signature_is_read_case_insensitively_as_hex():
    stamp, digest = base64.b64decode(sign_notification(BODY, KEY, NOW)).decode().split(":")
    upper = base64.b64encode(f"{stamp}:{digest.upper()}".encode()).decode()

    assert verify_notification(BODY, upper, KEY, now=NOW) == NOW
