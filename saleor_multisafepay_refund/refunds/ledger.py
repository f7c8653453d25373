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

MultiSafepay may count a refund in `amount_refunded` before it lists it in
`related_transactions`, or never list it (docs/msp-api.md). Such a refund is still one refund:
its entry gets a `reference` of the ledger's own when it settles, the shop records it under
that reference once, and the refund MultiSafepay lists later is bound to that entry, never
taken for a second refund.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from dataclasses import dataclass, field, replace
from decimal import Decimal
from enum import Enum
from itertools import combinations
from typing import Dict, Iterable, List, Mapping, Optional, Protocol, Sequence, Set, Tuple

from ..config import SETTLE_AFTER_SECONDS
from ..multisafepay import wire
from ..multisafepay.money import from_minor_units, shown, shown_minor, to_minor_units
from ..multisafepay.order import Order
from ..multisafepay.refund_body import RefundPlan

# Open entries tried together when only amount_refunded can tell which of them landed.
_MOST_OPEN_COMBINED = 12
UNLISTED_PREFIX = "unlisted-"


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
    # The id the shop records this refund under, fixed when the entry became REFUNDED:
    # MultiSafepay's refund id, or `unlisted-<entry_id>` for a refund MultiSafepay counted
    # without listing it (its id, once listed, goes to `refund_id`; this stays).
    recorded_as: str = ""
    # MultiSafepay's amount_refunded (minor units) before the POST: only growth since can be
    # this refund. None for entries written before it was kept.
    refunded_before: Optional[int] = None

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    @property
    def reference(self) -> str:
        """The id the shop records this refund under. Entries settled before `recorded_as`
        existed were recorded under their refund id, or the MultiSafepay order id."""
        return self.recorded_as or self.refund_id or self.msp_order_id

    def describe(self) -> str:
        what = ", ".join(f"{quantity} x {key}" for key, quantity in self.lines.items())
        return shown(self.amount, self.currency) + (f" ({what})" if what else "")


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
        body_fingerprint=fingerprint(plan.body_json),
        state=EntryState.PENDING,
        created_at=now,
        updated_at=now,
        refunds_before=tuple(refund.refund_id for refund in before.refunds),
        refunded_before=before.amount_refunded,
    )


def fingerprint(body: object) -> str:
    """sha256 of the exact body sent (JSON text, or the object it is serialized from): tells
    two requests apart without storing the cart."""
    text = body if isinstance(body, str) else wire.dumps(body)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def with_state(
    entry: LedgerEntry, state: EntryState, refund_id: Optional[str] = None, error: str = ""
) -> LedgerEntry:
    """`entry` moved to `state`; one that becomes REFUNDED gets the reference it keeps."""
    refund_id = refund_id if refund_id is not None else entry.refund_id
    recorded_as = entry.recorded_as
    if state is EntryState.REFUNDED and not recorded_as:
        recorded_as = refund_id or UNLISTED_PREFIX + entry.entry_id
    return replace(
        entry,
        state=state,
        refund_id=refund_id,
        error=error,
        updated_at=time.time(),
        recorded_as=recorded_as,
    )


def in_flight(entry: LedgerEntry, in_flight_seconds: float, now: Optional[float] = None) -> bool:
    """PENDING and younger than its POST and read-back may take: being sent right now, by a
    flow that records its outcome itself. Settling it from a stale read would overwrite that."""
    now = time.time() if now is None else now
    return entry.state is EntryState.PENDING and now - entry.created_at < in_flight_seconds


def settle(
    entries: Sequence[LedgerEntry],
    order: Order,
    now: Optional[float] = None,
    settle_after: float = SETTLE_AFTER_SECONDS,
) -> List[LedgerEntry]:
    """The entries of `order` decided by what MultiSafepay shows: the changed entries.

    1. A refund settled without an id (MultiSafepay counted it, listed none) takes, in order,
       the first listed refund of its amount that was not there before its POST and that no
       other entry claims, when MultiSafepay's count shows that refund counted twice: listed
       late, it is the same refund, not one made elsewhere.
    2. An open entry landed when such a listed refund has its amount: REFUNDED with its id.
    3. Otherwise `amount_refunded` decides, against every refund accounted for (listed, or
       REFUNDED in the ledger and not listed). Nothing unaccounted: the entry was not made,
       FAILED once `settle_after` seconds have passed since it was sent; so is an entry
       larger than what MultiSafepay's count grew by since its POST. Exactly what some open
       entries come to, and only they can: those landed unlisted (REFUNDED without id).
       Anything else, MultiSafepay counting less than is accounted for among it, cannot be
       told: the entry stays UNKNOWN and its error says why, until MultiSafepay shows more or
       staff decide by hand (`decide_by_hand`).

    The caller settles no entries while one is `in_flight`: what the order shows may be that
    refund's, or not yet.
    """
    now = time.time() if now is None else now
    mine = sorted(
        (e for e in entries if e.msp_order_id == order.order_id), key=lambda e: e.created_at
    )
    claimed: Set[str] = {e.refund_id for e in mine if e.refund_id}
    changed: Dict[str, LedgerEntry] = {}

    def claim(entry: LedgerEntry, declined_too: bool = False) -> Optional[str]:
        refund = next(
            (
                refund
                for refund in order.refunds
                if refund.refund_id not in entry.refunds_before
                and refund.refund_id not in claimed
                and refund.amount in (None, _minor(entry))
                and (declined_too or refund.status not in NOT_REFUNDED)
            ),
            None,
        )
        if refund is None:
            return None
        claimed.add(refund.refund_id)
        return refund.refund_id

    # Bound only while MultiSafepay's count shows a refund counted twice (listed, and unlisted
    # in the ledger): else the listed one is another refund, made elsewhere.
    missing = unaccounted(mine, order)
    for entry in mine:
        if entry.state is EntryState.REFUNDED and not entry.refund_id and not entry.external:
            # Declined since, it is still this refund: bound, its decline is then seen.
            refund_id = claim(entry, declined_too=True) if missing < 0 else None
            if refund_id is not None:
                missing += _minor(entry)  # now counted as listed, no longer as unlisted
                # The reference Saleor holds stays (rows settled before `recorded_as` existed
                # were recorded under the order id).
                changed[entry.entry_id] = replace(
                    entry, refund_id=refund_id, recorded_as=entry.reference, updated_at=now
                )
    for entry in mine:
        if entry.is_open:
            refund_id = claim(entry)
            if refund_id is not None:
                changed[entry.entry_id] = with_state(entry, EntryState.REFUNDED, refund_id)
    current = [changed.get(e.entry_id, e) for e in mine]
    still_open = [e for e in current if e.is_open]
    if still_open:
        for entry in _by_amount_refunded(current, still_open, order, now, settle_after):
            changed[entry.entry_id] = entry
    return [changed[e.entry_id] for e in mine if e.entry_id in changed]


def unaccounted(entries: Iterable[LedgerEntry], order: Order) -> int:
    """What MultiSafepay counts as refunded (minor units) that neither its list of refunds nor
    the ledger's REFUNDED entries account for; negative when it counts less."""
    listed = {refund.refund_id for refund in order.refunds}
    shown = sum(refund.amount or 0 for refund in order.refunds if refund.status not in NOT_REFUNDED)
    known = sum(
        _minor(e)
        for e in entries
        if e.state is EntryState.REFUNDED
        and e.msp_order_id == order.order_id
        and (not e.refund_id or e.refund_id not in listed)
    )
    return order.amount_refunded - shown - known


def _by_amount_refunded(
    entries: Sequence[LedgerEntry],
    still_open: Sequence[LedgerEntry],
    order: Order,
    now: float,
    settle_after: float,
) -> List[LedgerEntry]:
    """Open entries no listed refund claims, decided by `amount_refunded` alone."""
    missing = unaccounted(entries, order)
    landed: Tuple[LedgerEntry, ...] = ()
    undecided = ""
    if missing < 0:
        # MultiSafepay counts less than it lists and the ledger knows: a refund was declined
        # or voided without being listed, and may hide this one.
        undecided = (
            f"MultiSafepay counts {shown_minor(-missing, order.currency)} less refunded than its "
            "list of refunds and the ledger account for (a refund declined or voided without being "
            "listed?), so whether this refund is among them cannot be told from the order."
        )
        fits = list(still_open)
    else:
        # An entry can have landed only if MultiSafepay's count grew by at least its amount
        # since its POST, and if what is unaccounted is at least as much; of those, the ones
        # that come to exactly what is unaccounted did, if no other choice of entries
        # differing in amount or items also does.
        fits = [
            e for e in still_open if _minor(e) <= missing and _minor(e) <= _growth_since(e, order)
        ][:_MOST_OPEN_COMBINED]
        choices = [
            chosen
            for size in range(1, len(fits) + 1)
            for chosen in combinations(fits, size)
            if sum(_minor(e) for e in chosen) == missing
        ]
        if len({_what(chosen) for chosen in choices}) == 1:
            landed = choices[0]
        elif fits:
            undecided = (
                f"MultiSafepay counts {shown_minor(missing, order.currency)} refunded that neither "
                "its list of refunds nor the ledger accounts for, and whether this refund is part "
                "of it cannot be told from the order."
            )
    decided: List[LedgerEntry] = []
    for entry in still_open:
        if entry in landed:
            decided.append(with_state(entry, EntryState.REFUNDED))
        elif undecided and entry in fits:
            if entry.state is EntryState.PENDING or entry.error != undecided:
                decided.append(with_state(entry, EntryState.UNKNOWN, error=undecided))
        elif now - entry.created_at >= settle_after:
            decided.append(
                with_state(
                    entry,
                    EntryState.FAILED,
                    error="MultiSafepay shows no such refund: it was not made.",
                )
            )
        elif entry.state is EntryState.PENDING:
            decided.append(with_state(entry, EntryState.UNKNOWN, error=entry.error))
    return decided


def _growth_since(entry: LedgerEntry, order: Order) -> int:
    """How much MultiSafepay's count grew since the entry's POST (all of it, for entries
    written before the count was kept). A refund counted then and declined or voided since
    left the count: it would hide this one's growth, so it is left out of the count before."""
    if entry.refunded_before is None:
        return order.amount_refunded
    undone = sum(
        refund.amount or 0
        for refund in order.refunds
        if refund.refund_id in entry.refunds_before and refund.status in NOT_REFUNDED
    )
    return order.amount_refunded - (entry.refunded_before - undone)


def _what(chosen: Sequence[LedgerEntry]) -> Tuple[Tuple[int, Tuple[Tuple[str, int], ...]], ...]:
    """What a choice of entries refunded, whichever entries they are: amounts and items."""
    return tuple(sorted((_minor(e), tuple(sorted(e.lines.items()))) for e in chosen))


def decide_by_hand(
    entries: Sequence[LedgerEntry], entry_id: str, landed: bool, refund_id: Optional[str] = None
) -> LedgerEntry:
    """An open entry decided by staff who checked MultiSafepay's dashboard: the way out when
    the order cannot tell. ValueError when there is no such open entry."""
    entry = next((e for e in entries if e.entry_id == entry_id), None)
    if entry is None:
        raise ValueError(f"No ledger entry {entry_id} for this payment.")
    if not entry.is_open:
        raise ValueError(
            f"Ledger entry {entry_id} is {entry.state.value} already: only an open one "
            "(pending or unknown) is decided by hand."
        )
    if refund_id and any(e.refund_id == refund_id for e in entries):
        raise ValueError(f"Refund {refund_id} belongs to another ledger entry already.")
    if landed:
        return with_state(
            entry, EntryState.REFUNDED, refund_id or None, error="Marked refunded by staff."
        )
    return with_state(entry, EntryState.FAILED, error="Marked not refunded by staff.")


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
