"""The Saleor door keeps MultiSafepay's connection from one refund to the next, briefly."""

from __future__ import annotations

import threading
from typing import List

import pytest
import requests

from saleor_multisafepay_refund.plugin import kept_sessions
from saleor_multisafepay_refund.plugin.kept_sessions import KEEP_SECONDS, refund_session

URL = "https://testapi.multisafepay.com/v1/json/"


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> List[float]:
    now = [1000.0]
    monkeypatch.setattr(kept_sessions.time, "monotonic", lambda: now[0])
    monkeypatch.setattr(kept_sessions, "_local", threading.local())
    return now


def test_a_refund_soon_after_the_last_one_gets_its_session(clock: List[float]) -> None:
    first = refund_session(URL, "key-a")
    clock[0] += KEEP_SECONDS - 1
    assert refund_session(URL, "key-a") is first
    clock[0] += KEEP_SECONDS - 1  # counted from the last refund, not the first
    assert refund_session(URL, "key-a") is first


def test_a_refund_later_gets_a_new_session_and_the_old_one_is_closed(
    clock: List[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    closed: List[requests.Session] = []
    monkeypatch.setattr(requests.Session, "close", lambda self: closed.append(self))
    first = refund_session(URL, "key-a")
    other = refund_session("http://127.0.0.1:8000/v1/json/", "key-a")
    clock[0] += KEEP_SECONDS
    second = refund_session(URL, "key-a")
    assert second is not first
    assert closed == [first, other]  # every session kept too long, whichever URL


def test_another_key_or_url_or_thread_never_shares_a_session(clock: List[float]) -> None:
    first = refund_session(URL, "key-a")
    assert refund_session(URL, "key-b") is not first
    assert refund_session("http://127.0.0.1:8000/v1/json/", "key-a") is not first
    elsewhere: List[requests.Session] = []
    thread = threading.Thread(target=lambda: elsewhere.append(refund_session(URL, "key-a")))
    thread.start()
    thread.join()
    assert elsewhere[0] is not first
