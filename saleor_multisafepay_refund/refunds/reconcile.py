"""Saleor, the ledger and MultiSafepay side by side: the answer to "did this customer get
their money back?". Pure: the management command gathers the three views and prints this.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from ..multisafepay.money import from_minor_units, shown
from ..multisafepay.order import Order, RelatedRefund
from .ledger import NOT_REFUNDED, EntryState, LedgerEntry

# Without an order or a --since, only payments this recent are compared: a shop's every payment
# ever made is too many to read from MultiSafepay one by one.
DEFAULT_SINCE_DAYS = 90


def parse_since(text: str, today: date) -> Optional[date]:
    """`--since`: a date (2026-01-31), a number of days back (30d), or "all" (None: no bound)."""
    text = text.strip()
    if text.lower() == "all":
        return None
    days = re.fullmatch(r"([0-9]{1,5})d", text)
    if days:
        return today - timedelta(days=int(days.group(1)))
    if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
        try:
            return date.fromisoformat(text)
        except ValueError:
            pass
    raise ValueError("--since needs a date (YYYY-MM-DD), a number of days (30d) or all.")


# What MultiSafepay shows of a refund the ledger knows landed but the order does not list.
COUNTED_NOT_LISTED = "counted, not listed"


@dataclass(frozen=True)
class RefundRow:
    """One refund as Saleor, the ledger and MultiSafepay show it (None: not known there)."""

    refund_id: str  # MultiSafepay's refund id, Saleor's token, or "(none yet)"
    saleor: Optional[Decimal]
    ledger_state: Optional[str] = None
    ledger_amount: Optional[Decimal] = None
    msp_status: Optional[str] = None  # as MultiSafepay lists it, or COUNTED_NOT_LISTED
    msp_amount: Optional[Decimal] = None

    def texts(self, currency: str) -> Tuple[str, str, str, str]:
        """The row as the table prints it: refund id, Saleor, ledger, MultiSafepay."""
        ledger = (
            f"{self.ledger_state} {shown(self.ledger_amount, currency)}"
            if self.ledger_state is not None and self.ledger_amount is not None
            else "-"
        )
        msp = self.msp_status or "-"
        if self.msp_amount is not None:
            msp = f"{msp} {shown(self.msp_amount, currency)}"
        saleor = shown(self.saleor, currency) if self.saleor is not None else "-"
        return (self.refund_id, saleor, ledger, msp)

    def as_json(self) -> Dict[str, object]:
        """For machine-readable output: amounts as strings, never numbers."""
        return {
            "refund_id": self.refund_id,
            "saleor_amount": _text(self.saleor),
            "ledger_state": self.ledger_state,
            "ledger_amount": _text(self.ledger_amount),
            "multisafepay_status": self.msp_status,
            "multisafepay_amount": _text(self.msp_amount),
        }


@dataclass(frozen=True)
class Reconciliation:
    payment_id: str
    msp_order_id: str
    currency: str
    saleor_refunded: Decimal
    msp_refunded: Decimal
    refunds: Tuple[RefundRow, ...]
    differences: Tuple[str, ...]

    @property
    def agrees(self) -> bool:
        return not self.differences

    @property
    def rows(self) -> Tuple[Tuple[str, str, str, str], ...]:
        """refund id, Saleor, ledger, MultiSafepay: each as text."""
        return tuple(row.texts(self.currency) for row in self.refunds)

    def lines(self) -> List[str]:
        """The reconciliation as text, one table row a line."""
        out = [
            f"Payment {self.payment_id}, MultiSafepay order {self.msp_order_id}: refunded "
            f"{shown(self.saleor_refunded, self.currency)} in Saleor, "
            f"{shown(self.msp_refunded, self.currency)} at MultiSafepay",
            f"  {'refund id':<14} {'Saleor':<18} {'ledger':<26} MultiSafepay",
        ]
        out += [f"  {a:<14} {b:<18} {c:<26} {d}" for a, b, c, d in self.rows]
        out += [f"  DIFFERENCE: {text}" for text in self.differences] or ["  agrees"]
        return out

    def as_json(self) -> Dict[str, object]:
        """For machine-readable output: amounts as strings, never numbers."""
        return {
            "payment_id": self.payment_id,
            "msp_order_id": self.msp_order_id,
            "currency": self.currency,
            "saleor_refunded": str(self.saleor_refunded),
            "msp_refunded": str(self.msp_refunded),
            "agrees": self.agrees,
            "refunds": [row.as_json() for row in self.refunds],
            "differences": list(self.differences),
        }


def _text(amount: Optional[Decimal]) -> Optional[str]:
    return None if amount is None else str(amount)


def reconcile(
    payment_id: str,
    saleor_refunds: Mapping[str, Decimal],
    entries: Sequence[LedgerEntry],
    order: Order,
) -> Reconciliation:
    """Compare Saleor's successful refunds (token -> amount), the ledger and the order.

    A refund is one row however it is known: Saleor records it under the ledger entry's
    reference, MultiSafepay lists it under its refund id (or not at all, yet).
    """
    currency = order.currency
    msp = {r.refund_id: r for r in order.refunds}
    saleor = dict(saleor_refunds)
    rows: List[RefundRow] = []
    differences: List[str] = []

    def at(row: RefundRow, refund: Optional[RelatedRefund]) -> RefundRow:
        if refund is None:
            return row
        amount = None if refund.amount is None else from_minor_units(refund.amount, currency)
        return replace(row, msp_status=refund.status, msp_amount=amount)

    def kept(row: RefundRow, entry: LedgerEntry) -> RefundRow:
        return replace(row, ledger_state=entry.state.value, ledger_amount=entry.amount)

    decided = [e for e in entries if not e.is_open and (e.refund_id or e.recorded_as)]
    for entry in decided:
        in_saleor = saleor.pop(entry.reference, None)
        if entry.refund_id and entry.refund_id != entry.reference:
            in_saleor = saleor.pop(entry.refund_id, in_saleor)
        at_msp = msp.pop(entry.refund_id, None) if entry.refund_id else None
        row = kept(RefundRow(entry.refund_id or entry.reference, in_saleor), entry)
        if at_msp is None and entry.state is EntryState.REFUNDED:
            row = replace(row, msp_status=COUNTED_NOT_LISTED)
        rows.append(at(row, at_msp))
        differences += _differences(entry.refund_id or entry.reference, entry, in_saleor, at_msp)
    for refund_id, at_msp in msp.items():
        in_saleor = saleor.pop(refund_id, None)
        rows.append(at(RefundRow(refund_id, in_saleor), at_msp))
        differences += _differences(refund_id, None, in_saleor, at_msp)
    for token, amount in saleor.items():
        rows.append(RefundRow(token, amount))
        differences.append(f"refund {token} is not at MultiSafepay")
    for entry in entries:
        if entry.is_open:
            rows.append(kept(RefundRow("(none yet)", None), entry))
            differences.append(
                f"a refund of {entry.describe()} has an open outcome: the next refund of this "
                f"payment settles it, or decide it by hand (ledger entry {entry.entry_id}: "
                "--mark-refunded or --mark-failed, after checking MultiSafepay's dashboard)"
            )
    saleor_total = sum(saleor_refunds.values(), Decimal(0))
    msp_total = from_minor_units(order.amount_refunded, currency)
    if saleor_total != msp_total:
        differences.append(
            f"Saleor recorded {shown(saleor_total, currency)} refunded, MultiSafepay "
            f"{shown(msp_total, currency)}"
        )
    return Reconciliation(
        payment_id=payment_id,
        msp_order_id=order.order_id,
        currency=currency,
        saleor_refunded=saleor_total,
        msp_refunded=msp_total,
        refunds=tuple(rows),
        differences=tuple(dict.fromkeys(differences)),
    )


def _differences(
    refund_id: str,
    entry: Optional[LedgerEntry],
    in_saleor: Optional[Decimal],
    at_msp: Optional[RelatedRefund],
) -> List[str]:
    """What is wrong with one refund, as Saleor, the ledger and MultiSafepay show it."""
    # Declined or voided, as MultiSafepay lists it or as the ledger learnt it (unlisted).
    undone = at_msp.status if at_msp is not None and at_msp.status in NOT_REFUNDED else ""
    if not undone and entry is not None and entry.state is EntryState.DECLINED:
        undone = "declined"
    if undone:
        if in_saleor is not None:
            return [f"refund {refund_id} was {undone} at MultiSafepay but Saleor counts it"]
        return []
    if at_msp is None and entry is None:
        # A refund the ledger made and MultiSafepay does not list may be counted unlisted (its
        # total is compared below); one only Saleor knows was never made.
        return [f"refund {refund_id} is not at MultiSafepay"]
    if in_saleor is None:
        why = "made outside Saleor" if entry is None or entry.external else "landed"
        return [f"refund {refund_id} ({why}) is not recorded in Saleor"]
    return []
