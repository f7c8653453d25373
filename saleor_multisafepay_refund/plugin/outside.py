"""Writing outside Saleor's transaction (Saleor glue).

Saleor rolls its transaction back when a refund fails (orderFulfillmentReturnProducts) and runs
the refund inside it. What must survive that (a ledger entry written before a POST, the note
explaining a refusal) is written through a second database connection that commits on its own.
That connection gives up after a short lock wait: the request's own transaction may hold a row
it needs, and would otherwise wait for it for ever. It is kept between requests for up to a
minute (refunds come in bursts: staff refunding an order's lines one by one), then closed.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, TypeVar

from django.core.signals import request_finished
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connection, connections

LOCK_TIMEOUT = "2s"
KEEP_SECONDS = 60.0
T = TypeVar("T")

_local = threading.local()


def in_transaction() -> bool:
    return bool(connection.in_atomic_block)


def run_outside(work: Callable[[Any, Any], T]) -> T:
    """`work(side_connection, cursor)` on a separate connection in autocommit mode.

    Raises DatabaseError when it cannot be done; the caller decides what that means.
    """
    if connection.vendor != "postgresql":
        raise DatabaseError("writing outside the transaction needs PostgreSQL")
    side = _side_connection()
    try:
        with side.cursor() as cursor:
            return work(side, cursor)
    except DatabaseError:
        usable = side.is_usable()
        close_side_connection()
        if usable:
            raise
    # The kept connection had gone (a server restart, an idle timeout): once more, anew.
    side = _side_connection()
    with side.cursor() as cursor:
        return work(side, cursor)


def close_side_connection(**_: Any) -> None:
    side = getattr(_local, "side", None)
    _local.side = None
    if side is not None:
        side.close()


def _side_connection() -> Any:
    side = getattr(_local, "side", None)
    if side is not None and side.connection is not None:
        return side
    close_side_connection()
    side = connections.create_connection(DEFAULT_DB_ALIAS)
    with side.cursor() as cursor:
        cursor.execute(f"SET lock_timeout = '{LOCK_TIMEOUT}'")
    _local.side = side
    _local.opened_at = time.monotonic()
    return side


def _close_if_unusable_or_obsolete(**_: Any) -> None:
    side = getattr(_local, "side", None)
    if side is None:
        return
    old = time.monotonic() - getattr(_local, "opened_at", 0.0) > KEEP_SECONDS
    if old or side.connection is None:
        close_side_connection()
    elif side.errors_occurred:
        # Tested only after an error, as Django tests its own connections: a query per request
        # would cost every request of the shop a round trip. One that went while kept is met
        # by run_outside, which then opens a new one.
        if side.is_usable():
            side.errors_occurred = False
        else:
            close_side_connection()


# Checked at the end of every request, as Django checks its own connections.
request_finished.connect(
    _close_if_unusable_or_obsolete, dispatch_uid="saleor_multisafepay_refund.plugin.outside"
)
