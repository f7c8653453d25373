"""Settling the ledger: what MultiSafepay shows decides what became of each open entry."""

from __future__ import annotations

from decimal import Decimal

import pytest

from saleor_multisafepay_refund.cart import RefundRequest, build_refund
from saleor_multisafepay_refund.ledger import (
    EntryState,
    LedgerEntry,
    MemoryLedger,
    external_refunds,
    fingerprint,
    pending_entry,
    settle,
)
from saleor_multisafepay_refund.order import parse_order

from .factories import seed_order

NOW = 1_000_000.0


def refund(refund_id, amount, status="completed"):
    return {"type": "refund", "transaction_id": refund_id, "amount": amount, "status": status}


def order_with(*refunds, order_id="o1"):
    return parse_order(seed_order(order_id=order_id, related_transactions=list(refunds)))


def entry(state=EntryState.PENDING, amount="180.00", age=1.0, before=(), **fields):
    values = dict(
        entry_id=f"e-{age}-{amount}",
        payment_id="p1",
        msp_order_id="o1",
        lines={"111111": 2},
        amount=Decimal(amount),
        currency="EUR",
        body_fingerprint="f",
        state=state,
        created_at=NOW - age,
        refunds_before=tuple(before),
    )
    values.update(fields)
    return LedgerEntry(**values)


@pytest.mark.parametrize(
    ("open_entry", "refunds", "state", "refund_id"),
    [
        (entry(), [refund(7, 18000)], EntryState.REFUNDED, "7"),
        (entry(state=EntryState.UNKNOWN), [refund(7, 18000)], EntryState.REFUNDED, "7"),
        (entry(), [refund(7, None)], EntryState.REFUNDED, "7"),
        (entry(before=("7",)), [refund(7, 18000)], EntryState.UNKNOWN, None),
        (entry(), [refund(7, 3500)], EntryState.UNKNOWN, None),
        (entry(), [refund(7, 18000, status="declined")], EntryState.UNKNOWN, None),
        (entry(age=120), [], EntryState.FAILED, None),
        (entry(age=120, before=("7",)), [refund(7, 18000)], EntryState.FAILED, None),
    ],
)
def test_an_open_entry_is_decided_by_msps_refunds(open_entry, refunds, state, refund_id):
    [changed] = settle([open_entry], order_with(*refunds), now=NOW, settle_after=60)

    assert (changed.state, changed.refund_id) == (state, refund_id)


def test_an_unknown_entry_that_is_still_young_is_left_as_it_is():
    assert settle([entry(state=EntryState.UNKNOWN)], order_with(), now=NOW, settle_after=60) == []


def test_two_entries_of_one_amount_claim_one_refund_each_in_order():
    first, second = entry(age=10), entry(age=5)
    claimed = entry(state=EntryState.REFUNDED, refund_id="5", age=20)

    changed = settle(
        [second, claimed, first],
        order_with(refund(5, 18000), refund(8, 18000), refund(9, 18000)),
        now=NOW,
    )

    assert [(e.entry_id, e.refund_id) for e in changed] == [
        (first.entry_id, "8"),
        (second.entry_id, "9"),
    ]


def test_entries_of_other_orders_and_decided_entries_are_not_touched():
    entries = [entry(msp_order_id="other"), entry(state=EntryState.FAILED, age=3)]

    assert settle(entries, order_with(refund(7, 18000)), now=NOW) == []


def test_refunds_neither_the_ledger_nor_saleor_knows_are_external():
    entries = [entry(state=EntryState.REFUNDED, refund_id="1")]
    order = order_with(refund(1, 100), refund(2, 200), refund(3, 300), refund(4, 5, "void"))

    assert external_refunds(entries, order, saleor_refund_ids={"2"}) == ["3"]


def test_a_pending_entry_remembers_the_refunds_before_it_and_the_body():
    order = order_with(refund(1, 100))
    plan = build_refund(order, RefundRequest(items={"111111": 2}, shipping=True))

    written = pending_entry("p1", plan, order)

    assert written.state is EntryState.PENDING
    assert written.refunds_before == ("1",)
    assert dict(written.lines) == {"111111": 2, "msp-shipping": 1}
    assert (written.amount, written.currency) == (Decimal("190.00"), "EUR")
    assert written.body_fingerprint == fingerprint(plan.body) != fingerprint({})
    assert (written.msp_order_id, written.amount) == (plan.order_id, plan.amount)


def test_the_memory_ledger_keeps_the_latest_version_of_each_entry_in_order():
    ledger = MemoryLedger()
    first, second = entry(age=2), entry(age=1)
    ledger.save(second)
    ledger.save(first)
    ledger.save(entry(age=2, state=EntryState.FAILED))

    assert [(e.entry_id, e.state) for e in ledger.entries("p1")] == [
        (first.entry_id, EntryState.FAILED),
        (second.entry_id, EntryState.PENDING),
    ]
    assert ledger.entries("p2") == []


def test_an_old_entry_is_not_called_failed_while_msp_lists_fewer_refunds_than_it_made():
    # MultiSafepay refunded 180.00 but its answer lists no refund: the missing one may be ours
    order = parse_order(seed_order(order_id="o1", related_transactions=[], amount_refunded=18000))

    changed = settle([entry(age=120)], order, now=NOW, settle_after=60)

    assert [c.state for c in changed] == [EntryState.UNKNOWN]  # never FAILED: no retry yet
    assert settle(changed, order, now=NOW, settle_after=60) == []


def test_a_refund_made_elsewhere_without_its_amount_is_not_recorded_as_zero():
    order = order_with(refund(8, None), refund(9, 3500))

    assert external_refunds([], order, set()) == ["9"]
