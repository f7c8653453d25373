"""The ledger in Saleor's database (Saleor glue): `RefundLedgerEntry` rows, written outside
Saleor's transaction so that a rollback never erases an entry whose POST may have been sent.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Callable, Dict, List, Sequence, Tuple

from django.db import connections, router

from ..models import RefundLedgerEntry, as_entry, row_values
from ..refunds.ledger import LedgerEntry
from .outside import in_transaction, run_outside


class SaleorLedger:
    """A LedgerStore on the `RefundLedgerEntry` table."""

    def entries(self, payment_id: str) -> List[LedgerEntry]:
        # The statement is built once: this read comes before every refund, and building the
        # ORM's query each time cost more than running it. Rows are converted as the ORM would.
        db = connections[router.db_for_read(RefundLedgerEntry)]
        with db.cursor() as cursor:
            cursor.execute(_select_sql(db.vendor, db.ops.quote_name), [payment_id])
            rows = cursor.fetchall()
        if not rows:
            return []
        converters = _converters(db)
        return [
            as_entry(RefundLedgerEntry.from_db(db.alias, _NAMES, converters(row))) for row in rows
        ]

    def save(self, entry: LedgerEntry) -> None:
        values = row_values(entry)
        if not in_transaction():
            RefundLedgerEntry(**values).save()
            return
        run_outside(lambda side, cursor: cursor.execute(_upsert_sql(side), _params(side, values)))


_FIELDS = RefundLedgerEntry._meta.local_concrete_fields
_NAMES = [field.attname for field in _FIELDS]


@lru_cache(maxsize=4)
def _select_sql(vendor: str, quote: Callable[[str], str]) -> str:
    """The payment's entries, oldest first (the model's ordering), every concrete field; built
    once, like the other statements here (`vendor` keys the cache)."""
    meta = RefundLedgerEntry._meta
    columns = ", ".join(quote(field.column) for field in _FIELDS)
    return (
        f"SELECT {columns} FROM {quote(meta.db_table)} "
        f"WHERE {quote(meta.get_field('payment_id').column)} = %s "
        f"ORDER BY {quote(meta.get_field('created_at').column)}"
    )


def _converters(db: Any) -> Callable[[Sequence[Any]], List[Any]]:
    """A row of `_select_sql` as the ORM converts it: the backend's converters, then the
    field's (JSON text decoded), column by column."""
    columns = [field.get_col(RefundLedgerEntry._meta.db_table) for field in _FIELDS]
    steps = [
        (column, [*db.ops.get_db_converters(column), *column.get_db_converters(db)])
        for column in columns
    ]

    def convert(row: Sequence[Any]) -> List[Any]:
        values = []
        for (column, converters), value in zip(steps, row):
            for converter in converters:
                value = converter(value, column, db)
            values.append(value)
        return values

    return convert


@lru_cache(maxsize=4)
def _upsert_sql_for(vendor: str, table: str, columns: Tuple[str, ...], pk: str) -> str:
    # `vendor` only keys the cache: the statement is PostgreSQL's (run_outside requires it).
    names = ", ".join(columns)
    updates = ", ".join(f"{column} = EXCLUDED.{column}" for column in columns if column != pk)
    values = ", ".join(["%s"] * len(columns))
    return (
        f"INSERT INTO {table} ({names}) VALUES ({values}) "
        f"ON CONFLICT ({pk}) DO UPDATE SET {updates}"
    )


def _upsert_sql(side: Any) -> str:
    quote = side.ops.quote_name
    meta = RefundLedgerEntry._meta
    return _upsert_sql_for(
        side.vendor,
        quote(meta.db_table),
        tuple(quote(field.column) for field in _FIELDS),
        quote(meta.pk.column),
    )


def _params(side: Any, values: Dict[str, Any]) -> List[Any]:
    """The upsert's parameters: `values` as the model's fields save them (no model instance)."""
    return [field.get_db_prep_save(values[field.attname], connection=side) for field in _FIELDS]
