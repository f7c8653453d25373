"""Exact JSON and money: what comes in as a number goes out as the same number."""

from __future__ import annotations

from collections import OrderedDict
from decimal import Decimal

import pytest

from saleor_multisafepay_refund.multisafepay import money, wire


def test_decimals_survive_a_round_trip_digit_for_digit():
    text = (
        '{"a":19.1200000000,"b":"19.1200000000","c":3,"d":[0.21,null,true],"e":"\\u20ac \\u00fc"}'
    )

    value = wire.loads(text)

    assert value["a"] == Decimal("19.1200000000") and isinstance(value["a"], Decimal)
    assert wire.dumps(value) == text


@pytest.mark.parametrize("bad", [0.1, Decimal("NaN"), Decimal("Infinity")])
def test_inexact_or_infinite_numbers_are_never_written(bad):
    with pytest.raises((TypeError, ValueError)):
        wire.dumps({"amount": bad})


class Ratio(float):
    pass


class Lines(list):
    pass


@pytest.mark.parametrize(
    "value",
    [{"a": Ratio(1.5)}, OrderedDict(a=1.5), {"a": [OrderedDict(b=[0.1])]}, {"a": Lines([0.5])}],
)
def test_a_float_in_a_subclass_or_of_a_subclass_is_never_written(value):
    with pytest.raises(TypeError):
        wire.dumps(value)


@pytest.mark.parametrize(
    ("currency", "amount", "minor"),
    [
        ("EUR", Decimal("10.00"), 1000),
        ("eur", Decimal("0.01"), 1),
        ("JPY", Decimal("1500"), 1500),
        ("ISK", Decimal("99"), 99),
        ("KWD", Decimal("1.005"), 1005),
        ("GBP", Decimal("123456789012.34"), 12345678901234),
    ],
)
def test_minor_units_follow_the_currency(currency, amount, minor):
    assert money.to_minor_units(amount, currency) == minor
    assert money.from_minor_units(minor, currency) == amount


@pytest.mark.parametrize(("currency", "amount"), [("EUR", "0.001"), ("JPY", "0.5")])
def test_a_fraction_of_a_minor_unit_is_refused(currency, amount):
    with pytest.raises(ValueError):
        money.to_minor_units(Decimal(amount), currency)


@pytest.mark.parametrize(
    ("amount", "rounded"),
    [("0.005", "0.01"), ("-0.005", "-0.01"), ("2.675", "2.68"), ("1.004999", "1.00")],
)
def test_rounding_is_half_up_away_from_zero(amount, rounded):
    assert money.round_money(Decimal(amount), "EUR") == Decimal(rounded)


@pytest.mark.parametrize(
    "value",
    [1.5, True, None, "abc", "NaN", [], "1e999999999999", "-1e16", 10**16, "1_000", "\u0661"],
)
def test_parse_decimal_refuses_what_is_not_an_exact_finite_number(value):
    with pytest.raises(ValueError):
        money.parse_decimal(value)


def test_output_is_ascii_with_every_other_character_escaped_as_json_does():
    value = {"name": "Caf\u00e9 \u2028 \U0001f600 \ud800", "amount": Decimal("1.10")}

    text = wire.dumps(value)

    assert text.isascii() and len(text.splitlines()) == 1
    assert wire.loads(text) == value
    assert text == '{"name":"Caf\\u00e9 \\u2028 \\ud83d\\ude00 \\ud800","amount":1.10}'


@pytest.mark.parametrize("text", ['{"a": NaN}', '{"a": Infinity}', '{"a": -Infinity}'])
def test_nan_and_infinity_are_not_read(text):
    with pytest.raises(ValueError):
        wire.loads(text)


def with_copies_cases() -> list:
    line = {"name": "Candle", "unit_price": Decimal("19.12"), "quantity": "2", "w": [0.5]}
    line["w"] = [Decimal("0.5"), None]
    return [
        # Every line copied with its quantity changed: written from one encoding.
        ([line, dict(line, quantity=3)], [{"quantity": "-2"}, {"quantity": -3}]),
        # Decimals in the changed values only.
        ([{"quantity": 1, "unit_price": "9"}], [{"quantity": Decimal("-1.0")}]),
        # A NUL in a string, a marker's look-alike: the plain path.
        ([{"quantity": 1, "name": "\x00"}, {"quantity": 2}], [{"quantity": -1}] * 2),
        ([{"quantity": 1, "name": "\x00#\x00", "p": Decimal("1.5")}], [{"quantity": -1}]),
        ([{"quantity": 1}], [{"quantity": "\x00"}]),
        # Values with commas of their own: cut at markers, not at commas.
        (
            [{"quantity": "1,5", "n": "a"}, {"quantity": 2}],
            [{"quantity": "-1,5"}, {"quantity": -2}],
        ),
        ([{"quantity": Decimal("1.5")}], [{"quantity": "-1,5"}]),
        # A key that ends like "quantity", two changed values, a new key, lines not copied.
        ([{'a"quantity': 1, "quantity": 2}], [{"quantity": -2}]),
        ([line], [{"quantity": "-2", "unit_price": Decimal("-19.12")}]),
        ([{"name": "x"}], [{"quantity": -1}]),
        ([line, {"quantity": 1}], [None, {"quantity": -1}]),
        ([OrderedDict(quantity=1, name="x")], [{"quantity": -1}]),
        ([], []),
    ]


@pytest.mark.parametrize(("originals", "changes"), with_copies_cases())
def test_a_list_with_copies_is_written_as_its_plain_list(originals, changes):
    plain = []
    for original, changed in zip(originals, changes):
        plain += [original] if changed is None else [original, {**original, **changed}]

    items = wire.WithCopies(originals, changes)

    assert wire.dumps({"items": items, "n": Decimal("1.0")}) == wire.dumps(
        {"items": plain, "n": Decimal("1.0")}
    )
    assert wire.dumps(items) == wire.dumps(plain) and items == plain


@pytest.mark.parametrize(
    ("amount", "currency", "shown_as"),
    [
        ("12.300", "USD", "12.30"),  # Saleor keeps three decimals
        ("15.5", "EUR", "15.50"),
        ("7", "JPY", "7"),
        ("12.305", "USD", "12.305"),  # a fraction of a cent stays, never rounded away
    ],
)
def test_an_amount_is_shown_at_its_currencys_precision_unless_that_would_round(
    amount, currency, shown_as
):
    assert str(money.at_precision(Decimal(amount), currency)) == shown_as
