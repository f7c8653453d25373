"""The Saleor-facing refund flow, with objects shaped like Saleor's, against the emulator."""

from __future__ import annotations

import hashlib
from decimal import Decimal

import pytest

from saleor_multisafepay_refund.answers import GatewayAnswer
from saleor_multisafepay_refund.config import GatewayConfig, InvalidConfiguration, ItemIdSource
from saleor_multisafepay_refund.emulator import Emulator, Fault, FaultKind
from saleor_multisafepay_refund.multisafepay import wire
from saleor_multisafepay_refund.multisafepay.methods import SignConvention
from saleor_multisafepay_refund.plugin.asks import refund_payment, refuse_unconfigured
from saleor_multisafepay_refund.refunds.ledger import MemoryLedger

from .factories import SEED_ITEMS, item, order_data, seed_order
from .saleor_shapes import (
    APPLE,
    CANDLES,
    Fulfillment,
    FulfillmentLine,
    FulfillmentLineData,
    OrderLine,
    OrderLineInfo,
    PaymentData,
    RefundData,
)
from .test_cart import SEED_BODY

KEY = "gateway-key-0123456789abcdef"


@pytest.fixture
def msp():
    with Emulator(api_key=KEY, duplicate_window_seconds=0) as emulator:
        emulator.add_order(seed_order(order_id="o1"))
        emulator.add_order(seed_order("KLARNA", order_id="k1"))
        emulator.add_order(order_data([], gateway="VISA", amount=5000, order_id="card"))
        yield emulator


class Refunder:
    """Calls the flow the way the plugin does, with a ledger in memory."""

    def __init__(self, emulator: Emulator, **config) -> None:
        self.config = GatewayConfig(api_key=KEY, api_url=emulator.base_url, **config)
        self.ledger = MemoryLedger()

    def __call__(self, payment: PaymentData) -> GatewayAnswer:
        return refund_payment(self.config, payment, self.ledger)


def lines(*pairs) -> RefundData:
    return RefundData(order_lines_to_refund=[OrderLineInfo(line, qty) for line, qty in pairs])


def test_refunding_order_lines_sends_the_seed_body_and_answers_saleor(msp):
    refund = Refunder(msp)

    answer = refund(PaymentData(Decimal("180.00"), token="o1", refund_data=lines((CANDLES, 2))))

    [post] = msp.refund_posts("o1")
    assert wire.dumps(post.json) == wire.dumps(wire.loads(SEED_BODY))
    # Two calls, one GET and one POST, over one connection.
    assert [(r.method, r.client_port) for r in msp.requests] == [
        ("GET", post.client_port),
        ("POST", post.client_port),
    ]
    refund_id = str(msp.order("o1")["related_transactions"][0]["transaction_id"])
    assert answer == GatewayAnswer(
        is_success=True,
        amount=Decimal("180.00"),
        currency="EUR",
        transaction_id=refund_id,
        error=None,
        raw_response=answer.raw_response,
        psp_reference=refund_id,
        note=answer.note,
    )
    assert answer.raw_response["request"] == wire.dumps(post.json)
    assert KEY not in repr(answer.raw_response)
    assert answer.note == (
        f"MultiSafepay refunded EUR 180.00 of order o1 (refund {refund_id}): "
        "2 x Geometric Candle Holders (111111)."
    )


def test_saleor_keeps_and_the_ledger_fingerprints_the_very_bytes_sent(msp):
    # Given a refund made
    refund = Refunder(msp)

    answer = refund(PaymentData(Decimal("180.00"), token="o1", refund_data=lines((CANDLES, 2))))

    # Then the request Saleor's transaction keeps is byte for byte the body MultiSafepay got,
    # and the ledger's fingerprint is of those bytes: one body, not three renderings of it
    [post] = msp.refund_posts("o1")
    assert answer.raw_response["request"].encode("utf-8") == post.body
    [entry] = refund.ledger.entries("1")
    assert entry.body_fingerprint == hashlib.sha256(post.body).hexdigest()


def test_order_and_fulfillment_lines_of_one_item_add_up_and_shipping_is_added(msp):
    refund_data = RefundData(
        order_lines_to_refund=[OrderLineInfo(CANDLES, 1)],
        fulfillment_lines_to_refund=[FulfillmentLineData(FulfillmentLine(CANDLES, 2), 1)],
        refund_shipping_costs=True,
    )

    answer = Refunder(msp)(PaymentData(Decimal("190.00"), token="o1", refund_data=refund_data))

    assert answer.is_success
    sent = msp.refund_posts("o1")[0].json["checkout_data"]["items"]
    copies = [(i["merchant_item_id"], i["quantity"]) for i in sent if i["quantity"].startswith("-")]
    assert copies == [("111111", "-2"), ("msp-shipping", "-1")]


def test_lines_of_an_already_refunded_fulfillment_and_replaced_lines_are_not_refunded(msp):
    refund_data = RefundData(
        fulfillment_lines_to_refund=[
            FulfillmentLineData(FulfillmentLine(CANDLES, 1, Fulfillment("refunded")), 1),
            FulfillmentLineData(FulfillmentLine(CANDLES, 1), 1, replace=True),
            FulfillmentLineData(FulfillmentLine(APPLE, 1), 1),
        ]
    )

    answer = Refunder(msp)(PaymentData(Decimal("35.00"), token="o1", refund_data=refund_data))

    assert answer.is_success and answer.amount == Decimal("35.00")
    sent = msp.refund_posts("o1")[0].json["checkout_data"]["items"]
    assert [i["merchant_item_id"] for i in sent if i["quantity"].startswith("-")] == ["666666"]


def test_a_line_with_quantity_zero_is_skipped(msp):
    answer = Refunder(msp)(
        PaymentData(Decimal("180.00"), token="o1", refund_data=lines((CANDLES, 2), (APPLE, 0)))
    )

    assert answer.is_success and answer.amount == Decimal("180.00")


def test_shipping_asked_on_an_order_without_a_shipping_line_refunds_the_products(msp):
    msp.add_order(order_data([item("A", "10", "2")], amount=2000, order_id="free"))
    products = RefundData(
        order_lines_to_refund=[OrderLineInfo(OrderLine("A", "A", None), 1)],
        refund_shipping_costs=True,
    )
    only_shipping = RefundData(refund_shipping_costs=True)
    refund = Refunder(msp)

    answer = refund(PaymentData(Decimal("10.00"), token="free", refund_data=products))
    nothing = refund(PaymentData(Decimal("5.00"), token="free", refund_data=only_shipping))

    assert answer.is_success and answer.amount == Decimal("10.00")
    assert not nothing.is_success and "no shipping line (msp-shipping)" in nothing.error


def test_products_all_refunded_before_are_never_turned_into_an_amount_refund(msp):
    refund_data = RefundData(
        fulfillment_lines_to_refund=[
            FulfillmentLineData(FulfillmentLine(CANDLES, 3, Fulfillment("refunded")), 3)
        ],
        refund_amount_is_automatically_calculated=False,
    )

    answer = Refunder(msp)(PaymentData(Decimal("315.00"), token="o1", refund_data=refund_data))

    assert not answer.is_success
    assert "refunded before" in answer.error
    assert msp.refund_posts() == []


@pytest.mark.parametrize(
    ("line", "source", "expected_id"),
    [
        (OrderLine("A", "SKU-A", "VmFyaWFudDox", 1), ItemIdSource.SKU, "SKU-A"),
        (OrderLine("A", None, "VmFyaWFudDox", 1), ItemIdSource.SKU, "VmFyaWFudDox"),
        (OrderLine("A", "", None, 7), ItemIdSource.SKU, "7"),
        (OrderLine("A", "SKU-A", "VmFyaWFudDox", 1), ItemIdSource.VARIANT_ID, "VmFyaWFudDox"),
    ],
)
def test_the_merchant_item_id_of_a_line(msp, line, source, expected_id):
    msp.add_order(order_data([item(expected_id, "10", "2")], amount=2000, order_id="m"))

    answer = Refunder(msp, merchant_item_id_source=source)(
        PaymentData(Decimal("10.00"), token="m", refund_data=lines((line, 1)))
    )

    assert answer.is_success, answer.error


def test_a_line_without_sku_or_variant_is_refused_and_noted(msp):
    refund = Refunder(msp)

    answer = refund(
        PaymentData(
            Decimal("10"), token="o1", refund_data=lines((OrderLine("Gift", None, None), 1))
        )
    )

    assert not answer.is_success
    assert answer.error == (
        "MultiSafepay refund not sent: the order line 'Gift' has no SKU and no product variant, "
        "so it cannot be found in MultiSafepay's cart."
    )
    assert answer.note == answer.error
    assert msp.refund_posts() == []


def test_an_item_not_in_msps_cart_is_refused(msp):
    answer = Refunder(msp)(
        PaymentData(Decimal("5"), token="o1", refund_data=lines((OrderLine("X", "X-1", None), 1)))
    )

    assert not answer.is_success
    assert "no item with merchant_item_id 'X-1'" in answer.error
    assert msp.refund_posts() == []


@pytest.mark.parametrize("refund_data", [None, RefundData()])
def test_an_amount_equal_to_everything_left_refunds_every_line_and_shipping(msp, refund_data):
    answer = Refunder(msp)(PaymentData(Decimal("315.00"), token="o1", refund_data=refund_data))

    assert answer.is_success and answer.amount == Decimal("315.00")
    assert msp.order("o1")["amount_refunded"] == 31500


def test_any_other_amount_without_products_is_refused_with_what_to_do(msp):
    refund = Refunder(msp)

    answer = refund(PaymentData(Decimal("100.00"), token="o1"))

    assert not answer.is_success
    assert "without saying which products" in answer.note
    assert "EUR 315.00" in answer.note and "Refund products instead" in answer.note
    assert msp.refund_posts() == []


def test_a_card_payment_is_refunded_by_saleors_amount_whatever_the_lines(msp):
    answer = Refunder(msp)(
        PaymentData(Decimal("12.34"), token="card", refund_data=lines((CANDLES, 1)))
    )

    assert answer.is_success and answer.amount == Decimal("12.34")
    assert msp.refund_posts("card")[0].json == {"currency": "EUR", "amount": 1234}


def test_a_card_payment_is_refunded_even_when_a_line_has_no_sku_or_variant(msp):
    gift = lines((OrderLine("Gift card", None, None), 1))

    answer = Refunder(msp)(PaymentData(Decimal("12.34"), token="card", refund_data=gift))

    assert answer.is_success and answer.amount == Decimal("12.34")


def test_a_difference_within_the_tolerance_proceeds_with_msps_amount(msp):
    answer = Refunder(msp)(
        PaymentData(Decimal("179.99"), token="o1", refund_data=lines((CANDLES, 2)))
    )

    assert answer.is_success and answer.amount == Decimal("180.00")


def test_a_difference_beyond_the_tolerance_is_refused_with_both_amounts(msp):
    refund = Refunder(msp, rounding_tolerance=Decimal("0.01"))

    answer = refund(PaymentData(Decimal("162.00"), token="o1", refund_data=lines((CANDLES, 2))))

    assert not answer.is_success
    assert "EUR 180.00" in answer.note and "EUR 162.00" in answer.note
    assert "discount" in answer.note
    assert len(answer.error) <= 256
    assert msp.refund_posts() == []


def test_a_klarna_order_follows_the_configured_convention(msp):
    refund = Refunder(msp, sign_conventions={"KLARNA": SignConvention.NEGATIVE_QUANTITY})

    answer = refund(PaymentData(Decimal("35"), token="k1", refund_data=lines((APPLE, 1))))

    sent = msp.refund_posts("k1")
    assert sent[0].json["checkout_data"]["items"][2]["quantity"] == "-1"
    # The emulator expects the seed's convention for Klarna: MultiSafepay's refusal is reported.
    assert not answer.is_success
    assert "MultiSafepay refund failed" in answer.error and "1031" in answer.error


def test_the_psp_reference_is_used_when_there_is_no_token(msp):
    answer = Refunder(msp)(
        PaymentData(Decimal("35"), psp_reference="o1", refund_data=lines((APPLE, 1)))
    )

    assert answer.is_success


def test_no_msp_order_id_is_refused(msp):
    refund = Refunder(msp)

    answer = refund(PaymentData(Decimal("35"), refund_data=lines((APPLE, 1))))

    assert not answer.is_success and "no MultiSafepay order id" in answer.error
    assert msp.requests == []


def test_a_currency_other_than_the_orders_is_refused(msp):
    answer = Refunder(msp)(
        PaymentData(Decimal("35"), currency="USD", token="o1", refund_data=lines((APPLE, 1)))
    )

    assert not answer.is_success and "paid in EUR" in answer.error


@pytest.mark.parametrize(
    ("fault", "success", "words"),
    [
        (Fault(FaultKind.DROP_BEFORE), False, "outcome unknown"),
        (Fault(FaultKind.UNAVAILABLE), False, "outcome unknown"),
        (Fault(FaultKind.UNAVAILABLE, apply=True), True, None),
        (Fault(FaultKind.DROP_AFTER), True, None),
        (Fault(FaultKind.SERVER_ERROR), False, "outcome unknown"),
        (Fault(FaultKind.SERVER_ERROR, apply=True), True, None),
        (Fault(FaultKind.SLOW, delay=0.6, apply=False), False, "outcome unknown"),
    ],
)
def test_a_lost_answer_is_reported_as_what_really_happened(msp, fault, success, words):
    msp.inject(fault)
    refund = Refunder(msp, read_timeout=0.3)

    answer = refund(PaymentData(Decimal("35"), token="o1", refund_data=lines((APPLE, 1))))

    assert answer.is_success is success
    assert len(msp.refund_posts("o1")) == 1
    if words:
        # Saleor keeps 256 characters of the error; the order's history has it all.
        assert words in answer.note and answer.note.startswith(answer.error.rstrip("…"))
    else:
        assert answer.transaction_id == str(
            msp.order("o1")["related_transactions"][0]["transaction_id"]
        )


def test_a_wrong_api_key_is_a_failure_without_the_key(msp):
    refund = Refunder(msp)
    refund.config = GatewayConfig(
        api_key="wrong-key-ABCDEFGHIJ", api_url=msp.base_url, settings_place="the door's place"
    )

    answer = refund(PaymentData(Decimal("35"), token="o1", refund_data=lines((APPLE, 1))))

    assert not answer.is_success
    assert "API key" in answer.error and "wrong-key-ABCDEFGHIJ" not in answer.error
    # Where to fix it, in the words of the door the refund came through.
    assert "Check the key and which MultiSafepay it is for (the door's place)." in answer.note


def test_an_unexpected_error_is_answered_not_raised(msp):
    refund = Refunder(msp)

    answer = refund(PaymentData(Decimal("35"), token="o1", refund_data=lines(("not a line", 1))))

    assert not answer.is_success
    assert "unexpected error" in answer.error and answer.note == answer.error


def test_no_api_key_is_refused_without_sending(msp):
    refund = Refunder(msp)
    refund.config = GatewayConfig(api_key="", api_url=msp.base_url)

    answer = refund(PaymentData(Decimal("35"), token="o1", refund_data=lines((APPLE, 1))))

    assert not answer.is_success
    assert "configuration cannot be used" in answer.error and answer.note == answer.error
    assert msp.requests == []


def test_a_refusal_caused_by_the_settings_says_where_the_door_keeps_them(msp):
    # The core does not know the door: each door says where its settings are changed.
    refund = Refunder(msp)
    refund.config = GatewayConfig(
        api_key="", api_url=msp.base_url, settings_place="Apps > MultiSafepay"
    )

    answer = refund(PaymentData(Decimal("35"), token="o1", refund_data=lines((APPLE, 1))))

    assert answer.note.endswith("Fix it in Apps > MultiSafepay.")
    assert "plugin" not in answer.note


def test_an_unusable_configuration_is_answered_and_noted():
    error = InvalidConfiguration({"api_url": "The API URL must use https."})

    answer = refuse_unconfigured(PaymentData(Decimal("35"), token="o1"), error)

    assert not answer.is_success and answer.transaction_id == "o1"
    assert "api_url: The API URL must use https." in answer.error and answer.note == answer.error


def test_a_dashboard_refund_the_cart_does_not_itemise_refuses_item_refunds_nothing_sent(msp):
    # Given MultiSafepay's cart shows no refund lines, and 90.00 was refunded in its dashboard
    msp.cart_shows_refunds = False
    msp.dashboard_refund("o1", 9000)
    refund = Refunder(msp)

    # When Saleor refunds a candle holder (the dashboard refund may have been just that one)
    answer = refund(PaymentData(Decimal("90.00"), token="o1", refund_data=lines((CANDLES, 1))))

    # Then nothing is sent: which items remain cannot be told from MultiSafepay or the ledger
    assert not answer.is_success and "does not show which items" in answer.note
    assert msp.refund_posts("o1") == []


def test_an_amount_refund_beside_itemised_ones_refuses_item_refunds_nothing_sent(msp):
    # Given a candle holder refunded by item (the cart shows it) and 35.00 more refunded in
    # MultiSafepay's dashboard (an amount: the cart cannot show which item it was)
    refund = Refunder(msp)
    first = refund(PaymentData(Decimal("90.00"), token="o1", refund_data=lines((CANDLES, 1))))
    assert first.is_success
    msp.dashboard_refund("o1", 3500)

    # When Saleor refunds the apple (the dashboard refund may have been just that)
    answer = refund(PaymentData(Decimal("35.00"), token="o1", refund_data=lines((APPLE, 1))))

    # Then nothing is sent, and the shop owner is told why
    assert not answer.is_success
    assert "refunds its cart itemises come to EUR 90.00" in answer.note
    assert len(msp.refund_posts("o1")) == 1


class _BrokenLedger(MemoryLedger):
    """A ledger whose table is missing (migration not run)."""

    def entries(self, payment_id):
        raise RuntimeError('relation "saleor_multisafepay_refund_refundledgerentry" does not exist')


def test_a_ledger_that_cannot_be_read_sends_nothing_and_says_what_to_run(msp):
    refund = Refunder(msp)
    refund.ledger = _BrokenLedger()

    answer = refund(PaymentData(Decimal("90.00"), token="o1", refund_data=lines((CANDLES, 1))))

    assert not answer.is_success
    assert answer.note.startswith("MultiSafepay refund not sent")
    assert "migrate saleor_multisafepay_refund" in answer.note
    assert msp.refund_posts("o1") == []


def test_a_retry_of_a_landed_refund_with_two_shipping_units_sends_nothing_again(msp):
    # Given a cart whose shipping line has quantity 2 (two parcels), refunded with a candle
    # holder; Saleor did not record it (its transaction rolled back)
    shipping = dict(SEED_ITEMS[2], quantity="2")
    msp.add_order(
        order_data([SEED_ITEMS[0], SEED_ITEMS[1], shipping], amount=32500, order_id="two")
    )
    refund = Refunder(msp)
    asked = RefundData(
        order_lines_to_refund=[OrderLineInfo(CANDLES, 1)], refund_shipping_costs=True
    )
    first = refund(PaymentData(Decimal("110.00"), token="two", refund_data=asked))
    assert first.is_success

    # When staff retry the same refund
    again = refund(PaymentData(Decimal("110.00"), token="two", refund_data=asked))

    # Then Saleor records the first one, and nothing is sent twice
    assert again.is_success and again.transaction_id == first.transaction_id
    assert len(msp.refund_posts("two")) == 1
