"""The refund engine: given an order's cart and a request, the exact body, or a refusal."""

from __future__ import annotations

import copy
import dataclasses
import pickle
from decimal import Decimal
from pathlib import Path
from typing import Any, Dict, Type

import pytest

from saleor_multisafepay_refund.errors import (
    AmbiguousItem,
    AmountExceedsRemaining,
    AmountNotAllowed,
    ConflictingRequest,
    CurrencyMismatch,
    EmptyRefund,
    InvalidAmount,
    InvalidQuantity,
    ItemsNotSupported,
    QuantityExceedsRemaining,
    RefundRefused,
    RefundsNotShown,
    UnknownItem,
)
from saleor_multisafepay_refund.multisafepay import wire
from saleor_multisafepay_refund.multisafepay.methods import SignConvention, sign_convention
from saleor_multisafepay_refund.multisafepay.order import CartItem, cart_item, parse_order
from saleor_multisafepay_refund.multisafepay.refund_body import (
    ItemBalance,
    KnownRefunds,
    RefundLine,
    RefundRequest,
    build_refund,
    item_balance,
    item_balances,
    refund_line,
)

from .factories import item, order_data, seed_order

SEED_BODY = (Path(__file__).parent / "data" / "seed-refund-body.json").read_text()


def plan_for(data: Dict[str, Any], **request: Any) -> Any:
    return build_refund(parse_order(data), RefundRequest(**request))


def items_of(plan: Any) -> Any:
    return plan.body["checkout_data"]["items"]


# --- the seed page ----------------------------------------------------------------------------


def test_given_the_seed_order_when_two_candle_holders_are_refunded_then_body_is_the_seed_example():
    plan = plan_for(seed_order("PAYAFTER"), items={"111111": 2})

    assert wire.dumps(plan.body) == wire.dumps(wire.loads(SEED_BODY))
    assert plan.amount == Decimal("180.00")
    assert plan.amount_minor == 18000
    assert plan.convention is SignConvention.NEGATIVE_QUANTITY


def test_given_the_seed_order_on_klarna_then_the_copy_has_negative_unit_price():
    plan = plan_for(seed_order("KLARNA"), items={"111111": 2})

    expected = wire.loads(SEED_BODY)
    expected["checkout_data"]["items"][1].update(unit_price="-90", quantity="2")
    assert wire.dumps(plan.body) == wire.dumps(expected)
    assert plan.amount == Decimal("180.00")


# --- sign conventions -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("gateway", "overrides", "expected"),
    [
        ("KLARNA", None, SignConvention.NEGATIVE_UNIT_PRICE),
        ("klarna", None, SignConvention.NEGATIVE_UNIT_PRICE),
        ("PAYAFTER", None, SignConvention.NEGATIVE_QUANTITY),
        ("AFTERPAY", None, SignConvention.NEGATIVE_QUANTITY),
        ("IN3", None, SignConvention.NEGATIVE_QUANTITY),
        ("BILLINK", None, SignConvention.NEGATIVE_QUANTITY),
        ("EINVOICE", None, SignConvention.NEGATIVE_QUANTITY),
        ("KLARNA", {"KLARNA": SignConvention.NEGATIVE_QUANTITY}, SignConvention.NEGATIVE_QUANTITY),
        ("KLARNA", {"klarna": "negative_quantity"}, SignConvention.NEGATIVE_QUANTITY),
        ("AFTERPAY", {"AFTERPAY": "negative_unit_price"}, SignConvention.NEGATIVE_UNIT_PRICE),
        ("AFTERPAY", {"KLARNA": "negative_quantity"}, SignConvention.NEGATIVE_QUANTITY),
    ],
)
def test_sign_convention_table(gateway, overrides, expected):
    assert sign_convention(gateway, overrides) is expected


def test_given_an_override_when_building_then_the_copy_follows_it():
    order = parse_order(seed_order("KLARNA"))
    plan = build_refund(
        order, RefundRequest(items={"666666": 1}), {"KLARNA": SignConvention.NEGATIVE_QUANTITY}
    )

    copy = items_of(plan)[2]
    assert (copy["merchant_item_id"], copy["unit_price"], copy["quantity"]) == (
        "666666",
        "35",
        "-1",
    )


@pytest.mark.parametrize(
    ("gateway", "unit_price", "quantity", "copy_price", "copy_quantity"),
    [
        ("PAYAFTER", "19.1200000000", 3, "19.1200000000", -2),
        ("PAYAFTER", Decimal("19.12"), "3", Decimal("19.12"), "-2"),
        ("KLARNA", "19.1200000000", 3, "-19.1200000000", 2),
        ("KLARNA", Decimal("19.12"), "3", Decimal("-19.12"), "2"),
        ("KLARNA", 20, 3, -20, 2),
    ],
)
def test_given_mixed_json_types_then_the_copy_keeps_each_fields_type(
    gateway, unit_price, quantity, copy_price, copy_quantity
):
    data = order_data([item("A", unit_price, quantity)], gateway=gateway, amount=10000)

    copy = items_of(plan_for(data, items={"A": 2}))[1]

    assert copy["unit_price"] == copy_price and type(copy["unit_price"]) is type(copy_price)
    assert copy["quantity"] == copy_quantity and type(copy["quantity"]) is type(copy_quantity)
    assert {k: v for k, v in copy.items() if k not in ("unit_price", "quantity")} == {
        k: v
        for k, v in data["shopping_cart"]["items"][0].items()
        if k not in ("unit_price", "quantity")
    }


def test_given_extra_item_fields_then_the_copy_repeats_them_all():
    line = item("A", "5", 2, cashback="", image="", options=[], product_url="", currency="EUR")
    line["description"] = 1234
    line["weight"] = {"unit": None, "value": 12}
    copy = items_of(plan_for(order_data([line], amount=1000), items={"A": 1}))[1]

    assert copy == dict(line, quantity=-1)


# --- quantities already refunded --------------------------------------------------------------


@pytest.mark.parametrize(
    ("cart", "bought", "refunded", "problem"),
    [
        ([item("A", "10", "3")], 3, 0, None),
        ([item("A", "10", "2"), item("A", "10", "1")], 3, 0, None),
        ([item("A", "10", "3"), item("A", "10", "-1")], 3, 1, None),
        ([item("A", "10", "3"), item("A", "-10", "2")], 3, 2, None),
        ([item("A", "10", 3), item("A", "10", -1), item("A", "-10", 1)], 3, 2, None),
        ([item("A", "10.00", "3"), item("A", "10", "-1")], 3, 1, None),
        ([item("D", "-5", "1"), item("D", "5", "1")], 1, 1, None),
        ([item("A", "10", "3"), item("A", "12", "1")], 3, 0, "different prices"),
        ([item("A", "10", "3"), item("A", "10", "1", name="Other")], 3, 0, "differ"),
        ([item("A", "10", "-1")], 0, 1, "not the original"),
    ],
)
def test_item_balances(cart, bought, refunded, problem):
    balance = item_balances(parse_order(order_data(cart, amount=100000)))[
        "A" if cart[0]["merchant_item_id"] == "A" else "D"
    ]

    assert (balance.bought, balance.refunded) == (bought, refunded)
    if problem is None:
        assert balance.problem is None
    else:
        assert problem in balance.problem


def test_values_made_once_per_line_by_a_twin_are_what_their_dataclass_makes():
    # CartItem, ItemBalance and RefundLine are made by twins, not by their __init__ (see
    # order._CartItemMaker): a field added to one of them must be added to its twin too.
    order = parse_order(order_data([item("A", "10", "3")], amount=100000))
    plan = build_refund(order, RefundRequest(items={"A": 1}))

    for value in (order.items[0], item_balances(order)["A"], plan.lines[0]):
        names = [f.name for f in dataclasses.fields(value)]
        assert sorted(type(value).__slots__) == sorted(names)
        made = type(value)(**{name: getattr(value, name) for name in names})
        assert value == made
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(value, names[0], "changed")
        # A frozen class with slots refuses what copy and pickle do by default (order.made_again).
        for again in (copy.copy(value), copy.deepcopy(value), pickle.loads(pickle.dumps(value))):
            assert type(again) is type(value) and again == value


@pytest.mark.parametrize(
    ("make", "cls"),
    [(cart_item, CartItem), (item_balance, ItemBalance), (refund_line, RefundLine)],
)
def test_each_twin_takes_its_arguments_in_its_dataclass_order(make: Any, cls: Type[Any]):
    values = [f"the {field.name}" for field in dataclasses.fields(cls)]

    made = make(*values)

    assert type(made) is cls
    assert made == cls(*values)


def test_given_earlier_refund_lines_in_the_cart_then_they_are_repeated_and_the_copy_follows_them():
    cart = [item("A", "10", "3"), item("B", "5", "1"), item("A", "10", "-1")]
    plan = plan_for(order_data(cart, amount=3500, amount_refunded=1000), items={"A": 2})

    assert items_of(plan) == [*cart, dict(cart[0], quantity="-2")]
    assert plan.amount == Decimal("20.00")


def test_given_earlier_refunds_when_full_refund_then_only_what_remains_is_refunded():
    cart = [item("A", "10", "3"), item("A", "10", "-1"), item("msp-shipping", "4.95", "1")]
    plan = plan_for(order_data(cart, amount=3495, amount_refunded=1000), full=True)

    assert [(line.merchant_item_id, line.quantity) for line in plan.lines] == [
        ("A", 2),
        ("msp-shipping", 1),
    ]
    assert plan.amount == Decimal("24.95")


def test_given_shipping_flag_then_the_shipping_line_is_copied():
    plan = plan_for(seed_order(), items={"666666": 1}, shipping=True)

    assert items_of(plan)[-1] == dict(items_of(plan)[-2], quantity="-1")
    assert items_of(plan)[-2]["merchant_item_id"] == "msp-shipping"
    assert plan.amount == Decimal("45.00")


def test_given_another_shipping_item_id_then_that_line_is_the_shipping():
    cart = [item("A", "50", "2"), item("ship-1", "5", "1")]
    plan = plan_for(order_data(cart, amount=10500), shipping=True, shipping_item_id="ship-1")

    assert [(line.merchant_item_id, line.quantity) for line in plan.lines] == [("ship-1", 1)]


def test_given_a_cart_without_refund_lines_the_callers_record_of_refunds_is_used():
    data = seed_order(amount_refunded=9000)
    known = KnownRefunds(quantities={"111111": 1}, amount=9000)

    plan = plan_for(data, items={"111111": 2}, known_refunds=known)
    with pytest.raises(QuantityExceedsRemaining):
        plan_for(data, items={"111111": 3}, known_refunds=known)
    with pytest.raises(RefundsNotShown):
        plan_for(data, items={"111111": 1}, known_refunds=KnownRefunds({"111111": 1}, 8999))

    assert plan.amount == Decimal("180.00")


def test_a_free_item_refunded_with_a_negative_unit_price_counts_as_refunded():
    cart = [item("gift", "0", "1"), item("gift", "-0", "1")]

    balance = item_balances(parse_order(order_data(cart, gateway="KLARNA", amount=0)))["gift"]

    assert (balance.bought, balance.refunded) == (1, 1)


def test_given_a_discount_line_when_full_refund_then_the_discount_is_reversed_too():
    cart = [item("A", "50", "2"), item("discount", "-10", "1")]
    plan = plan_for(order_data(cart, amount=9000), full=True)

    assert items_of(plan)[3] == dict(cart[1], quantity="-1")
    assert plan.amount == Decimal("90.00")


# --- money ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("unit_price", "quantity", "rate", "total"),
    [
        ("19.12", 3, "0.21", Decimal("69.41")),  # 69.4056
        ("0.125", 1, "0.00", Decimal("0.13")),  # half up
        ("8.2644628099", 1, "0.21", Decimal("10.00")),  # a 10.00 gross price stored net
        ("100", 2, "0.06", Decimal("212.00")),
        ("33.33", 3, "0.09", Decimal("108.99")),  # 108.9891
    ],
)
def test_refund_total_adds_the_items_tax_and_rounds_the_line(unit_price, quantity, rate, total):
    data = order_data(
        [item("A", unit_price, 5, tax_table_selector="T")], amount=100000, tax_rates={"T": rate}
    )

    plan = plan_for(data, items={"A": quantity})

    assert plan.lines[0].total == total
    assert plan.amount == total


def test_totals_are_rounded_per_line_then_summed():
    cart = [item("A", "0.125", 1), item("B", "0.125", 1)]
    plan = plan_for(order_data(cart, amount=100), items={"A": 1, "B": 1})

    assert [line.total for line in plan.lines] == [Decimal("0.13"), Decimal("0.13")]
    assert plan.amount == Decimal("0.26")


@pytest.mark.parametrize(
    ("currency", "amount", "minor"),
    [("EUR", "12.34", 1234), ("EUR", "12.3", 1230), ("JPY", "1000", 1000), ("KWD", "1.234", 1234)],
)
def test_amount_refund_is_sent_in_minor_units(currency, amount, minor):
    data = order_data([], gateway="VISA", amount=10**6, currency=currency)

    plan = plan_for(data, amount=Decimal(amount), description="Damaged")

    assert plan.body == {"currency": currency, "amount": minor, "description": "Damaged"}
    assert plan.lines == ()


def test_full_refund_on_an_amount_gateway_refunds_what_remains():
    data = order_data([], gateway="IDEAL", amount=5000, amount_refunded=1250)

    assert plan_for(data, full=True).body == {"currency": "EUR", "amount": 3750}


def test_an_amount_equal_to_everything_left_on_a_cart_gateway_is_a_full_refund():
    plan = plan_for(seed_order(), amount=Decimal("315.00"))

    assert [(line.merchant_item_id, line.quantity) for line in plan.lines] == [
        ("111111", 3),
        ("666666", 1),
        ("msp-shipping", 1),
    ]


# --- refusals ---------------------------------------------------------------------------------

CARD = order_data([], gateway="VISA", amount=5000, amount_refunded=1000)
AMBIGUOUS = order_data([item("A", "10", "1"), item("A", "11", "1")], amount=2100)
REFUNDED_SEED = order_data(
    [
        *seed_order()["shopping_cart"]["items"],
        item("666666", "35", "-1", name="Nice apple", weight={"unit": "KG", "value": "20"}),
    ],
    amount=31500,
    amount_refunded=3500,
)
CART_NOT_SHOWING_REFUNDS = seed_order(amount_refunded=30000)


@pytest.mark.parametrize(
    ("data", "request_", "error", "words"),
    [
        (seed_order(), {"items": {"999": 1}}, UnknownItem, "no item with merchant_item_id '999'"),
        (order_data([item("A")], amount=1000), {"shipping": True}, UnknownItem, "shipping"),
        (AMBIGUOUS, {"items": {"A": 1}}, AmbiguousItem, "different prices"),
        (AMBIGUOUS, {"full": True}, AmbiguousItem, "different prices"),
        (seed_order(), {"items": {"111111": 0}}, InvalidQuantity, "whole number above zero"),
        (seed_order(), {"items": {"111111": -1}}, InvalidQuantity, "not -1"),
        (seed_order(), {"items": {"111111": 1.5}}, InvalidQuantity, "not 1.5"),
        (seed_order(), {"items": {"111111": "2"}}, InvalidQuantity, "not '2'"),
        (seed_order(), {"items": {"111111": True}}, InvalidQuantity, "not True"),
        (seed_order(), {"items": {"111111": 4}}, QuantityExceedsRemaining, "3 bought, 0 already"),
        (
            REFUNDED_SEED,
            {"items": {"666666": 1}},
            QuantityExceedsRemaining,
            "1 already refunded, 0 left",
        ),
        (seed_order(), {}, EmptyRefund, "Nothing to refund"),
        (
            seed_order(amount_refunded=31500, related_transactions=None),
            {"full": True},
            RefundsNotShown,
            "EUR 315.00",
        ),
        (CARD, {}, EmptyRefund, "give an amount"),
        (CARD, {"amount": Decimal("0")}, InvalidAmount, "more than zero"),
        (CARD, {"amount": Decimal("-5")}, InvalidAmount, "more than zero"),
        (CARD, {"amount": Decimal("1.005")}, InvalidAmount, "more decimals than EUR"),
        (CARD, {"amount": Decimal("40.01")}, AmountExceedsRemaining, "only EUR 40.00"),
        (CARD, {"items": {"A": 1}}, ItemsNotSupported, "by amount only"),
        (CARD, {"shipping": True}, ItemsNotSupported, "by amount only"),
        (CARD, {"amount": Decimal("5"), "currency": "USD"}, CurrencyMismatch, "paid in EUR"),
        (seed_order(), {"amount": Decimal("180")}, AmountNotAllowed, "Refund items instead"),
        (
            seed_order(),
            {"amount": Decimal("315"), "items": {"111111": 1}},
            AmountNotAllowed,
            "not both",
        ),
        (seed_order(), {"amount": Decimal("0")}, InvalidAmount, "more than zero"),
        (CART_NOT_SHOWING_REFUNDS, {"items": {"111111": 1}}, RefundsNotShown, "which items"),
        (CART_NOT_SHOWING_REFUNDS, {"amount": Decimal("15")}, RefundsNotShown, "EUR 300.00"),
        (CART_NOT_SHOWING_REFUNDS, {"full": True}, RefundsNotShown, "which items"),
        (seed_order(), {"full": True, "items": {"111111": 1}}, ConflictingRequest, "not both"),
        (seed_order(), {"full": True, "amount": Decimal("315")}, ConflictingRequest, "not both"),
        (CARD, {"full": True, "amount": Decimal("5")}, ConflictingRequest, "not both"),
        (CARD, {"amount": Decimal("1E+30")}, InvalidAmount, "out of range"),
    ],
)
def test_refusals_say_why_and_send_nothing(data, request_, error: Type[RefundRefused], words):
    with pytest.raises(error) as raised:
        plan_for(data, **request_)

    assert words in str(raised.value)


# --- per-line rounding: the order's last refund --------------------------------------------


def rounded_order(amount_refunded: int, refunded_lamps: int, extra: Any = ()) -> Dict[str, Any]:
    """5 x 54.32 at 9% (296.04 paid, per line), `refunded_lamps` shown refunded in the cart."""
    lamp = item("LAMP", "54.32", "5", name="Lamp", tax_table_selector="low")
    lines = [lamp, *(dict(lamp, quantity="-1") for _ in range(refunded_lamps)), *extra]
    paid = 29604 + sum(int(Decimal(line["unit_price"]) * 100) for line in extra)
    return order_data(
        lines, amount=paid, amount_refunded=amount_refunded, tax_rates={"low": "0.09", "none": "0"}
    )


@pytest.mark.parametrize("request_", [{"items": {"LAMP": 3}}, {"full": True}])
def test_the_last_units_take_what_is_left_when_per_line_rounding_exceeds_it(request_):
    # 2 refunded came to 118.42; the other 3 come to 177.63, where 177.62 is left.
    plan = plan_for(rounded_order(11842, 2), **request_)

    assert plan.amount == Decimal("177.62") and plan.rounding_taken == Decimal("0.01")
    assert [(line.quantity, line.total) for line in plan.lines] == [(3, Decimal("177.63"))]
    assert items_of(plan)[-1]["quantity"] == "-3"


def test_an_amount_of_exactly_what_is_left_refunds_the_last_units_after_rounding():
    plan = plan_for(rounded_order(11842, 2), amount=Decimal("177.62"))

    assert plan.amount == Decimal("177.62")


def test_a_refund_that_leaves_items_is_refused_for_rounding_with_the_real_cause():
    # A 0.01 item remains: the lamps alone may not take the rest.
    extra = [item("PIN", "0.01", "1", name="Pin")]
    data = rounded_order(23686, 4, extra)  # four lamps, one at a time, rounded up

    with pytest.raises(AmountExceedsRemaining) as raised:
        plan_for(data, items={"LAMP": 1})
    everything = plan_for(data, full=True)

    message = str(raised.value)
    assert "come to EUR 59.21, but only EUR 59.19" in message
    assert "rounds each refund's lines with their tax" in message
    assert "does not show every earlier refund" not in message
    assert (everything.amount, everything.rounding_taken) == (Decimal("59.19"), Decimal("0.03"))


def test_more_than_rounding_explains_is_still_refused_as_refunds_the_cart_does_not_show():
    # 5.00 refunded that neither the cart nor the caller's record puts on an item.
    data = rounded_order(500, 0)

    with pytest.raises(AmountExceedsRemaining, match="does not show every earlier refund"):
        plan_for(data, full=True, known_refunds=KnownRefunds(quantities={}, amount=500))
