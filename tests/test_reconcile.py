"""Saleor, the ledger and MultiSafepay side by side: every difference is flagged."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import pytest

from saleor_multisafepay_refund.multisafepay import wire
from saleor_multisafepay_refund.multisafepay.order import parse_order
from saleor_multisafepay_refund.refunds.ledger import EntryState
from saleor_multisafepay_refund.refunds.reconcile import parse_since, reconcile

from .factories import seed_order
from .test_ledger import entry, refund


def order_with(*refunds):
    refunded = sum(r["amount"] for r in refunds)
    return parse_order(
        seed_order(order_id="o1", related_transactions=list(refunds), amount_refunded=refunded)
    )


def test_when_all_three_agree_nothing_is_flagged():
    landed = entry(state=EntryState.REFUNDED, refund_id="7")

    result = reconcile("p1", {"7": Decimal("180.00")}, [landed], order_with(refund(7, 18000)))

    assert result.agrees
    assert result.lines()[-1] == "  agrees"
    assert result.rows == (("7", "EUR 180.00", "refunded EUR 180.00", "completed EUR 180.00"),)


def test_every_kind_of_difference_is_flagged():
    entries = [
        entry(state=EntryState.REFUNDED, refund_id="7", age=5),  # landed, Saleor missed it
        entry(state=EntryState.UNKNOWN, age=4),  # still open
    ]
    order = order_with(refund(7, 18000), refund(8, 3500))  # 8: made in MSP's dashboard
    saleor = {"9": Decimal("10.00")}  # Saleor records a refund MSP does not show

    result = reconcile("p1", saleor, entries, order)

    assert not result.agrees
    assert result.differences == (
        "refund 7 (landed) is not recorded in Saleor",
        "refund 8 (made outside Saleor) is not recorded in Saleor",
        "refund 9 is not at MultiSafepay",
        "a refund of EUR 180.00 (2 x 111111) has an open outcome: the next refund of this "
        "payment settles it, or decide it by hand (ledger entry e-4-180.00: --mark-refunded or "
        "--mark-failed, after checking MultiSafepay's dashboard)",
        "Saleor recorded EUR 10.00 refunded, MultiSafepay EUR 215.00",
    )
    assert sum(line.startswith("  DIFFERENCE") for line in result.lines()) == 5


def test_a_declined_refund_agrees_once_saleor_reversed_it_and_is_flagged_while_saleor_counts_it():
    declined = {**refund(7, 18000), "status": "declined"}
    order = parse_order(seed_order(order_id="o1", related_transactions=[declined]))
    ledger = [entry(state=EntryState.DECLINED, refund_id="7")]

    reversed_in_saleor = reconcile("p1", {}, ledger, order)
    still_counted = reconcile("p1", {"7": Decimal("180.00")}, ledger, order)

    assert reversed_in_saleor.agrees
    assert still_counted.differences == (
        "refund 7 was declined at MultiSafepay but Saleor counts it",
        "Saleor recorded EUR 180.00 refunded, MultiSafepay EUR 0.00",
    )


def test_a_refund_msp_counts_without_listing_agrees_under_its_reference_listed_or_not():
    unlisted = entry(state=EntryState.REFUNDED, recorded_as="unlisted-e1", amount="10.00")
    listed = entry(
        state=EntryState.REFUNDED, recorded_as="unlisted-e1", refund_id="7", amount="10.00"
    )
    counted_only = parse_order(
        seed_order(order_id="o1", related_transactions=None, amount_refunded=1000)
    )
    saleor = {"unlisted-e1": Decimal("10.00")}

    before = reconcile("p1", saleor, [unlisted], counted_only)
    after = reconcile("p1", saleor, [listed], order_with(refund(7, 1000)))
    twice = reconcile(
        "p1", {**saleor, "7": Decimal("10.00")}, [listed], order_with(refund(7, 1000))
    )

    assert before.agrees and after.agrees, (before.differences, after.differences)
    assert before.rows == (
        ("unlisted-e1", "EUR 10.00", "refunded EUR 10.00", "counted, not listed"),
    )
    assert after.rows == (("7", "EUR 10.00", "refunded EUR 10.00", "completed EUR 10.00"),)
    assert twice.differences == ("Saleor recorded EUR 20.00 refunded, MultiSafepay EUR 10.00",)


def test_a_refund_the_ledger_knows_by_id_that_msp_counts_without_listing_agrees():
    answered = entry(state=EntryState.REFUNDED, refund_id="7", amount="10.00")
    counted = parse_order(
        seed_order(order_id="o1", related_transactions=None, amount_refunded=1000)
    )

    result = reconcile("p1", {"7": Decimal("10.00")}, [answered], counted)
    short = reconcile("p1", {"7": Decimal("10.00")}, [answered], order_with())

    assert result.agrees, result.differences
    assert result.rows == (("7", "EUR 10.00", "refunded EUR 10.00", "counted, not listed"),)
    assert short.differences == ("Saleor recorded EUR 10.00 refunded, MultiSafepay EUR 0.00",)


def test_as_json_gives_every_amount_as_a_string():
    landed = entry(state=EntryState.REFUNDED, refund_id="7")
    result = reconcile("p1", {"9": Decimal("10.00")}, [landed], order_with(refund(7, 18000)))

    document = json.loads(wire.dumps(result.as_json()))

    assert document == {
        "payment_id": "p1",
        "msp_order_id": "o1",
        "currency": "EUR",
        "saleor_refunded": "10.00",
        "msp_refunded": "180.00",
        "agrees": False,
        "refunds": [
            {
                "refund_id": "7",
                "saleor_amount": None,
                "ledger_state": "refunded",
                "ledger_amount": "180.00",
                "multisafepay_status": "completed",
                "multisafepay_amount": "180.00",
            },
            {
                "refund_id": "9",
                "saleor_amount": "10.00",
                "ledger_state": None,
                "ledger_amount": None,
                "multisafepay_status": None,
                "multisafepay_amount": None,
            },
        ],
        "differences": list(result.differences),
    }


@pytest.mark.parametrize(
    ("text", "since"),
    [
        ("2026-01-31", date(2026, 1, 31)),
        ("30d", date(2026, 5, 2)),
        ("0d", date(2026, 6, 1)),
        (" all ", None),
        ("ALL", None),
    ],
)
def test_since_is_a_date_a_number_of_days_or_all(text, since):
    assert parse_since(text, today=date(2026, 6, 1)) == since


@pytest.mark.parametrize("text", ["", "30", "-3d", "2026-02-30", "2026-1-31", "1w", "yesterday"])
def test_since_refuses_anything_else_without_repeating_it(text):
    with pytest.raises(ValueError) as refused:
        parse_since(text, today=date(2026, 6, 1))

    assert str(refused.value) == (
        "--since needs a date (YYYY-MM-DD), a number of days (30d) or all."
    )
