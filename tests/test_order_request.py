"""The POST /orders body of a payment: addresses split as MultiSafepay asks, nothing empty sent,
and the cart carried whole."""

from __future__ import annotations

from decimal import Decimal

import pytest

from saleor_multisafepay_refund.multisafepay.order_body import (
    Address,
    PaymentOrder,
    order_body,
    split_street,
)
from saleor_multisafepay_refund.multisafepay.order_cart import CartLine, build_order_cart
from saleor_multisafepay_refund.multisafepay.statuses import PaymentState, payment_state


@pytest.mark.parametrize(
    ("street", "address1", "house_number"),
    [
        ("Kraanspoor 39C", "Kraanspoor", "39C"),
        ("Kraanspoor 39 C", "Kraanspoor", "39C"),
        ("Damrak 1-3", "Damrak", "1-3"),
        ("Hoofdstraat 12 bis", "Hoofdstraat", "12bis"),
        ("Straße des 17. Juni 135", "Straße des 17. Juni", "135"),
        ("  Lange   Voorhout 9  ", "Lange Voorhout", "9"),
        ("10 Downing Street", "10 Downing Street", ""),
        ("Postbus", "Postbus", ""),
    ],
)
def test_the_house_number_is_sent_apart_from_the_street(street, address1, house_number):
    assert split_street(street) == (address1, house_number)


def payment_order(**changes):
    cart = build_order_cart(
        [CartLine("SKU-1", "Mug", Decimal("10.00"), 2, Decimal("0.21"))], Decimal("24.20"), "EUR"
    )
    values = dict(
        order_id="saleor-7-ab12cd",
        amount=Decimal("24.20"),
        currency="EUR",
        description="Saleor checkout 7",
        gateway="KLARNA",
        cart=cart,
        notification_url="https://shop.example/plugins/channel/default/multisafepay/notification",
        redirect_url="https://store.example/return",
        cancel_url="https://store.example/return",
        email="jan@example.com",
        ip_address="203.0.113.9",
        locale="nl_NL",
        billing=Address(
            first_name="Jan",
            last_name="Jansen",
            street_address_1="Kraanspoor 39C",
            postal_code="1033 SC",
            city="Amsterdam",
            country="nl",
            phone="+31201234567",
        ),
        shipping=Address(
            first_name="Jan",
            last_name="Jansen",
            street_address_1="Damrak 1",
            postal_code="1012 LG",
            city="Amsterdam",
            country="NL",
        ),
    )
    values.update(changes)
    return PaymentOrder(**values)


def test_a_redirect_order_carries_amount_cart_customer_delivery_and_return_urls():
    body = order_body(payment_order())

    assert body["type"] == "redirect" and body["order_id"] == "saleor-7-ab12cd"
    assert body["amount"] == 2420 and body["currency"] == "EUR" and body["gateway"] == "KLARNA"
    assert body["payment_options"] == {
        "notification_url": "https://shop.example/plugins/channel/default/multisafepay/notification",
        "notification_method": "POST",
        "redirect_url": "https://store.example/return",
        "cancel_url": "https://store.example/return",
        "close_window": False,
    }
    assert body["customer"] == {
        "locale": "nl_NL",
        "ip_address": "203.0.113.9",
        "email": "jan@example.com",
        "first_name": "Jan",
        "last_name": "Jansen",
        "address1": "Kraanspoor",
        "house_number": "39C",
        "zip_code": "1033 SC",
        "city": "Amsterdam",
        "country": "NL",
        "phone": "+31201234567",
    }
    assert body["delivery"]["address1"] == "Damrak" and body["delivery"]["house_number"] == "1"
    assert body["shopping_cart"]["items"][0]["merchant_item_id"] == "SKU-1"
    assert body["checkout_options"]["tax_tables"]["alternate"][1]["rules"] == [{"rate": "0.21"}]


def test_without_a_chosen_method_or_addresses_the_payment_page_asks_and_nothing_empty_is_sent():
    body = order_body(payment_order(gateway="", billing=None, shipping=None, ip_address=""))

    assert "gateway" not in body and "delivery" not in body
    assert body["customer"] == {"locale": "nl_NL", "email": "jan@example.com"}
    assert "shopping_cart" in body  # the cart is sent all the same


def test_an_amount_with_a_fraction_of_a_cent_is_refused_before_anything_is_sent():
    with pytest.raises(ValueError, match="more decimals"):
        order_body(payment_order(amount=Decimal("24.205")))


@pytest.mark.parametrize(
    ("status", "gateway", "state"),
    [
        ("initialized", "KLARNA", PaymentState.PENDING),
        ("uncleared", "IDEAL", PaymentState.PENDING),
        ("uncleared", "PAYAFTER", PaymentState.AUTHORIZED),
        ("chargedback", "VISA", PaymentState.CHARGED_BACK),
        ("completed", "KLARNA", PaymentState.AUTHORIZED),
        ("completed", "PAYAFTER", PaymentState.AUTHORIZED),
        ("completed", "IDEAL", PaymentState.CAPTURED),
        ("completed", "VISA", PaymentState.CAPTURED),
        ("shipped", "KLARNA", PaymentState.CAPTURED),
        ("partial_refunded", "PAYAFTER", PaymentState.CAPTURED),
        ("refunded", "IDEAL", PaymentState.CAPTURED),
        ("declined", "KLARNA", PaymentState.FAILED),
        ("cancelled", "IDEAL", PaymentState.FAILED),
        ("void", "PAYAFTER", PaymentState.FAILED),
        ("expired", "IDEAL", PaymentState.FAILED),
        ("Completed ", "ideal", PaymentState.CAPTURED),
        ("something-new", "IDEAL", PaymentState.PENDING),
    ],
)
def test_what_a_multisafepay_status_means_for_the_saleor_payment(status, gateway, state):
    assert payment_state(status, gateway) is state
