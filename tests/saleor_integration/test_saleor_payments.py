"""Payments through the plugin inside a real Saleor: the storefront's GraphQL checkout
(checkoutPaymentCreate, checkoutComplete with paymentData, the customer on MultiSafepay's page,
checkoutComplete again), the staff's fulfilment (capture by shipping), refunds and returns,
and MultiSafepay's notifications posted to Saleor's plugin URL. The emulator stands in for
MultiSafepay; at every step Saleor and MultiSafepay must agree.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from decimal import Decimal
from typing import Any, Dict, List
from urllib.parse import urlsplit

import pytest

pytest.importorskip("saleor", reason="Saleor is not installed: these tests run inside Saleor")
django_settings = pytest.importorskip("django.conf").settings
if not django_settings.configured:
    pytest.skip(
        "Django is not set up: run with --ds=saleor.tests.settings", allow_module_level=True
    )

import graphene  # noqa: E402
from django.test import Client, TestCase  # noqa: E402
from saleor.order import OrderEvents  # noqa: E402
from saleor.order.models import Order, OrderEvent  # noqa: E402
from saleor.payment import ChargeStatus, TransactionKind  # noqa: E402
from saleor.payment.models import Payment  # noqa: E402

from saleor_multisafepay_refund.emulator import Emulator, Notification  # noqa: E402
from saleor_multisafepay_refund.multisafepay.money import from_minor_units  # noqa: E402
from saleor_multisafepay_refund.multisafepay.signatures import sign_notification  # noqa: E402
from saleor_multisafepay_refund.plugin.hooks import PLUGIN_ID  # noqa: E402

from .msp_orders import KEY  # noqa: E402

RETURN_URL = "https://www.example.com/checkout/return"
WRONG_KEY = "wrong-key-ABCDEFGHIJ"

CHECKOUT = """
query($id: ID!) {
  checkout(id: $id) { totalPrice { gross { amount } } availablePaymentGateways { id } }
}
"""
PAYMENT_CREATE = """
mutation($id: ID, $input: PaymentInput!) {
  checkoutPaymentCreate(id: $id, input: $input) { payment { id } errors { field message } }
}
"""
COMPLETE = """
mutation($id: ID, $paymentData: JSONString, $redirectUrl: String) {
  checkoutComplete(id: $id, paymentData: $paymentData, redirectUrl: $redirectUrl) {
    order { id number }
    confirmationNeeded
    confirmationData
    errors { field code message }
  }
}
"""
FULFILL = """
mutation($order: ID, $input: OrderFulfillInput!) {
  orderFulfill(order: $order, input: $input) { fulfillments { id } errors { field message } }
}
"""
REFUND_PRODUCTS = """
mutation($order: ID!, $input: OrderRefundProductsInput!) {
  orderFulfillmentRefundProducts(order: $order, input: $input) { errors { field message } }
}
"""
RETURN_PRODUCTS = """
mutation($order: ID!, $input: OrderReturnProductsInput!) {
  orderFulfillmentReturnProducts(order: $order, input: $input) { errors { field message } }
}
"""


def _gid(kind: str, pk: Any) -> str:
    return graphene.Node.to_global_id(kind, pk)


def _data(response: Any, name: str) -> Dict[str, Any]:
    content = json.loads(response.content.decode())
    assert "errors" not in content, content["errors"]
    result = content["data"][name]
    assert not result.get("errors"), result["errors"]
    return result  # type: ignore[no-any-return]


def _start(api_client: Any, checkout: Any, method: str) -> Dict[str, Any]:
    """The storefront: a MultiSafepay payment for the checkout, then checkoutComplete."""
    checkout_id = _gid("Checkout", checkout.pk)
    shown = _data(api_client.post_graphql(CHECKOUT, {"id": checkout_id}), "checkout")
    assert PLUGIN_ID in [gateway["id"] for gateway in shown["availablePaymentGateways"]]
    total = shown["totalPrice"]["gross"]["amount"]
    payment = {"gateway": PLUGIN_ID, "amount": total, "returnUrl": RETURN_URL}
    _data(
        api_client.post_graphql(PAYMENT_CREATE, {"id": checkout_id, "input": payment}),
        "checkoutPaymentCreate",
    )
    return _complete(api_client, checkout, method)


def _complete(api_client: Any, checkout: Any, method: str = "") -> Dict[str, Any]:
    variables = {"id": _gid("Checkout", checkout.pk), "redirectUrl": RETURN_URL}
    if method:
        variables["paymentData"] = json.dumps({"gateway": method})
    return _data(api_client.post_graphql(COMPLETE, variables), "checkoutComplete")


def _deliver(msp: Emulator, notifications: List[Notification] | None = None) -> List[int]:
    """MultiSafepay's notifications, posted to Saleor's plugin URL as MultiSafepay posts them."""
    client = Client()
    statuses = []
    for notification in notifications if notifications is not None else msp.notifications():
        parts = urlsplit(notification.url)
        # The test runs in a transaction that never commits: run what waits for the commit.
        with TestCase.captureOnCommitCallbacks(execute=True):
            response = client.post(
                f"{parts.path}?{parts.query}",
                data=notification.body,
                content_type="application/json",
                HTTP_AUTH=notification.headers["Auth"],
            )
        if response.status_code == 200:
            assert response.content == b"OK"
        statuses.append(response.status_code)
    return statuses


def _notes(order: Any) -> List[str]:
    events = OrderEvent.objects.filter(order=order, type=OrderEvents.NOTE_ADDED).order_by("pk")
    return [event.parameters["message"] for event in events]


def _agree(payment: Any, msp: Emulator, msp_order_id: str) -> None:
    """Saleor's payment says what MultiSafepay's order says: captured, and refunded."""
    payment.refresh_from_db()
    order = msp.order(msp_order_id)
    refunded = from_minor_units(order["amount_refunded"], payment.currency)
    refunds = payment.transactions.filter(kind=TransactionKind.REFUND, is_success=True)
    assert sum((t.amount for t in refunds), Decimal(0)) == refunded
    assert {t.token for t in refunds} == {
        str(r["transaction_id"]) for r in order["related_transactions"] if r["type"] == "refund"
    }
    if order["status"] in ("shipped", "refunded", "partial_refunded"):
        assert payment.captured_amount == payment.total - refunded


@pytest.fixture
def buyer(api_client, checkout_with_items_and_shipping, multisafepay):
    checkout = checkout_with_items_and_shipping
    for line in checkout.lines.all():
        assert line.variant.sku  # the merchant_item_ids MultiSafepay will know
    return api_client, checkout


def _charge_vat(checkout: Any, rate: int) -> None:
    """Flat-rate VAT on every product and the shipping, prices entered with tax (Europe)."""
    from saleor.product.models import Product
    from saleor.shipping.models import ShippingMethod
    from saleor.tax import TaxCalculationStrategy
    from saleor.tax.models import TaxClass

    configuration = checkout.channel.tax_configuration
    configuration.country_exceptions.all().delete()
    configuration.charge_taxes = True
    configuration.prices_entered_with_tax = True
    configuration.tax_calculation_strategy = TaxCalculationStrategy.FLAT_RATES
    configuration.save()
    vat = TaxClass.objects.create(name=f"VAT {rate}")
    vat.country_rates.create(country=checkout.shipping_address.country, rate=rate)
    Product.objects.update(tax_class=vat)
    ShippingMethod.objects.update(tax_class=vat)


@pytest.mark.parametrize("vat", [0, 21])
@pytest.mark.parametrize("method", ["PAYAFTER", "KLARNA"])
def test_pay_ship_refund_and_return_with_a_cart_method_saleor_and_multisafepay_agree(
    buyer, msp, staff_api_client, permission_group_manage_orders, method, vat
):
    api_client, checkout = buyer
    if vat:
        _charge_vat(checkout, vat)
    skus = [line.variant.sku for line in checkout.lines.all()]

    # The storefront pays: Saleor asks to confirm, with MultiSafepay's payment page.
    first = _start(api_client, checkout, method)
    assert first["confirmationNeeded"] is True and first["order"] is None
    confirmation = json.loads(first["confirmationData"])
    msp_order_id = confirmation["multisafepay_order_id"]
    created = msp.order(msp_order_id)
    cart_ids = [item["merchant_item_id"] for item in created["shopping_cart"]["items"]]
    payment = Payment.objects.get(psp_reference=msp_order_id, gateway=PLUGIN_ID)
    assert created["payment_details"]["type"] == method
    assert cart_ids[: len(skus)] == skus and "msp-shipping" in cart_ids
    assert from_minor_units(created["amount"], payment.currency) == payment.total
    rates = {
        rule["rate"]
        for table in created["checkout_options"]["alternate"]
        for rule in table["rules"]
    }
    assert ("0.21" in rates) if vat else rates == {"0"}  # Saleor keeps 0.2100: sent as 0.21

    # The customer pays on the page and comes back: the order is placed, authorized.
    msp.pay(msp_order_id)
    second = _complete(api_client, checkout)
    assert second["order"] is not None and second["confirmationNeeded"] is False
    order = Order.objects.get(number=second["order"]["number"])
    payment.refresh_from_db()
    assert payment.order_id == order.pk and payment.charge_status == ChargeStatus.NOT_CHARGED
    auth = payment.transactions.get(kind=TransactionKind.AUTH, is_success=True)
    assert auth.token == msp_order_id
    assert set(_deliver(msp)) == {200}  # the payment's notification: nothing more to do
    assert Order.objects.filter(checkout_token=order.checkout_token).count() == 1

    # Staff fulfil everything: the order is shipped at MultiSafepay, captured in Saleor.
    permission_group_manage_orders.user_set.add(staff_api_client.user)
    lines = [
        {
            "orderLineId": _gid("OrderLine", line.pk),
            "stocks": [
                {
                    "quantity": line.quantity,
                    "warehouse": _gid("Warehouse", line.variant.stocks.first().warehouse_id),
                }
            ],
        }
        for line in order.lines.all()
    ]
    _data(
        staff_api_client.post_graphql(
            FULFILL, {"order": _gid("Order", order.pk), "input": {"lines": lines}}
        ),
        "orderFulfill",
    )
    assert msp.order(msp_order_id)["status"] == "shipped"
    payment.refresh_from_db()
    assert payment.charge_status == ChargeStatus.FULLY_CHARGED
    assert payment.transactions.get(kind=TransactionKind.CAPTURE).token == msp_order_id
    assert any("shipped" in note for note in _notes(order))
    _agree(payment, msp, msp_order_id)

    # Refund one product from the Dashboard, then return the rest with the shipping.
    fulfillment_lines = list(order.fulfillments.get().lines.order_by("pk"))
    first_line, rest = fulfillment_lines[0], fulfillment_lines[1:]
    _data(
        staff_api_client.post_graphql(
            REFUND_PRODUCTS,
            {
                "order": _gid("Order", order.pk),
                "input": {
                    "fulfillmentLines": [
                        {"fulfillmentLineId": _gid("FulfillmentLine", first_line.pk), "quantity": 1}
                    ]
                },
            },
        ),
        "orderFulfillmentRefundProducts",
    )
    [refund] = msp.refund_posts(msp_order_id)
    # The refund copies: negative lines (this checkout has no discount line).
    copies = [
        item
        for item in refund.json["checkout_data"]["items"]
        if Decimal(str(item["unit_price"])) * int(item["quantity"]) < 0
    ]
    assert [c["merchant_item_id"] for c in copies] == [first_line.order_line.product_sku]
    _agree(payment, msp, msp_order_id)

    _data(
        staff_api_client.post_graphql(
            RETURN_PRODUCTS,
            {
                "order": _gid("Order", order.pk),
                "input": {
                    "refund": True,
                    "includeShippingCosts": True,
                    "fulfillmentLines": [
                        {
                            "fulfillmentLineId": _gid("FulfillmentLine", line.pk),
                            "quantity": line.quantity,
                            "replace": False,
                        }
                        for line in rest
                    ],
                },
            },
        ),
        "orderFulfillmentReturnProducts",
    )
    everything = msp.order(msp_order_id)
    assert everything["amount_refunded"] == everything["amount"]
    _agree(payment, msp, msp_order_id)
    payment.refresh_from_db()
    assert payment.charge_status == ChargeStatus.FULLY_REFUNDED

    # Every notification again, twice, newest first: nothing changes.
    notes = _notes(order)
    assert set(_deliver(msp, list(reversed(msp.notifications())) * 2)) == {200}
    _agree(payment, msp, msp_order_id)
    assert payment.transactions.filter(kind=TransactionKind.REFUND).count() == 2
    assert _notes(order) == notes


# Committed for real, as in production: the notification runs outside any transaction.
@pytest.mark.django_db(transaction=True)
def test_a_customer_who_pays_and_never_comes_back_gets_the_order_from_the_notification(buyer, msp):
    api_client, checkout = buyer
    first = _start(api_client, checkout, "KLARNA")
    msp_order_id = json.loads(first["confirmationData"])["multisafepay_order_id"]

    msp.pay(msp_order_id)
    statuses = _deliver(msp) + _deliver(msp)  # delivered twice: one order

    assert statuses == [200, 200]
    payment = Payment.objects.get(psp_reference=msp_order_id)
    assert payment.order is not None
    assert Order.objects.filter(checkout_token=payment.order.checkout_token).count() == 1
    assert payment.transactions.filter(kind=TransactionKind.AUTH, is_success=True).count() == 1


def test_forged_and_stale_notifications_change_nothing(buyer, msp):
    api_client, checkout = buyer
    first = _start(api_client, checkout, "PAYAFTER")
    msp_order_id = json.loads(first["confirmationData"])["multisafepay_order_id"]
    msp.clock = lambda: time.time() - 3600  # MultiSafepay signs an hour ago: a replay
    msp.pay(msp_order_id)
    [stale] = msp.notifications()
    now = int(time.time())
    forged = replace(
        stale,
        headers={**stale.headers, "Auth": sign_notification(stale.body, WRONG_KEY, now)},
    )
    # MultiSafepay sends it again later, signed anew (docs: 3 retries, 15 minutes apart).
    retried = replace(
        stale, headers={**stale.headers, "Auth": sign_notification(stale.body, KEY, now)}
    )

    assert _deliver(msp, [stale, forged]) == [403, 403]
    assert Payment.objects.get(psp_reference=msp_order_id).order is None
    assert _deliver(msp, [retried]) == [200]
    assert Payment.objects.get(psp_reference=msp_order_id).order is not None


def test_a_refund_made_in_multisafepays_dashboard_is_recorded_in_saleor_once(
    buyer, msp, staff_api_client, permission_group_manage_orders
):
    api_client, checkout = buyer
    first = _start(api_client, checkout, "IDEAL")
    msp_order_id = json.loads(first["confirmationData"])["multisafepay_order_id"]
    msp.pay(msp_order_id)
    order_data = _complete(api_client, checkout)["order"]
    payment = Payment.objects.get(psp_reference=msp_order_id)
    assert payment.charge_status == ChargeStatus.FULLY_CHARGED  # iDEAL: captured when paid

    refund_id = msp.dashboard_refund(msp_order_id, 500)
    assert set(_deliver(msp) + _deliver(msp)) == {200}

    refunds = payment.transactions.filter(kind=TransactionKind.REFUND, is_success=True)
    assert [(t.token, t.amount) for t in refunds] == [(str(refund_id), Decimal("5.00"))]
    order = Order.objects.get(number=order_data["number"])
    assert sum(str(refund_id) in note for note in _notes(order)) == 1
    _agree(payment, msp, msp_order_id)


def test_the_notification_url_is_shown_read_only_in_the_configuration(multisafepay, channel_USD):
    from saleor.plugins.manager import get_plugins_manager

    plugin = get_plugins_manager(allow_replica=False).get_plugin(PLUGIN_ID, channel_USD.slug)
    shown = {item["name"]: item for item in plugin.configuration}

    url = urlsplit(shown["notification_url"]["value"])  # on Saleor's public URL
    assert url.scheme in ("http", "https") and url.netloc
    assert url.path == f"/plugins/channel/{channel_USD.slug}/{PLUGIN_ID}/notification"
    assert shown["notification_url"]["type"] == "OUTPUT"


def test_a_refund_multisafepay_declines_later_is_noted_once_and_kept_in_the_ledger(
    buyer, msp, staff_api_client, permission_group_manage_orders
):
    from saleor_multisafepay_refund.plugin.ledger_store import SaleorLedger
    from saleor_multisafepay_refund.refunds.ledger import EntryState

    from .test_saleor_mutations import ORDER_REFUND

    api_client, checkout = buyer
    first = _start(api_client, checkout, "IDEAL")
    msp_order_id = json.loads(first["confirmationData"])["multisafepay_order_id"]
    msp.pay(msp_order_id)
    order = Order.objects.get(number=_complete(api_client, checkout)["order"]["number"])
    payment = Payment.objects.get(psp_reference=msp_order_id)
    msp.refund_status = "reserved"  # as MultiSafepay's test environment leaves them
    permission_group_manage_orders.user_set.add(staff_api_client.user)
    refunded = staff_api_client.post_graphql(
        ORDER_REFUND, {"id": _gid("Order", order.pk), "amount": "5.00"}
    )
    assert json.loads(refunded.content)["data"]["orderRefund"]["errors"] == []
    [refund] = payment.transactions.filter(kind=TransactionKind.REFUND, is_success=True)

    msp.set_refund_status(msp_order_id, refund.token, "declined")
    statuses = _deliver(msp) + _deliver(msp)

    assert set(statuses) == {200}
    [entry] = SaleorLedger().entries(str(payment.pk))
    assert entry.state is EntryState.DECLINED and entry.refund_status == "declined"
    declined = [note for note in _notes(order) if "declined refund" in note]
    assert len(declined) == 1 and "did not get this money back" in declined[0]
    assert msp.order(msp_order_id)["amount_refunded"] == 0  # MultiSafepay no longer counts it
    reversals = payment.transactions.filter(kind=TransactionKind.REFUND_REVERSED)
    assert [(t.token, t.amount) for t in reversals] == [(refund.token, Decimal("5.00"))]
    payment.refresh_from_db()
    assert payment.captured_amount == payment.total  # Saleor counts it as not refunded again


@pytest.mark.django_db(transaction=True)
def test_a_paid_checkout_that_can_no_longer_be_placed_is_cancelled_at_multisafepay(buyer, msp):
    """The customer paid with Klarna and left; meanwhile Saleor deleted the checkout (it
    expired). No order can claim the money, so nothing may stay charged."""
    api_client, checkout = buyer
    first = _start(api_client, checkout, "KLARNA")
    msp_order_id = json.loads(first["confirmationData"])["multisafepay_order_id"]
    msp.pay(msp_order_id)
    checkout.delete()

    statuses = _deliver(msp)

    assert statuses == [200]
    payment = Payment.objects.get(psp_reference=msp_order_id)
    assert payment.order is None
    assert msp.order(msp_order_id)["status"] == "void"  # cancelled: the customer owes nothing
    assert payment.transactions.filter(kind=TransactionKind.VOID, is_success=True).exists()
    assert _deliver(msp, msp.notifications()[-1:]) == [200]  # the cancellation's own notice


LINES_DELETE = """
mutation($id: ID, $lines: [ID!]!) {
  checkoutLinesDelete(id: $id, linesIds: $lines) { errors { field message } }
}
"""


def test_a_checkout_changed_while_the_customer_pays_is_not_placed_and_not_charged(buyer, msp):
    """The customer removes a product in another tab while on Klarna's page: Klarna would
    invoice the product the order lacks, and no refund could find the lines."""
    api_client, checkout = buyer
    first = _start(api_client, checkout, "KLARNA")
    msp_order_id = json.loads(first["confirmationData"])["multisafepay_order_id"]
    removed = checkout.lines.order_by("pk").last()
    _data(
        api_client.post_graphql(
            LINES_DELETE,
            {"id": _gid("Checkout", checkout.pk), "lines": [_gid("CheckoutLine", removed.pk)]},
        ),
        "checkoutLinesDelete",
    )
    msp.pay(msp_order_id)

    response = api_client.post_graphql(
        COMPLETE, {"id": _gid("Checkout", checkout.pk), "redirectUrl": RETURN_URL}
    )

    result = json.loads(response.content)["data"]["checkoutComplete"]
    assert result["order"] is None
    [error] = result["errors"]
    assert "checkout changed" in error["message"] and removed.variant.sku in error["message"]
    assert msp.order(msp_order_id)["status"] == "void"  # Klarna's order cancelled: no invoice
    assert not Order.objects.filter(checkout_token=checkout.token).exists()


ORDER_VOID = """
mutation($id: ID!) { orderVoid(id: $id) { errors { field message } } }
"""


def test_staff_voiding_a_klarna_order_before_shipping_cancels_it_at_multisafepay(
    buyer, msp, staff_api_client, permission_group_manage_orders
):
    api_client, checkout = buyer
    first = _start(api_client, checkout, "KLARNA")
    msp_order_id = json.loads(first["confirmationData"])["multisafepay_order_id"]
    msp.pay(msp_order_id)
    order = Order.objects.get(number=_complete(api_client, checkout)["order"]["number"])
    permission_group_manage_orders.user_set.add(staff_api_client.user)

    _data(staff_api_client.post_graphql(ORDER_VOID, {"id": _gid("Order", order.pk)}), "orderVoid")

    assert msp.order(msp_order_id)["status"] == "void"  # Klarna invoices nothing
    payment = Payment.objects.get(psp_reference=msp_order_id)
    assert payment.transactions.filter(kind=TransactionKind.VOID, is_success=True).count() == 1
    assert payment.is_active is False
    assert set(_deliver(msp)) == {200}  # the notifications change nothing more
    assert payment.transactions.filter(kind=TransactionKind.VOID).count() == 1
