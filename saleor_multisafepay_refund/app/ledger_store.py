"""The ledger on the `RefundLedgerEntry` table: the very table (and rows) the plugin uses.

The App's requests run in autocommit: an entry is stored before `save` returns, so the entry
written before a POST survives whatever happens next.
"""

from __future__ import annotations

from typing import List

from ..models import RefundLedgerEntry, as_entry, row_values
from ..refunds.ledger import LedgerEntry


class AppLedger:
    """A LedgerStore for the App."""

    def entries(self, payment_id: str) -> List[LedgerEntry]:
        return [as_entry(row) for row in RefundLedgerEntry.objects.filter(payment_id=payment_id)]

    def save(self, entry: LedgerEntry) -> None:
        RefundLedgerEntry(**row_values(entry)).save()
