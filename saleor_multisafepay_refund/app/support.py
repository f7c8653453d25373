"""`app refunds`: the App's refunds as its ledger holds them, and the way out of a refund the
ledger cannot decide (MultiSafepay's order counts it but does not list it, or never shows it):
staff check MultiSafepay's dashboard and say. The pending answer Saleor holds is then reported
by the worker, under its reference."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Dict, List, Optional

from ..models import RefundLedgerEntry, as_entry
from ..refunds.ledger import LedgerEntry, decide_by_hand
from . import locks
from .asks import LEDGER_PREFIX
from .ledger_store import AppLedger


def entries(msp_order_id: Optional[str] = None, limit: int = 50) -> List[LedgerEntry]:
    """The App's ledger entries, newest first; of one MultiSafepay order when given."""
    rows = RefundLedgerEntry.objects.filter(payment_id__startswith=LEDGER_PREFIX)
    if msp_order_id:
        rows = rows.filter(msp_order_id=msp_order_id)
    return [as_entry(row) for row in rows.order_by("-created_at")[:limit]]


def decide(
    msp_order_id: str, entry_id: str, landed: bool, refund_id: Optional[str] = None
) -> LedgerEntry:
    """Mark an open entry of that order refunded (`landed`) or not; ValueError when there is no
    such open entry."""
    row = RefundLedgerEntry.objects.filter(
        entry_id=entry_id, msp_order_id=msp_order_id, payment_id__startswith=LEDGER_PREFIX
    ).first()
    if row is None:
        raise ValueError(f"No ledger entry {entry_id} of MultiSafepay order {msp_order_id}.")
    ledger = AppLedger()
    # As a refund of the transaction would: nothing else changes its entries meanwhile.
    with locks.held(row.payment_id, wait=30.0) as got:
        if not got:
            raise ValueError("The transaction is busy at MultiSafepay: try again in a minute.")
        decided = decide_by_hand(ledger.entries(row.payment_id), entry_id, landed, refund_id)
        ledger.save(decided)
    return decided


def entry_json(entry: LedgerEntry) -> Dict[str, object]:
    """One entry for machine-readable output: the amount as a string, never a number."""
    return {
        "entry_id": entry.entry_id,
        "msp_order_id": entry.msp_order_id,
        "state": entry.state.value,
        "open": entry.is_open,
        "refund_id": entry.refund_id,
        "amount": str(entry.amount),
        "currency": entry.currency,
        "lines": dict(entry.lines),
        "external": entry.external,
        "error": entry.error or None,
        "created_at": datetime.fromtimestamp(entry.created_at, timezone.utc).isoformat(),
    }
