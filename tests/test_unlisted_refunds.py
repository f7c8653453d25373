"""Refunds MultiSafepay counts in `amount_refunded` but lists late or never
(`related_transactions` null, as in the recorded card order): through the plugin's flows
(refunds from Saleor and MultiSafepay's notifications, with a fake Saleor) and the command
line, every refund is recorded in Saleor once, none is matched twice, none is lost, and what
cannot be told is said with a way out instead of a loop.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import replace
from decimal import Decimal
from typing import Iterator, List
from urllib.parse import parse_qsl, urlsplit

import pytest

from saleor_multisafepay_refund.cli import main
from saleor_multisafepay_refund.config import GatewayConfig
from saleor_multisafepay_refund.emulator import Emulator, Fault, FaultKind
from saleor_multisafepay_refund.multisafepay.money import to_minor_units
from saleor_multisafepay_refund.payments.notifications import handle_notification
from saleor_multisafepay_refund.refunds.ledger import EntryState, LedgerEntry, decide_by_hand

from .factories import item, order_data
from .fake_saleor import FakeSaleor, ShopPayment
from .saleor_shapes import OrderLine, OrderLineInfo, RefundData, TransactionData
from .test_payment_cycle import CANDLES, KEY, all_ok, paid
from .test_webhook import saleor_for

SETTLE_AFTER = 0.3
CANDLE = RefundData(order_lines_to_refund=[OrderLineInfo(CANDLES, 1)])


@pytest.fixture
def emu() -> Iterator[Emulator]:
    """MultiSafepay counting refunds without listing them (until `list_refunds`)."""
    with Emulator(KEY, lists_refunds=False, duplicate_window_seconds=0) as emulator:
        yield emulator


@pytest.fixture
def saleor(emu: Emulator) -> FakeSaleor:
    config = GatewayConfig(
        api_key=KEY, api_url=emu.base_url, read_timeout=0.3, settle_after_seconds=SETTLE_AFTER
    )
    return FakeSaleor(config)


def captured(saleor: FakeSaleor, emu: Emulator, gateway: str = "VISA") -> ShopPayment:
    """A payment paid and in Saleor: a card is captured, a cart method shipped."""
    payment = paid(saleor, emu, gateway)
    assert saleor.confirm(payment).is_success
    if gateway not in ("VISA", "IDEAL"):
        assert saleor.capture(payment).is_success
    all_ok(saleor.notify_new(emu))
    return payment


def same_story(emu: Emulator, payment: ShopPayment) -> None:
    """Saleor recorded exactly what MultiSafepay refunded, each refund under one token."""
    tokens = [t.token for t in payment.transactions if t.kind == "refund" and t.is_success]
    assert len(tokens) == len(set(tokens)), tokens
    refunded = emu.order(payment.msp_order_id)["amount_refunded"]
    assert to_minor_units(payment.refunded, payment.currency) == refunded


def refund_posts(emu: Emulator, payment: ShopPayment) -> int:
    return len(emu.refund_posts(payment.msp_order_id))


# -- 1. a refund counted, not listed, is one refund ------------------------------------------


@pytest.mark.parametrize(
    ("gateway", "amount", "refund_data"),
    [("VISA", Decimal("10.00"), None), ("PAYAFTER", Decimal("90.00"), CANDLE)],
    ids=["card", "pay-after-delivery"],
)
def test_after_a_lost_answer_msp_counted_the_next_refund_of_the_same_amount_is_sent(
    saleor: FakeSaleor, emu: Emulator, gateway: str, amount: Decimal, refund_data
) -> None:
    payment = captured(saleor, emu, gateway)
    # MultiSafepay applies the refund; the connection drops before its answer.
    emu.inject(Fault(FaultKind.DROP_AFTER))

    lost = saleor.refund(payment, amount, refund_data)
    genuine = saleor.refund(payment, amount, refund_data)

    # The first is settled by amount_refunded alone and recorded under a reference of the
    # ledger's own; the second is a new refund, sent: two POSTs, two refunds in Saleor.
    assert lost.is_success and lost.transaction_id.startswith("unlisted-"), lost.error
    assert "not listed yet" in lost.note
    assert genuine.is_success and "nothing sent again" not in genuine.note, genuine.error
    assert refund_posts(emu, payment) == 2
    assert emu.order(payment.msp_order_id)["amount_refunded"] == to_minor_units(2 * amount, "EUR")
    assert payment.refunded == 2 * amount
    same_story(emu, payment)


def test_a_refund_counted_unlisted_and_retried_by_staff_is_recorded_once_and_sent_once(
    saleor: FakeSaleor, emu: Emulator
) -> None:
    payment = captured(saleor, emu)
    # The refund lands, its answer and the read-back are both lost: outcome unknown.
    emu.inject(Fault(FaultKind.DROP_AFTER))
    emu.inject(Fault(FaultKind.SERVER_ERROR, method="GET", after=1))
    unknown = saleor.refund(payment, Decimal("10.00"), None)

    retries = [saleor.refund(payment, Decimal("10.00"), None) for _ in range(3)]

    assert not unknown.is_success and "outcome unknown" in unknown.error
    assert "look at the payment's refunds" in unknown.note
    # The retry finds it counted (nothing else accounts for it): recorded, nothing sent.
    assert retries[0].is_success and "nothing sent again" in retries[0].note
    # Bound to that one Saleor record: the next asks are new refunds, sent.
    assert [r.is_success for r in retries] == [True, True, True]
    assert "nothing sent again" not in retries[1].note + retries[2].note
    assert refund_posts(emu, payment) == 3
    assert payment.refunded == Decimal("30.00")
    same_story(emu, payment)


def test_a_refund_listed_a_moment_later_is_not_taken_for_one_saleor_did_not_make(
    saleor: FakeSaleor, emu: Emulator
) -> None:
    payment = captured(saleor, emu)
    emu.inject(Fault(FaultKind.DROP_AFTER))
    assert saleor.refund(payment, Decimal("10.00"), None).is_success
    [listed] = emu.list_refunds(payment.msp_order_id)

    then = saleor.refund(payment, Decimal("5.00"), None)

    assert then.is_success and "did not make" not in then.note, then.note
    assert payment.refunded == Decimal("15.00")
    assert emu.order(payment.msp_order_id)["amount_refunded"] == 1500
    [entry] = [e for e in saleor.ledger.entries(str(payment.payment_id)) if e.amount == 10]
    assert (entry.refund_id, entry.reference) == (str(listed), then_reference(payment))
    same_story(emu, payment)


def then_reference(payment: ShopPayment) -> str:
    """The token Saleor recorded the first (unlisted) refund under."""
    return next(t.token for t in payment.transactions if t.kind == "refund" and t.is_success)


def test_a_notification_after_msp_lists_the_refund_records_nothing_twice(
    saleor: FakeSaleor, emu: Emulator
) -> None:
    payment = captured(saleor, emu)
    emu.inject(Fault(FaultKind.DROP_AFTER))
    assert saleor.refund(payment, Decimal("10.00"), None).is_success
    emu.list_refunds(payment.msp_order_id)

    # The refund's notification, delivered now (and again): the order is read as it is now.
    answers = [saleor.notify(emu.notifications()[-1]) for _ in range(2)]

    all_ok(answers)
    assert [a.actions for a in answers] == [(), ()]
    assert payment.refunded == Decimal("10.00")
    same_story(emu, payment)


def test_a_notification_settles_an_unknown_refund_msp_counts_without_listing_it(
    saleor: FakeSaleor, emu: Emulator
) -> None:
    payment = captured(saleor, emu)
    # The refund lands; its answer and the read-back are lost: outcome unknown.
    emu.inject(Fault(FaultKind.DROP_AFTER))
    emu.inject(Fault(FaultKind.SERVER_ERROR, method="GET", after=1))
    assert not saleor.refund(payment, Decimal("10.00"), None).is_success
    assert emu.order(payment.msp_order_id)["related_transactions"] is None

    # MultiSafepay's notification of it, sent twice.
    answers = [saleor.notify(emu.notifications()[-1]) for _ in range(2)]

    all_ok(answers)
    [entry] = saleor.ledger.entries(str(payment.payment_id))
    assert (entry.state, entry.refund_id) == (EntryState.REFUNDED, None)
    assert answers[0].actions[-1] == f"recorded {entry.reference}"
    assert answers[1].actions == ()
    assert payment.refunded == Decimal("10.00")
    same_story(emu, payment)


def test_a_dashboard_refund_of_the_same_amount_listed_later_is_recorded_as_its_own(
    saleor: FakeSaleor, emu: Emulator
) -> None:
    payment = captured(saleor, emu)
    emu.inject(Fault(FaultKind.DROP_AFTER))
    assert saleor.refund(payment, Decimal("10.00"), None).is_success
    # Someone refunds 10.00 in MultiSafepay's dashboard; only that one is listed.
    emu.set_refund_listing(payment.msp_order_id, True)
    outside = str(emu.dashboard_refund(payment.msp_order_id, 1000))

    answers = saleor.notify_new(emu)

    all_ok(answers)
    assert [f"recorded {outside}" in a.actions for a in answers] == [True, False]
    assert payment.refunded == Decimal("20.00")
    same_story(emu, payment)


# -- 2. an unclear refund never blocks the payment for good ----------------------------------


def test_an_unclear_refund_the_ledger_accounts_against_fails_and_refunds_go_on(
    saleor: FakeSaleor, emu: Emulator
) -> None:
    payment = captured(saleor, emu)
    assert saleor.refund(payment, Decimal("10.00"), None).is_success  # its id is known
    # 7.00: the connection drops before MultiSafepay applied it.
    emu.inject(Fault(FaultKind.DROP_BEFORE))
    unclear = saleor.refund(payment, Decimal("7.00"), None)
    waiting = saleor.refund(payment, Decimal("7.00"), None)

    time.sleep(SETTLE_AFTER + 0.05)
    later = saleor.refund(payment, Decimal("7.00"), None)

    assert not unclear.is_success and "outcome unknown" in unclear.error
    assert not waiting.is_success and "Try again in a minute" in waiting.error
    # amount_refunded (10.00) is what the ledger knows by id: the 7.00 never landed.
    assert later.is_success, later.error
    states = [e.state for e in saleor.ledger.entries(str(payment.payment_id))]
    assert states == [EntryState.REFUNDED, EntryState.FAILED, EntryState.REFUNDED]
    assert refund_posts(emu, payment) == 3  # 10.00, the lost 7.00, the 7.00 sent again
    assert payment.refunded == Decimal("17.00")
    same_story(emu, payment)


def test_what_cannot_be_told_is_said_with_a_way_out_and_staff_decide_it(
    saleor: FakeSaleor, emu: Emulator
) -> None:
    payment = captured(saleor, emu)
    emu.inject(Fault(FaultKind.DROP_BEFORE))
    assert not saleor.refund(payment, Decimal("7.00"), None).is_success
    # Meanwhile 8.00 is refunded in MultiSafepay's dashboard, counted and not listed: the
    # 7.00 may be part of it or not.
    emu.dashboard_refund(payment.msp_order_id, 800)
    time.sleep(SETTLE_AFTER + 0.05)

    answers = [saleor.refund(payment, Decimal("7.00"), None) for _ in range(2)]

    [entry] = [e for e in saleor.ledger.entries(str(payment.payment_id)) if e.is_open]
    for answer in answers:
        assert not answer.is_success
        assert "cannot be told" in answer.note and "EUR 8.00" in answer.note
        assert f"--mark-failed {entry.entry_id}" in answer.note
        assert f"--mark-refunded {entry.entry_id}" in answer.note
    assert refund_posts(emu, payment) == 1

    # Staff check MultiSafepay's dashboard: the 7.00 is not there (what the support command
    # does with --mark-failed); the next refund goes through.
    entries = saleor.ledger.entries(str(payment.payment_id))
    saleor.ledger.save(decide_by_hand(entries, entry.entry_id, landed=False))
    after = saleor.refund(payment, Decimal("7.00"), None)

    assert after.is_success, after.error
    assert refund_posts(emu, payment) == 2


# -- what a review found: declines, older ledger rows, a refund made before the POST ----------


def test_a_refund_counted_unlisted_then_declined_is_bound_and_reversed_once() -> None:
    with Emulator(KEY, lists_refunds=False, refund_status="reserved") as emu:
        saleor = saleor_for(emu)
        payment = captured(saleor, emu)
        emu.inject(Fault(FaultKind.DROP_AFTER))
        assert saleor.refund(payment, Decimal("10.00"), None).is_success
        [refund_id] = emu.list_refunds(payment.msp_order_id)
        emu.set_refund_status(payment.msp_order_id, refund_id, "declined")

        answers = [saleor.notify(emu.notifications()[-1]) for _ in range(2)]

    all_ok(answers)
    [entry] = saleor.ledger.entries(str(payment.payment_id))
    assert (entry.state, entry.refund_id) == (EntryState.DECLINED, str(refund_id))
    assert payment.reversed_ids == {entry.reference}
    assert payment.refunded == Decimal(0)


def test_a_refund_declined_unlisted_makes_a_later_lost_one_undecidable_never_sent_twice() -> None:
    with Emulator(KEY, lists_refunds=False, refund_status="reserved") as msp:
        saleor = FakeSaleor(
            GatewayConfig(api_key=KEY, api_url=msp.base_url, settle_after_seconds=SETTLE_AFTER)
        )
        payment = captured(saleor, msp)
        first = saleor.refund(payment, Decimal("10.00"), None)  # answered: its id is known
        msp.set_refund_status(payment.msp_order_id, first.transaction_id, "declined")
        # 5.00 lands; its answer and the read-back are lost.
        msp.inject(Fault(FaultKind.DROP_AFTER))
        msp.inject(Fault(FaultKind.SERVER_ERROR, method="GET", after=1))
        assert not saleor.refund(payment, Decimal("5.00"), None).is_success
        time.sleep(SETTLE_AFTER + 0.05)

        retry = saleor.refund(payment, Decimal("5.00"), None)

        assert not retry.is_success and "less refunded" in retry.note, retry.note
        assert "--mark-refunded" in retry.note
        assert len(msp.refund_posts(payment.msp_order_id)) == 2


def test_a_row_settled_before_references_keeps_what_saleor_recorded_it_under(
    saleor: FakeSaleor, emu: Emulator
) -> None:
    payment = captured(saleor, emu)
    emu.inject(Fault(FaultKind.DROP_AFTER))
    assert saleor.refund(payment, Decimal("10.00"), None).is_success
    # As the previous version left it: no reference kept, recorded under the order id.
    [entry] = saleor.ledger.entries(str(payment.payment_id))
    saleor.ledger.save(replace(entry, recorded_as="", refunded_before=None))
    [record] = [t for t in payment.transactions if t.kind == "refund"]
    payment.transactions[payment.transactions.index(record)] = replace(
        record, token=payment.msp_order_id
    )
    emu.list_refunds(payment.msp_order_id)

    assert saleor.refund(payment, Decimal("5.00"), None).is_success

    [bound, _] = saleor.ledger.entries(str(payment.payment_id))
    assert bound.reference == payment.msp_order_id and bound.refund_id is not None
    assert payment.refunded == Decimal("15.00")
    same_story(emu, payment)


def test_a_dashboard_refund_counted_before_the_post_is_not_taken_for_it(
    saleor: FakeSaleor, emu: Emulator
) -> None:
    payment = captured(saleor, emu)
    emu.dashboard_refund(payment.msp_order_id, 700)  # counted, not listed
    emu.inject(Fault(FaultKind.UNAVAILABLE))  # 503: MultiSafepay did nothing
    assert not saleor.refund(payment, Decimal("7.00"), None).is_success
    time.sleep(SETTLE_AFTER + 0.05)

    retry = saleor.refund(payment, Decimal("7.00"), None)

    assert retry.is_success and "nothing sent again" not in retry.note, retry.note
    assert refund_posts(emu, payment) == 2
    assert emu.order(payment.msp_order_id)["amount_refunded"] == 1400


def test_a_card_refund_note_says_nothing_of_rounding_and_a_1034_names_the_reference() -> None:
    with Emulator(KEY, lists_refunds=False, duplicate_window_seconds=300) as emu:
        saleor = saleor_for(emu)
        payment = captured(saleor, emu)
        emu.inject(Fault(FaultKind.DROP_AFTER))
        lost = saleor.refund(payment, Decimal("10.00"), None)

        again = saleor.refund(payment, Decimal("10.00"), None)

    assert lost.is_success and "rounding" not in lost.note
    assert not again.is_success
    assert f"(refund {lost.transaction_id})" in again.error and "None" not in again.error


# -- 3. the last units after per-line rounding ---------------------------------------------

LINE = OrderLine("Lamp", "LAMP", None, quantity=5)


def rounding_order(order_id: str) -> dict:
    """Created elsewhere with two-decimal net prices: 5 x 54.32 at 9% = 296.04."""
    return order_data(
        [item("LAMP", "54.32", "5", name="Lamp", tax_table_selector="low")],
        amount=29604,
        tax_rates={"low": "0.09"},
        order_id=order_id,
    )


@pytest.mark.parametrize("takes", [True, False], ids=["msp-takes-the-rest", "msp-refuses"])
@pytest.mark.parametrize("shows", [True, False], ids=["cart-shows-refunds", "not"])
def test_the_last_units_after_per_line_rounding_refund_what_is_left(takes, shows) -> None:
    options = dict(last_refund_takes_remainder=takes, cart_shows_refunds=shows)
    with Emulator(KEY, duplicate_window_seconds=0, **options) as emu:
        emu.add_order(rounding_order("lamps"))
        saleor = saleor_for(emu)
        payment = ShopPayment(1, Decimal("296.04"), "EUR", {}, None, [LINE])
        payment.transactions.append(_capture("lamps"))

        two = saleor.refund(payment, Decimal("118.42"), _lamps(2))
        rest = saleor.refund(payment, Decimal("177.63"), _lamps(3))

        assert two.is_success and two.amount == Decimal("118.42"), two.error
        # The last 3 are sent as the cart says them; no amount is asked, so never more than
        # remains: MultiSafepay's own count decides, and refuses rather than take more.
        [post] = emu.refund_posts("lamps")[1:]
        assert post.json["checkout_data"]["items"][-1]["quantity"] == "-3"
        assert "amount" not in post.json
        if takes:
            assert rest.is_success and rest.amount == Decimal("177.62"), rest.error
            assert "took what was left" in rest.note
            assert emu.order("lamps")["amount_refunded"] == 29604
        else:
            assert not rest.is_success
            assert "177.63 by MultiSafepay's per-line rounding" in rest.note
            assert "refund the rest in MultiSafepay's dashboard" in rest.note
            assert emu.order("lamps")["amount_refunded"] == 11842
        assert to_minor_units(payment.refunded, "EUR") == emu.order("lamps")["amount_refunded"]


def _lamps(quantity: int) -> RefundData:
    return RefundData(order_lines_to_refund=[OrderLineInfo(LINE, quantity)])


def _capture(order_id: str) -> TransactionData:
    return TransactionData(token=order_id, is_success=True, kind="capture")


# -- the command line ------------------------------------------------------------------------


def cli(monkeypatch, capsys, emu: Emulator, *argv: str) -> tuple:
    monkeypatch.setenv("MSP_API_URL", emu.base_url)
    monkeypatch.setenv("MSP_API_KEY", KEY)
    code = main([*argv, "--json"])
    out, _ = capsys.readouterr()
    return code, json.loads(out.strip().splitlines()[-1])


def test_the_command_line_settles_a_lost_answer_by_amount_and_refunds_the_next_one(
    monkeypatch, capsys, emu: Emulator
) -> None:
    emu.add_order(order_data([], gateway="VISA", amount=5000, order_id="card"))
    emu.set_refund_listing("card", True)
    listed = cli(monkeypatch, capsys, emu, "refund", "card", "--amount", "3.00")
    # The next refund is counted and not listed (yet), and its answer is lost.
    emu.set_refund_listing("card", False)
    emu.inject(Fault(FaultKind.DROP_AFTER))

    lost = cli(monkeypatch, capsys, emu, "refund", "card", "--amount", "10.00")
    emu.list_refunds("card")
    genuine = cli(monkeypatch, capsys, emu, "refund", "card", "--amount", "10.00")

    assert listed[0] == 0
    assert lost == (0, {**lost[1], "status": "refunded", "refund_id": None, "amount": "10.00"})
    assert genuine[0] == 0 and genuine[1]["refund_id"] is not None
    assert emu.order("card")["amount_refunded"] == 2300
    assert len(emu.refund_posts("card")) == 3


@pytest.mark.parametrize("ask", [["--item", "LAMP=3"], ["--full"], ["--amount", "177.62"]])
def test_the_command_line_refunds_the_last_units_after_rounding(monkeypatch, capsys, ask) -> None:
    with Emulator(KEY, duplicate_window_seconds=0, last_refund_takes_remainder=True) as emu:
        emu.add_order(rounding_order("lamps"))
        first = cli(monkeypatch, capsys, emu, "refund", "lamps", "--item", "LAMP=2")

        rest = cli(monkeypatch, capsys, emu, "refund", "lamps", *ask)

        assert (first[0], first[1]["amount"]) == (0, "118.42")
        assert (rest[0], rest[1]["status"], rest[1]["amount"]) == (0, "refunded", "177.62")
        assert emu.order("lamps")["amount_refunded"] == 29604


def test_the_command_line_explains_msps_refusal_of_the_last_units(monkeypatch, capsys) -> None:
    with Emulator(KEY, duplicate_window_seconds=0) as emu:
        emu.add_order(rounding_order("lamps"))
        cli(monkeypatch, capsys, emu, "refund", "lamps", "--item", "LAMP=2")

        code, result = cli(monkeypatch, capsys, emu, "refund", "lamps", "--full")

    assert (code, result["status"]) == (1, "failed")
    assert "EUR 177.63 by MultiSafepay's per-line rounding" in result["error"]
    assert "EUR 177.62 left" in result["error"]


# -- a refund started while a notification is being handled ----------------------------------


class RefundAfterRead:
    """The ledger as the notification flow reads it (once, after the order), with staff's
    refund of the same payment (another worker) started right after that read and finished,
    recorded in the ledger and in Saleor, before the notification goes on."""

    def __init__(self, saleor: FakeSaleor, emu: Emulator, payment: ShopPayment) -> None:
        self.inner, self.saleor, self.emu, self.payment = saleor.ledger, saleor, emu, payment
        self.reads = 0

    def entries(self, payment_id: str) -> List[LedgerEntry]:
        self.reads += 1
        found = self.inner.entries(payment_id)
        if self.reads == 1:
            worker = threading.Thread(
                target=self.saleor.refund, args=(self.payment, Decimal("10.00"), None)
            )
            worker.start()
            worker.join(5)
        return found

    def save(self, entry: LedgerEntry) -> None:
        self.inner.save(entry)


def test_a_refund_started_after_a_notification_read_the_ledger_is_left_to_its_own_flow(
    saleor: FakeSaleor, emu: Emulator
) -> None:
    payment = captured(saleor, emu)
    assert saleor.refund(payment, Decimal("5.00"), None).is_success
    notification = emu.notifications()[-1]
    interleaved = RefundAfterRead(saleor, emu, payment)
    query = dict(parse_qsl(urlsplit(notification.url).query))

    during = handle_notification(
        saleor.config, notification.body, notification.headers.get("Auth"), query, saleor,
        interleaved,
    )  # fmt: skip
    later = saleor.refund(payment, Decimal("1.00"), None)

    # The notification read the order, then the ledger once: the refund started after both is
    # in neither, so nothing of it is settled or recorded from that view; its own flow records
    # it, nothing twice (a flow that read the ledger again to settle took it for a lost
    # refund: Saleor 26.00 for MultiSafepay's 16.00).
    assert interleaved.reads == 1
    assert during.status == 200 and during.actions == (), during
    assert later.is_success, later.error
    assert [e.state for e in saleor.ledger.entries(str(payment.payment_id))] == [
        EntryState.REFUNDED
    ] * 3
    assert payment.refunded == Decimal("16.00")
    same_story(emu, payment)
