"""Saleor, the ledger and MultiSafepay side by side: the answer to "did this customer get
their money back?". Pure: the management command gathers the three views and prints this.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import List, Mapping, Sequence, Tuple

from .ledger import NOT_REFUNDED, LedgerEntry
from .money import from_minor_units
from .order import Order


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
            f"{self.currency} {self.saleor_refunded} in Saleor, {self.currency} "
            f"{self.msp_refunded} at MultiSafepay",
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
    """Compare Saleor's successful refunds (refund id -> amount), the ledger and the order."""
    currency = order.currency
    msp = {r.refund_id: r for r in order.refunds}
    by_id = {e.refund_id: e for e in entries if e.refund_id}
    ids = list(dict.fromkeys([*msp, *by_id, *saleor_refunds]))
    rows = []
    differences: List[str] = []
    for refund_id in ids:
        in_saleor = saleor_refunds.get(refund_id)
        entry = by_id.get(refund_id)
        at_msp = msp.get(refund_id)
        rows.append(
            (
                refund_id,
                f"{currency} {in_saleor}" if in_saleor is not None else "-",
                f"{entry.state.value} {entry.currency} {entry.amount}" if entry else "-",
                _msp_text(at_msp.status, at_msp.amount, currency) if at_msp else "-",
            )
        )
        if at_msp is None:
            differences.append(f"refund {refund_id} is not at MultiSafepay")
        elif at_msp.status in NOT_REFUNDED:
            if in_saleor is not None:
                differences.append(
                    f"refund {refund_id} was {at_msp.status} at MultiSafepay but Saleor counts it"
                )
        elif in_saleor is None:
            why = "made outside Saleor" if entry is None or entry.external else "landed"
            differences.append(f"refund {refund_id} ({why}) is not recorded in Saleor")
    for entry in entries:
        if entry.is_open:
            ledger_text = f"{entry.state.value} {entry.currency} {entry.amount}"
            rows.append(("(none yet)", "-", ledger_text, "-"))
            differences.append(
                f"a refund of {entry.describe()} has an open outcome: the next refund of this "
                "payment settles it"
            )
    saleor_total = sum(saleor_refunds.values(), Decimal(0))
    msp_total = from_minor_units(order.amount_refunded, currency)
    if saleor_total != msp_total:
        differences.append(
            f"Saleor recorded {currency} {saleor_total} refunded, MultiSafepay {currency} "
            f"{msp_total}"
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


def _msp_text(status: str, amount: object, currency: str) -> str:
    if isinstance(amount, int):
        return f"{status} {currency} {from_minor_units(amount, currency)}"
    return status
