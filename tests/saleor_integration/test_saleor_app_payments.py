"""Payments through the App inside a real Saleor (issue 13): the storefront's own mutations
(`paymentGatewayInitialize`, `transactionInitialize` with `{"gateway": "KLARNA"}` or
`"PAYAFTER"`, the customer paying on MultiSafepay's page, `transactionProcess`,
`checkoutComplete`), the staff's `orderFulfill` (ORDER_FULFILLED: the App ships the order at
MultiSafepay and reports CHARGE_SUCCESS through its worker), and the Dashboard's line-item
refund of one unit, without tax and with 21% VAT added to prices entered without tax. The App
runs as `app serve` in its own process, installed with HANDLE_PAYMENTS and MANAGE_ORDERS; the
emulator stands in for MultiSafepay and refuses any refund whose copy does not match the line
the payment created. At every step Saleor and MultiSafepay agree to the cent.

Also: a customer who never comes back (MultiSafepay's notification to the App completes the
payment), the same notification again and a forged one, and a refund made in MultiSafepay's
dashboard. Skipped unless Saleor is importable and Django is set up (see saleor_fixtures.py).
"""

from __future__ import annotations

import json
import time
from decimal import Decimal
from typing import Any, Callable, Dict, List, Sequence, Tuple

import pytest

pytest.importorskip("saleor", reason="Saleor is not installed: these tests run inside Saleor")
django_settings = pytest.importorskip("django.conf").settings
if not django_settings.configured:
    pytest.skip(
        "Django is not set up: run with --ds=saleor.tests.settings", allow_module_level=True
    )

import graphene  # noqa: E402
from django.test import TestCase  # noqa: E402
from django.utils import timezone  # noqa: E402

from saleor_multisafepay_refund.app.manifest import APP_ID  # noqa: E402
from saleor_multisafepay_refund.emulator import Emulator, Notification  # noqa: E402
from saleor_multisafepay_refund.multisafepay.money import from_minor_units  # noqa: E402
from saleor_multisafepay_refund.multisafepay.signatures import sign_notification  # noqa: E402

from .app_process import AppProcess  # noqa: E402

# The App's worker tries every 2 s, and 10 s later after a failed try.
REPORT_WAIT_SECONDS = 30.0
WRONG_KEY = "wrong-key-ABCDEFGHIJ"

CHECKOUT = """
query($id: ID!) {
  checkout(id: $id) {
    totalPrice { gross { amount } net { amount } }
    lines { quantity variant { sku } totalPrice { net { amount } } }
  }
}
"""
GATEWAY_INITIALIZE = """
mutation($id: ID!, $gateways: [PaymentGatewayToInitialize!]) {
  paymentGatewayInitialize(id: $id, paymentGateways: $gateways) {
    gatewayConfigs { id data errors { field code message } }
    errors { field code message }
  }
}
"""
_TRANSACTION = """
    transaction { id token pspReference actions
      authorizedAmount { amount } chargedAmount { amount } refundedAmount { amount } }
    transactionEvent { type pspReference message amount { amount } }
    data
    errors { field code message }"""
INITIALIZE = (
    """
mutation($id: ID!, $gateway: PaymentGatewayToInitialize!, $amount: PositiveDecimal) {
  transactionInitialize(id: $id, paymentGateway: $gateway, amount: $amount) {"""
    + _TRANSACTION
    + "\n  }\n}"
)
PROCESS = (
    """
mutation($id: ID!) {
  transactionProcess(id: $id) {"""
    + _TRANSACTION
    + "\n  }\n}"
)
COMPLETE = """
mutation($id: ID!) {
  checkoutComplete(id: $id) {
    order { id number total { gross { amount } } }
    errors { field code message }
  }
}
"""
FULFILL = """
mutation($order: ID, $input: OrderFulfillInput!) {
  orderFulfill(order: $order, input: $input) { fulfillments { id } errors { field message } }
}
"""
GRANT_REFUND = """
mutation($id: ID!, $input: OrderGrantRefundCreateInput!) {
  orderGrantRefundCreate(id: $id, input: $input) {
    grantedRefund { id amount { amount } }
    errors { field code message }
  }
}
"""
REQUEST_REFUND = """
mutation($grantedRefundId: ID!, $id: ID!) {
  transactionRequestRefundForGrantedRefund(grantedRefundId: $grantedRefundId, id: $id) {
    transaction { id }
    errors { field code message }
  }
}
"""
_AMOUNTS = """
    id pspReference actions
    authorizedAmount { amount } chargedAmount { amount } refundedAmount { amount }
    events { type pspReference message amount { amount } }"""
CHECKOUT_TRANSACTIONS = (
    """
query($id: ID!) {
  checkout(id: $id) { authorizeStatus chargeStatus transactions {"""
    + _AMOUNTS
    + " } }\n}"
)
CAPTURE = """
mutation($id: ID!) {
  transactionRequestAction(id: $id, actionType: CHARGE) {
    transaction { id }
    errors { field code message }
  }
}
"""
ORDER = (
    """
query($id: ID!) {
  order(id: $id) {
    total { gross { amount } }
    grantedRefunds { id status amount { amount } }
    transactions {"""
    + _AMOUNTS
    + " }\n  }\n}"
)


def _data(response: Any, field: str) -> Dict[str, Any]:
    content = response.json()
    assert "errors" not in content, content["errors"]
    data = content["data"][field]
    assert not data.get("errors"), data["errors"]
    return data  # type: ignore[no-any-return]


def _gid(kind: str, pk: Any) -> str:
    return graphene.Node.to_global_id(kind, pk)


def _money(value: Dict[str, Any]) -> Decimal:
    return Decimal(str(value["amount"]))


@pytest.fixture
def app_permissions() -> Sequence[str]:
    """What the manifest asks: payments, and MANAGE_ORDERS for ORDER_FULFILLED."""
    return ["HANDLE_PAYMENTS", "MANAGE_ORDERS"]


@pytest.fixture
def shop(configured: Any, checkout_with_items_and_shipping: Any) -> Any:
    """The App installed and configured for the channel; a checkout with an address, a
    shipping method and its lines' SKUs (MultiSafepay's merchant_item_ids), one line of two
    units (so one unit of it can be refunded)."""
    checkout = checkout_with_items_and_shipping
    line = checkout.lines.order_by("pk").first()
    line.quantity = 2
    line.save(update_fields=["quantity"])
    _odd_prices(checkout)
    for line in checkout.lines.all():
        assert line.variant.sku
    return checkout


# Net prices whose VAT does not come out even: 8.26 x 1.21 = 9.9946, two of them 19.9892.
ODD_PRICES = [Decimal("8.26"), Decimal("3.33"), Decimal("7.77"), Decimal("11.11")]


def _odd_prices(checkout: Any) -> None:
    """The variants' prices in the channel set to ODD_PRICES (line by line)."""
    from saleor.product.models import ProductVariantChannelListing

    for line, price in zip(checkout.lines.order_by("pk"), ODD_PRICES):
        ProductVariantChannelListing.objects.filter(
            variant=line.variant, channel=checkout.channel
        ).update(price_amount=price, discounted_price_amount=price)
        if hasattr(line, "undiscounted_unit_price_amount"):
            line.undiscounted_unit_price_amount = price
            line.save(update_fields=["undiscounted_unit_price_amount"])
    _prices_again(checkout)


def _prices_again(checkout: Any) -> None:
    """Saleor prices the checkout again at its next read."""
    checkout.price_expiration = timezone.now()
    checkout.save(update_fields=["price_expiration"])


def _charge_vat(checkout: Any, rate: int) -> None:
    """Flat-rate VAT on every product and the shipping, added to prices entered without tax
    (as Saleor's own tests do it: test_order_from_checkout.py, FLAT_RATES)."""
    from saleor.product.models import Product
    from saleor.shipping.models import ShippingMethod
    from saleor.tax import TaxCalculationStrategy
    from saleor.tax.models import TaxClass

    configuration = checkout.channel.tax_configuration
    configuration.country_exceptions.all().delete()
    configuration.charge_taxes = True
    configuration.prices_entered_with_tax = False
    configuration.tax_calculation_strategy = TaxCalculationStrategy.FLAT_RATES
    configuration.save()
    vat = TaxClass.objects.create(name=f"VAT {rate}")
    vat.country_rates.create(country=checkout.shipping_address.country, rate=rate)
    Product.objects.update(tax_class=vat)
    ShippingMethod.objects.update(tax_class=vat)
    _prices_again(checkout)


def _wait(read: Callable[[], Any], done: Callable[[Any], bool]) -> Any:
    """What `read` returns once `done` says so (the App's worker reports within seconds)."""
    deadline = time.monotonic() + REPORT_WAIT_SECONDS
    while True:
        value = read()
        if done(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.5)


# -- the storefront ------------------------------------------------------------------------------


def _total(api_client: Any, checkout: Any) -> Tuple[Decimal, Decimal]:
    """The checkout's total (gross, net) as the storefront reads it, at ODD_PRICES."""
    shown = _data(
        api_client.post_graphql(CHECKOUT, {"id": _gid("Checkout", checkout.pk)}), "checkout"
    )
    prices = dict(zip((line.variant.sku for line in checkout.lines.order_by("pk")), ODD_PRICES))
    for line in shown["lines"]:
        expected = prices[line["variant"]["sku"]] * line["quantity"]
        assert _money(line["totalPrice"]["net"]) == expected, shown
    return _money(shown["totalPrice"]["gross"]), _money(shown["totalPrice"]["net"])


def _initialize(api_client: Any, checkout: Any, method: str) -> Dict[str, Any]:
    """What the storefront sends to pay with a method it offers itself."""
    checkout_id = _gid("Checkout", checkout.pk)
    offered = _data(
        api_client.post_graphql(
            GATEWAY_INITIALIZE, {"id": checkout_id, "gateways": [{"id": APP_ID}]}
        ),
        "paymentGatewayInitialize",
    )
    (config,) = offered["gatewayConfigs"]
    assert config["id"] == APP_ID and not config["errors"], config
    assert method in config["data"]["cartMethods"]
    return _data(
        api_client.post_graphql(
            INITIALIZE,
            {"id": checkout_id, "gateway": {"id": APP_ID, "data": {"gateway": method}}},
        ),
        "transactionInitialize",
    )


def _complete(api_client: Any, checkout: Any) -> Dict[str, Any]:
    return _data(
        api_client.post_graphql(COMPLETE, {"id": _gid("Checkout", checkout.pk)}),
        "checkoutComplete",
    )["order"]


def _checkout_transaction(staff: Any, checkout: Any) -> Dict[str, Any]:
    shown = _data(
        staff.post_graphql(CHECKOUT_TRANSACTIONS, {"id": _gid("Checkout", checkout.pk)}),
        "checkout",
    )
    (transaction,) = shown["transactions"]
    return dict(transaction, authorizeStatus=shown["authorizeStatus"])


# -- the staff -----------------------------------------------------------------------------------


def _order(staff: Any, order_id: str) -> Dict[str, Any]:
    return _data(staff.post_graphql(ORDER, {"id": order_id}), "order")


def _fulfill_everything(staff: Any, order: Any) -> None:
    """orderFulfill of every line: Saleor sends ORDER_FULFILLED when the commit is done."""
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
    with TestCase.captureOnCommitCallbacks(execute=True):
        _data(
            staff.post_graphql(
                FULFILL, {"order": _gid("Order", order.pk), "input": {"lines": lines}}
            ),
            "orderFulfill",
        )


def _refund_one_unit(staff: Any, order: Any, line: Any, transaction_id: str) -> Dict[str, Any]:
    """The Dashboard's "refund one unit of this line": grant, then send it to the App."""
    granted = _data(
        staff.post_graphql(
            GRANT_REFUND,
            {
                "id": _gid("Order", order.pk),
                "input": {
                    "lines": [{"id": _gid("OrderLine", line.pk), "quantity": 1}],
                    "grantRefundForShipping": False,
                    "transactionId": transaction_id,
                },
            },
        ),
        "orderGrantRefundCreate",
    )["grantedRefund"]
    with TestCase.captureOnCommitCallbacks(execute=True):
        _data(
            staff.post_graphql(
                REQUEST_REFUND, {"grantedRefundId": granted["id"], "id": transaction_id}
            ),
            "transactionRequestRefundForGrantedRefund",
        )
    return granted


def _events(transaction: Dict[str, Any], kind: str) -> List[Tuple[str, Decimal]]:
    return [
        (e["pspReference"], _money(e["amount"])) for e in transaction["events"] if e["type"] == kind
    ]


def _agree(transaction: Dict[str, Any], msp: Emulator, msp_order_id: str, currency: str) -> None:
    """Saleor's transaction says what MultiSafepay's order says, to the cent."""
    order = msp.order(msp_order_id)
    paid = from_minor_units(order["amount"], currency)
    refunded = from_minor_units(order["amount_refunded"], currency)
    authorized = _money(transaction["authorizedAmount"])
    charged = _money(transaction["chargedAmount"])
    assert _money(transaction["refundedAmount"]) == refunded
    if order["status"] in ("shipped", "refunded", "partial_refunded"):
        assert (authorized, charged) == (Decimal(0), paid - refunded)
    else:
        assert (authorized, charged) == (paid, Decimal(0))


def _cart_adds_up(created: Dict[str, Any], currency: str) -> Decimal:
    """The MultiSafepay cart's total with its tax tables, as MultiSafepay adds it up."""
    rates = {
        table["name"]: Decimal(str(table["rules"][0]["rate"]))
        for table in created["checkout_options"]["alternate"]
    }
    total = Decimal(0)
    for item in created["shopping_cart"]["items"]:
        net = Decimal(str(item["unit_price"])) * int(item["quantity"])
        total += net * (1 + rates[item["tax_table_selector"]])
    return total.quantize(Decimal("0.01"))


# -- the whole way --------------------------------------------------------------------------------


@pytest.mark.parametrize("vat", [0, 21])
@pytest.mark.parametrize("method", ["KLARNA", "PAYAFTER"])
def test_pay_ship_and_refund_a_line_through_the_app_saleor_and_multisafepay_agree(
    api_client: Any,
    staff: Any,
    shop: Any,
    msp: Emulator,
    app_server: AppProcess,
    method: str,
    vat: int,
) -> None:
    checkout = shop
    if vat:
        _charge_vat(checkout, vat)
    gross, net = _total(api_client, checkout)
    assert (gross > net) if vat else (gross == net)
    skus = [line.variant.sku for line in checkout.lines.order_by("pk")]

    # The storefront starts the payment: the App creates MultiSafepay's order from the
    # checkout and answers with its payment page.
    started = _initialize(api_client, checkout, method)
    assert started["transactionEvent"]["type"] == "AUTHORIZATION_ACTION_REQUIRED", started
    msp_order_id = started["transaction"]["pspReference"]
    assert started["data"]["multisafepay_order_id"] == msp_order_id
    assert started["data"]["payment_url"]
    created = msp.order(msp_order_id)
    currency = checkout.currency
    assert created["payment_details"]["type"] == method
    assert from_minor_units(created["amount"], currency) == gross
    assert _cart_adds_up(created, currency) == gross
    cart = created["shopping_cart"]["items"]
    cart_ids = [item["merchant_item_id"] for item in cart]
    assert sorted(cart_ids) == sorted([*skus, "msp-shipping"])
    rates = {
        rule["rate"]
        for table in created["checkout_options"]["alternate"]
        for rule in table["rules"]
    }
    assert ("0.21" in {str(rate) for rate in rates}) if vat else {str(r) for r in rates} == {"0"}

    # The customer pays on the page and comes back: authorized (shipping will capture).
    msp.pay(msp_order_id)
    processed = _data(
        api_client.post_graphql(PROCESS, {"id": started["transaction"]["id"]}),
        "transactionProcess",
    )
    assert processed["transactionEvent"]["type"] == "AUTHORIZATION_SUCCESS", processed
    assert _money(processed["transaction"]["authorizedAmount"]) == gross
    # Staff may capture (ship) or cancel it in the Dashboard.
    assert sorted(processed["transaction"]["actions"]) == ["CANCEL", "CHARGE"]

    placed = _complete(api_client, checkout)
    assert placed is not None and _money(placed["total"]["gross"]) == gross
    from saleor.order.models import Order

    order = Order.objects.get(number=placed["number"])
    (transaction,) = _order(staff, placed["id"])["transactions"]
    _agree(transaction, msp, msp_order_id, currency)

    # Staff fulfil everything: the App ships the order at MultiSafepay and its worker reports
    # the capture to Saleor.
    _fulfill_everything(staff, order)
    assert msp.order(msp_order_id)["status"] == "shipped", app_server.log()[-3000:]
    shown = _wait(
        lambda: _order(staff, placed["id"]),
        lambda o: _money(o["transactions"][0]["chargedAmount"]) == gross,
    )
    (transaction,) = shown["transactions"]
    assert _events(transaction, "CHARGE_SUCCESS") == [(msp_order_id, gross)], app_server.log()[
        -3000:
    ]
    assert transaction["actions"] == ["REFUND"]
    _agree(transaction, msp, msp_order_id, currency)

    # The Dashboard refunds one unit of the two-unit line: MultiSafepay gets the cart as the
    # payment created it, with a copy of that line refunding one unit right after it (the
    # emulator refuses any other copy).
    line = order.lines.get(product_sku=skus[0])
    assert line.quantity == 2
    granted = _refund_one_unit(staff, order, line, transaction["id"])
    assert _money(granted["amount"]) == line.unit_price_gross_amount
    (post,) = msp.refund_posts(msp_order_id)
    items = json.loads(post.body)["checkout_data"]["items"]
    original = next(item for item in cart if item["merchant_item_id"] == skus[0])
    at = cart.index(original) + 1
    # Klarna's copy negates the unit price, the other methods' the quantity (methods.py).
    if method == "KLARNA":
        copy = dict(original, unit_price=f"-{original['unit_price']}", quantity=1)
    else:
        copy = dict(original, quantity=-1)
    assert items == [*cart[:at], copy, *cart[at:]]
    (refund,) = msp.order(msp_order_id)["related_transactions"]
    refunded = from_minor_units(msp.order(msp_order_id)["amount_refunded"], currency)
    # Saleor grants its unit price (the line's total over its quantity, rounded: 19.99 / 2 =
    # 10.00 with VAT); MultiSafepay refunds the copy at its cart price with tax (9.99): a cent
    # of rounding, within the configured tolerance. Saleor then records what MultiSafepay
    # refunded. Without tax there is nothing to round.
    asked = _money(granted["amount"])
    assert (abs(refunded - asked) <= Decimal("0.01")) if vat else (refunded == asked)

    shown = _order(staff, placed["id"])
    assert [g["status"] for g in shown["grantedRefunds"]] == ["SUCCESS"]
    (transaction,) = shown["transactions"]
    assert _events(transaction, "REFUND_SUCCESS") == [(str(refund["transaction_id"]), refunded)]
    _agree(transaction, msp, msp_order_id, currency)


# -- MultiSafepay's notifications ---------------------------------------------------------------


def _forged(notification: Notification) -> List[Notification]:
    """The notification signed with another key, and its body changed under its own Auth."""
    timestamp = int(time.time())
    wrong = sign_notification(notification.body, WRONG_KEY, timestamp)
    body = notification.body.replace(b'"completed"', b'"cancelled"', 1)
    assert body != notification.body
    return [
        Notification(
            notification.order_id,
            notification.url,
            notification.body,
            dict(notification.headers, Auth=wrong),
            timestamp,
        ),
        Notification(
            notification.order_id,
            notification.url,
            body,
            notification.headers,
            notification.timestamp,
        ),
    ]


def test_a_customer_who_never_comes_back_is_paid_by_the_notification_once(
    api_client: Any, staff: Any, shop: Any, msp: Emulator, app_server: AppProcess
) -> None:
    checkout = shop
    gross, _ = _total(api_client, checkout)
    started = _initialize(api_client, checkout, "KLARNA")
    msp_order_id = started["transaction"]["pspReference"]

    # The customer pays and closes the browser: no transactionProcess. MultiSafepay's
    # notification reaches the App, which reads the order and reports the authorization.
    msp.pay(msp_order_id)
    (notification,) = msp.notifications(msp_order_id)
    assert notification.url.startswith(app_server.url + "/api/notifications/multisafepay")

    # Forged first: refused, and nothing reaches Saleor.
    assert [msp.deliver(forged)[0] for forged in _forged(notification)] == [403, 403]
    time.sleep(3)  # longer than the worker's interval
    transaction = _checkout_transaction(staff, checkout)
    assert _events(transaction, "AUTHORIZATION_SUCCESS") == []
    assert _money(transaction["authorizedAmount"]) == 0

    delivered = msp.deliver_pending()
    assert [(status, body[:2]) for _, status, body in delivered] == [(200, b"OK")]
    transaction = _wait(
        lambda: _checkout_transaction(staff, checkout),
        lambda t: _money(t["authorizedAmount"]) == gross,
    )
    assert _events(transaction, "AUTHORIZATION_SUCCESS") == [(msp_order_id, gross)], (
        app_server.log()[-3000:]
    )
    assert transaction["authorizeStatus"] == "FULL"
    assert sorted(transaction["actions"]) == ["CANCEL", "CHARGE"]

    # The same notification again (MultiSafepay repeats itself): answered, nothing new.
    assert msp.deliver(notification)[0] == 200
    time.sleep(3)
    again = _checkout_transaction(staff, checkout)
    assert again["events"] == transaction["events"]
    assert _money(again["authorizedAmount"]) == gross

    # The checkout can be placed: the authorization covers it.
    placed = _complete(api_client, checkout)
    assert placed is not None and _money(placed["total"]["gross"]) == gross
    (transaction,) = _order(staff, placed["id"])["transactions"]
    _agree(transaction, msp, msp_order_id, checkout.currency)


def test_a_refund_made_in_multisafepays_dashboard_is_recorded_in_saleor(
    api_client: Any, staff: Any, shop: Any, msp: Emulator, app_server: AppProcess
) -> None:
    checkout = shop
    gross, _ = _total(api_client, checkout)
    started = _initialize(api_client, checkout, "PAYAFTER")
    msp_order_id = started["transaction"]["pspReference"]
    msp.pay(msp_order_id)
    _data(
        api_client.post_graphql(PROCESS, {"id": started["transaction"]["id"]}),
        "transactionProcess",
    )
    placed = _complete(api_client, checkout)
    from saleor.order.models import Order

    order = Order.objects.get(number=placed["number"])
    _fulfill_everything(staff, order)
    _wait(
        lambda: _order(staff, placed["id"]),
        lambda o: _money(o["transactions"][0]["chargedAmount"]) == gross,
    )
    msp.deliver_pending()  # the payment's and the shipping's notifications: nothing new

    # The merchant refunds 5.00 in MultiSafepay's dashboard; MultiSafepay notifies the App.
    refund_id = msp.dashboard_refund(msp_order_id, 500)
    delivered = msp.deliver_pending()
    assert [status for _, status, _ in delivered] == [200]
    shown = _wait(
        lambda: _order(staff, placed["id"]),
        lambda o: _money(o["transactions"][0]["refundedAmount"]) > 0,
    )
    (transaction,) = shown["transactions"]
    assert _events(transaction, "REFUND_SUCCESS") == [(str(refund_id), Decimal("5.00"))], (
        app_server.log()[-3000:]
    )
    _agree(transaction, msp, msp_order_id, checkout.currency)


# -- installed without MANAGE_ORDERS ---------------------------------------------------------------


@pytest.mark.parametrize("app_permissions", [["HANDLE_PAYMENTS"]])
def test_without_manage_orders_fulfilling_ships_nothing_and_capture_ships_the_order(
    api_client: Any, staff: Any, shop: Any, msp: Emulator, app_server: AppProcess
) -> None:
    """Saleor installs the App with the permissions staff grant, not the manifest's: without
    MANAGE_ORDERS it keeps the ORDER_FULFILLED webhook but never sends it. Staff press Capture
    (TRANSACTION_CHARGE_REQUESTED), which ships the order the same way."""
    checkout = shop
    gross, _ = _total(api_client, checkout)
    started = _initialize(api_client, checkout, "KLARNA")
    msp_order_id = started["transaction"]["pspReference"]
    msp.pay(msp_order_id)
    _data(
        api_client.post_graphql(PROCESS, {"id": started["transaction"]["id"]}),
        "transactionProcess",
    )
    placed = _complete(api_client, checkout)
    from saleor.order.models import Order

    order = Order.objects.get(number=placed["number"])
    _fulfill_everything(staff, order)
    time.sleep(3)  # longer than the worker's interval
    assert msp.order(msp_order_id)["status"] == "completed"
    (transaction,) = _order(staff, placed["id"])["transactions"]
    assert _events(transaction, "CHARGE_SUCCESS") == []
    assert "CHARGE" in transaction["actions"]  # the Dashboard shows Capture
    _agree(transaction, msp, msp_order_id, checkout.currency)

    with TestCase.captureOnCommitCallbacks(execute=True):
        _data(staff.post_graphql(CAPTURE, {"id": transaction["id"]}), "transactionRequestAction")
    assert msp.order(msp_order_id)["status"] == "shipped"
    (transaction,) = _order(staff, placed["id"])["transactions"]
    assert _money(transaction["chargedAmount"]) == gross
    assert transaction["actions"] == ["REFUND"]
    _agree(transaction, msp, msp_order_id, checkout.currency)
