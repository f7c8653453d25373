"""MultiSafepay's connection kept from one refund to the next (the Saleor door's).

A refund's GET and POST share one connection. Refunds come in bursts (staff refunding an
order's lines one by one), so the session holding that connection is kept, per thread and per
API URL and key, for a refund that starts within KEEP_SECONDS of the last one: it skips the
TCP and TLS set-up. What keeps that safe:
- urllib3 checks a kept connection before sending on it, and opens a new one when the server
  has closed it;
- every refund starts with a GET, retried when its connection broke
  (`MultiSafepayClient.get_order`); the POST follows on the connection that GET has just used,
  as with a session per refund;
- a session per API key: nothing an answer sets (a cookie) goes with another merchant's request;
- the environment (proxies, CA bundle, ~/.netrc) is read when a session is made
  (`new_session`), so a change to it applies from the next session on, within KEEP_SECONDS.
"""

from __future__ import annotations

import hashlib
import threading
import time
from typing import Dict, Tuple

import requests

from ..multisafepay.client import new_session

KEEP_SECONDS = 30.0

_local = threading.local()


def refund_session(base_url: str, api_key: str) -> requests.Session:
    """This thread's session for `base_url` and `api_key`: the one handed out last, if that was
    less than KEEP_SECONDS ago, else a new one. Sessions kept longer are closed."""
    kept: Dict[Tuple[str, str], Tuple[requests.Session, float]] = _local.__dict__.setdefault(
        "sessions", {}
    )
    now = time.monotonic()
    for key, (old, handed_out) in list(kept.items()):
        if now - handed_out >= KEEP_SECONDS:
            del kept[key]
            old.close()
    key = (base_url, hashlib.sha256(api_key.encode("utf-8")).hexdigest())
    session = kept[key][0] if key in kept else new_session(base_url)
    kept[key] = (session, now)
    return session
