"""Payments through MultiSafepay, the whole cycle, over HTTP against the emulator.

Saleor is played by `FakeSaleor` (tests/fake_saleor.py): it calls the Saleor-free flows the
way Saleor's legacy checkout calls the plugin and keeps each answer as Saleor does. The
customer pays on the emulator's payment page (a GET of `payment_url`); MultiSafepay's
notifications go to `payments.notifications.handle_notification` as received (raw body, Auth
header, query).
At every step Saleor and MultiSafepay must agree: what is captured, what is refunded, and by
which refunds.
"""

from __future__ import annotations

import copy
import threading
from dataclasses import replace
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Dict, Iterator, List, Optional

import pytest
import requests

from saleor_multisafepay_refund.config import GatewayConfig
from saleor_multisafepay_refund.emulator import (
    Emulator,
    Fault,
    FaultKind,
    RecordedRequest,
    build_order,
)
from saleor_multisafepay_refund.multisafepay.money import to_minor_units
from saleor_multisafepay_refund.payments import flow as payments
from saleor_multisafepay_refund.payments.ask import (
    CheckoutLineTotals,
    CheckoutTotals,
    PaymentContext,
)
from saleor_multisafepay_refund.payments.notifications import NotificationAnswer
from saleor_multisafepay_refund.plugin.asks import line_item_id, payment_ask

from .fake_saleor import (
    ACTION_TO_CONFIRM,
    AUTH,
    CAPTURE,
    NOTIFICATION_URL,
    RETURN_URL,
    VOID,
    FakeSaleor,
    ShopPayment,
)
from .saleor_shapes import (
    AddressData,
    FulfillmentLine,
    FulfillmentLineData,
    OrderLine,
    OrderLineInfo,
    PaymentData,
    RefundData,
    TransactionData,
)

KEY = "payment-cycle-key-0123456789abcdef"

# The seed page's order, as a Saleor checkout with Dutch VAT: 3 candle holders at 90.00 (21%),
# an apple at 35.00 (9%) whose product has no SKU, shipping 10.00 (21%): EUR 315.00.
CANDLES_VARIANT = "UHJvZHVjdFZhcmlhbnQ6MQ=="
APPLE_VARIANT = "UHJvZHVjdFZhcmlhbnQ6Mg=="
CHECKOUT = CheckoutTotals(
    lines=(
        CheckoutLineTotals(
            "Geometric Candle Holders",
            "CANDLE-3",
            CANDLES_VARIANT,
            3,
            Decimal("270.00"),
            Decimal("223.14"),
            Decimal("0.2100"),
        ),
        CheckoutLineTotals(
            "Nice apple",
            None,
            APPLE_VARIANT,
            1,
            Decimal("35.00"),
            Decimal("32.11"),
            Decimal("0.09"),
        ),
    ),
    shipping_gross=Decimal("10.00"),
    shipping_net=Decimal("8.26"),
    shipping_tax_rate=Decimal("0.21"),
    total_gross=Decimal("315.00"),
)
# The order lines Saleor makes of those checkout lines (the refund flow reads these).
CANDLES = OrderLine("Geometric Candle Holders", "CANDLE-3", CANDLES_VARIANT, 1, 3)
APPLE = OrderLine("Nice apple", None, APPLE_VARIANT, 2, 1)
BILLING = AddressData(
    first_name="Jan",
    last_name="Jansen",
    street_address_1="Kraanspoor 39C",
    city="Amsterdam",
    postal_code="1033 SC",
    country="NL",
    phone="+31201234567",
)

# The cart MultiSafepay must be given: unit prices without tax, each line's gross divided back
# (90 / 1.21, 35 / 1.09, 10 / 1.21), tax tables per rate, the shipping line last.
CART = [
    {
        "name": "Geometric Candle Holders",
        "description": "",
        "unit_price": "74.3801652893",
        "quantity": 3,
        "merchant_item_id": "CANDLE-3",
        "tax_table_selector": "rate-0.21",
    },
    {
        "name": "Nice apple",
        "description": "",
        "unit_price": "32.1100917431",
        "quantity": 1,
        "merchant_item_id": APPLE_VARIANT,
        "tax_table_selector": "rate-0.09",
    },
    {
        "name": "Shipping",
        "description": "",
        "unit_price": "8.2644628099",
        "quantity": 1,
        "merchant_item_id": "msp-shipping",
        "tax_table_selector": "rate-0.21",
    },
]
TAX_TABLES = {
    "tax_tables": {
        "default": {"shipping_taxed": True, "rate": "0"},
        "alternate": [
            {"name": "rate-0", "standalone": True, "rules": [{"rate": "0"}]},
            {"name": "rate-0.09", "standalone": True, "rules": [{"rate": "0.09"}]},
            {"name": "rate-0.21", "standalone": True, "rules": [{"rate": "0.21"}]},
        ],
    }
}
# MultiSafepay's statuses of an order whose money is the shop's (payment-statuses page).
CAPTURED_STATUSES = {"shipped", "refunded", "partial_refunded"}


@pytest.fixture
def emu(request: pytest.FixtureRequest) -> Iterator[Emulator]:
    """The emulator; indirect param: whether a GET cart shows earlier refund lines (which
    MultiSafepay's documentation leaves open)."""
    with Emulator(KEY, cart_shows_refunds=getattr(request, "param", True)) as emulator:
        yield emulator


@pytest.fixture
def saleor(emu: Emulator) -> FakeSaleor:
    return FakeSaleor(GatewayConfig(api_key=KEY, api_url=emu.base_url))


def start(
    saleor: FakeSaleor,
    gateway: str = "",
    checkout: Optional[CheckoutTotals] = CHECKOUT,
    amount: Decimal = Decimal("315.00"),
    payment_data: Optional[Dict[str, Any]] = None,
) -> ShopPayment:
    """A checkout paid with the plugin: paymentData names `gateway` (or none)."""
    return saleor.checkout(
        amount,
        checkout,
        [CANDLES, APPLE],
        payment_data if payment_data is not None else ({"gateway": gateway} if gateway else {}),
        billing=BILLING,
        shipping=BILLING,
    )


def pay_on_page(payment_url: str, **params: str) -> requests.Response:
    """The customer on MultiSafepay's payment page; the browser is sent back (not followed)."""
    response = requests.get(payment_url, params=params, timeout=5, allow_redirects=False)
    assert response.status_code == 302, response.text
    return response


def paid(saleor: FakeSaleor, emu: Emulator, gateway: str, **params: str) -> ShopPayment:
    """A checkout processed and paid by `gateway` on the payment page, the customer not back."""
    payment = start(saleor, gateway)
    answer = saleor.process(payment)
    assert answer.is_success, answer.error
    pay_on_page(payment_url(answer.action_required_data), **params)
    return payment


def payment_url(action_required_data: Optional[Dict[str, str]]) -> str:
    assert action_required_data is not None
    return action_required_data["payment_url"]


def created_orders(emu: Emulator) -> List[RecordedRequest]:
    return [r for r in emu.requests if (r.method, r.path) == ("POST", "/v1/json/orders")]


def patches(emu: Emulator) -> List[Any]:
    return [r.json for r in emu.requests if r.method == "PATCH"]


def refund_copy(item: Dict[str, Any], quantity: int, gateway: str) -> Dict[str, Any]:
    """The seed page's refund copy: Klarna negates unit_price, the others quantity."""
    copied = copy.deepcopy(item)
    if gateway == "KLARNA":
        copied.update(unit_price="-" + item["unit_price"], quantity=quantity)
    else:
        copied.update(quantity=-quantity)
    return copied


def agree(emu: Emulator, payment: ShopPayment, card: bool = False) -> None:
    """Saleor's payment and MultiSafepay's order tell the same story."""
    order = emu.order(payment.msp_order_id)
    counted = {
        str(r["transaction_id"])
        for r in order["related_transactions"]
        if r["type"] == "refund" and r["status"] not in ("declined", "void")
    }
    assert payment.refund_ids == counted
    assert to_minor_units(payment.refunded, payment.currency) == order["amount_refunded"]
    captured_at_msp = order["status"] in CAPTURED_STATUSES or (
        card and order["status"] == "completed"
    )
    assert payment.captured is captured_at_msp
    expected = payment.amount - payment.refunded if captured_at_msp else Decimal(0)
    assert payment.captured_amount == expected


def all_ok(answers: List[NotificationAnswer]) -> None:
    assert answers and all((a.status, a.body) == (200, "OK") for a in answers), answers


# -- 1. the whole cycle, by cart ---------------------------------------------------------------


@pytest.mark.parametrize("emu", [True, False], ids=["cart-shows-refunds", "not"], indirect=True)
@pytest.mark.parametrize("gateway", ["PAYAFTER", "KLARNA"])
def test_the_whole_cycle_pay_ship_refund_lines_return_the_rest(
    saleor: FakeSaleor, emu: Emulator, gateway: str
) -> None:
    # Given a checkout of the seed page's items, paid with a buy-now-pay-later method
    payment = start(saleor, gateway)

    # When Saleor processes the payment
    process = saleor.process(payment)

    # Then MultiSafepay got an order whose cart has the ids the refunds will look for
    [created] = created_orders(emu)
    order_id = created.json["order_id"]
    assert created.json == {
        "type": "redirect",
        "order_id": order_id,
        "currency": "EUR",
        "amount": 31500,
        "description": "Saleor payment 1",
        "payment_options": {
            "notification_url": NOTIFICATION_URL,
            "notification_method": "POST",
            "redirect_url": RETURN_URL,
            "cancel_url": RETURN_URL,
            "close_window": False,
        },
        "gateway": gateway,
        "customer": {
            "locale": "nl_NL",
            "ip_address": "203.0.113.9",
            "email": "jan@example.org",
            "first_name": "Jan",
            "last_name": "Jansen",
            "address1": "Kraanspoor",
            "house_number": "39C",
            "zip_code": "1033 SC",
            "city": "Amsterdam",
            "country": "NL",
            "phone": "+31201234567",
        },
        "delivery": {
            "email": "jan@example.org",
            "first_name": "Jan",
            "last_name": "Jansen",
            "address1": "Kraanspoor",
            "house_number": "39C",
            "zip_code": "1033 SC",
            "city": "Amsterdam",
            "country": "NL",
            "phone": "+31201234567",
        },
        "shopping_cart": {"items": CART},
        "checkout_options": TAX_TABLES,
    }
    # ... whose lines come to the amount as MultiSafepay prices them: each line with its tax,
    # rounded to the cent
    rates = {"rate-0.21": Decimal("0.21"), "rate-0.09": Decimal("0.09")}
    total = sum(
        (
            (
                Decimal(i["unit_price"]) * i["quantity"] * (1 + rates[i["tax_table_selector"]])
            ).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
            for i in CART
        ),
        Decimal(0),
    )
    assert total == Decimal("315.00")
    source = saleor.config.merchant_item_id_source
    assert [item["merchant_item_id"] for item in CART] == [
        line_item_id(CANDLES, source),  # the SKU
        line_item_id(APPLE, source),  # no SKU: the variant's ID
        saleor.config.shipping_item_id,
    ]
    # ... and Saleor sends the customer to the payment page
    assert order_id.startswith("saleor-1-")
    assert (process.is_success, process.kind, process.action_required) == (
        True,
        ACTION_TO_CONFIRM,
        True,
    )
    assert process.transaction_id == process.psp_reference == order_id
    assert process.action_required_data == {
        "payment_url": f"{emu.base_url}pay/{order_id}",
        "multisafepay_order_id": order_id,
    }
    assert payment.to_confirm and payment.order_id is None
    assert emu.notifications() == []  # creating an order notifies nothing

    # When the customer pays and is sent back to the storefront, which completes the checkout
    back = pay_on_page(payment_url(process.action_required_data))
    confirm = saleor.confirm(payment)

    # Then the payment is authorized, not captured: the provider pays once it is shipped
    assert back.headers["Location"] == RETURN_URL
    assert (confirm.is_success, confirm.kind, confirm.transaction_id) == (True, AUTH, order_id)
    assert payment.order_id == "order-1" and not payment.to_confirm
    assert emu.order(order_id)["status"] == "completed"
    agree(emu, payment)
    all_ok(saleor.notify_new(emu))  # "paid": Saleor has it already
    assert payment.orders_created == 1 and payment.notes == []

    # When the order is fulfilled: Saleor captures with the AUTH transaction's token
    capture = saleor.capture(payment)

    # Then MultiSafepay's order is shipped, and Saleor's payment captured in full
    assert patches(emu) == [{"status": "shipped"}]
    assert (capture.is_success, capture.kind, capture.transaction_id) == (True, CAPTURE, order_id)
    assert payment.captured_amount == Decimal("315.00")
    assert emu.order(order_id)["status"] == "shipped"
    agree(emu, payment)
    all_ok(saleor.notify_new(emu))
    agree(emu, payment)

    # When staff refund 2 candle holders from the Dashboard (the CAPTURE token: the order id)
    first = saleor.refund(
        payment, Decimal("180.00"), RefundData(order_lines_to_refund=[OrderLineInfo(CANDLES, 2)])
    )

    # Then MultiSafepay got the whole cart with a copy of the candle holders, and refunded 180
    [sent] = emu.refund_posts(order_id)
    assert sent.json == {
        "checkout_data": {"items": [CART[0], refund_copy(CART[0], 2, gateway), CART[1], CART[2]]}
    }
    assert first.is_success and first.amount == Decimal("180.00")
    first_id = first.transaction_id
    assert payment.notes == [
        f"MultiSafepay refunded EUR 180.00 of order {order_id} (refund {first_id}): "
        "2 x Geometric Candle Holders (CANDLE-3)."
    ]
    agree(emu, payment)
    all_ok(saleor.notify_new(emu))
    assert len(payment.notes) == 1  # the notification of a refund Saleor made adds nothing
    agree(emu, payment)

    # When the customer returns the rest, refunded with the shipping
    rest = saleor.refund(
        payment,
        Decimal("135.00"),
        RefundData(
            fulfillment_lines_to_refund=[
                FulfillmentLineData(FulfillmentLine(CANDLES, 3), 1),
                FulfillmentLineData(FulfillmentLine(APPLE, 1), 1),
            ],
            refund_shipping_costs=True,
        ),
    )

    # Then everything is refunded, at MultiSafepay and in Saleor
    [_, last] = emu.refund_posts(order_id)
    if emu.cart_shows_refunds:
        # The cart as GET shows it, the first refund's copy at its end; each new copy after
        # the last line of its item.
        expected = [
            CART[0],
            CART[1],
            refund_copy(CART[1], 1, gateway),
            CART[2],
            refund_copy(CART[2], 1, gateway),
            refund_copy(CART[0], 2, gateway),
            refund_copy(CART[0], 1, gateway),
        ]
    else:
        # The cart does not show the first refund: the ledger says 2 candle holders went.
        expected = [
            CART[0],
            refund_copy(CART[0], 1, gateway),
            CART[1],
            refund_copy(CART[1], 1, gateway),
            CART[2],
            refund_copy(CART[2], 1, gateway),
        ]
    assert last.json == {"checkout_data": {"items": expected}}
    assert rest.is_success and rest.amount == Decimal("135.00")
    order = emu.order(order_id)
    assert (order["status"], order["amount_refunded"]) == ("refunded", 31500)
    assert payment.captured_amount == 0 and not payment.is_active
    assert payment.refund_ids == {first_id, rest.transaction_id}
    agree(emu, payment)
    all_ok(saleor.notify_new(emu))

    # When MultiSafepay sends every notification again, in reverse order
    transactions, notes = list(payment.transactions), list(payment.notes)
    all_ok([saleor.notify(n) for n in reversed(emu.notifications())])

    # Then nothing changes: no second order, capture, refund or note
    assert payment.transactions == transactions and payment.notes == notes
    assert len(notes) == 2 and payment.orders_created == 1
    assert len(emu.refund_posts()) == 2 and patches(emu) == [{"status": "shipped"}]
    agree(emu, payment)


# -- 2. a card or iDEAL payment: captured when paid --------------------------------------------


def test_an_ideal_payment_is_captured_when_confirmed_and_refunded_by_amount(
    saleor: FakeSaleor, emu: Emulator
) -> None:
    # Given an iDEAL payment of a checkout
    payment = start(saleor, "IDEAL")
    process = saleor.process(payment)

    # When the customer pays and comes back
    pay_on_page(payment_url(process.action_required_data))
    confirm = saleor.confirm(payment)

    # Then the cart was sent all the same (the checkout was given), and the payment is captured
    [created] = created_orders(emu)
    assert created.json["gateway"] == "IDEAL"
    assert created.json["shopping_cart"] == {"items": CART}
    assert (confirm.is_success, confirm.kind) == (True, CAPTURE)
    assert payment.captured_amount == Decimal("315.00") and payment.order_id == "order-1"
    agree(emu, payment, card=True)
    all_ok(saleor.notify_new(emu))
    agree(emu, payment, card=True)

    # When staff refund an amount; Saleor never captures again (it is charged already)
    refund = saleor.refund(payment, Decimal("50.00"), None)

    # Then MultiSafepay refunds that amount, in cents
    assert refund.is_success
    assert [p.json for p in emu.refund_posts()] == [{"currency": "EUR", "amount": 5000}]
    assert patches(emu) == []
    agree(emu, payment, card=True)
    all_ok(saleor.notify_new(emu))
    assert payment.captured_amount == Decimal("265.00")
    agree(emu, payment, card=True)


def test_without_checkout_lines_and_method_the_customer_chooses_a_card_on_the_page(
    saleor: FakeSaleor, emu: Emulator
) -> None:
    # Given a payment without paymentData and without checkout lines
    payment = start(saleor, checkout=None)

    # When it is processed and the customer pays by Visa on MultiSafepay's page
    process = saleor.process(payment)
    pay_on_page(payment_url(process.action_required_data), gateway="VISA")
    confirm = saleor.confirm(payment)

    # Then the order had no method and no cart, and the card payment is captured
    [created] = created_orders(emu)
    assert "gateway" not in created.json and "shopping_cart" not in created.json
    assert "checkout_options" not in created.json
    assert process.raw_response["gateway"] == ""
    assert (confirm.is_success, confirm.kind, confirm.raw_response["gateway"]) == (
        True,
        CAPTURE,
        "VISA",
    )
    agree(emu, payment, card=True)


def test_without_a_method_the_cart_is_sent_and_the_customer_may_choose_klarna_on_the_page(
    saleor: FakeSaleor, emu: Emulator
) -> None:
    # Given a checkout whose storefront named no method (MultiSafepay's page offers them all)
    payment = start(saleor)
    process = saleor.process(payment)

    # When the customer picks Klarna there, and the order is fulfilled and partly refunded
    pay_on_page(payment_url(process.action_required_data), gateway="KLARNA")
    confirm = saleor.confirm(payment)
    capture = saleor.capture(payment)
    refund = saleor.refund(
        payment, Decimal("35.00"), RefundData(order_lines_to_refund=[OrderLineInfo(APPLE, 1)])
    )

    # Then the cart sent with the order is what Klarna's refund finds its items in
    [created] = created_orders(emu)
    assert "gateway" not in created.json and created.json["shopping_cart"] == {"items": CART}
    assert (confirm.kind, capture.kind) == (AUTH, CAPTURE)
    assert refund.is_success, refund.error
    [sent] = emu.refund_posts()
    assert sent.json == {
        "checkout_data": {"items": [CART[0], CART[1], refund_copy(CART[1], 1, "KLARNA"), CART[2]]}
    }
    all_ok(saleor.notify_new(emu))
    agree(emu, payment)


def test_a_lost_answer_to_the_order_creation_charges_nothing_and_a_retry_starts_anew(
    saleor: FakeSaleor, emu: Emulator
) -> None:
    # Given MultiSafepay creates the order but the answer never arrives
    payment = start(saleor, "PAYAFTER")
    emu.inject(Fault(FaultKind.DROP_AFTER, method="POST"))

    # When Saleor processes the payment, then the customer tries again
    lost = saleor.process(payment)
    retry = saleor.process(payment)

    # Then the first says nothing was charged; the retry is a new order, the one paid
    assert not lost.is_success
    assert lost.error is not None and lost.error.startswith("MultiSafepay payment not started:")
    assert lost.error.endswith("Nothing was charged; try again.")
    assert retry.is_success and retry.transaction_id != lost.transaction_id
    pay_on_page(payment_url(retry.action_required_data))
    confirm = saleor.confirm(payment)
    assert (confirm.kind, confirm.transaction_id) == (AUTH, retry.transaction_id)
    # The order whose answer was lost stays unpaid: nobody has its payment page.
    assert emu.order(lost.transaction_id)["status"] == "initialized"
    agree(emu, payment)


# -- 3. the customer never comes back ----------------------------------------------------------


@pytest.mark.parametrize(("gateway", "kind"), [("PAYAFTER", AUTH), ("IDEAL", CAPTURE)])
def test_a_customer_who_never_comes_back_gets_the_order_from_the_notification(
    saleor: FakeSaleor, emu: Emulator, gateway: str, kind: str
) -> None:
    # Given a paid checkout whose customer closed the browser on the payment page
    payment = paid(saleor, emu, gateway)
    [notification] = emu.notifications()

    # When MultiSafepay's notification arrives, twice
    first = saleor.notify(notification)
    again = saleor.notify(notification)

    # Then the checkout is completed once, as Saleor completes it: confirmed, then the order
    assert (first.status, first.actions) == (200, ("checkout: order-1",))
    assert (again.status, again.actions) == (200, ())
    assert payment.order_id == "order-1" and payment.orders_created == 1
    assert payment.confirm_calls == 1
    assert [t.kind for t in payment.transactions] == [ACTION_TO_CONFIRM, kind]
    agree(emu, payment, card=gateway == "IDEAL")


def test_the_same_notification_delivered_concurrently_completes_the_checkout_once(
    saleor: FakeSaleor, emu: Emulator
) -> None:
    # Given a paid checkout, and two deliveries of its notification that both read Saleor's
    # payment before either completes the checkout (MultiSafepay retries while we work)
    payment = paid(saleor, emu, "KLARNA")
    [notification] = emu.notifications()
    both_read = threading.Barrier(2, timeout=5)
    find_payment = saleor.find_payment

    def slow_find_payment(msp_order_id: str) -> Any:
        found = find_payment(msp_order_id)
        both_read.wait()
        return found

    saleor.find_payment = slow_find_payment  # type: ignore[method-assign]
    answers: List[NotificationAnswer] = []

    # When they are handled at the same time
    threads = [
        threading.Thread(target=lambda: answers.append(saleor.notify(notification)))
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    # Then both are answered OK and Saleor made one order, confirmed once (the checkout's lock:
    # the second completion finds the order of the first, as Saleor's checkoutComplete does)
    assert sorted(a.status for a in answers) == [200, 200]
    assert sorted(a.actions for a in answers) == [("checkout: order-1",)] * 2
    assert payment.orders_created == 1 and payment.confirm_calls == 1
    assert [t.kind for t in payment.transactions] == [ACTION_TO_CONFIRM, AUTH]


# -- 6. process_payment's refusals: nothing sent -----------------------------------------------


def test_a_cart_method_whose_lines_cannot_be_mapped_is_refused_without_an_order(
    saleor: FakeSaleor, emu: Emulator
) -> None:
    # Given a Klarna checkout with a line that has no SKU and no variant (a deleted product)
    gift = CheckoutLineTotals("Gift", None, "", 1, Decimal("305.00"), Decimal("305.00"))
    checkout = CheckoutTotals(
        (gift,), Decimal("10.00"), Decimal("8.26"), Decimal("0.21"), Decimal("315.00")
    )
    payment = start(saleor, "KLARNA", checkout=checkout)

    # When Saleor processes the payment
    answer = saleor.process(payment)

    # Then it is refused, with the reason, and MultiSafepay was not asked anything
    assert not answer.is_success and answer.kind == ACTION_TO_CONFIRM
    assert answer.error == (
        "MultiSafepay payment not started: KLARNA needs the order's items, and they cannot be "
        "sent: the order line 'Gift' has no SKU and no product variant, so it cannot be found "
        "in MultiSafepay's cart."
    )
    assert emu.requests == [] and not payment.to_confirm


def test_a_cart_method_whose_lines_do_not_add_up_is_refused_without_an_order(
    saleor: FakeSaleor, emu: Emulator
) -> None:
    # Given lines and shipping of 315.00 for a payment (and checkout total) of 330.00
    checkout = CheckoutTotals(
        CHECKOUT.lines,
        CHECKOUT.shipping_gross,
        CHECKOUT.shipping_net,
        CHECKOUT.shipping_tax_rate,
        Decimal("330.00"),
    )
    payment = start(saleor, "PAYAFTER", checkout=checkout, amount=Decimal("330.00"))

    # When Saleor processes the payment
    answer = saleor.process(payment)

    # Then nothing is sent: the cart would not be the order's
    assert not answer.is_success
    assert answer.error == (
        "MultiSafepay payment not started: PAYAFTER needs the order's items, and they cannot be "
        "sent: The cart comes to EUR 315.00, the order to EUR 330.00: EUR 15.00 apart, more "
        "than rounding explains (EUR 0.03)."
    )
    assert emu.requests == []


@pytest.mark.parametrize(
    ("value", "shown"),
    [("KLARNA; DROP", "'KLARNA; DROP'"), (42, "'42'"), (["KLARNA"], "\"['KLARNA']\"")],
)
def test_a_payment_data_gateway_that_is_no_method_code_is_refused(
    saleor: FakeSaleor, emu: Emulator, value: Any, shown: str
) -> None:
    payment = start(saleor, payment_data={"gateway": value})

    answer = saleor.process(payment)

    assert not answer.is_success
    assert answer.error == (
        f"MultiSafepay payment not started: {shown} is not a MultiSafepay payment method code."
    )
    assert emu.requests == []


def test_a_checkout_discount_becomes_a_negative_line_and_the_cart_still_adds_up(
    saleor: FakeSaleor, emu: Emulator
) -> None:
    # Given a voucher of 15.00 off the whole order, not spread over the lines
    checkout = CheckoutTotals(
        CHECKOUT.lines,
        CHECKOUT.shipping_gross,
        CHECKOUT.shipping_net,
        CHECKOUT.shipping_tax_rate,
        Decimal("300.00"),
        voucher_code="SUMMER",
    )
    payment = start(saleor, "KLARNA", checkout=checkout, amount=Decimal("300.00"))

    # When Saleor processes the payment
    answer = saleor.process(payment)

    # Then the cart has the discount as an untaxed negative line, and MultiSafepay took it
    assert answer.is_success, answer.error
    [created] = created_orders(emu)
    assert created.json["amount"] == 30000
    assert created.json["shopping_cart"]["items"] == [
        *CART,
        {
            "name": "Discount SUMMER",
            "description": "",
            "unit_price": "-15.00",
            "quantity": 1,
            "merchant_item_id": "msp-discount",
            "tax_table_selector": "rate-0",
        },
    ]


def test_a_gift_card_becomes_a_negative_line_for_what_it_paid(
    saleor: FakeSaleor, emu: Emulator
) -> None:
    # Given a checkout of 315.00 of which a gift card pays 40.00: the payment is 275.00
    payment = start(saleor, "PAYAFTER", amount=Decimal("275.00"))

    answer = saleor.process(payment)

    assert answer.is_success, answer.error
    [created] = created_orders(emu)
    assert created.json["amount"] == 27500
    assert created.json["shopping_cart"]["items"][-1] == {
        "name": "Gift card",
        "description": "",
        "unit_price": "-40.00",
        "quantity": 1,
        "merchant_item_id": "msp-gift-card",
        "tax_table_selector": "rate-0",
    }


def test_after_a_gift_card_the_rest_is_refunded_by_amount_not_by_every_product(
    saleor: FakeSaleor, emu: Emulator
) -> None:
    # Given the gift card order shipped, 2 candle holders (180.00) refunded by product
    payment = start(saleor, "PAYAFTER", amount=Decimal("275.00"))
    pay_on_page(payment_url(saleor.process(payment).action_required_data))
    saleor.confirm(payment)
    saleor.capture(payment)
    two = RefundData(order_lines_to_refund=[OrderLineInfo(CANDLES, 2)])
    assert saleor.refund(payment, Decimal("180.00"), two).is_success

    # When staff return every other product: they come to 135.00, only 95.00 was paid
    rest = RefundData(
        order_lines_to_refund=[OrderLineInfo(CANDLES, 1), OrderLineInfo(APPLE, 1)],
        refund_shipping_costs=True,
    )
    by_product = saleor.refund(payment, Decimal("135.00"), rest)
    # Then that is refused, saying why and what to do; the amount that remains works
    assert not by_product.is_success
    assert "gift card lines (msp-gift-card)" in by_product.note
    assert "Refund everything that remains" in by_product.note
    remaining = saleor.refund(payment, Decimal("95.00"), None)
    assert remaining.is_success, remaining.note
    order = emu.order(payment.msp_order_id)
    assert order["amount_refunded"] == order["amount"] == 27500
    agree(emu, payment)


def test_a_wrong_api_key_is_a_failure_that_never_shows_the_key(emu: Emulator) -> None:
    wrong = "wrong-key-ABCDEFGHIJ"
    saleor = FakeSaleor(GatewayConfig(api_key=wrong, api_url=emu.base_url))
    payment = start(saleor, "KLARNA")

    answer = saleor.process(payment)

    assert not answer.is_success and answer.error is not None
    assert "MultiSafepay refused the API key" in answer.error
    assert wrong not in repr(answer)
    assert created_orders(emu)[0].headers["api_key"] == wrong  # sent in the header only
    assert "api_key" not in created_orders(emu)[0].query


# -- 7. confirm, capture and void when things do not go as planned ------------------------------


def test_a_customer_back_without_paying_is_sent_to_the_same_payment_page(
    saleor: FakeSaleor, emu: Emulator
) -> None:
    # Given a processed payment the customer left unpaid
    payment = start(saleor, "KLARNA")
    process = saleor.process(payment)
    url = payment_url(process.action_required_data)

    # When the storefront completes the checkout, twice, before anything is paid
    first = saleor.confirm(payment)
    second = saleor.confirm(payment)

    # Then both send the customer back to the same payment page; no order yet
    for answer in (first, second):
        assert (answer.is_success, answer.kind, answer.action_required) == (
            True,
            ACTION_TO_CONFIRM,
            True,
        )
        assert answer.action_required_data == process.action_required_data
    assert payment.order_id is None and payment.to_confirm

    # When the customer pays after all
    pay_on_page(url)
    paid_now = saleor.confirm(payment)

    assert (paid_now.is_success, paid_now.kind) == (True, AUTH)
    assert payment.order_id == "order-1"
    agree(emu, payment)


def test_a_declined_payment_is_a_failure_and_no_order(saleor: FakeSaleor, emu: Emulator) -> None:
    payment = paid(saleor, emu, "PAYAFTER", outcome="declined")

    answer = saleor.confirm(payment)

    assert not answer.is_success
    assert answer.error == (
        "MultiSafepay payment declined: nothing was charged. Pay again, with this or another "
        "method."
    )
    assert payment.order_id is None and payment.captured_amount == 0
    # The notification of the decline changes nothing either.
    all_ok(saleor.notify_new(emu))
    assert payment.order_id is None and payment.notes == []


def test_a_partial_capture_of_a_bnpl_order_is_refused_and_nothing_shipped(
    saleor: FakeSaleor, emu: Emulator
) -> None:
    payment = paid(saleor, emu, "PAYAFTER")
    saleor.confirm(payment)

    answer = saleor.capture(payment, Decimal("100.00"))

    assert (answer.is_success, answer.kind) == (False, CAPTURE)
    assert answer.error == (
        "MultiSafepay capture failed: PAYAFTER is captured whole, when the order is shipped: "
        "EUR 315.00, not EUR 100.00."
    )
    assert patches(emu) == [] and payment.captured_amount == 0
    agree(emu, payment)


def test_voiding_an_authorized_klarna_order_cancels_it(saleor: FakeSaleor, emu: Emulator) -> None:
    # Given an authorized Klarna order, not shipped
    payment = paid(saleor, emu, "KLARNA")
    saleor.confirm(payment)

    # When Saleor voids the payment (the order is cancelled)
    answer = saleor.void(payment)

    # Then MultiSafepay's order is cancelled, and Saleor's payment is no longer active
    assert patches(emu) == [{"status": "cancelled"}]
    assert (answer.is_success, answer.kind) == (True, VOID)
    assert emu.order(payment.msp_order_id)["status"] == "void"
    assert not payment.is_active
    all_ok(saleor.notify_new(emu))
    assert payment.notes == []  # voided by Saleor: no "do not ship" note
    agree(emu, payment)


def test_voiding_a_shipped_order_is_refused_refund_it_instead(
    saleor: FakeSaleor, emu: Emulator
) -> None:
    payment = paid(saleor, emu, "KLARNA")
    saleor.confirm(payment)
    saleor.capture(payment)

    answer = saleor.void(payment)

    assert (answer.is_success, answer.kind) == (False, VOID)
    assert (
        answer.error == "MultiSafepay void not possible: the order is shipped: refund it instead."
    )
    assert patches(emu) == [{"status": "shipped"}]
    assert payment.is_active
    agree(emu, payment)


# -- tax rates Saleor does not give -----------------------------------------------------------


@pytest.mark.parametrize(
    ("gross", "net", "rate"),
    [
        ("10.00", "8.26", "0.21"),  # 10.00 / 8.26 - 1 = 0.2107: the cent rounding, not the rate
        ("270.00", "223.14", "0.21"),
        ("35.00", "32.11", "0.09"),
        ("5.00", "4.74", "0.055"),  # France's 5.5 %
        ("10.000", "8.260", "0.21"),  # Saleor's amounts as its database keeps them
        ("12.34", "12.34", "0"),
    ],
)
def test_a_rate_saleor_does_not_give_is_the_one_its_gross_and_net_were_rounded_from(
    saleor: FakeSaleor, emu: Emulator, gross: str, net: str, rate: str
) -> None:
    # Given a checkout line and shipping without their tax rates (only gross and net)
    line = CheckoutLineTotals("Mug", "MUG", "TXVn", 1, Decimal(gross), Decimal(net))
    checkout = CheckoutTotals(
        (line,), Decimal(gross), Decimal(net), None, Decimal(gross) + Decimal(gross)
    )
    payment = start(saleor, "KLARNA", checkout=checkout, amount=checkout.total_gross)

    # When the payment is processed
    answer = saleor.process(payment)

    # Then MultiSafepay's invoice shows the real rate, and the cart adds up to the cent
    assert answer.is_success, answer.error
    [created] = created_orders(emu)
    selectors = {item["tax_table_selector"] for item in created.json["shopping_cart"]["items"]}
    assert selectors == {f"rate-{rate}"}


def test_voiding_an_authorized_in3_order_is_refused_with_multisafepays_reason(
    saleor: FakeSaleor, emu: Emulator
) -> None:
    # in3 and E-Invoicing cannot be cancelled once authorized (MultiSafepay's method pages)
    payment = paid(saleor, emu, "IN3")
    saleor.confirm(payment)

    answer = saleor.void(payment)

    assert (answer.is_success, answer.kind) == (False, VOID)
    assert answer.error == (
        "MultiSafepay void failed: MultiSafepay says data is missing from the request. (error "
        "1016: a IN3 order cannot be cancelled once authorized: refund it)"
    )
    assert payment.is_active and emu.order(payment.msp_order_id)["status"] == "completed"


@pytest.mark.parametrize("kind", [AUTH, CAPTURE])
def test_a_payment_saleor_recorded_already_is_answered_as_recorded_without_asking_twice(
    emulator, kind
):
    """A notification placed the order first; the storefront's checkoutComplete (or a second
    process_payment after a crash) must neither count the money twice nor create an order."""
    config = GatewayConfig(api_key="test-key-0123456789abcdef", api_url=emulator.base_url)
    recorded = TransactionData(
        "saleor-9-abcd", True, kind, {}, {"amount": "315.00", "currency": "EUR"}
    )
    information = PaymentData(
        amount=Decimal("315.00"), order_id="None", transactions=[recorded], token="saleor-9-abcd"
    )
    context = PaymentContext(notification_url="https://shop.example/notification")

    answers = [
        payments.confirm_payment(config, payment_ask(information)),
        payments.process_payment(config, payment_ask(information), context),
    ]

    for answer in answers:
        assert answer.is_success and answer.kind == kind
        assert answer.transaction_already_processed is True
        assert (answer.transaction_id, answer.amount) == ("saleor-9-abcd", Decimal("315.00"))
    assert emulator.requests == []  # MultiSafepay was not asked, no order created


@pytest.mark.parametrize("change", ["removed", "more"])
def test_a_checkout_changed_on_the_payment_page_cancels_the_klarna_order_and_places_none(
    saleor: FakeSaleor, emu: Emulator, change: str
) -> None:
    # Given a Klarna payment made for the candle holders and the apple
    payment = paid(saleor, emu, "KLARNA")
    order_id = payment.msp_order_id
    # When the customer changed the checkout in another tab before coming back
    candles, apple = CHECKOUT.lines
    lines = (candles,) if change == "removed" else (replace(candles, quantity=4), apple)
    payment.checkout = replace(CHECKOUT, lines=lines)
    answer = saleor.confirm(payment)
    # Then no order is placed, and Klarna's order is cancelled: nothing will be invoiced
    assert not answer.is_success and payment.order_id is None
    assert "checkout changed" in (answer.error or "")
    expected = (
        "APPLE: paid 1 for EUR 35.00, now none"
        if change == "removed"
        else "CANDLE-3: paid 3 for EUR 270.00, now 4 for EUR 270.00"
    )
    assert expected in (answer.note or "").replace(APPLE_VARIANT, "APPLE")
    assert emu.order(order_id)["status"] == "void"
    assert patches(emu) == [{"status": "cancelled"}]


def test_a_cheaper_checkout_on_the_payment_page_is_a_change_too(
    saleor: FakeSaleor, emu: Emulator
) -> None:
    # Given a Klarna payment; the customer then added a voucher in another tab: Saleor would
    # accept the overpaid checkout, but Klarna would invoice the old prices
    payment = paid(saleor, emu, "KLARNA")
    candles, apple = CHECKOUT.lines
    cheaper = replace(candles, total_gross=Decimal("243.00"), total_net=Decimal("200.83"))
    payment.checkout = replace(CHECKOUT, lines=(cheaper, apple), total_gross=Decimal("288.00"))

    answer = saleor.confirm(payment)

    assert not answer.is_success and payment.order_id is None
    assert "CANDLE-3: paid 3 for EUR 270.00, now 3 for EUR 243.00" in answer.note
    assert emu.order(payment.msp_order_id)["status"] == "void"


def test_an_unchanged_checkout_confirms_as_before(saleor: FakeSaleor, emu: Emulator) -> None:
    payment = paid(saleor, emu, "KLARNA")

    answer = saleor.confirm(payment)

    assert answer.is_success and answer.kind == AUTH and patches(emu) == []


def test_two_checkout_lines_of_one_product_become_one_cart_line_and_a_free_gift_its_own() -> None:
    candles = CHECKOUT.lines[0]  # 3 x CANDLE-3 at 90.00 with 21% tax
    again = replace(candles, quantity=1, total_gross=Decimal("90.00"), total_net=Decimal("74.38"))
    gift = replace(again, total_gross=Decimal(0), total_net=Decimal(0), is_gift=True)
    checkout = replace(CHECKOUT, lines=(candles, again, gift), total_gross=Decimal("405.00"))
    config = GatewayConfig(api_key=KEY)

    lines = payments.cart_lines(config, checkout, Decimal("405.00"), "EUR")

    by_id = {line.merchant_item_id: line for line in lines}
    assert by_id["CANDLE-3"].quantity == 4  # a refund of 4 candle holders finds them
    assert (by_id["CANDLE-3-gift"].quantity, by_id["CANDLE-3-gift"].unit_price) == (1, 0)
    # The order lines Saleor makes of them map to the same ids.
    assert line_item_id(replace(CANDLES, is_gift=True), config.merchant_item_id_source) == (
        "CANDLE-3-gift"
    )


def test_one_product_at_two_prices_is_refused_for_a_cart_method_before_anything_is_sent(
    saleor: FakeSaleor, emu: Emulator
) -> None:
    candles = CHECKOUT.lines[0]
    cheaper = replace(candles, quantity=1, total_gross=Decimal("80.00"), total_net=Decimal("66.12"))
    checkout = replace(CHECKOUT, lines=(*CHECKOUT.lines, cheaper), total_gross=Decimal("395.00"))
    payment = start(saleor, "KLARNA", checkout=checkout, amount=Decimal("395.00"))

    answer = saleor.process(payment)

    assert not answer.is_success
    assert "two checkout lines of CANDLE-3 have different prices" in (answer.error or "")
    assert created_orders(emu) == []


def test_an_order_multisafepay_has_not_approved_yet_is_not_shipped(emulator) -> None:
    # Given a Pay After Delivery order MultiSafepay still checks ("uncleared", as recorded in
    # fixtures/msp/order.json): the order is placed, authorized
    item = {"name": "Mug", "unit_price": "10.00", "quantity": 1, "merchant_item_id": "MUG"}
    emulator.add_order(build_order("pad-1", "PAYAFTER", [item], tax_rates={"": "0"}))
    config = GatewayConfig(api_key="test-key-0123456789abcdef", api_url=emulator.base_url)
    information = PaymentData(amount=Decimal("10.00"), token="pad-1")
    assert emulator.order("pad-1")["status"] == "uncleared"
    assert payments.confirm_payment(config, payment_ask(information)).kind == AUTH

    # When the order is fulfilled and Saleor captures
    answer = payments.capture_payment(config, payment_ask(information))

    # Then nothing is shipped: MultiSafepay may still decline the customer
    assert not answer.is_success and "has not approved order pad-1 yet" in answer.note
    assert patches(emulator) == [] and emulator.order("pad-1")["status"] == "uncleared"
