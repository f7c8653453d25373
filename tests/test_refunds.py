"""The refund flow against the emulator: what was asked is what MultiSafepay did, or we say so."""

from __future__ import annotations

from decimal import Decimal

import pytest

from saleor_multisafepay_refund.emulator import Emulator, Fault, FaultKind
from saleor_multisafepay_refund.errors import ConnectionDropped
from saleor_multisafepay_refund.multisafepay import wire
from saleor_multisafepay_refund.multisafepay.client import MultiSafepayClient
from saleor_multisafepay_refund.multisafepay.order import parse_order
from saleor_multisafepay_refund.multisafepay.refund_body import RefundRequest
from saleor_multisafepay_refund.refunds.send import RefundStatus, refund_order, settle_unknown

from .factories import item, order_data, seed_order
from .test_cart import SEED_BODY

KEY = "flow-key-0123456789abcdef"
CANDLES = RefundRequest(items={"111111": 2})


@pytest.fixture
def msp():
    with Emulator(api_key=KEY, duplicate_window_seconds=0) as emulator:
        yield emulator


def client_for(emulator: Emulator, **options) -> MultiSafepayClient:
    options.setdefault("retry_pause", 0.01)
    return MultiSafepayClient(KEY, base_url=emulator.base_url, **options)


def test_given_the_seed_order_when_refunding_then_msp_receives_the_seed_body(msp):
    msp.add_order(seed_order(order_id="o1"))

    outcome = refund_order(client_for(msp), "o1", CANDLES)

    assert outcome.status is RefundStatus.REFUNDED
    assert (outcome.amount, outcome.currency) == (Decimal("180.00"), "EUR")
    [post] = msp.refund_posts("o1")
    assert wire.dumps(post.json) == wire.dumps(wire.loads(SEED_BODY))
    [refund] = msp.order("o1")["related_transactions"]
    assert str(refund["transaction_id"]) == outcome.refund_id
    assert msp.order("o1")["amount_refunded"] == 18000


@pytest.mark.parametrize("cart_shows_refunds", [True, False])
@pytest.mark.parametrize("gateway", ["PAYAFTER", "KLARNA", "AFTERPAY", "IN3"])
def test_successive_partial_refunds_are_accepted_and_add_up(gateway, cart_shows_refunds):
    with Emulator(
        api_key=KEY, cart_shows_refunds=cart_shows_refunds, duplicate_window_seconds=0
    ) as msp:
        msp.add_order(seed_order(gateway, order_id="o1"))
        client = client_for(msp)

        first = refund_order(client, "o1", RefundRequest(items={"111111": 1}))
        second = refund_order(client, "o1", RefundRequest(items={"111111": 1}, shipping=True))
        last = refund_order(client, "o1", RefundRequest(full=True))

        assert first.status is RefundStatus.REFUNDED
        if cart_shows_refunds:
            # The cart says what is left each time: exactly that is refunded.
            assert [second.status, last.status] == [RefundStatus.REFUNDED] * 2
            assert last.amount == Decimal("125.00")
            assert msp.order("o1")["amount_refunded"] == 31500
        else:
            # Without refund lines the cart cannot say what is left, and the command line
            # keeps no ledger: refused, nothing sent.
            assert [second.status, last.status] == [RefundStatus.REFUSED] * 2
            assert "does not show which items" in last.error
            assert len(msp.refund_posts("o1")) == 1


def test_a_refusal_sends_nothing(msp):
    msp.add_order(seed_order(order_id="o1"))

    outcome = refund_order(client_for(msp), "o1", RefundRequest(items={"111111": 4}))

    assert outcome.status is RefundStatus.REFUSED
    assert "3 bought, 0 already refunded, 3 left" in outcome.error
    assert msp.refund_posts() == []


def test_a_dry_run_builds_the_body_and_sends_nothing(msp):
    msp.add_order(seed_order(order_id="o1"))

    outcome = refund_order(client_for(msp), "o1", CANDLES, dry_run=True)

    assert outcome.status is RefundStatus.DRY_RUN
    assert wire.dumps(outcome.request) == wire.dumps(wire.loads(SEED_BODY))
    assert msp.refund_posts() == []


def test_an_unknown_order_fails_before_anything_is_sent(msp):
    outcome = refund_order(client_for(msp), "missing", CANDLES)

    assert outcome.status is RefundStatus.FAILED
    assert "does not know this order" in outcome.error
    assert msp.refund_posts() == []


def test_an_unreadable_order_is_refused(msp):
    broken = seed_order(order_id="o1")
    broken["shopping_cart"]["items"][0]["quantity"] = "three"
    msp.add_order(broken)

    outcome = refund_order(client_for(msp), "o1", CANDLES)

    assert outcome.status is RefundStatus.REFUSED
    assert "quantity is not a number" in outcome.error
    assert msp.refund_posts() == []


def test_when_msp_refuses_then_the_outcome_is_failed_with_its_reason(msp):
    with Emulator(api_key=KEY, duplicate_window_seconds=300) as strict:
        strict.add_order(seed_order(order_id="o1"))
        client = client_for(strict)
        refund_order(client, "o1", RefundRequest(items={"111111": 1}))

        outcome = refund_order(client, "o1", RefundRequest(items={"111111": 1}))

    assert outcome.status is RefundStatus.FAILED
    assert "error 1034" in outcome.error and "5 minutes" in outcome.error


# A POST whose answer is lost: the flow reads the order back once and says what happened.
@pytest.mark.parametrize(
    ("fault", "status", "landed", "words"),
    [
        (Fault(FaultKind.DROP_BEFORE), RefundStatus.UNKNOWN, False, "cannot be told"),
        # A 5xx may come from a proxy that gave up while MultiSafepay goes on: unknown.
        (Fault(FaultKind.UNAVAILABLE), RefundStatus.UNKNOWN, False, "cannot be told"),
        (Fault(FaultKind.UNAVAILABLE, apply=True), RefundStatus.REFUNDED, True, None),
        (Fault(FaultKind.DROP_AFTER), RefundStatus.REFUNDED, True, None),
        (Fault(FaultKind.SERVER_ERROR), RefundStatus.UNKNOWN, False, "cannot be told"),
        (Fault(FaultKind.SERVER_ERROR, apply=True), RefundStatus.REFUNDED, True, None),
        (Fault(FaultKind.MALFORMED_JSON), RefundStatus.FAILED, False, "safe to try again"),
        (Fault(FaultKind.MALFORMED_JSON, apply=True), RefundStatus.REFUNDED, True, None),
        (Fault(FaultKind.SLOW, delay=0.6), RefundStatus.REFUNDED, True, None),
        (
            Fault(FaultKind.SLOW, delay=0.6, apply=False),
            RefundStatus.UNKNOWN,
            False,
            "cannot be told",
        ),
    ],
)
def test_a_lost_answer_is_settled_by_reading_the_order_back(msp, fault, status, landed, words):
    msp.add_order(seed_order(order_id="o1"))
    msp.inject(fault)

    outcome = refund_order(client_for(msp, read_timeout=0.3), "o1", CANDLES)

    assert outcome.status is status
    assert len(msp.refund_posts("o1")) == 1  # never retried
    refunds = msp.order("o1")["related_transactions"]
    assert len(refunds) == (1 if landed else 0)
    if landed:
        assert outcome.refund_id == str(refunds[0]["transaction_id"])
        assert msp.order("o1")["amount_refunded"] == 18000
    if words:
        assert words in outcome.error
    assert KEY not in (outcome.error or "")


def test_when_the_read_back_fails_too_the_outcome_is_unknown(msp):
    msp.add_order(seed_order(order_id="o1"))
    client = client_for(msp)
    planned = refund_order(client, "o1", CANDLES, dry_run=True)
    before = parse_order(msp.order("o1"))
    msp.inject(Fault(FaultKind.SERVER_ERROR, method="GET"))

    outcome = settle_unknown(client, before, planned, ConnectionDropped("The connection broke."))

    assert outcome.status is RefundStatus.UNKNOWN
    assert "Reading the order back failed too" in outcome.error


def test_an_amount_refund_on_a_card_order(msp):
    msp.add_order(order_data([], gateway="VISA", amount=5000, order_id="card"))

    outcome = refund_order(client_for(msp), "card", RefundRequest(amount=Decimal("12.50")))

    assert outcome.status is RefundStatus.REFUNDED
    assert msp.refund_posts()[0].json == {"currency": "EUR", "amount": 1250}
    assert msp.order("card")["amount_refunded"] == 1250


def test_a_taxed_cart_refund_total_is_what_msp_refunds(msp):
    cart = [
        item("A", "19.12", "3", tax_table_selector="BTW21"),
        item("msp-shipping", "4.13", "1", tax_table_selector="BTW21"),
    ]
    msp.add_order(order_data(cart, amount=7441, tax_rates={"BTW21": "0.21"}, order_id="t"))

    outcome = refund_order(client_for(msp), "t", RefundRequest(full=True))

    assert outcome.status is RefundStatus.REFUNDED
    assert outcome.amount == Decimal("74.41")  # 69.41 + 5.00 (4.9973)
    assert msp.order("t")["amount_refunded"] == 7441
