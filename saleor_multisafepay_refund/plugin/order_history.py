"""Notes in a Saleor order's history that Saleor's rollback cannot erase (Saleor glue).

orderFulfillmentReturnProducts runs the refund inside a transaction that is rolled back when
the refund fails, and would take the note explaining why with it. So such notes are written
outside that transaction (`outside.py`); when that cannot be done safely (the order itself is
not committed yet, or a lock would be waited on), in the current transaction like any other
event. The note of a refund made commits with Saleor's record of it (should Saleor roll that
back, the ledger keeps the refund and records it in Saleor later: `records.py`).
"""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any, Callable, List

from django.db import DatabaseError, connections, router, transaction
from saleor.order import OrderEvents
from saleor.order.models import Order, OrderEvent

from .outside import in_transaction, run_outside

logger = logging.getLogger(__name__)


def write_order_note(order_id: Any, message: str, outside: bool = True) -> None:
    """Add `message` to the order's history, as a note the Dashboard shows; `outside` Saleor's
    transaction when it must survive a rollback."""
    event = OrderEvent(
        order_id=order_id, type=OrderEvents.NOTE_ADDED, parameters={"message": message}
    )
    if outside and in_transaction():
        try:
            if run_outside(lambda side, cursor: _insert_if_order_committed(side, cursor, event)):
                return
        except DatabaseError:
            logger.warning("Order note not written outside the transaction; writing it inside")
    # The insert is a statement built once, as outside: it runs in every refund, and Model.save
    # cost more than the insert itself (OrderEvent has no save() or signal of Saleor's).
    db = connections[router.db_for_write(OrderEvent)]
    if not db.in_atomic_block:
        # Autocommit: the insert commits or fails alone, nothing else to protect.
        with db.cursor() as cursor:
            cursor.execute(_insert(db.vendor, db.ops.quote_name), _values(db, event))
    elif _binds_client_side(db):
        _insert_in_savepoint(db, event)
    else:
        # A savepoint: should the note fail, Saleor's transaction (and its refund record)
        # goes on.
        with transaction.atomic(using=db.alias), db.cursor() as cursor:
            cursor.execute(_insert(db.vendor, db.ops.quote_name), _values(db, event))


def _binds_client_side(db: Any) -> bool:
    """Whether a statement with parameters may hold several statements: PostgreSQL with
    parameters merged client-side (psycopg 2, and psycopg 3 unless Django's
    `server_side_binding` option is on), sent as one simple query."""
    return bool(
        db.vendor == "postgresql"
        and db.settings_dict["OPTIONS"].get("server_side_binding") is not True
    )


def _insert_in_savepoint(db: Any, event: OrderEvent) -> None:
    """The note's insert in a savepoint of Saleor's transaction, sent as one round trip
    (SAVEPOINT; INSERT; RELEASE) instead of three: each is a wait for the database server,
    the largest part of the note's cost in a refund. Should the insert fail, the savepoint is
    rolled back, so Saleor's transaction (and its refund record) goes on, as with Django's
    `atomic`; the error is raised."""
    with db.cursor() as cursor:
        try:
            cursor.execute(
                _insert_in_savepoint_sql(db.vendor, db.ops.quote_name), _values(db, event)
            )
        except DatabaseError as exc:
            if _reached_the_server(exc):
                try:
                    # Fails too when SAVEPOINT itself failed: the transaction was broken
                    # before the note, and stays so.
                    cursor.execute(_ROLLBACK_NOTE)
                except DatabaseError:
                    logger.warning("The order note's savepoint could not be rolled back")
            raise


def _reached_the_server(error: DatabaseError) -> bool:
    """Whether the server ran the query: its error has an SQLSTATE (psycopg's `sqlstate`,
    psycopg2's `pgcode`). One raised before sending (a parameter that cannot be adapted) or
    a lost connection has none: no savepoint exists then, and rolling back to it would break
    Saleor's transaction."""
    cause = error.__cause__
    return bool(getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None))


def _insert_if_order_committed(side: Any, cursor: Any, event: OrderEvent) -> bool:
    # An order created in the still open transaction is invisible here: an event pointing at
    # it can only be written inside that transaction, so the insert happens only if the order
    # is there (one statement, one round trip).
    cursor.execute(
        _statement(side.vendor, side.ops.quote_name), [*_values(side, event), event.order_id]
    )
    return bool(cursor.rowcount == 1)


def _values(db: Any, event: OrderEvent) -> List[Any]:
    return [f.get_db_prep_save(getattr(event, f.attname), connection=db) for f in _FIELDS]


_FIELDS = [
    f for f in OrderEvent._meta.local_concrete_fields if f is not OrderEvent._meta.auto_field
]


@lru_cache(maxsize=4)
def _insert(vendor: str, quote: Callable[[str], str]) -> str:
    """The event insert, built once from Saleor's models."""
    columns = ", ".join(quote(f.column) for f in _FIELDS)
    values = ", ".join(["%s"] * len(_FIELDS))
    return f"INSERT INTO {quote(OrderEvent._meta.db_table)} ({columns}) VALUES ({values})"


# Django's savepoint names are of its own atomic blocks; this one is only ever open inside
# `_insert_in_savepoint`, one at a time.
_SAVEPOINT = "msp_order_note"
_ROLLBACK_NOTE = f"ROLLBACK TO SAVEPOINT {_SAVEPOINT}; RELEASE SAVEPOINT {_SAVEPOINT}"


@lru_cache(maxsize=4)
def _insert_in_savepoint_sql(vendor: str, quote: Callable[[str], str]) -> str:
    """SAVEPOINT; the event insert; RELEASE SAVEPOINT: one simple query, built once."""
    return f"SAVEPOINT {_SAVEPOINT}; {_insert(vendor, quote)}; RELEASE SAVEPOINT {_SAVEPOINT}"


@lru_cache(maxsize=4)
def _statement(vendor: str, quote: Callable[[str], str]) -> str:
    """The event insert, if its order exists, built once from Saleor's models."""
    order_table, order_pk = quote(Order._meta.db_table), quote(Order._meta.pk.column)
    columns = ", ".join(quote(f.column) for f in _FIELDS)
    values = ", ".join(["%s"] * len(_FIELDS))
    return (
        f"INSERT INTO {quote(OrderEvent._meta.db_table)} ({columns}) SELECT {values} "
        f"WHERE EXISTS (SELECT 1 FROM {order_table} WHERE {order_pk} = %s)"
    )
