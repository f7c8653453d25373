"""The plugin inside a real Saleor: GraphQL mutations as a staff user, Saleor's own fixtures,
the plugin configured through its real configuration, the emulator standing in for
MultiSafepay. Skipped unless Saleor is importable and Django is set up (see saleor_fixtures.py
and the README, "Tests inside a real Saleor").
"""

from __future__ import annotations

from decimal import Decimal
from typing import List

import pytest

pytest.importorskip("saleor", reason="Saleor is not installed: these tests run inside Saleor")
django_settings = pytest.importorskip("django.conf").settings
if not django_settings.configured:
    pytest.skip(
        "Django is not set up: run with --ds=saleor.tests.settings", allow_module_level=True
    )

import graphene  # noqa: E402
from saleor.order import OrderEvents  # noqa: E402
from saleor.order.models import OrderEvent  # noqa: E402
from saleor.payment import ChargeStatus, TransactionKind  # noqa: E402
from saleor.plugins.models import PluginConfiguration  # noqa: E402

from saleor_multisafepay_refund.emulator import Emulator  # noqa: E402
from saleor_multisafepay_refund.money import from_minor_units  # noqa: E402
from saleor_multisafepay_refund.plugin import PLUGIN_ID, MultiSafepayPlugin  # noqa: E402

from .msp_orders import msp_order_of  # noqa: E402

KEY = "saleor-it-key-0123456789abcdef"
MSP_ORDER_ID = "msp-order-1"

REFUND_PRODUCTS = """
mutation($order: ID!, $input: OrderRefundProductsInput!) {
  orderFulfillmentRefundProducts(order: $order, input: $input) {
    fulfillment { id status }
    errors { field code message }
  }
}
"""
RETURN_PRODUCTS = """
mutation($order: ID!, $input: OrderReturnProductsInput!) {
  orderFulfillmentReturnProducts(order: $order, input: $input) {
    returnFulfillment { id status }
    errors { field code message }
  }
}
"""
ORDER_REFUND = """
mutation($id: ID!, $amount: PositiveDecimal!) {
  orderRefund(id: $id, amount: $amount) {
    order { paymentStatus }
    errors { field code message }
  }
}
"""


@pytest.fixture
def msp():
    with Emulator(api_key=KEY, duplicate_window_seconds=0) as emulator:
        yield emulator


@pytest.fixture
def multisafepay(settings, channel_USD, msp):
    """The plugin, active in the order's channel, configured as a shop owner would."""
    settings.PLUGINS = [f"{MultiSafepayPlugin.__module__}.{MultiSafepayPlugin.__name__}"]
    configuration = [
        {"name": "api_key", "value": KEY},
        {"name": "api_url", "value": msp.base_url},
        {"name": "test_mode", "value": True},
    ]
    plugin_configuration = PluginConfiguration(
        identifier=PLUGIN_ID,
        name="MultiSafepay",
        channel=channel_USD,
        active=True,
        configuration=configuration,
    )
    MultiSafepayPlugin.validate_plugin_configuration(plugin_configuration)
    plugin_configuration.save()
    return plugin_configuration


@pytest.fixture
def paid_order(fulfilled_order, payment_txn_captured, msp, multisafepay):
    """A fulfilled order paid through MultiSafepay with Pay After Delivery."""
    order = fulfilled_order
    msp.add_order(msp_order_of(order, MSP_ORDER_ID))
    payment = payment_txn_captured
    payment.gateway = PLUGIN_ID
    payment.save(update_fields=["gateway"])
    payment.transactions.filter(kind=TransactionKind.CAPTURE).update(token=MSP_ORDER_ID)
    return order


def _order_id(order) -> str:
    return graphene.Node.to_global_id("Order", order.id)


def _fulfillment_line(order, sku):
    return order.fulfillments.get().lines.get(order_line__product_sku=sku)


def _refund_copies(msp) -> List[tuple]:
    [post] = msp.refund_posts(MSP_ORDER_ID)
    items = post.json["checkout_data"]["items"]
    return [(item["merchant_item_id"], item["quantity"]) for item in items if item["quantity"] < 0]


def _notes(order) -> List[str]:
    events = OrderEvent.objects.filter(order=order, type=OrderEvents.NOTE_ADDED).order_by("pk")
    return [event.parameters["message"] for event in events]


def _msp_refunded(msp) -> Decimal:
    return from_minor_units(msp.order(MSP_ORDER_ID)["amount_refunded"], "USD")


def test_refund_products_refunds_exactly_those_items_and_the_shipping(
    staff_api_client, permission_group_manage_orders, paid_order, msp
):
    permission_group_manage_orders.user_set.add(staff_api_client.user)
    line = _fulfillment_line(paid_order, "SKU_AA")
    payment = paid_order.payments.get()
    captured = payment.captured_amount

    response = staff_api_client.post_graphql(
        REFUND_PRODUCTS,
        {
            "order": _order_id(paid_order),
            "input": {
                "fulfillmentLines": [
                    {
                        "fulfillmentLineId": graphene.Node.to_global_id("FulfillmentLine", line.pk),
                        "quantity": 2,
                    }
                ],
                "includeShippingCosts": True,
            },
        },
    )

    assert response.json()["data"]["orderFulfillmentRefundProducts"]["errors"] == []
    assert sorted(_refund_copies(msp)) == [("SKU_AA", -2), ("msp-shipping", -1)]
    refunded = _msp_refunded(msp)
    payment.refresh_from_db()
    assert payment.charge_status == ChargeStatus.PARTIALLY_REFUNDED
    assert payment.captured_amount == captured - refunded
    refund = payment.transactions.get(kind=TransactionKind.REFUND)
    related = msp.order(MSP_ORDER_ID)["related_transactions"]
    assert (refund.is_success, refund.token, refund.amount) == (
        True,
        str(related[0]["transaction_id"]),
        refunded,
    )
    assert KEY not in str(refund.gateway_response)
    [note] = _notes(paid_order)
    assert note.startswith(f"MultiSafepay refunded USD {refunded} of order {MSP_ORDER_ID}")


def test_return_products_with_refund_refunds_the_returned_items(
    staff_api_client, permission_group_manage_orders, paid_order, msp
):
    permission_group_manage_orders.user_set.add(staff_api_client.user)
    line = _fulfillment_line(paid_order, "SKU_B")

    response = staff_api_client.post_graphql(
        RETURN_PRODUCTS,
        {
            "order": _order_id(paid_order),
            "input": {
                "refund": True,
                "fulfillmentLines": [
                    {
                        "fulfillmentLineId": graphene.Node.to_global_id("FulfillmentLine", line.pk),
                        "quantity": 1,
                        "replace": False,
                    }
                ],
            },
        },
    )

    assert response.json()["data"]["orderFulfillmentReturnProducts"]["errors"] == []
    assert _refund_copies(msp) == [("SKU_B", -1)]
    payment = paid_order.payments.get()
    assert payment.charge_status == ChargeStatus.PARTIALLY_REFUNDED
    assert payment.transactions.get(kind=TransactionKind.REFUND).amount == _msp_refunded(msp)


def test_order_refund_of_everything_refunds_every_item_and_the_shipping(
    staff_api_client, permission_group_manage_orders, paid_order, msp
):
    permission_group_manage_orders.user_set.add(staff_api_client.user)
    payment = paid_order.payments.get()

    response = staff_api_client.post_graphql(
        ORDER_REFUND, {"id": _order_id(paid_order), "amount": str(payment.captured_amount)}
    )

    assert response.json()["data"]["orderRefund"]["errors"] == []
    assert sorted(_refund_copies(msp)) == [("SKU_AA", -3), ("SKU_B", -2), ("msp-shipping", -1)]
    assert msp.order(MSP_ORDER_ID)["amount_refunded"] == msp.order(MSP_ORDER_ID)["amount"]
    payment.refresh_from_db()
    assert payment.charge_status == ChargeStatus.FULLY_REFUNDED


def test_order_refund_of_part_of_a_cart_order_is_refused_with_what_to_do(
    staff_api_client, permission_group_manage_orders, paid_order, msp
):
    permission_group_manage_orders.user_set.add(staff_api_client.user)

    response = staff_api_client.post_graphql(
        ORDER_REFUND, {"id": _order_id(paid_order), "amount": "5.00"}
    )

    [error] = response.json()["data"]["orderRefund"]["errors"]
    assert "Refund products instead" in error["message"]
    assert msp.refund_posts() == []
    payment = paid_order.payments.get()
    assert payment.charge_status == ChargeStatus.FULLY_CHARGED
    assert not payment.transactions.filter(kind=TransactionKind.REFUND, is_success=True).exists()


@pytest.mark.django_db(transaction=True)
def test_a_refused_return_is_explained_in_the_history_after_saleors_rollback(
    staff_api_client, permission_group_manage_orders, paid_order, msp
):
    # MultiSafepay's cart does not know SKU_B (the order was created with other ids).
    data = msp.order(MSP_ORDER_ID)
    for item in data["shopping_cart"]["items"]:
        if item["merchant_item_id"] == "SKU_B":
            item["merchant_item_id"] = "other-id"
    msp.add_order(data)
    permission_group_manage_orders.user_set.add(staff_api_client.user)
    line = _fulfillment_line(paid_order, "SKU_B")

    response = staff_api_client.post_graphql(
        RETURN_PRODUCTS,
        {
            "order": _order_id(paid_order),
            "input": {
                "refund": True,
                "fulfillmentLines": [
                    {
                        "fulfillmentLineId": graphene.Node.to_global_id("FulfillmentLine", line.pk),
                        "quantity": 1,
                        "replace": False,
                    }
                ],
            },
        },
    )

    [error] = response.json()["data"]["orderFulfillmentReturnProducts"]["errors"]
    assert error["message"] == "The refund operation is not available yet."
    assert msp.refund_posts() == []
    # Saleor rolled its transaction back; the note was written outside it.
    assert _notes(paid_order) == [
        "MultiSafepay refund not sent: Order msp-order-1 has no item with merchant_item_id "
        "'SKU_B' in MultiSafepay's cart."
    ]
    assert paid_order.payments.get().charge_status == ChargeStatus.FULLY_CHARGED


PLUGIN_UPDATE = """
mutation($id: ID!, $channel: ID, $input: PluginUpdateInput!) {
  pluginUpdate(id: $id, channelId: $channel, input: $input) {
    plugin { channelConfigurations { active configuration { name value type } } }
    errors { field code message }
  }
}
"""


def _plugin_update(staff_api_client, permission_manage_plugins, channel, active, configuration):
    response = staff_api_client.post_graphql(
        PLUGIN_UPDATE,
        {
            "id": PLUGIN_ID,
            "channel": graphene.Node.to_global_id("Channel", channel.pk),
            "input": {"active": active, "configuration": configuration},
        },
        permissions=[permission_manage_plugins],
    )
    return response.json()["data"]["pluginUpdate"]


def test_the_dashboard_refuses_bad_configuration_values_field_by_field(
    settings, staff_api_client, permission_manage_plugins, channel_USD
):
    settings.PLUGINS = [f"{MultiSafepayPlugin.__module__}.{MultiSafepayPlugin.__name__}"]

    result = _plugin_update(
        staff_api_client,
        permission_manage_plugins,
        channel_USD,
        True,
        [
            {"name": "api_url", "value": "http://msp.example/v1/json/"},
            {"name": "sign_conventions", "value": "KLARNA=negative"},
            {"name": "rounding_tolerance", "value": "-1"},
        ],
    )

    # Saleor's GraphQL API spells the fields in camel case.
    errors = {error["field"]: error["message"] for error in result["errors"]}
    assert set(errors) == {"apiKey", "apiUrl", "signConventions", "roundingTolerance"}
    assert "must use https" in errors["apiUrl"]
    assert not PluginConfiguration.objects.filter(identifier=PLUGIN_ID, active=True).exists()


def test_the_dashboard_saves_a_good_configuration_and_masks_the_key(
    settings, staff_api_client, permission_manage_plugins, channel_USD
):
    settings.PLUGINS = [f"{MultiSafepayPlugin.__module__}.{MultiSafepayPlugin.__name__}"]

    result = _plugin_update(
        staff_api_client,
        permission_manage_plugins,
        channel_USD,
        True,
        [
            {"name": "api_key", "value": KEY},
            {"name": "test_mode", "value": "false"},
            {"name": "sign_conventions", "value": "KLARNA=negative_quantity"},
        ],
    )

    assert result["errors"] == []
    [channel_configuration] = result["plugin"]["channelConfigurations"]
    shown = {item["name"]: item for item in channel_configuration["configuration"]}
    assert channel_configuration["active"] is True
    assert shown["api_key"]["type"] == "SECRET" and KEY not in str(shown["api_key"]["value"])
    assert shown["test_mode"]["value"] == "false"
    assert set(shown) == {field["name"] for field in MultiSafepayPlugin.DEFAULT_CONFIGURATION}
