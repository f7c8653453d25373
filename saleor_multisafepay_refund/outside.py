"""Writing outside Saleor's transaction (Saleor glue).

Saleor rolls its transaction back when a refund fails (orderFulfillmentReturnProducts) and runs
the refund inside it. What must survive that (a ledger entry written before a POST, the note
explaining a refusal) is written through a second database connection that commits on its own.
That connection gives up after a short lock wait: the request's own transaction may hold a row
it needs, and would otherwise wait for it for ever.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, TypeVar

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connection, connections

logger = logging.getLogger(__name__)

LOCK_TIMEOUT = "2s"
T = TypeVar("T")


def in_transaction() -> bool:
    return bool(connection.in_atomic_block)


def run_outside(work: Callable[[Any, Any], T]) -> T:
    """`work(side_connection, cursor)` on a separate connection in autocommit mode.

    Raises DatabaseError when it cannot be done; the caller decides what that means.
    """
    if connection.vendor != "postgresql":
        raise DatabaseError("writing outside the transaction needs PostgreSQL")
    side = connections.create_connection(DEFAULT_DB_ALIAS)
    try:
        with side.cursor() as cursor:
            cursor.execute(f"SET lock_timeout = '{LOCK_TIMEOUT}'")
            return work(side, cursor)
    finally:
        side.close()
