"""The cart a MultiSafepay order is created with adds up, and refunds read it back exactly."""

from __future__ import annotations

from decimal import Decimal

import pytest

from saleor_multisafepay_refund.multisafepay.order import parse_order
from saleor_multisafepay_refund.multisafepay.order_cart import (
    BALANCING_ITEM_ID,
    CartDoesNotAddUp,
    CartLine,
    build_order_cart,
)
from saleor_multisafepay_refund.multisafepay.refund_body import RefundRequest, build_refund

CANDLES = CartLine("111111", "Geometric Candle Holders", Decimal("74.38"), 3, Decimal("0.21"))
APPLE = CartLine("666666", "Nice apple", Decimal("32.11"), 1, Decimal("0.09"))
SHIPPING = CartLine("msp-shipping", "Shipping", Decimal("8.26"), 1, Decimal("0.21"))
DISCOUNT = CartLine("discount", "Spring discount", Decimal("-8.26"), 1, Decimal("0.21"))


def created_order(cart, amount):
    """The order as MultiSafepay's GET would show it after creation with this cart."""
    return parse_order(
        {
            "order_id": "new-1",
            "currency": "EUR",
            "amount": int(amount * 100),
            "payment_details": {"type": "PAYAFTER"},
            **cart.body_fields(),
        }
    )


def test_a_cart_that_adds_up_has_no_balancing_line_and_a_table_per_rate():
    # 74.38 x 3 x 1.21 = 270.00 (269.9994), 32.11 x 1.09 = 35.00 (34.9999), 8.26 x 1.21 = 9.99
    cart = build_order_cart([CANDLES, APPLE, SHIPPING], Decimal("314.99"), "EUR")

    assert [item["merchant_item_id"] for item in cart.items] == ["111111", "666666", "msp-shipping"]
    assert cart.items[0] == {
        "name": "Geometric Candle Holders",
        "description": "",
        "unit_price": "74.38",
        "quantity": 3,
        "merchant_item_id": "111111",
        "tax_table_selector": "rate-0.21",
    }
    names = [t["name"] for t in cart.checkout_options["tax_tables"]["alternate"]]
    assert names == ["rate-0", "rate-0.09", "rate-0.21"]
    assert cart.total == Decimal("314.99")


@pytest.mark.parametrize("amount", ["315.00", "314.98", "315.01"])
def test_rounding_differences_get_a_balancing_line_that_says_so(amount):
    cart = build_order_cart([CANDLES, APPLE, SHIPPING], Decimal(amount), "EUR")

    assert cart.total == Decimal(amount)
    difference = Decimal(amount) - Decimal("314.99")
    if difference:
        balancing = cart.items[-1]
        assert balancing["merchant_item_id"] == BALANCING_ITEM_ID
        assert "Rounding difference" in balancing["name"]
        assert Decimal(balancing["unit_price"]) == difference


@pytest.mark.parametrize("amount", ["315.00", "305.01"])
def test_refunding_everything_of_the_created_order_is_exactly_its_amount(amount):
    lines = [CANDLES, APPLE, SHIPPING] + ([DISCOUNT] if amount == "305.01" else [])
    cart = build_order_cart(lines, Decimal(amount), "EUR")

    plan = build_refund(created_order(cart, Decimal(amount)), RefundRequest(full=True))

    assert plan.amount == Decimal(amount)


def test_a_difference_rounding_cannot_explain_is_refused():
    with pytest.raises(CartDoesNotAddUp) as refused:
        build_order_cart([CANDLES, APPLE, SHIPPING], Decimal("320.00"), "EUR")

    assert "EUR 314.99" in str(refused.value) and "EUR 320.00" in str(refused.value)


def test_an_empty_cart_is_refused():
    with pytest.raises(CartDoesNotAddUp):
        build_order_cart([], Decimal("10"), "EUR")
