"""Notes in a Saleor order's history that Saleor's rollback cannot erase (Saleor glue).

orderFulfillmentReturnProducts runs the refund inside a transaction that is rolled back when
the refund fails, and would take the note explaining why with it. So such a note is written
outside that transaction (`outside.py`); when that cannot be done safely (the order itself is
not committed yet, or a lock would be waited on), it is written in the current transaction like
any other event. A note of a successful refund is written in the current transaction: it
commits with the refund Saleor records.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import DatabaseError, transaction
from django.db.models.sql import InsertQuery
from saleor.order import OrderEvents
from saleor.order.models import Order, OrderEvent

from .outside import in_transaction, run_outside

logger = logging.getLogger(__name__)


def write_order_note(order_id: Any, message: str, survive_rollback: bool = False) -> None:
    """Add `message` to the order's history, as a note the Dashboard shows."""
    event = OrderEvent(
        order_id=order_id, type=OrderEvents.NOTE_ADDED, parameters={"message": message}
    )
    if survive_rollback and in_transaction():
        try:
            if run_outside(lambda side, cursor: _insert_if_order_committed(side, cursor, event)):
                return
        except DatabaseError:
            logger.warning("Order note not written outside the transaction; writing it inside")
    # A savepoint: should the note fail, Saleor's transaction (and its refund record) goes on.
    with transaction.atomic():
        event.save()


def _insert_if_order_committed(side: Any, cursor: Any, event: OrderEvent) -> bool:
    order_table = side.ops.quote_name(Order._meta.db_table)
    order_pk = side.ops.quote_name(Order._meta.pk.column)
    # An order created in the still open transaction is invisible here: an event pointing at
    # it can only be written inside that transaction.
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
