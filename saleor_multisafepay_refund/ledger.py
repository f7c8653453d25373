"""The refund ledger: what this plugin asked MultiSafepay to refund, and what became of it.

Pure: entries and the decisions about them. Where entries live is a `LedgerStore`; Saleor's is
in `ledger_store.py` (a table of this package's own, written outside Saleor's transaction so
that a rollback never erases an entry whose POST may have been sent).

An entry is written PENDING before its POST and updated once the answer is known:

    PENDING -> REFUNDED (refund id) | FAILED (MultiSafepay did not refund) | UNKNOWN
    REFUNDED -> DECLINED (MultiSafepay's notification: the refund was declined or voided)

A REFUNDED entry also keeps the refund's status at MultiSafepay (`refund_status`: reserved,
completed...), as its notifications report it (`refund_status_changes`).

Before any new refund of a payment every PENDING or UNKNOWN entry is settled against the order
as MultiSafepay shows it now (`settle`). No entry ever stays PENDING: a PENDING entry met later
means the process stopped mid-refund.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from dataclasses import dataclass, field, replace
from decimal import Decimal
from enum import Enum
from typing import Iterable, List, Mapping, Optional, Protocol, Sequence, Set, Tuple

from . import wire
from .cart import RefundPlan
from .money import from_minor_units, to_minor_units
from .order import Order

# How long MultiSafepay may take to show a refund whose answer was lost. Until then, a refund
# not (yet) in the order cannot be called failed.
SETTLE_AFTER_SECONDS = 60.0


class EntryState(str, Enum):
    PENDING = "pending"
    REFUNDED = "refunded"
    FAILED = "failed"
    UNKNOWN = "unknown"
    # MultiSafepay accepted the refund, then declined or voided it: no money went back.
    DECLINED = "declined"


OPEN_STATES = frozenset({EntryState.PENDING, EntryState.UNKNOWN})
# Refunds MultiSafepay lists but did not make (declined, or voided while reserved).
NOT_REFUNDED = frozenset({"declined", "void", "cancelled", "canceled"})


@dataclass(frozen=True)
class LedgerEntry:
    entry_id: str
    payment_id: str
    msp_order_id: str
    lines: Mapping[str, int]  # merchant_item_id -> quantity; empty for an amount refund
    amount: Decimal  # what MultiSafepay refunds, major units
    currency: str
    body_fingerprint: str
    state: EntryState
    created_at: float
    refunds_before: Tuple[str, ...] = ()  # MultiSafepay's refund ids before the POST
    refund_id: Optional[str] = None
    error: str = ""
    # External refunds (made in MultiSafepay's dashboard) are entries too, so they are
    # reported once.
    external: bool = False
    updated_at: float = field(default=0.0)
    refund_status: str = ""  # MultiSafepay's status of the refund, once seen

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    def describe(self) -> str:
        what = ", ".join(f"{quantity} x {key}" for key, quantity in self.lines.items())
        return f"{self.currency} {self.amount}" + (f" ({what})" if what else "")


class LedgerStore(Protocol):
    """Where entries live. `save` must persist before it returns, whatever happens next."""

    def entries(self, payment_id: str) -> List[LedgerEntry]: ...

    def save(self, entry: LedgerEntry) -> None: ...


class MemoryLedger:
    """A LedgerStore in memory, for tests and tools."""

    def __init__(self) -> None:
        self._entries: dict[str, LedgerEntry] = {}

    def entries(self, payment_id: str) -> List[LedgerEntry]:
        found = [e for e in self._entries.values() if e.payment_id == payment_id]
        return sorted(found, key=lambda entry: entry.created_at)

    def save(self, entry: LedgerEntry) -> None:
        self._entries[entry.entry_id] = entry


def plan_lines(plan: RefundPlan) -> dict[str, int]:
    return {line.merchant_item_id: line.quantity for line in plan.lines}


def pending_entry(payment_id: str, plan: RefundPlan, before: Order) -> LedgerEntry:
    """The entry written before `plan` is sent."""
    now = time.time()
    return LedgerEntry(
        entry_id=uuid.uuid4().hex,
        payment_id=payment_id,
        msp_order_id=plan.order_id,
        lines=plan_lines(plan),
        amount=plan.amount,
        currency=plan.currency,
        body_fingerprint=fingerprint(plan.body),
        state=EntryState.PENDING,
        created_at=now,
        updated_at=now,
        refunds_before=tuple(refund.refund_id for refund in before.refunds),
    )


def fingerprint(body: object) -> str:
    """sha256 of the exact body sent: tells two requests apart without storing the cart."""
    return hashlib.sha256(wire.dumps(body).encode("utf-8")).hexdigest()


def with_state(
    entry: LedgerEntry, state: EntryState, refund_id: Optional[str] = None, error: str = ""
) -> LedgerEntry:
    return replace(
        entry,
        state=state,
        refund_id=refund_id if refund_id is not None else entry.refund_id,
        error=error,
        updated_at=time.time(),
    )


def settle(
    entries: Sequence[LedgerEntry],
    order: Order,
    now: Optional[float] = None,
    settle_after: float = SETTLE_AFTER_SECONDS,
) -> List[LedgerEntry]:
    """The open entries of `order` decided by what MultiSafepay shows: the changed entries.

    An open entry landed when a refund that was not there before its POST, and that no other
    entry claims, has its amount: it becomes REFUNDED with that id. Without one, it is FAILED
    once `settle_after` seconds have passed since it was sent, and stays UNKNOWN until then;
    it stays UNKNOWN too while MultiSafepay has refunded more than the refunds it lists (some
    answers list none): the missing refund could be this one, and "not made" would let a
    retry refund twice.
    """
    now = time.time() if now is None else now
    claimed: Set[str] = {e.refund_id for e in entries if e.refund_id}
    listed = sum(
        refund.amount or 0 for refund in order.refunds if refund.status not in NOT_REFUNDED
    )
    all_listed = order.amount_refunded <= listed
    changed: List[LedgerEntry] = []
    for entry in sorted(entries, key=lambda e: e.created_at):
        if not entry.is_open or entry.msp_order_id != order.order_id:
            continue
        minor = _minor(entry)
        landed = next(
            (
                refund
                for refund in order.refunds
                if refund.refund_id not in entry.refunds_before
                and refund.refund_id not in claimed
                and refund.amount in (None, minor)
                and refund.status not in NOT_REFUNDED
            ),
            None,
        )
        if landed is not None:
            claimed.add(landed.refund_id)
            changed.append(with_state(entry, EntryState.REFUNDED, refund_id=landed.refund_id))
        elif now - entry.created_at >= settle_after and all_listed:
            changed.append(
                with_state(
                    entry,
                    EntryState.FAILED,
                    error="MultiSafepay shows no such refund: it was not made.",
                )
            )
        elif entry.state is EntryState.PENDING:
            changed.append(with_state(entry, EntryState.UNKNOWN, error=entry.error))
    return changed


def external_refunds(
    entries: Iterable[LedgerEntry], order: Order, saleor_refund_ids: Set[str]
) -> List[str]:
    """Refunds MultiSafepay shows that neither the ledger nor Saleor knows (made elsewhere)."""
    known = {e.refund_id for e in entries if e.refund_id} | saleor_refund_ids
    return [
        refund.refund_id
        for refund in order.refunds
        if refund.refund_id not in known
        and refund.status not in NOT_REFUNDED
        # Without its amount it cannot be recorded in Saleor (it would read 0.00): the
        # support command shows it, and item refunds stay refused until it is accounted for.
        and refund.amount is not None
    ]


def external_entry(payment_id: str, order: Order, refund_id: str) -> LedgerEntry:
    """A refund made outside Saleor, recorded so that it is reported once."""
    refund = next(r for r in order.refunds if r.refund_id == refund_id)
    now = time.time()
    amount = from_minor_units(refund.amount or 0, order.currency)
    return LedgerEntry(
        entry_id=uuid.uuid4().hex,
        payment_id=payment_id,
        msp_order_id=order.order_id,
        lines={},
        amount=amount,
        currency=order.currency,
        body_fingerprint="",
        state=EntryState.REFUNDED,
        created_at=now,
        updated_at=now,
        refund_id=refund_id,
        external=True,
        refund_status=refund.status,
    )


# Refund statuses in the order they happen; a notification never moves a refund back.
_REFUND_STATUS_RANK = {"": 0, "initialized": 1, "reserved": 2, "completed": 3}


def refund_status_changes(
    entries: Iterable[LedgerEntry], order: Order
) -> List[Tuple[LedgerEntry, str]]:
    """Refunds whose status at MultiSafepay moved on: (the changed entry, what staff must be
    told, or "" when nothing worth a note happened)."""
    by_id = {refund.refund_id: refund for refund in order.refunds}
    changes: List[Tuple[LedgerEntry, str]] = []
    for entry in entries:
        refund = by_id.get(entry.refund_id or "")
        if refund is None or entry.state is not EntryState.REFUNDED:
            continue
        status, before = refund.status, entry.refund_status
        if status == before:
            continue
        what = f"refund {entry.refund_id} ({entry.describe()}) of order {entry.msp_order_id}"
        if status in NOT_REFUNDED:
            changed = replace(
                entry, state=EntryState.DECLINED, refund_status=status, updated_at=time.time()
            )
            changes.append(
                (
                    changed,
                    f"MultiSafepay {'declined' if status == 'declined' else 'cancelled'} {what}: "
                    "the customer did not get this money back. Saleor's payment counts it as "
                    "not refunded again (refund reversed): refund it again, or settle it with "
                    "the customer.",
                )
            )
            continue
        rank = _REFUND_STATUS_RANK.get(status)
        if rank is None or rank <= _REFUND_STATUS_RANK.get(before, 0):
            continue  # an unknown status, or an older one arriving late
        changed = replace(entry, refund_status=status, updated_at=time.time())
        # A refund first seen completed needs no note; one that waited (reserved) does.
        told = f"MultiSafepay completed {what}." if status == "completed" and before else ""
        changes.append((changed, told))
    return changes


def _minor(entry: LedgerEntry) -> int:
    return to_minor_units(entry.amount, entry.currency)
