"""One refund (or charge, or cancel) of a transaction at a time, across threads and instances.

The plugin is serialized by Saleor's lock on the payment row; the App gets no such lock, and
two deliveries of one transaction (Saleor retrying, two instances) must not both find the
ledger empty and both send. PostgreSQL: an advisory lock, held on the thread's own
connection, so every instance on that database waits for it. SQLite: a lock in this process;
several instances need PostgreSQL (the README says so).
"""

from __future__ import annotations

import hashlib
import threading
import time
from contextlib import contextmanager
from typing import Dict, Iterator, Tuple

from django.db import connection

# Within Saleor's 18 s for a sync webhook, beside the calls to MultiSafepay
# (installations.READ_TIMEOUT). Longer is never needed: Saleor sends a transaction's next
# request only after the last one was answered, or retries it 10 s after a 5xx.
WAIT_SECONDS = 1.5
_POLL_SECONDS = 0.02

_guard = threading.Lock()
# key -> (its lock, how many threads hold or wait for it): dropped when none does, so that a
# long-running process keeps no lock per transaction it ever saw.
_local_locks: Dict[str, Tuple[threading.Lock, int]] = {}


@contextmanager
def held(key: str, wait: float = WAIT_SECONDS) -> Iterator[bool]:
    """Holds the lock of `key` for the block; yields False when it could not be had in time."""
    if connection.vendor == "postgresql":
        with _advisory(key, wait) as got:
            yield got
        return
    with _guard:
        lock, users = _local_locks.get(key) or (threading.Lock(), 0)
        _local_locks[key] = (lock, users + 1)
    got = lock.acquire(timeout=wait)
    try:
        yield got
    finally:
        if got:
            lock.release()
        with _guard:
            users = _local_locks[key][1] - 1
            if users:
                _local_locks[key] = (lock, users)
            else:
                del _local_locks[key]


@contextmanager
def _advisory(key: str, wait: float) -> Iterator[bool]:
    number = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)
    deadline = time.monotonic() + wait
    got = False
    with connection.cursor() as cursor:
        while True:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [number])
            got = bool(cursor.fetchone()[0])
            if got or time.monotonic() >= deadline:
                break
            time.sleep(_POLL_SECONDS)
    try:
        yield got
    finally:
        if got:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [number])
