"""Creating MultiSafepay orders (groundwork for payments): the client, the emulator's checks,
and a created order refunded by cart exactly."""

from __future__ import annotations

from decimal import Decimal

import pytest

from saleor_multisafepay_refund.errors import ApiError
from saleor_multisafepay_refund.multisafepay.client import MultiSafepayClient
from saleor_multisafepay_refund.multisafepay.order_cart import CartLine, build_order_cart
from saleor_multisafepay_refund.multisafepay.refund_body import RefundRequest
from saleor_multisafepay_refund.refunds.send import RefundStatus, refund_order

KEY = "test-key-0123456789abcdef"  # the conftest emulator's key
LINES = [
    CartLine("111111", "Geometric Candle Holders", Decimal("74.38"), 3, Decimal("0.21")),
    CartLine("666666", "Nice apple", Decimal("32.11"), 1, Decimal("0.09")),
    CartLine("msp-shipping", "Shipping", Decimal("8.26"), 1, Decimal("0.21")),
]


def order_body(order_id, changes=None):
    cart = build_order_cart(LINES, Decimal("315.00"), "EUR")
    body = {
        "type": "redirect",
        "order_id": order_id,
        "gateway": "PAYAFTER",
        "currency": "EUR",
        "amount": 31500,
        "description": f"Order {order_id}",
        **cart.body_fields(),
    }
    body.update(changes or {})
    return body


def test_a_created_order_is_read_back_and_refunded_by_cart_exactly(emulator):
    client = MultiSafepayClient(KEY, base_url=emulator.base_url)

    created = client.create_order(order_body("new-1"))
    outcome = refund_order(client, "new-1", RefundRequest(full=True))

    assert created["order_id"] == "new-1" and created["payment_url"].endswith("/pay/new-1")
    assert outcome.status is RefundStatus.REFUNDED
    assert outcome.amount == Decimal("315.00")
    assert emulator.order("new-1")["amount_refunded"] == 31500


@pytest.mark.parametrize(
    ("changes", "code", "words"),
    [
        ({"amount": 31600}, 1027, "comes to 315.00 EUR"),
        ({"amount": 0}, 1001, "above 0"),
        ({"currency": "EURO"}, 1002, "3-letter"),
        ({"type": "mail"}, 1016, "type must be"),
        ({"order_id": "x" * 51}, 1016, "longer than 50"),
        ({"shopping_cart": {}}, 1016, "needs shopping_cart.items"),
        # Bad cart data is refused naming the field, never an emulator error (9999, HTTP 500).
        ({"shopping_cart": {"items": ["x"]}}, 1016, "shopping_cart.items[0] is not an object"),
        (
            {"shopping_cart": {"items": [{"unit_price": "abc", "quantity": 1}]}},
            1031,
            "shopping_cart.items[0].unit_price",
        ),
        (
            {"shopping_cart": {"items": [{"unit_price": "1", "quantity": "2.5"}]}},
            1016,
            "not a whole number above 0",
        ),
    ],
)
def test_the_emulator_refuses_an_order_that_does_not_add_up_or_lacks_data(
    emulator, changes, code, words
):
    client = MultiSafepayClient(KEY, base_url=emulator.base_url)

    with pytest.raises(ApiError) as refused:
        client.create_order(order_body("new-2", changes))

    assert refused.value.error_code == code and words in refused.value.error_info


def test_an_order_id_is_used_once(emulator):
    client = MultiSafepayClient(KEY, base_url=emulator.base_url)
    client.create_order(order_body("new-3"))

    with pytest.raises(ApiError) as refused:
        client.create_order(order_body("new-3"))

    assert "already used" in refused.value.error_info
    assert (refused.value.error_code, refused.value.http_status) == (1016, 400)  # not "unknown"
    assert len([r for r in emulator.requests if r.method == "POST"]) == 2
