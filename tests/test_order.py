"""Reading MultiSafepay's order answers: lenient on types, exact on values, never a guess."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from saleor_multisafepay_refund.errors import InvalidOrderData
from saleor_multisafepay_refund.multisafepay import wire
from saleor_multisafepay_refund.multisafepay.order import parse_order

from .factories import item, order_data

FIXTURES = Path(__file__).parent / "data"


def test_given_the_recorded_pay_after_delivery_order_then_every_value_is_read_exactly():
    order = parse_order(wire.loads((FIXTURES / "msp-order.json").read_text()))

    assert (order.order_id, order.gateway, order.currency) == ("1588947171", "PAYAFTER", "EUR")
    assert (order.amount, order.amount_refunded, order.remaining) == (10000, 0, 10000)
    assert order.transaction_id == "4145725"
    assert order.refunds == ()
    [line] = order.items
    assert (line.merchant_item_id, line.unit_price, line.quantity) == (
        "111111",
        Decimal("50.00"),
        2,
    )
    assert line.raw["description"] == 1234
    assert order.tax_rates.by_selector == {
        "BTW21": Decimal("0.21"),
        "BTW6": Decimal("0.06"),
        "BTW0": Decimal("0"),
        "none": Decimal("0"),
    }
    assert order.tax_rates.rate_for("") == Decimal("0")


def test_given_the_recorded_card_order_then_it_has_no_cart_and_refunds_by_amount():
    envelope = wire.loads((FIXTURES / "msp-credit-card-order.json").read_text())

    order = parse_order(envelope["data"])

    assert (order.order_id, order.gateway, order.amount, order.items) == (
        "apitool_9290375",
        "VISA",
        1000,
        (),
    )


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("quantity", "3", 3),
        ("quantity", 3, 3),
        ("quantity", "3.0", 3),
        ("quantity", Decimal("3.000"), 3),
        ("unit_price", "19.1200000000", Decimal("19.1200000000")),
        ("unit_price", 19, Decimal(19)),
        ("unit_price", Decimal("0.1"), Decimal("0.1")),
        ("unit_price", " 5.50 ", Decimal("5.50")),
        ("merchant_item_id", 111111, "111111"),
        ("tax_table_selector", None, ""),
        ("name", 42, "42"),
    ],
)
def test_numbers_as_strings_or_numbers_are_read_exactly(field, value, expected):
    line = item("A")
    line[field] = value

    [parsed] = parse_order(order_data([line])).items

    assert getattr(parsed, field) == expected
    assert type(getattr(parsed, field)) is type(expected)


def test_related_refunds_are_read_and_other_transactions_ignored():
    data = order_data(
        [],
        gateway="VISA",
        amount=1000,
        amount_refunded="300",
        related_transactions=[
            {"type": "refund", "transaction_id": 77, "status": "Completed", "amount": 300},
            {"type": "chargeback", "transaction_id": 78, "status": "completed", "amount": 5},
            {"type": "refund", "transaction_id": 79, "status": "reserved", "amount": None},
        ],
    )

    order = parse_order(data)

    assert order.amount_refunded == 300
    assert [(r.refund_id, r.status, r.amount) for r in order.refunds] == [
        ("77", "completed", 300),
        ("79", "reserved", None),
    ]


def test_the_tax_rule_for_the_customers_country_wins():
    data = order_data([item("A", tax_table_selector="VAT")], amount=1000)
    data["checkout_options"]["alternate"] = [
        wire.loads(
            '{"name": "VAT", "rules": [{"country": "", "rate": 0.21}, '
            '{"country": "DE", "rate": "0.19"}]}'
        )
    ]
    data["customer"]["country"] = "DE"

    assert parse_order(data).tax_rates.rate_for("VAT") == Decimal("0.19")


def test_nested_tax_tables_as_sent_in_post_orders_are_read_too():
    data = order_data([], amount=0)
    data["checkout_options"] = {
        "tax_tables": {
            "default": {"rate": "0.21", "shipping_taxed": True},
            "alternate": [{"name": "low", "rules": [{"rate": "0.09"}]}],
        }
    }

    rates = parse_order(data).tax_rates

    assert (rates.default, rates.rate_for("low"), rates.rate_for("x")) == (
        Decimal("0.21"),
        Decimal("0.09"),
        Decimal("0.21"),
    )


def _broken(**changes):
    data = order_data([item("A", "10", "1")], amount=1000)
    for path, value in changes.items():
        target = data
        *parents, last = path.split("__")
        for key in parents:
            target = target[key] if not key.isdigit() else target[int(key)]
        if value is KeyError:
            del target[last]
        else:
            target[last] = value
    return data


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (["not", "an", "object"], "not a JSON object"),
        (_broken(currency=KeyError), "no currency"),
        (_broken(order_id=None), "no order_id"),
        (_broken(amount=KeyError), "amount is not a number"),
        (_broken(amount=12.5), "amount is not a number"),
        (_broken(amount="12.5"), "not a whole number"),
        (_broken(amount_refunded=2000), "inconsistent amounts"),
        (_broken(amount=-1), "inconsistent amounts"),
        (_broken(payment_details=KeyError), "payment method"),
        (_broken(shopping_cart="items"), "not an object"),
        (_broken(shopping_cart__items={"0": {}}), "not a list"),
        (_broken(shopping_cart__items=["x"]), "cart item 1 is not an object"),
        (_broken(shopping_cart__items__0__unit_price=None), "unreadable unit_price"),
        (_broken(shopping_cart__items__0__unit_price="ten"), "unreadable unit_price"),
        (_broken(shopping_cart__items__0__unit_price=10.5), "unreadable unit_price"),
        (_broken(shopping_cart__items__0__unit_price="NaN"), "unreadable unit_price"),
        (_broken(shopping_cart__items__0__quantity="1.5"), "not a whole number"),
        (_broken(shopping_cart__items__0__quantity=None), "quantity is not a number"),
        (_broken(shopping_cart__items__0__merchant_item_id=["x"]), "merchant_item_id"),
        (_broken(checkout_options__alternate__0__rules__0__rate="21"), "impossible rate"),
        (_broken(checkout_options__alternate__0__rules__0__rate="x"), "unreadable rate"),
    ],
)
def test_malformed_answers_are_refused_with_a_clear_error(data, words):
    with pytest.raises(InvalidOrderData) as raised:
        parse_order(data)

    assert words in str(raised.value)


def test_null_weight_and_numeric_description_are_kept_as_they_came():
    line = item("A", weight=None, description=1234)

    [parsed] = parse_order(order_data([line])).items

    assert parsed.raw["weight"] is None and parsed.raw["description"] == 1234


def test_a_refund_whose_amount_cannot_be_read_refuses_the_order():
    """Its size unknown, it could be taken for the refund a lost answer was about."""
    data = order_data(
        [],
        gateway="VISA",
        amount=1000,
        amount_refunded=300,
        related_transactions=[
            {"type": "refund", "transaction_id": 77, "status": "completed", "amount": "3.5"},
        ],
    )

    with pytest.raises(InvalidOrderData, match="refund amount is not a whole number"):
        parse_order(data)
