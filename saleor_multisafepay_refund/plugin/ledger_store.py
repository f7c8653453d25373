"""The ledger in Saleor's database (Saleor glue): `RefundLedgerEntry` rows, written outside
Saleor's transaction so that a rollback never erases an entry whose POST may have been sent.
"""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache
from typing import Any, Callable, Dict, List, Sequence, Tuple

from django.db import connections, router

from ..models import RefundLedgerEntry
from ..multisafepay.money import round_money
from ..refunds.ledger import EntryState, LedgerEntry
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
            _entry(RefundLedgerEntry.from_db(db.alias, _NAMES, converters(row))) for row in rows
        ]

    def save(self, entry: LedgerEntry) -> None:
        values = _values(entry)
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


def _values(entry: LedgerEntry) -> Dict[str, Any]:
    """The row of `entry`, by field (attname)."""
    return dict(
        entry_id=entry.entry_id,
        payment_id=entry.payment_id,
        msp_order_id=entry.msp_order_id,
        lines=dict(entry.lines),
        amount=entry.amount,
        currency=entry.currency,
        body_fingerprint=entry.body_fingerprint,
        state=entry.state.value,
        refund_id=entry.refund_id,
        refunds_before=list(entry.refunds_before),
        error=entry.error,
        external=entry.external,
        created_at=entry.created_at,
        updated_at=entry.updated_at,
        refund_status=entry.refund_status,
        recorded_as=entry.recorded_as,
        refunded_before=entry.refunded_before,
    )


def _entry(row: RefundLedgerEntry) -> LedgerEntry:
    return LedgerEntry(
        entry_id=row.entry_id,
        payment_id=row.payment_id,
        msp_order_id=row.msp_order_id,
        lines={str(key): int(value) for key, value in (row.lines or {}).items()},
        amount=round_money(Decimal(row.amount), row.currency),
        currency=row.currency,
        body_fingerprint=row.body_fingerprint,
        state=EntryState(row.state),
        created_at=row.created_at,
        updated_at=row.updated_at,
        refunds_before=tuple(str(refund) for refund in row.refunds_before or ()),
        refund_id=row.refund_id,
        error=row.error,
        external=row.external,
        refund_status=row.refund_status,
        recorded_as=row.recorded_as,
        refunded_before=row.refunded_before,
    )
