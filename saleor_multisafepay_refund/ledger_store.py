"""The ledger in Saleor's database (Saleor glue): `RefundLedgerEntry` rows, written outside
Saleor's transaction so that a rollback never erases an entry whose POST may have been sent.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, List

from django.db import transaction
from django.db.models.sql import InsertQuery

from .ledger import EntryState, LedgerEntry
from .models import RefundLedgerEntry
from .money import round_money
from .outside import in_transaction, run_outside


class SaleorLedger:
    """A LedgerStore on the `RefundLedgerEntry` table."""

    def entries(self, payment_id: str) -> List[LedgerEntry]:
        rows = RefundLedgerEntry.objects.filter(payment_id=payment_id).order_by("created_at")
        return [_entry(row) for row in rows]

    def all(self) -> List[LedgerEntry]:
        return [_entry(row) for row in RefundLedgerEntry.objects.order_by("created_at")]

    def save(self, entry: LedgerEntry, durable: bool = True) -> None:
        row = _row(entry)
        if not durable or not in_transaction():
            with transaction.atomic():  # a savepoint: a failure here leaves Saleor's own intact
                row.save()
            return
        run_outside(lambda side, cursor: _upsert(side, cursor, row))


def _upsert(side: Any, cursor: Any, row: RefundLedgerEntry) -> None:
    meta = RefundLedgerEntry._meta
    fields = list(meta.local_concrete_fields)
    query = InsertQuery(RefundLedgerEntry)
    query.insert_values(fields, [row])
    [(sql, params)] = query.get_compiler(connection=side).as_sql()
    quote = side.ops.quote_name
    pk = quote(meta.pk.column)
    updates = ", ".join(
        f"{quote(f.column)} = EXCLUDED.{quote(f.column)}" for f in fields if not f.primary_key
    )
    cursor.execute(f"{sql} ON CONFLICT ({pk}) DO UPDATE SET {updates}", params)


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
    )
