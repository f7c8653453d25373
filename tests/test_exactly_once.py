"""Exactly once: whatever fails, MultiSafepay, Saleor and the ledger agree, and a retry by
staff neither refunds twice nor loses the first refund.

Saleor is played by `SaleorPayment`: it calls the plugin's flow as Saleor's refund does and
records a refund transaction when the answer is a success, as Saleor does.
"""

from __future__ import annotations

import random
import time
from dataclasses import replace
from decimal import Decimal
from typing import Any, Dict, List, Optional

import pytest

from saleor_multisafepay_refund.answers import GatewayAnswer
from saleor_multisafepay_refund.config import GatewayConfig
from saleor_multisafepay_refund.emulator import Emulator, Fault, FaultKind
from saleor_multisafepay_refund.multisafepay.money import to_minor_units
from saleor_multisafepay_refund.multisafepay.order import parse_order
from saleor_multisafepay_refund.multisafepay.refund_body import item_balances
from saleor_multisafepay_refund.plugin.asks import refund_payment
from saleor_multisafepay_refund.refunds.ledger import EntryState, MemoryLedger

from .factories import item, order_data, seed_order
from .saleor_shapes import (
    APPLE,
    CANDLES,
    OrderLine,
    OrderLineInfo,
    PaymentData,
    RefundData,
    TransactionData,
)

KEY = "exactly-once-key-0123456789abcdef"


class SaleorPayment:
    """One Saleor payment of a MultiSafepay order, and what Saleor recorded of its refunds."""

    def __init__(self, payment_id: int, msp_order_id: str, currency: str = "EUR") -> None:
        self.payment_id = payment_id
        self.msp_order_id = msp_order_id
        self.currency = currency
        self.transactions: List[TransactionData] = []

    def refund(
        self,
        config: GatewayConfig,
        ledger: MemoryLedger,
        amount: Decimal,
        refund_data: Optional[RefundData],
    ) -> GatewayAnswer:
        payment = PaymentData(
            amount,
            currency=self.currency,
            token=self.msp_order_id,
            refund_data=refund_data,
            payment_id=self.payment_id,
            transactions=list(self.transactions),
        )
        answer = refund_payment(config, payment, ledger)
        # Saleor records a refund transaction for a successful answer, a failed one otherwise.
        self.transactions.append(
            TransactionData(
                token=answer.transaction_id, is_success=answer.is_success, kind="refund"
            )
        )
        if answer.is_success:
            self.recorded.append(answer.amount)
        # The plugin records the refunds MultiSafepay made that Saleor missed, once each.
        self.record(answer.unrecorded)
        return answer

    def record(self, refunds: Any) -> None:
        """`plugin.records._record`: a refund transaction per reference Saleor has none of."""
        for reference, amount, _currency in refunds:
            if reference not in {t.token for t in self.transactions if t.is_success}:
                self.transactions.append(TransactionData(reference, True, "refund"))
                self.recorded.append(amount)

    @property
    def recorded(self) -> List[Decimal]:
        if not hasattr(self, "_recorded"):
            self._recorded: List[Decimal] = []
        return self._recorded


def agree(msp: Emulator, ledger: MemoryLedger, saleor: SaleorPayment) -> None:
    """MultiSafepay's refunded total = what Saleor recorded + what only the ledger knows landed."""
    order = msp.order(saleor.msp_order_id)
    recorded_ids = {t.token for t in saleor.transactions if t.is_success}
    only_ledger = sum(
        (
            e.amount
            for e in ledger.entries(str(saleor.payment_id))
            if e.state is EntryState.REFUNDED and e.reference not in recorded_ids
        ),
        Decimal(0),
    )
    total = sum(saleor.recorded, Decimal(0)) + only_ledger
    assert order["amount_refunded"] == to_minor_units(total, saleor.currency)
    # Every refund MultiSafepay lists is one the ledger knows (refunds listed late or never
    # are known by the ledger's own reference).
    msp_ids = {str(r["transaction_id"]) for r in order["related_transactions"] or ()}
    ledger_ids = {e.refund_id for e in ledger.entries(str(saleor.payment_id)) if e.refund_id}
    assert msp_ids <= ledger_ids | recorded_ids


CANDLES_2 = RefundData(order_lines_to_refund=[OrderLineInfo(CANDLES, 2)])


@pytest.fixture
def msp():
    with Emulator(api_key=KEY, duplicate_window_seconds=0) as emulator:
        emulator.add_order(seed_order(order_id="o1"))
        yield emulator


def config_for(msp: Emulator) -> GatewayConfig:
    return GatewayConfig(
        api_key=KEY, api_url=msp.base_url, read_timeout=0.2, settle_after_seconds=0.5
    )


@pytest.mark.parametrize(
    ("fault", "first_succeeds"),
    [
        (Fault(FaultKind.SERVER_ERROR, method="GET"), False),
        (Fault(FaultKind.MALFORMED_JSON, method="GET"), False),
        (Fault(FaultKind.SLOW, method="GET", delay=0.4), False),
        (Fault(FaultKind.DROP_BEFORE, method="GET"), True),  # a GET is retried
        (Fault(FaultKind.DROP_AFTER, method="GET"), True),
        (Fault(FaultKind.SERVER_ERROR), False),
        (Fault(FaultKind.SERVER_ERROR, apply=True), True),
        (Fault(FaultKind.MALFORMED_JSON), False),
        (Fault(FaultKind.MALFORMED_JSON, apply=True), True),
        (Fault(FaultKind.SLOW, delay=0.4), True),
        (Fault(FaultKind.SLOW, delay=0.4, apply=False), False),
        (Fault(FaultKind.DROP_BEFORE), False),
        (Fault(FaultKind.DROP_AFTER), True),
    ],
    ids=lambda value: getattr(value, "kind", value) if not isinstance(value, bool) else str(value),
)
def test_fault_matrix_then_staff_retry(msp, fault, first_succeeds):
    ledger, saleor, config = MemoryLedger(), SaleorPayment(1, "o1"), config_for(msp)
    msp.inject(fault)

    first = saleor.refund(config, ledger, Decimal("180.00"), CANDLES_2)

    assert first.is_success is first_succeeds, first.error
    agree(msp, ledger, saleor)
    attempts = 1
    while not saleor.recorded and attempts < 4:
        time.sleep(0.3)  # staff read the note, and click again
        saleor.refund(config, ledger, Decimal("180.00"), CANDLES_2)
        attempts += 1
        agree(msp, ledger, saleor)

    assert saleor.recorded == [Decimal("180.00")]
    assert msp.order("o1")["amount_refunded"] == 18000
    assert len(msp.order("o1")["related_transactions"]) == 1


def test_a_refund_that_landed_unseen_is_recorded_on_retry_without_a_second_post(msp):
    ledger, saleor, config = MemoryLedger(), SaleorPayment(1, "o1"), config_for(msp)
    # The POST lands, and its answer and the read-back (the second GET) both get lost.
    msp.inject(Fault(FaultKind.DROP_AFTER))
    msp.inject(Fault(FaultKind.SERVER_ERROR, method="GET", after=1))

    first = saleor.refund(config, ledger, Decimal("180.00"), CANDLES_2)
    retry = saleor.refund(config, ledger, Decimal("180.00"), CANDLES_2)

    assert not first.is_success and "outcome unknown" in first.error
    assert retry.is_success and "recorded now, nothing sent again" in retry.note
    assert retry.transaction_id == str(msp.order("o1")["related_transactions"][0]["transaction_id"])
    assert len(msp.refund_posts("o1")) == 1
    agree(msp, ledger, saleor)


def test_an_unknown_outcome_blocks_new_refunds_until_it_is_settled(msp):
    ledger, saleor, config = MemoryLedger(), SaleorPayment(1, "o1"), config_for(msp)
    msp.inject(Fault(FaultKind.SLOW, delay=0.4, apply=False))
    saleor.refund(config, ledger, Decimal("180.00"), CANDLES_2)

    other = saleor.refund(config, ledger, Decimal("35.00"), RefundData([OrderLineInfo(APPLE, 1)]))

    assert not other.is_success and "has not shown up at MultiSafepay yet" in other.error
    assert len(msp.refund_posts("o1")) == 1
    time.sleep(0.6)
    later = saleor.refund(config, ledger, Decimal("35.00"), RefundData([OrderLineInfo(APPLE, 1)]))
    assert later.is_success
    assert [e.state for e in ledger.entries("1")] == [EntryState.FAILED, EntryState.REFUNDED]


def test_a_refund_made_in_msps_dashboard_is_reported_once(msp):
    ledger, saleor, config = MemoryLedger(), SaleorPayment(1, "o1"), config_for(msp)
    outside = dict(seed_order()["shopping_cart"]["items"][1], quantity="-1")
    msp.add_order(seed_order(order_id="o1"))
    # Someone refunds the apple in MultiSafepay's dashboard.
    import requests

    body = {"checkout_data": {"items": [*seed_order()["shopping_cart"]["items"], outside]}}
    requests.post(
        f"{msp.base_url}orders/o1/refunds", json=body, headers={"api_key": KEY}, timeout=5
    )

    first = saleor.refund(config, ledger, Decimal("180.00"), CANDLES_2)
    second = saleor.refund(
        config, ledger, Decimal("90.00"), RefundData([OrderLineInfo(CANDLES, 1)])
    )

    assert first.is_success and "MultiSafepay shows a refund Saleor did not make" in first.note
    assert second.is_success and "did not make" not in second.note
    assert [e.external for e in ledger.entries("1")].count(True) == 1


def test_1034_for_the_same_amount_within_five_minutes_says_so():
    with Emulator(api_key=KEY, duplicate_window_seconds=300) as strict:
        strict.add_order(seed_order(order_id="o1"))
        ledger, saleor = MemoryLedger(), SaleorPayment(1, "o1")
        config = GatewayConfig(api_key=KEY, api_url=strict.base_url)
        one = RefundData([OrderLineInfo(CANDLES, 1)])
        saleor.refund(config, ledger, Decimal("90.00"), one)

        again = saleor.refund(config, ledger, Decimal("90.00"), one)

    assert not again.is_success
    assert "same amount (EUR 90.00) within 5 minutes" in again.error
    assert "try again in 5 minutes" in again.error


def test_when_msps_cart_does_not_show_refunds_the_ledger_says_what_is_left():
    with Emulator(api_key=KEY, duplicate_window_seconds=0, cart_shows_refunds=False) as msp:
        msp.add_order(seed_order(order_id="o1"))
        ledger, saleor, config = MemoryLedger(), SaleorPayment(1, "o1"), config_for(msp)
        one = RefundData([OrderLineInfo(CANDLES, 1)])

        answers = [saleor.refund(config, ledger, Decimal("90"), one) for _ in range(4)]

        assert [a.is_success for a in answers] == [True, True, True, False]
        assert "3 bought, 3 already refunded, 0 left" in answers[3].error
        assert msp.order("o1")["amount_refunded"] == 27000
        agree(msp, ledger, saleor)


GATEWAYS = ["PAYAFTER", "KLARNA", "AFTERPAY", "IN3", "BILLINK", "VISA", "IDEAL"]
FAULTS = [
    Fault(FaultKind.SERVER_ERROR),
    Fault(FaultKind.SERVER_ERROR, apply=True),
    Fault(FaultKind.MALFORMED_JSON),
    Fault(FaultKind.MALFORMED_JSON, apply=True),
    Fault(FaultKind.SLOW, delay=0.08),
    Fault(FaultKind.SLOW, delay=0.08, apply=False),
    Fault(FaultKind.DROP_BEFORE),
    Fault(FaultKind.DROP_AFTER),
    Fault(FaultKind.SERVER_ERROR, method="GET"),
    Fault(FaultKind.DROP_BEFORE, method="GET"),
]


# How MultiSafepay lists an order's refunds: at once, never (related_transactions null, as in
# the recorded card order), or a moment later.
LISTINGS = ["at once", "never", "late"]


def test_randomized_refunds_with_faults_add_up_on_every_order():
    rng = random.Random(20261126)
    counts: Dict[str, int] = {"attempts": 0, "succeeded": 0, "failed": 0, "faults": 0, "posts": 0}
    listing: Dict[str, str] = {}
    with Emulator(api_key=KEY, duplicate_window_seconds=0) as msp:
        config = GatewayConfig(
            api_key=KEY, api_url=msp.base_url, read_timeout=0.04, settle_after_seconds=0.1
        )
        ledger = MemoryLedger()
        payments: List[SaleorPayment] = []
        carts: Dict[str, List[OrderLine]] = {}
        for index in range(40):
            gateway = GATEWAYS[index % len(GATEWAYS)]
            order_id = f"r{index}"
            lines = [
                OrderLine(f"Product {n}", f"SKU-{index}-{n}", None, quantity=rng.randint(1, 4))
                for n in range(rng.randint(1, 5))
            ]
            items = [
                item(
                    line.product_sku,
                    f"{rng.randint(1, 60)}.{rng.randint(0, 99):02d}",
                    line.quantity,
                    tax_table_selector="vat",
                )
                for line in lines
            ]
            data = order_data(items, gateway=gateway, order_id=order_id, tax_rates={"vat": "0.21"})
            data["amount"] = None
            msp.add_order(_with_amount(data))
            listing[order_id] = LISTINGS[index % len(LISTINGS)]
            msp.set_refund_listing(order_id, listing[order_id] == "at once")
            payments.append(SaleorPayment(index + 1, order_id))
            carts[order_id] = lines
        # At least 500 refunds with a fault injected, over orders emptied and refilled.
        while counts["faults"] < 500:
            saleor = rng.choice(payments)
            order = msp.order(saleor.msp_order_id)
            remaining = order["amount"] - order["amount_refunded"]
            if remaining <= 0:
                continue
            if listing[saleor.msp_order_id] == "late" and rng.random() < 0.3:
                msp.list_refunds(saleor.msp_order_id)
            if rng.random() < 0.6:
                fault = rng.choice(FAULTS)
                msp.inject(replace(fault, order_id=saleor.msp_order_id))
                counts["faults"] += 1
            posts_before = len(msp.refund_posts())
            # Connections already used: a POST whose client gave up (a read timeout) may still
            # be unread by the emulator on a loaded machine and be recorded during this
            # refund; it came over its own refund's connection, never one of this refund's.
            earlier_connections = {request.client_port for request in msp.requests}
            if order["payment_details"]["type"] in ("VISA", "IDEAL"):
                amount = Decimal(rng.randint(1, remaining)) / 100
                answer = saleor.refund(config, ledger, amount, None)
            else:
                line = rng.choice(carts[saleor.msp_order_id])
                quantity = rng.randint(1, line.quantity)
                answer = _refund_lines(saleor, config, ledger, msp, line, quantity)
            posts = sum(
                1
                for post in msp.refund_posts()[posts_before:]
                if post.client_port not in earlier_connections
            )
            assert posts <= 1, "one Saleor refund sent two POSTs"
            counts["posts"] += posts
            counts["attempts"] += 1
            counts["succeeded" if answer.is_success else "failed"] += 1
            msp.clear_faults()  # a fault no request met does not carry over
        time.sleep(0.2)
        double = lost = 0
        for saleor in payments:
            if listing[saleor.msp_order_id] == "late":
                msp.list_refunds(saleor.msp_order_id)
            # A last look (the next refund, or a notification) settles what is still open and
            # records what Saleor missed; then everything must add up.
            _settle_only(saleor, config, ledger)
            agree(msp, ledger, saleor)
            order = msp.order(saleor.msp_order_id)
            in_saleor = to_minor_units(sum(saleor.recorded, Decimal(0)), saleor.currency)
            double += max(0, in_saleor - order["amount_refunded"])
            lost += max(0, order["amount_refunded"] - in_saleor)
            assert order["amount_refunded"] <= order["amount"]
            for balance in item_balances(parse_order(order)).values():
                assert 0 <= balance.refunded <= balance.bought, balance
    print(f"\nrandomized exactly-once run: {counts}, double {double}, lost {lost} (minor units)")
    assert (double, lost) == (0, 0)
    assert counts["succeeded"] > 200 and counts["failed"] > 40


def _with_amount(data: Dict[str, Any]) -> Dict[str, Any]:
    from saleor_multisafepay_refund.multisafepay.order import parse_order
    from saleor_multisafepay_refund.multisafepay.refund_body import RefundRequest, build_refund

    probe = dict(data, amount=10**9)
    total = build_refund(parse_order(probe), RefundRequest(full=True)).amount
    return dict(data, amount=to_minor_units(total, data["currency"]))


def _refund_lines(saleor, config, ledger, msp, line, quantity) -> GatewayAnswer:
    """Saleor's amount for the lines: their price with 21% tax, as in MultiSafepay's cart."""
    cart = msp.order(saleor.msp_order_id)["shopping_cart"]["items"]
    price = next(
        Decimal(i["unit_price"]) for i in cart if i["merchant_item_id"] == line.product_sku
    )
    amount = (price * quantity * Decimal("1.21")).quantize(Decimal("0.01"))
    return saleor.refund(config, ledger, amount, RefundData([OrderLineInfo(line, quantity)]))


def _settle_only(saleor: SaleorPayment, config: GatewayConfig, ledger: MemoryLedger) -> None:
    """Settle the payment's open entries the way a next refund would, sending nothing."""
    from saleor_multisafepay_refund.multisafepay.order import parse_order
    from saleor_multisafepay_refund.refunds.flow import settle_refunds, unrecorded_refunds

    # The faults are over: this last look gets a real timeout, not the 40 ms that makes the
    # injected delays time out (on a loaded machine a plain GET can take longer than that).
    client = replace(config, read_timeout=5.0).client()
    try:
        order = parse_order(client.get_order(saleor.msp_order_id))
    finally:
        client.close()
    recorded = {t.token for t in saleor.transactions if t.is_success}
    entries, _ = settle_refunds(ledger, str(saleor.payment_id), order, recorded, config)
    saleor.record(unrecorded_refunds(entries, recorded))
