"""The plugin inside a real Saleor: GraphQL mutations as a staff user, Saleor's own fixtures,
the plugin configured through its real configuration, the emulator standing in for
MultiSafepay. Skipped unless Saleor is importable and Django is set up (see saleor_fixtures.py
and the README, "Tests inside a real Saleor").
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import List

import pytest

pytest.importorskip("saleor", reason="Saleor is not installed: these tests run inside Saleor")
django_settings = pytest.importorskip("django.conf").settings
if not django_settings.configured:
    pytest.skip(
        "Django is not set up: run with --ds=saleor.tests.settings", allow_module_level=True
    )

import io  # noqa: E402
import json  # noqa: E402
import multiprocessing  # noqa: E402

import graphene  # noqa: E402
import requests  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.core.management.base import CommandError  # noqa: E402
from django.db import DatabaseError, connections, transaction  # noqa: E402
from saleor.order import OrderEvents  # noqa: E402
from saleor.order.models import Order, OrderEvent  # noqa: E402
from saleor.payment import ChargeStatus, TransactionKind  # noqa: E402
from saleor.plugins.models import PluginConfiguration  # noqa: E402

from saleor_multisafepay_refund.emulator import Fault, FaultKind  # noqa: E402
from saleor_multisafepay_refund.multisafepay.money import from_minor_units, to_minor_units  # noqa: E402
from saleor_multisafepay_refund.plugin.hooks import PLUGIN_ID, MultiSafepayPlugin  # noqa: E402
from saleor_multisafepay_refund.plugin.ledger_store import SaleorLedger  # noqa: E402
from saleor_multisafepay_refund.plugin.order_history import write_order_note  # noqa: E402
from saleor_multisafepay_refund.refunds.ledger import EntryState  # noqa: E402

from .msp_orders import KEY, msp_order_of  # noqa: E402

PACKAGE = "saleor_multisafepay_refund"

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
    return order.fulfillments.get(status="fulfilled").lines.get(order_line__product_sku=sku)


def _refund_copies(msp) -> List[tuple]:
    [post] = msp.refund_posts(MSP_ORDER_ID)
    items = post.json["checkout_data"]["items"]
    return [(item["merchant_item_id"], item["quantity"]) for item in items if item["quantity"] < 0]


def _notes(order) -> List[str]:
    events = OrderEvent.objects.filter(order=order, type=OrderEvents.NOTE_ADDED).order_by("pk")
    return [event.parameters["message"] for event in events]


def _msp_refunded(msp) -> Decimal:
    return from_minor_units(msp.order(MSP_ORDER_ID)["amount_refunded"], "USD")


def _refund_products(staff_api_client, order, sku, quantity):
    line = _fulfillment_line(order, sku)
    line_id = graphene.Node.to_global_id("FulfillmentLine", line.pk)
    response = staff_api_client.post_graphql(
        REFUND_PRODUCTS,
        {
            "order": _order_id(order),
            "input": {"fulfillmentLines": [{"fulfillmentLineId": line_id, "quantity": quantity}]},
        },
    )
    return response.json()["data"]["orderFulfillmentRefundProducts"]["errors"]


def _return_products(staff_api_client, order, sku, quantity):
    line = _fulfillment_line(order, sku)
    line_id = graphene.Node.to_global_id("FulfillmentLine", line.pk)
    response = staff_api_client.post_graphql(
        RETURN_PRODUCTS,
        {
            "order": _order_id(order),
            "input": {
                "refund": True,
                "fulfillmentLines": [
                    {"fulfillmentLineId": line_id, "quantity": quantity, "replace": False}
                ],
            },
        },
    )
    return response.json()["data"]["orderFulfillmentReturnProducts"]["errors"]


def test_the_plugin_is_found_where_a_shop_names_it() -> None:
    # The entry point Saleor reads, and the dotted path of earlier versions (a shop's
    # PLUGINS setting may name it), both give the plugin.
    from importlib.metadata import entry_points

    from django.utils.module_loading import import_string

    [entry] = [e for e in entry_points(group="saleor.plugins") if e.name == PACKAGE]
    assert entry.load() is MultiSafepayPlugin
    assert import_string(f"{PACKAGE}.plugin.MultiSafepayPlugin") is MultiSafepayPlugin


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

    errors = _return_products(staff_api_client, paid_order, "SKU_B", 1)

    assert errors == []
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

    errors = _return_products(staff_api_client, paid_order, "SKU_B", 1)

    [error] = errors
    assert error["message"] == "The refund operation is not available yet."
    assert msp.refund_posts() == []
    # Saleor rolled its transaction back; the note was written outside it.
    assert _notes(paid_order) == [
        "MultiSafepay refund not sent: Order msp-order-1 has no item with merchant_item_id "
        "'SKU_B' in MultiSafepay's cart."
    ]
    assert paid_order.payments.get().charge_status == ChargeStatus.FULLY_CHARGED


@pytest.mark.django_db(transaction=True)
def test_a_note_the_database_refuses_leaves_saleors_transaction_going(order_with_lines):
    order = order_with_lines
    with transaction.atomic():
        Order.objects.filter(pk=order.pk).update(customer_note="kept")
        with pytest.raises(DatabaseError):
            # PostgreSQL's jsonb has no room for a NUL character: the insert fails.
            write_order_note(order.pk, "a NUL: \x00", outside=False)
        write_order_note(order.pk, "written after", outside=False)

    order.refresh_from_db()
    assert order.customer_note == "kept"
    assert _notes(order) == ["written after"]


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


def test_a_lost_answer_then_a_retry_by_staff_refunds_once_and_saleor_records_it(
    staff_api_client, permission_group_manage_orders, paid_order, msp
):
    permission_group_manage_orders.user_set.add(staff_api_client.user)
    # The POST lands, its answer is lost, and so is the read-back (the second GET).
    msp.inject(Fault(FaultKind.DROP_AFTER))
    msp.inject(Fault(FaultKind.SERVER_ERROR, method="GET", after=1))
    payment = paid_order.payments.get()

    first = _refund_products(staff_api_client, paid_order, "SKU_AA", 1)
    retry = _refund_products(staff_api_client, paid_order, "SKU_AA", 1)

    assert [e["message"] for e in first] == ["The refund operation is not available yet."]
    assert retry == []
    assert len(msp.refund_posts(MSP_ORDER_ID)) == 1
    [landed] = msp.order(MSP_ORDER_ID)["related_transactions"]
    refunds = payment.transactions.filter(kind=TransactionKind.REFUND, is_success=True)
    assert [(t.token, t.amount) for t in refunds] == [
        (str(landed["transaction_id"]), _msp_refunded(msp))
    ]
    [entry] = SaleorLedger().entries(str(payment.pk))
    assert (entry.state, entry.refund_id) == (EntryState.REFUNDED, str(landed["transaction_id"]))
    notes = _notes(paid_order)
    assert "outcome unknown" in notes[0] and "recorded now, nothing sent again" in notes[-1]


def test_the_support_command_shows_all_three_views_and_flags_differences(
    staff_api_client, permission_group_manage_orders, paid_order, msp
):
    permission_group_manage_orders.user_set.add(staff_api_client.user)
    assert _refund_products(staff_api_client, paid_order, "SKU_AA", 1) == []
    out = io.StringIO()

    call_command("multisafepay_refunds", "--order", str(paid_order.number), stdout=out)

    assert "Everything agrees." in out.getvalue()
    # A refund made in MultiSafepay's dashboard, unknown to Saleor:
    cart = msp.order(MSP_ORDER_ID)["shopping_cart"]["items"]
    apple = next(i for i in cart if i["merchant_item_id"] == "SKU_B")
    body = {"checkout_data": {"items": [*cart, dict(apple, quantity=-1)]}}
    requests.post(
        f"{msp.base_url}orders/{MSP_ORDER_ID}/refunds",
        json=body,
        headers={"api_key": KEY},
        timeout=5,
    )
    out = io.StringIO()

    with pytest.raises(CommandError) as found:
        call_command("multisafepay_refunds", stdout=out)

    assert found.value.returncode == 1  # monitoring alerts on it
    assert "(made outside Saleor) is not recorded in Saleor" in out.getvalue()
    assert "2 difference(s) found." in out.getvalue()  # the refund, and the totals


def _utc_today() -> date:
    return datetime.now(timezone.utc).date()


def _support_json(*argv: str):
    """The support command's --json document and its exit code (Django's run_from_argv exits
    with a CommandError's returncode)."""
    out = io.StringIO()
    code = 0
    try:
        call_command("multisafepay_refunds", *argv, "--json", stdout=out)
    except CommandError as exc:
        code = exc.returncode
    return code, json.loads(out.getvalue())


def test_the_support_commands_json_and_exit_code_say_what_it_found(
    staff_api_client, permission_group_manage_orders, paid_order, msp
):
    permission_group_manage_orders.user_set.add(staff_api_client.user)
    assert _refund_products(staff_api_client, paid_order, "SKU_AA", 1) == []
    payment = paid_order.payments.get()
    [landed] = msp.order(MSP_ORDER_ID)["related_transactions"]
    refunded = str(_msp_refunded(msp))

    agrees = _support_json()

    assert agrees[0] == 0
    document = agrees[1]
    assert (document["result"], document["exit_code"], document["order"]) == ("agrees", 0, None)
    assert (document["differences"], document["unchecked"]) == (0, 0)
    assert document["since"] == str(_utc_today() - timedelta(days=90))
    [shown] = document["payments"]
    assert shown == {
        "checked": True,
        "payment_id": str(payment.pk),
        "msp_order_id": MSP_ORDER_ID,
        "currency": "USD",
        "saleor_refunded": refunded,
        "msp_refunded": refunded,
        "agrees": True,
        "refunds": [
            {
                "refund_id": str(landed["transaction_id"]),
                "saleor_amount": refunded,
                "ledger_state": "refunded",
                "ledger_amount": refunded,
                "multisafepay_status": landed["status"],
                "multisafepay_amount": refunded,
            }
        ],
        "differences": [],
    }

    # MultiSafepay lists a refund Saleor never heard of.
    msp.dashboard_refund(MSP_ORDER_ID, 100)
    code, found = _support_json("--order", str(paid_order.number))

    assert (code, found["result"], found["exit_code"], found["since"]) == (
        1,
        "differences",
        1,
        None,
    )
    assert found["order"] == str(paid_order.number) and found["differences"] >= 1
    assert found["payments"][0]["msp_refunded"] == str(Decimal(refunded) + Decimal("1.00"))


def test_the_support_commands_help_gives_its_exit_codes_period_and_json(capsys):
    with pytest.raises(SystemExit) as done:
        call_command("multisafepay_refunds", "--help")

    text = capsys.readouterr().out
    assert done.value.code == 0
    assert "\nexit codes:\n  0  everything compared agrees" in text
    for line in ("\n  1  differences found", "\n  2  a wrong option", "\n  3  no difference"):
        assert line in text
    assert "only the payments of the last 90 days are compared" in text
    assert '"result" (agrees, differences or' in text


def test_the_support_command_exits_3_when_multisafepay_cannot_be_asked(paid_order, msp):
    msp.inject(Fault(FaultKind.SERVER_ERROR, method="GET"))
    out = io.StringIO()

    with pytest.raises(CommandError) as found:
        call_command("multisafepay_refunds", stdout=out)

    assert found.value.returncode == 3
    payment = paid_order.payments.get()
    assert f"Payment {payment.pk}, MultiSafepay order {MSP_ORDER_ID}: NOT COMPARED" in (
        out.getvalue()
    )
    assert out.getvalue().splitlines()[-1] == (
        "No difference found. 1 payment(s) could not be compared."
    )
    msp.inject(Fault(FaultKind.SERVER_ERROR, method="GET"))
    code, document = _support_json()
    assert (code, document["result"], document["unchecked"]) == (3, "unchecked", 1)
    [unchecked] = document["payments"]
    assert unchecked["checked"] is False and unchecked["msp_order_id"] == MSP_ORDER_ID
    assert "MultiSafepay" in unchecked["error"] and KEY not in unchecked["error"]


def test_the_support_command_reads_the_last_90_days_unless_told_otherwise(paid_order, msp):
    payment = paid_order.payments.get()
    type(payment).objects.filter(pk=payment.pk).update(
        created_at=payment.created_at - timedelta(days=100)
    )
    msp.dashboard_refund(MSP_ORDER_ID, 100)  # a difference, so an alert if it is read
    out = io.StringIO()

    call_command("multisafepay_refunds", stdout=out)  # exit 0: nothing in the period

    since = _utc_today() - timedelta(days=90)
    assert out.getvalue().splitlines() == [
        f"MultiSafepay payments since {since} (--since all for every one): 0.",
        "Everything agrees.",
    ]
    assert msp.requests == []
    for argv in (["--since", "all"], ["--since", "120d"], ["--order", str(paid_order.number)]):
        code, document = _support_json(*argv)
        assert (code, len(document["payments"])) == (1, 1), argv
    assert _support_json("--since", str(_utc_today() - timedelta(days=10)))[1]["payments"] == []
    with pytest.raises(CommandError) as wrong:
        call_command("multisafepay_refunds", "--since", "last week", stdout=io.StringIO())
    assert wrong.value.returncode == 2 and "--since needs a date" in str(wrong.value)


@pytest.mark.django_db(transaction=True)
def test_a_return_whose_answer_was_lost_is_not_refunded_twice_after_saleors_rollback(
    staff_api_client, permission_group_manage_orders, paid_order, msp
):
    permission_group_manage_orders.user_set.add(staff_api_client.user)
    msp.inject(Fault(FaultKind.DROP_AFTER))
    msp.inject(Fault(FaultKind.SERVER_ERROR, method="GET", after=1))
    payment = paid_order.payments.get()

    first = _return_products(staff_api_client, paid_order, "SKU_B", 1)
    # Saleor rolled the return back; the ledger entry written before the POST survived it.
    [entry] = SaleorLedger().entries(str(payment.pk))
    retry = _return_products(staff_api_client, paid_order, "SKU_B", 1)

    assert [e["message"] for e in first] == ["The refund operation is not available yet."]
    assert entry.state is EntryState.UNKNOWN
    assert retry == []
    assert len(msp.refund_posts(MSP_ORDER_ID)) == 1
    assert msp.order(MSP_ORDER_ID)["amount_refunded"] == to_minor_units(
        payment.transactions.get(kind=TransactionKind.REFUND, is_success=True).amount, "USD"
    )


def _refund_in_another_process(payment_pk, sku, quantity, start, results):
    """A worker process: Saleor's own refund of `quantity` x `sku` of the payment."""
    from django.db import connections

    connections.close_all()  # the forked connection belongs to the parent
    from saleor.order import FulfillmentLineData
    from saleor.order.models import FulfillmentLine
    from saleor.payment import PaymentError, gateway
    from saleor.payment.interface import RefundData
    from saleor.payment.models import Payment
    from saleor.plugins.manager import get_plugins_manager

    payment = Payment.objects.get(pk=payment_pk)
    line = FulfillmentLine.objects.get(order_line__order=payment.order, order_line__product_sku=sku)
    amount = line.order_line.unit_price_gross_amount * quantity
    refund_data = RefundData(fulfillment_lines_to_refund=[FulfillmentLineData(line, quantity)])
    manager = get_plugins_manager(allow_replica=False)
    start.wait(timeout=30)
    try:
        gateway.refund(payment, manager, payment.order.channel.slug, amount, refund_data)
        results.put("refunded")
    except PaymentError as exc:
        results.put(f"refused: {exc}")
    finally:
        connections.close_all()


@pytest.mark.django_db(transaction=True)
def test_two_simultaneous_refunds_from_two_processes_end_with_the_right_total(
    paid_order, msp, settings
):
    payment = paid_order.payments.get()
    context = multiprocessing.get_context("fork")
    start, results = context.Barrier(2), context.Queue()
    connections.close_all()
    # Both want 2 of the 3 SKU_AA bought: only one may have them.
    workers = [
        context.Process(
            target=_refund_in_another_process, args=(payment.pk, "SKU_AA", 2, start, results)
        )
        for _ in range(2)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    outcomes = sorted(results.get(timeout=5) for _ in workers)

    assert outcomes[0] == "refunded"
    assert outcomes[1].startswith("refused: MultiSafepay refund not sent: Cannot refund 2 x")
    assert len(msp.refund_posts(MSP_ORDER_ID)) == 1
    payment.refresh_from_db()
    refunds = payment.transactions.filter(kind=TransactionKind.REFUND, is_success=True)
    assert (
        to_minor_units(sum(t.amount for t in refunds), "USD")
        == msp.order(MSP_ORDER_ID)["amount_refunded"]
    )
    entries = SaleorLedger().entries(str(payment.pk))
    assert [(e.state, e.refund_id is not None) for e in entries] == [(EntryState.REFUNDED, True)]


def test_a_refund_made_in_msps_dashboard_is_recorded_in_saleor_once(
    staff_api_client, permission_group_manage_orders, paid_order, msp
):
    permission_group_manage_orders.user_set.add(staff_api_client.user)
    payment = paid_order.payments.get()
    captured = payment.captured_amount
    cart = msp.order(MSP_ORDER_ID)["shopping_cart"]["items"]
    product_b = next(i for i in cart if i["merchant_item_id"] == "SKU_B")
    body = {"checkout_data": {"items": [*cart, dict(product_b, quantity=-1)]}}
    requests.post(
        f"{msp.base_url}orders/{MSP_ORDER_ID}/refunds",
        json=body,
        headers={"api_key": KEY},
        timeout=5,
    )
    [outside] = msp.order(MSP_ORDER_ID)["related_transactions"]

    assert _refund_products(staff_api_client, paid_order, "SKU_AA", 1) == []
    assert _refund_products(staff_api_client, paid_order, "SKU_AA", 1) == []

    payment.refresh_from_db()
    refunds = payment.transactions.filter(kind=TransactionKind.REFUND, is_success=True)
    assert [t.token for t in refunds].count(str(outside["transaction_id"])) == 1
    assert payment.captured_amount == captured - _msp_refunded(msp)
    assert any("recorded in Saleor's payment now" in note for note in _notes(paid_order))
    out = io.StringIO()
    call_command("multisafepay_refunds", "--order", str(paid_order.number), stdout=out)
    assert "Everything agrees." in out.getvalue()


def test_refunds_msp_counts_without_listing_are_recorded_once_and_an_unclear_one_is_decided(
    staff_api_client, permission_group_manage_orders, paid_order, msp
):
    permission_group_manage_orders.user_set.add(staff_api_client.user)
    payment = paid_order.payments.get()
    # Paid by card (refunded by amount), and MultiSafepay lists no refund: related_transactions
    # stays null, as in the recorded card order.
    msp.add_order(msp_order_of(paid_order, MSP_ORDER_ID, gateway="VISA"))
    msp.set_refund_listing(MSP_ORDER_ID, False)
    # The first refund lands and its answer is lost; the second is a genuine one.
    msp.inject(Fault(FaultKind.DROP_AFTER))
    assert _refund_products(staff_api_client, paid_order, "SKU_AA", 1) == []
    assert _refund_products(staff_api_client, paid_order, "SKU_AA", 1) == []

    refunds = payment.transactions.filter(kind=TransactionKind.REFUND, is_success=True)
    assert len(msp.refund_posts(MSP_ORDER_ID)) == 2
    assert len({t.token for t in refunds}) == 2
    assert any(t.token.startswith("unlisted-") for t in refunds)
    assert sum(t.amount for t in refunds) == _msp_refunded(msp)
    out = io.StringIO()
    call_command("multisafepay_refunds", "--order", str(paid_order.number), stdout=out)
    assert "Everything agrees." in out.getvalue(), out.getvalue()

    # A refund whose POST never arrived, while 1.00 more was refunded in MultiSafepay's
    # dashboard, unlisted: the order cannot tell whether it landed.
    msp.inject(Fault(FaultKind.DROP_BEFORE))
    _refund_products(staff_api_client, paid_order, "SKU_B", 1)
    sku_b = to_minor_units(paid_order.lines.get(product_sku="SKU_B").unit_price_gross_amount, "USD")
    msp.dashboard_refund(MSP_ORDER_ID, sku_b + 100)
    ledger = SaleorLedger()
    [unclear] = [e for e in ledger.entries(str(payment.pk)) if e.is_open]
    ledger.save(replace(unclear, created_at=unclear.created_at - 120))  # a minute later

    waiting = _refund_products(staff_api_client, paid_order, "SKU_B", 1)

    assert waiting and f"--mark-failed {unclear.entry_id}" in _notes(paid_order)[-1]
    call_command(
        "multisafepay_refunds",
        "--order",
        str(paid_order.number),
        "--mark-failed",
        unclear.entry_id,
        stdout=io.StringIO(),
    )
    assert "marked not refunded by staff" in _notes(paid_order)[-1]
    assert _refund_products(staff_api_client, paid_order, "SKU_B", 1) == []
    assert len(msp.refund_posts(MSP_ORDER_ID)) == 4
