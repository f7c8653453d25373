"""The ledger in Saleor's database (Saleor glue): `RefundLedgerEntry` rows, written outside
Saleor's transaction so that a rollback never erases an entry whose POST may have been sent.
"""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache
from typing import Any, List, Tuple

from ..models import RefundLedgerEntry
from ..multisafepay.money import round_money
from ..refunds.ledger import EntryState, LedgerEntry
from .outside import in_transaction, run_outside


class SaleorLedger:
    """A LedgerStore on the `RefundLedgerEntry` table."""

    def entries(self, payment_id: str) -> List[LedgerEntry]:
        rows = RefundLedgerEntry.objects.filter(payment_id=payment_id).order_by("created_at")
        return [_entry(row) for row in rows]

    def save(self, entry: LedgerEntry) -> None:
        row = _row(entry)
        if not in_transaction():
            row.save()
            return
        run_outside(lambda side, cursor: cursor.execute(_upsert_sql(side), _params(side, row)))


_FIELDS = RefundLedgerEntry._meta.local_concrete_fields


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


def _params(side: Any, row: RefundLedgerEntry) -> List[Any]:
    return [
        field.get_db_prep_save(getattr(row, field.attname), connection=side) for field in _FIELDS
    ]


def _row(entry: LedgerEntry) -> RefundLedgerEntry:
    return RefundLedgerEntry(
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
