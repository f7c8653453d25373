"""Notes in a Saleor order's history that Saleor's rollback cannot erase (Saleor glue).

orderFulfillmentReturnProducts runs the refund inside a transaction that is rolled back when
the refund fails, and would take the note explaining why with it. So such a note is written
through a second database connection that commits on its own; when that cannot be done safely
(the order itself is not committed yet, or a lock would be waited on), it is written in the
current transaction like any other event. A note of a successful refund is written in the
current transaction: it commits with the refund Saleor records.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connection, connections
from django.db.models.sql import InsertQuery
from saleor.order import OrderEvents
from saleor.order.models import Order, OrderEvent

logger = logging.getLogger(__name__)

# How long the separate connection may wait for a lock held by the request's own transaction
# before giving up (it would otherwise wait for ever: that transaction waits for us).
_LOCK_TIMEOUT = "2s"


def write_order_note(order_id: Any, message: str, survive_rollback: bool = False) -> None:
    """Add `message` to the order's history, as a note the Dashboard shows."""
    event = OrderEvent(
        order_id=order_id, type=OrderEvents.NOTE_ADDED, parameters={"message": message}
    )
    if survive_rollback and connection.in_atomic_block and _write_outside_transaction(event):
        return
    event.save()


def _write_outside_transaction(event: OrderEvent) -> bool:
    if connection.vendor != "postgresql":
        return False
    side = connections.create_connection(DEFAULT_DB_ALIAS)
    try:
        with side.cursor() as cursor:
            cursor.execute(f"SET lock_timeout = '{_LOCK_TIMEOUT}'")
            order_table = side.ops.quote_name(Order._meta.db_table)
            order_pk = side.ops.quote_name(Order._meta.pk.column)
            # An order created in the still open transaction is invisible here: an event
            # pointing at it can only be written inside that transaction.
            cursor.execute(f"SELECT 1 FROM {order_table} WHERE {order_pk} = %s", [event.order_id])
            if cursor.fetchone() is None:
                return False
            meta = OrderEvent._meta
            fields = [f for f in meta.local_concrete_fields if f is not meta.auto_field]
            query = InsertQuery(OrderEvent)
            query.insert_values(fields, [event])
            for sql, params in query.get_compiler(connection=side).as_sql():
                cursor.execute(sql, params)
        return True
    except DatabaseError:
        logger.warning("Order note not written outside the transaction; writing it inside")
        return False
    finally:
        side.close()
