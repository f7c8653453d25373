"""Saleor, the ledger and MultiSafepay side by side: the answer to "did this customer get
their money back?". Pure: the management command gathers the three views and prints this.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import List, Mapping, Optional, Sequence, Tuple

from ..multisafepay.money import from_minor_units, shown, shown_minor
from ..multisafepay.order import Order, RelatedRefund
from .ledger import NOT_REFUNDED, EntryState, LedgerEntry


@dataclass(frozen=True)
class Reconciliation:
    payment_id: str
    msp_order_id: str
    currency: str
    saleor_refunded: Decimal
    msp_refunded: Decimal
    rows: Tuple[Tuple[str, str, str, str], ...]  # refund id, Saleor, ledger, MultiSafepay
    differences: Tuple[str, ...]

    @property
    def agrees(self) -> bool:
        return not self.differences

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
    rows: List[Tuple[str, str, str, str]] = []
    differences: List[str] = []

    def row(refund_id: str, in_saleor: object, ledger_text: str, msp_text: str) -> None:
        text = f"{currency} {in_saleor}" if in_saleor is not None else "-"
        rows.append((refund_id, text, ledger_text, msp_text))

    decided = [e for e in entries if not e.is_open and (e.refund_id or e.recorded_as)]
    for entry in decided:
        in_saleor = saleor.pop(entry.reference, None)
        if entry.refund_id and entry.refund_id != entry.reference:
            in_saleor = saleor.pop(entry.refund_id, in_saleor)
        at_msp = msp.pop(entry.refund_id, None) if entry.refund_id else None
        ledger_text = f"{entry.state.value} {shown(entry.amount, entry.currency)}"
        if at_msp is not None:
            msp_text = _msp_text(at_msp.status, at_msp.amount, currency)
        else:
            msp_text = "counted, not listed" if entry.state is EntryState.REFUNDED else "-"
        row(entry.refund_id or entry.reference, in_saleor, ledger_text, msp_text)
        differences += _differences(entry.refund_id or entry.reference, entry, in_saleor, at_msp)
    for refund_id, at_msp in msp.items():
        in_saleor = saleor.pop(refund_id, None)
        row(refund_id, in_saleor, "-", _msp_text(at_msp.status, at_msp.amount, currency))
        differences += _differences(refund_id, None, in_saleor, at_msp)
    for token, amount in saleor.items():
        row(token, amount, "-", "-")
        differences.append(f"refund {token} is not at MultiSafepay")
    for entry in entries:
        if entry.is_open:
            ledger_text = f"{entry.state.value} {shown(entry.amount, entry.currency)}"
            rows.append(("(none yet)", "-", ledger_text, "-"))
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
        rows=tuple(rows),
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


def _msp_text(status: str, amount: object, currency: str) -> str:
    if isinstance(amount, int):
        return f"{status} {shown_minor(amount, currency)}"
    return status
