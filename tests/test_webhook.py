"""MultiSafepay's notifications, handled by `payments.notifications.handle_notification` as
Saleor's plugin webhook will hand them over (raw body, Auth header, query), with the emulator's
real orders behind them: repeated, reordered, forged, stale, for unknown or unreadable orders;
captures and refunds made in MultiSafepay's dashboard; refunds that wait, complete or are
declined."""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
import time
from dataclasses import replace
from decimal import Decimal
from typing import Callable, Iterator

import pytest

from saleor_multisafepay_refund.config import GatewayConfig
from saleor_multisafepay_refund.emulator import Emulator, Fault, FaultKind, Notification
from saleor_multisafepay_refund.multisafepay.client import MultiSafepayClient
from saleor_multisafepay_refund.refunds.ledger import EntryState

from .fake_saleor import ACTION_TO_CONFIRM, CAPTURE, REFUND, FakeSaleor, ShopPayment
from .saleor_shapes import OrderLineInfo, RefundData
from .test_payment_cycle import CANDLES, KEY, agree, all_ok, paid

CANDLES_2 = RefundData(order_lines_to_refund=[OrderLineInfo(CANDLES, 2)])


class Clock:
    """The time MultiSafepay stamps its notifications with."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def emu(clock: Clock) -> Iterator[Emulator]:
    with Emulator(KEY, clock=clock) as emulator:
        yield emulator


@pytest.fixture
def reserved(clock: Clock) -> Iterator[Emulator]:
    """Refunds start reserved, as in MultiSafepay's test environment."""
    with Emulator(KEY, clock=clock, refund_status="reserved") as emulator:
        yield emulator


def saleor_for(emu: Emulator) -> FakeSaleor:
    return FakeSaleor(GatewayConfig(api_key=KEY, api_url=emu.base_url))


@pytest.fixture
def saleor(emu: Emulator) -> FakeSaleor:
    return saleor_for(emu)


def shipped(saleor: FakeSaleor, emu: Emulator, gateway: str = "PAYAFTER") -> ShopPayment:
    """A cart-method payment paid, confirmed and captured (shipped), notifications handled."""
    payment = paid(saleor, emu, gateway)
    saleor.confirm(payment)
    assert saleor.capture(payment).is_success
    all_ok(saleor.notify_new(emu))
    return payment


def gets(emu: Emulator) -> int:
    return sum(1 for r in emu.requests if r.method == "GET" and "/orders/" in r.path)


def snapshot(payment: ShopPayment) -> tuple:
    return (
        list(payment.transactions),
        list(payment.notes),
        payment.order_id,
        payment.captured_amount,
        payment.is_active,
    )


# -- refused notifications change nothing ----------------------------------------------------


def body_altered(n: Notification) -> Notification:
    return replace(n, body=n.body.replace(b'"completed"', b'"shipped"'))


def no_auth_header(n: Notification) -> Notification:
    return replace(n, headers={})


def signed_with_another_key(n: Notification) -> Notification:
    # MultiSafepay's recipe (its webhook page), with a key that is not the shop's.
    message = f"{n.timestamp}:".encode() + n.body
    digest = hmac.new(b"wrong-key-ABCDEFGHIJ", message, hashlib.sha512).hexdigest()
    auth = base64.b64encode(f"{n.timestamp}:{digest}".encode()).decode()
    return replace(n, headers={**n.headers, "Auth": auth})


def transactionid_changed(n: Notification) -> Notification:
    # The query is not signed: the order it names must be the signed body's.
    return replace(n, url=n.url.replace("transactionid=", "transactionid=other-"))


@pytest.mark.parametrize(
    ("forge", "status", "words"),
    [
        (body_altered, 403, "signature does not match"),
        (no_auth_header, 403, "no Auth header"),
        (signed_with_another_key, 403, "signature does not match"),
        (transactionid_changed, 400, "names no order (or two)"),
    ],
)
def test_a_forged_notification_is_refused_and_nothing_is_read_or_done(
    saleor: FakeSaleor,
    emu: Emulator,
    forge: Callable[[Notification], Notification],
    status: int,
    words: str,
) -> None:
    # Given a paid checkout whose customer has not come back
    payment = paid(saleor, emu, "PAYAFTER")
    [genuine] = emu.notifications()
    before, reads = snapshot(payment), gets(emu)

    # When someone changes what MultiSafepay signed, or sends it unsigned
    answer = saleor.notify(forge(genuine))

    # Then refused, MultiSafepay is not even asked, Saleor unchanged
    assert (answer.status, answer.actions) == (status, ())
    assert words in answer.body
    assert gets(emu) == reads and snapshot(payment) == before


def test_a_stale_notification_is_refused_as_a_possible_replay(
    saleor: FakeSaleor, emu: Emulator, clock: Clock
) -> None:
    # Given a notification MultiSafepay signed 601 s ago (a recorded one, replayed)
    clock.offset = -601
    payment = paid(saleor, emu, "PAYAFTER")
    [old] = emu.notifications()
    before = snapshot(payment)

    answer = saleor.notify(old)

    assert answer.status == 403 and "more than 600 s" in answer.body
    assert snapshot(payment) == before and payment.order_id is None


def test_a_notification_for_an_order_saleor_does_not_know_is_404(
    saleor: FakeSaleor, emu: Emulator
) -> None:
    # Given an order another shop (or a deleted checkout) created with our notification URL
    client = MultiSafepayClient(KEY, base_url=emu.base_url)
    client.create_order(
        {
            "type": "redirect",
            "order_id": "elsewhere-1",
            "gateway": "IDEAL",
            "currency": "EUR",
            "amount": 1000,
            "payment_options": {
                "notification_url": "https://shop.example/notify",
                "notification_method": "POST",
            },
        }
    )
    emu.pay("elsewhere-1")
    [notification] = emu.notifications()
    reads = gets(emu)

    answer = saleor.notify(notification)

    # Then 404 (MultiSafepay tries again later) and the order is not read
    assert answer.status == 404 and "elsewhere-1" in answer.body
    assert gets(emu) == reads


def test_a_notification_whose_order_cannot_be_read_is_503_then_applied_when_sent_again(
    saleor: FakeSaleor, emu: Emulator
) -> None:
    # Given a paid checkout whose customer has not come back, and MultiSafepay failing a GET
    payment = paid(saleor, emu, "PAYAFTER")
    [notification] = emu.notifications()
    emu.inject(Fault(FaultKind.SERVER_ERROR, method="GET", order_id=payment.msp_order_id))

    # When the notification arrives
    failed = saleor.notify(notification)

    # Then 503: not applied, MultiSafepay sends it again
    assert failed.status == 503 and failed.body.startswith("Not applied, send it again later")
    assert payment.order_id is None and payment.confirm_calls == 0

    # When it is sent again, MultiSafepay answering
    retried = saleor.notify(notification)

    assert (retried.status, retried.actions) == (200, ("checkout: order-1",))
    assert payment.orders_created == 1
    agree(emu, payment)


# -- repeated and reordered notifications --------------------------------------------------


def test_an_older_notification_after_a_newer_one_changes_nothing(
    saleor: FakeSaleor, emu: Emulator
) -> None:
    # Given an iDEAL payment whose customer never came back, then a refund in MultiSafepay's
    # dashboard: two notifications, "paid" and "refunded"
    payment = paid(saleor, emu, "IDEAL")
    emu.dashboard_refund(payment.msp_order_id, 3500)
    older, newer = emu.notifications()

    # When the newer one arrives first
    first = saleor.notify(newer)

    # Then Saleor is brought to what MultiSafepay shows now: checkout completed (captured),
    # the outside refund recorded
    refund_id = str(emu.order(payment.msp_order_id)["related_transactions"][0]["transaction_id"])
    assert first.status == 200
    assert first.actions == (
        "checkout: order-1",
        f"noted: MultiSafepay shows a refund Saleor did not make: refund {refund_id} of EUR "
        "35.00 (made in MultiSafepay's dashboard?): recorded in Saleor's payment now.",
        f"recorded {refund_id}",
    )
    assert payment.captured_amount == Decimal("280.00")
    agree(emu, payment, card=True)
    before = snapshot(payment)

    # When the older one arrives after it, and both again
    late = [saleor.notify(older), saleor.notify(newer), saleor.notify(older)]

    # Then nothing changes
    assert [(a.status, a.actions) for a in late] == [(200, ())] * 3
    assert snapshot(payment) == before
    agree(emu, payment, card=True)


def test_an_order_shipped_in_multisafepays_dashboard_is_captured_in_saleor_once(
    saleor: FakeSaleor, emu: Emulator
) -> None:
    # Given an authorized Pay After Delivery order in Saleor
    payment = paid(saleor, emu, "PAYAFTER")
    saleor.confirm(payment)
    all_ok(saleor.notify_new(emu))

    # When the merchant ships it in MultiSafepay's dashboard, and the notification comes twice
    MultiSafepayClient(KEY, base_url=emu.base_url).update_order(
        payment.msp_order_id, {"status": "shipped"}
    )
    [notification] = emu.notifications()[1:]
    first, again = saleor.notify(notification), saleor.notify(notification)

    # Then Saleor records the capture once, with a note
    assert first.actions == ("capture recorded",) and again.actions == ()
    assert [t.kind for t in payment.transactions] == [ACTION_TO_CONFIRM, "auth", CAPTURE]
    assert payment.notes == [
        f"MultiSafepay captured order {payment.msp_order_id} (shipped): recorded in Saleor's "
        "payment."
    ]
    agree(emu, payment)


def test_an_authorization_that_expires_is_noted_once(saleor: FakeSaleor, emu: Emulator) -> None:
    # Given an authorized Klarna order Saleor has not shipped
    payment = paid(saleor, emu, "KLARNA")
    saleor.confirm(payment)
    all_ok(saleor.notify_new(emu))

    # When Klarna's authorization expires, and MultiSafepay notifies it twice
    emu.expire(payment.msp_order_id)
    [notification] = emu.notifications()[1:]
    first, again = saleor.notify(notification), saleor.notify(notification)

    # Then staff are told once not to ship it
    assert first.actions == ("reported expired",) and again.actions == ()
    assert payment.notes == [
        f"MultiSafepay shows order {payment.msp_order_id} as expired: nothing will be charged. "
        "Do not ship it; cancel the order in Saleor."
    ]


# -- refunds made or changed at MultiSafepay -------------------------------------------------


def test_a_dashboard_refund_becomes_one_refund_in_saleor_and_one_note(
    saleor: FakeSaleor, emu: Emulator
) -> None:
    # Given a shipped Pay After Delivery order
    payment = shipped(saleor, emu)

    # When the merchant refunds 35.00 in MultiSafepay's dashboard, and the notification comes
    # three times
    refund_id = str(emu.dashboard_refund(payment.msp_order_id, 3500))
    [notification] = emu.notifications()[2:]
    answers = [saleor.notify(notification) for _ in range(3)]

    # Then Saleor has one refund of 35.00 with MultiSafepay's refund id, and one note
    assert [a.status for a in answers] == [200] * 3
    assert [a.actions[-1:] for a in answers] == [(f"recorded {refund_id}",), (), ()]
    refunds = [t for t in payment.transactions if t.kind == REFUND]
    assert [(t.token, t.amount["amount"]) for t in refunds] == [(refund_id, "35.00")]
    assert payment.notes == [
        f"MultiSafepay shows a refund Saleor did not make: refund {refund_id} of EUR 35.00 "
        "(made in MultiSafepay's dashboard?): recorded in Saleor's payment now."
    ]
    assert payment.captured_amount == Decimal("280.00")
    agree(emu, payment)


def test_a_reserved_refund_that_completes_is_noted_once(reserved: Emulator) -> None:
    # Given a refund of 2 candle holders that MultiSafepay keeps reserved
    saleor = saleor_for(reserved)
    payment = shipped(saleor, reserved)
    refund = saleor.refund(payment, Decimal("180.00"), CANDLES_2)
    all_ok(saleor.notify_new(reserved))
    assert refund.is_success and len(payment.notes) == 1  # the refund's own note

    # When it completes, and the notification comes twice
    reserved.set_refund_status(payment.msp_order_id, refund.transaction_id, "completed")
    [notification] = reserved.notifications()[3:]
    answers = [saleor.notify(notification), saleor.notify(notification)]

    # Then one note says so; Saleor's refund stays as it was
    assert [a.status for a in answers] == [200, 200]
    assert payment.notes[1:] == [
        f"MultiSafepay completed refund {refund.transaction_id} (EUR 180.00 (2 x CANDLE-3)) of "
        f"order {payment.msp_order_id}."
    ]
    [entry] = saleor.ledger.entries(str(payment.payment_id))
    assert (entry.state, entry.refund_status) == (EntryState.REFUNDED, "completed")
    agree(reserved, payment)


def test_a_reserved_refund_that_is_declined_is_marked_and_noted_once(reserved: Emulator) -> None:
    # Given a refund of 2 candle holders that MultiSafepay keeps reserved
    saleor = saleor_for(reserved)
    payment = shipped(saleor, reserved)
    refund = saleor.refund(payment, Decimal("180.00"), CANDLES_2)
    all_ok(saleor.notify_new(reserved))

    # When MultiSafepay declines it, and the notification comes twice
    reserved.set_refund_status(payment.msp_order_id, refund.transaction_id, "declined")
    [notification] = reserved.notifications()[3:]
    answers = [saleor.notify(notification), saleor.notify(notification)]

    # Then the ledger says declined and staff are told once that the customer has no money back
    assert [a.status for a in answers] == [200, 200]
    [entry] = saleor.ledger.entries(str(payment.payment_id))
    assert (entry.state, entry.refund_status) == (EntryState.DECLINED, "declined")
    assert payment.notes[1:] == [
        f"MultiSafepay declined refund {refund.transaction_id} (EUR 180.00 (2 x CANDLE-3)) of "
        f"order {payment.msp_order_id}: the customer did not get this money back. Saleor's "
        "payment counts it as not refunded again (refund reversed): refund it again, or settle "
        "it with the customer."
    ]
    # MultiSafepay no longer counts it, and neither does Saleor: reversed once, captured again.
    assert reserved.order(payment.msp_order_id)["amount_refunded"] == 0
    assert payment.refunded == Decimal(0) and payment.reversed_ids == {refund.transaction_id}
    assert payment.captured_amount == payment.amount
    agree(reserved, payment)


def test_a_notification_while_the_plugins_own_refund_is_in_flight_is_taken_later(
    saleor: FakeSaleor, emu: Emulator
) -> None:
    # Given a shipped order, and MultiSafepay slow to answer a refund it has already made
    payment = shipped(saleor, emu)
    emu.inject(Fault(FaultKind.SLOW, delay=1.0, apply=True))
    made = len(emu.notifications())
    refunding = threading.Thread(target=saleor.refund, args=(payment, Decimal("180.00"), CANDLES_2))
    refunding.start()
    deadline = time.monotonic() + 5
    while len(emu.notifications()) == made and time.monotonic() < deadline:
        time.sleep(0.01)
    notification = emu.notifications()[-1]

    # When its notification arrives while the plugin still waits for the answer
    during = saleor.notify(notification)
    refunding.join(10)
    # ... and MultiSafepay sends it again later
    later = saleor.notify(notification)

    # Then it is not taken for a lost refund: one refund in Saleor, with the refund's own note
    assert during.status == 503 and "being sent to MultiSafepay right now" in during.body
    assert (later.status, later.actions) == (200, ())
    [refund] = [t for t in payment.transactions if t.kind == REFUND]
    assert payment.notes == [
        f"MultiSafepay refunded EUR 180.00 of order {payment.msp_order_id} (refund "
        f"{refund.token}): 2 x Geometric Candle Holders (CANDLE-3)."
    ]
    agree(emu, payment)


@pytest.mark.parametrize(("gateway", "status"), [("KLARNA", "void"), ("IDEAL", "refunded")])
def test_money_paid_for_a_payment_saleor_dropped_goes_back_once(
    saleor: FakeSaleor, emu: Emulator, gateway: str, status: str
) -> None:
    # Given the customer paid an order whose payment Saleor no longer uses (they started
    # another payment in the meantime): no order will ever claim this money
    payment = paid(saleor, emu, gateway)
    payment.is_active = False

    # When its notification arrives, twice
    [first] = emu.notifications()
    answers = [saleor.notify(first), saleor.notify(first)]

    # Then MultiSafepay cancels (Klarna: nothing invoiced) or refunds it whole, once
    assert [a.status for a in answers] == [200, 200]
    order = emu.order(payment.msp_order_id)
    assert order["status"] == status
    assert order["amount_refunded"] == (order["amount"] if gateway == "IDEAL" else 0)
    assert len(emu.refund_posts(payment.msp_order_id)) == (1 if gateway == "IDEAL" else 0)
    assert payment.order_id is None
