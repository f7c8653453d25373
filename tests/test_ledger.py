"""Settling the ledger: what MultiSafepay shows decides what became of each open entry."""

from __future__ import annotations

from decimal import Decimal

import pytest

from saleor_multisafepay_refund.multisafepay.order import parse_order
from saleor_multisafepay_refund.multisafepay.refund_body import (
    KnownRefunds,
    RefundRequest,
    build_refund,
)
from saleor_multisafepay_refund.refunds.ledger import (
    EntryState,
    LedgerEntry,
    MemoryLedger,
    decide_by_hand,
    external_refunds,
    fingerprint,
    pending_entry,
    settle,
)

from .factories import seed_order

NOW = 1_000_000.0


def refund(refund_id, amount, status="completed"):
    return {"type": "refund", "transaction_id": refund_id, "amount": amount, "status": status}


def order_with(*refunds, order_id="o1"):
    """The order listing `refunds`, counting them in amount_refunded as MultiSafepay does."""
    counted = sum(r["amount"] or 0 for r in refunds if r["status"] not in ("declined", "void"))
    return parse_order(
        seed_order(
            order_id=order_id,
            related_transactions=list(refunds),
            amount_refunded=min(counted, 31500),
        )
    )


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
    plan = build_refund(
        order,
        RefundRequest(
            items={"111111": 2}, shipping=True, known_refunds=KnownRefunds({}, amount=100)
        ),
    )

    written = pending_entry("p1", plan, order)

    assert written.state is EntryState.PENDING
    assert (written.refunds_before, written.refunded_before) == (("1",), 100)
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


def test_an_entry_msp_counts_but_does_not_list_landed_and_gets_a_reference_of_its_own():
    # MultiSafepay refunded 180.00 and lists no refund: nothing else accounts for it.
    order = parse_order(seed_order(order_id="o1", related_transactions=[], amount_refunded=18000))
    sent = entry(age=120)

    [changed] = settle([sent], order, now=NOW, settle_after=60)

    assert (changed.state, changed.refund_id) == (EntryState.REFUNDED, None)
    assert changed.reference == f"unlisted-{sent.entry_id}"
    assert settle([changed], order, now=NOW, settle_after=60) == []


def test_when_msp_lists_it_later_the_unlisted_refund_takes_that_id_and_keeps_its_reference():
    landed = settle(
        [entry(age=120)],
        parse_order(seed_order(order_id="o1", related_transactions=[], amount_refunded=18000)),
        now=NOW,
    )
    later = parse_order(
        seed_order(
            order_id="o1",
            related_transactions=[refund(7, 18000), refund(8, 3500)],
            amount_refunded=21500,
        )
    )

    [bound] = settle(landed, later, now=NOW)

    assert (bound.state, bound.refund_id) == (EntryState.REFUNDED, "7")
    assert bound.reference == landed[0].reference
    assert external_refunds([bound], later, {bound.reference}) == ["8"]


def test_a_listed_refund_that_msps_count_shows_is_another_is_not_taken_for_the_unlisted_one():
    landed = settle(
        [entry(age=120, amount="90.00")],
        parse_order(seed_order(order_id="o1", related_transactions=[], amount_refunded=9000)),
        now=NOW,
    )
    # 180.00 refunded: the unlisted 90.00, and another 90.00 made in the dashboard.
    later = parse_order(
        seed_order(order_id="o1", related_transactions=[refund(8, 9000)], amount_refunded=18000)
    )

    assert settle(landed, later, now=NOW) == []
    assert external_refunds(landed, later, {landed[0].reference}) == ["8"]


def test_an_open_entry_is_failed_when_the_ledger_accounts_for_every_cent_msp_counts():
    # 10.00 landed with its id known (answered) but MultiSafepay lists none; 7.00 was lost.
    known = entry(state=EntryState.REFUNDED, amount="10.00", refund_id="5", age=200)
    lost = entry(amount="7.00", age=120)
    order = parse_order(seed_order(order_id="o1", related_transactions=None, amount_refunded=1000))

    [changed] = settle([known, lost], order, now=NOW, settle_after=60)

    assert (changed.entry_id, changed.state) == (lost.entry_id, EntryState.FAILED)


def test_which_of_two_open_refunds_landed_unlisted_cannot_be_told_and_stays_unknown():
    order = parse_order(seed_order(order_id="o1", related_transactions=None, amount_refunded=18000))
    first = entry(age=120, lines={"111111": 2})
    second = entry(age=100, lines={"666666": 1, "msp-shipping": 1, "x": 1})

    changed = settle([first, second], order, now=NOW, settle_after=60)

    assert [c.state for c in changed] == [EntryState.UNKNOWN, EntryState.UNKNOWN]
    assert "EUR 180.00" in changed[0].error and "cannot be told" in changed[0].error
    assert settle(changed, order, now=NOW, settle_after=60) == []


def test_two_open_refunds_alike_are_told_apart_in_order():
    order = parse_order(seed_order(order_id="o1", related_transactions=None, amount_refunded=18000))
    first, second = entry(age=120, entry_id="a"), entry(age=100, entry_id="b")

    changed = settle([first, second], order, now=NOW, settle_after=60)

    assert [(c.entry_id, c.state) for c in changed] == [
        ("a", EntryState.REFUNDED),
        ("b", EntryState.FAILED),
    ]


def test_staff_decide_an_open_entry_by_hand_and_nothing_else():
    lost = entry(amount="7.00", age=120, state=EntryState.UNKNOWN)
    done = entry(state=EntryState.REFUNDED, refund_id="5", age=200)

    failed = decide_by_hand([lost, done], lost.entry_id, landed=False)
    refunded = decide_by_hand([lost, done], lost.entry_id, landed=True, refund_id="9")

    assert failed.state is EntryState.FAILED and "by staff" in failed.error
    assert (refunded.state, refunded.refund_id, refunded.reference) == (
        EntryState.REFUNDED,
        "9",
        "9",
    )
    with pytest.raises(ValueError, match="refunded already"):
        decide_by_hand([lost, done], done.entry_id, landed=False)
    with pytest.raises(ValueError, match="another ledger entry"):
        decide_by_hand([lost, done], lost.entry_id, landed=True, refund_id="5")
    with pytest.raises(ValueError, match="No ledger entry"):
        decide_by_hand([lost, done], "nope", landed=False)


def test_a_refund_made_elsewhere_without_its_amount_is_not_recorded_as_zero():
    order = order_with(refund(8, None), refund(9, 3500))

    assert external_refunds([], order, set()) == ["9"]


def test_a_refund_declined_since_the_post_does_not_hide_that_the_post_landed():
    # 100.00 (refund 5) counted before the POST of 90.00; the 90.00 landed unlisted, then
    # refund 5 was declined: the count grew by -10.00 since the POST, yet 90.00 is unaccounted.
    sent = entry(amount="90.00", age=120, before=("5",), refunded_before=10000)
    order = parse_order(
        seed_order(
            order_id="o1",
            related_transactions=[refund(5, 10000, "declined")],
            amount_refunded=9000,
        )
    )

    [changed] = settle([sent], order, now=NOW, settle_after=60)

    assert (changed.state, changed.refund_id) == (EntryState.REFUNDED, None)
