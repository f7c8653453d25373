"""Paying through the App: the storefront's transactionInitialize makes the MultiSafepay order
from the checkout (the cart refunds will look for), transactionProcess says what became of it,
and a later refund of one line finds that line's item."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal
from typing import Any, Dict, List

from saleor_multisafepay_refund.app import reports
from saleor_multisafepay_refund.app.context import app_context
from saleor_multisafepay_refund.app.manifest import (
    CHARGE_REQUESTED,
    GATEWAY_INITIALIZE,
    INITIALIZE_SESSION,
    ORDER_FULFILLED,
    PROCESS_SESSION,
    REFUND_REQUESTED,
)
from saleor_multisafepay_refund.emulator import Emulator

from .events import (
    VAT_CHECKOUT,
    action_requested,
    checkout,
    checkout_line,
    refund_requested,
    session,
    transaction,
)
from .saleor_server import SaleorServer

CHECKOUT = VAT_CHECKOUT


def _created(msp: Emulator) -> Dict[str, Any]:
    (post,) = [r for r in msp.requests if r.method == "POST" and r.path.endswith("/orders")]
    return dict(json.loads(post.body, parse_float=Decimal))


def test_klarna_is_authorized_when_paid_and_a_refund_finds_the_line(
    saleor: SaleorServer, app_url: str, msp: Emulator, configured: Any
) -> None:
    token = str(uuid.uuid4())

    started = saleor.answer(
        app_url + INITIALIZE_SESSION.path,
        session(CHECKOUT, "36.30", token, data={"gateway": "KLARNA"}),
    )

    assert started["result"] == "AUTHORIZATION_ACTION_REQUIRED"
    assert started["amount"] == Decimal("36.30")
    order_id = started["pspReference"]
    assert started["data"]["multisafepay_order_id"] == order_id
    assert started["data"]["payment_url"].startswith(msp.base_url.split("/v1")[0])
    body = _created(msp)
    items: List[Dict[str, Any]] = body["shopping_cart"]["items"]
    assert [(i["merchant_item_id"], i["quantity"]) for i in items] == [
        ("TSHIRT", 2),
        ("CAP", 1),
        ("msp-shipping", 1),
    ]
    assert body["gateway"] == "KLARNA" and body["amount"] == 3630
    assert body["payment_options"]["notification_url"] == (
        app_url + "/api/notifications/multisafepay"
    )

    msp.pay(order_id)
    done = saleor.answer(
        app_url + PROCESS_SESSION.path,
        session(CHECKOUT, "36.30", token, psp_reference=order_id),
    )
    # Authorized: Saleor offers staff Capture (shipping) and Cancel.
    assert done == {
        "result": "AUTHORIZATION_SUCCESS",
        "amount": Decimal("36.30"),
        "pspReference": order_id,
        "actions": ["CHARGE", "CANCEL"],
    }

    # Staff press Capture: MultiSafepay ships the order, which invoices the customer.
    txn = transaction(order_id, Decimal("0"), token=token)
    charged = saleor.answer(
        app_url + CHARGE_REQUESTED.path,
        action_requested(txn, Decimal("36.30"), "CHARGE"),
    )
    assert charged["result"] == "CHARGE_SUCCESS"
    txn = transaction(order_id, Decimal("36.30"), token=token)
    refund = saleor.answer(
        app_url + REFUND_REQUESTED.path,
        refund_requested(txn, Decimal("12.10"), [("TSHIRT", 1)]),
    )
    assert (refund["result"], refund["amount"]) == ("REFUND_SUCCESS", Decimal("12.10"))
    assert msp.order(order_id)["amount_refunded"] == 1210


def test_a_card_payment_is_charged_when_paid(
    saleor: SaleorServer, app_url: str, msp: Emulator, configured: Any
) -> None:
    token = str(uuid.uuid4())
    started = saleor.answer(app_url + INITIALIZE_SESSION.path, session(CHECKOUT, "36.30", token))
    assert started["result"] == "CHARGE_ACTION_REQUIRED"
    order_id = started["pspReference"]

    waiting = saleor.answer(
        app_url + PROCESS_SESSION.path,
        session(CHECKOUT, "36.30", token, psp_reference=order_id),
    )
    assert waiting["result"] == "CHARGE_ACTION_REQUIRED"
    assert waiting["data"]["payment_url"] == started["data"]["payment_url"]

    msp.pay(order_id, gateway="VISA")
    done = saleor.answer(
        app_url + PROCESS_SESSION.path,
        session(CHECKOUT, "36.30", token, psp_reference=order_id),
    )
    assert (done["result"], done["pspReference"]) == ("CHARGE_SUCCESS", order_id)
    assert done["actions"] == ["REFUND"]


def test_a_declined_payment_is_a_failure_saleor_records(
    saleor: SaleorServer, app_url: str, msp: Emulator, configured: Any
) -> None:
    token = str(uuid.uuid4())
    started = saleor.answer(
        app_url + INITIALIZE_SESSION.path,
        session(CHECKOUT, "36.30", token, data={"gateway": "KLARNA"}),
    )
    order_id = started["pspReference"]

    msp.pay(order_id, outcome="declined")
    done = saleor.answer(
        app_url + PROCESS_SESSION.path,
        session(CHECKOUT, "36.30", token, psp_reference=order_id),
    )

    assert done["result"] == "AUTHORIZATION_FAILURE"
    assert "declined" in done["message"]


def test_a_checkout_changed_on_the_payment_page_is_cancelled_not_charged(
    saleor: SaleorServer, app_url: str, msp: Emulator, configured: Any
) -> None:
    token = str(uuid.uuid4())
    started = saleor.answer(
        app_url + INITIALIZE_SESSION.path,
        session(CHECKOUT, "36.30", token, data={"gateway": "KLARNA"}),
    )
    order_id = started["pspReference"]
    msp.pay(order_id)
    # The customer added a cap in another tab while paying.
    changed = checkout(
        [
            checkout_line("TSHIRT", 2, gross="24.20", net="20.00"),
            checkout_line("CAP", 2, gross="12.10", net="10.00"),
        ],
        shipping=("6.05", "5.00"),
        total="42.35",
    )

    done = saleor.answer(
        app_url + PROCESS_SESSION.path,
        # The transaction keeps the amount it was started with; the checkout is the new one.
        session(changed, "36.30", token, psp_reference=order_id),
    )

    assert done["result"] == "AUTHORIZATION_FAILURE"
    assert "changed" in done["message"]
    assert msp.order(order_id)["status"] == "void"


def test_a_cart_method_without_its_lines_is_refused_before_any_order(
    saleor: SaleorServer, app_url: str, msp: Emulator, configured: Any
) -> None:
    # Lines that do not add up to what Saleor charges: Klarna would invoice something else.
    wrong = checkout([checkout_line("TSHIRT", 2, "24.20", "20.00")], ("0", "0"), total="30.00")

    answer = saleor.answer(
        app_url + INITIALIZE_SESSION.path,
        session(wrong, "30.00", str(uuid.uuid4()), data={"gateway": "KLARNA"}),
    )

    assert answer["result"] == "AUTHORIZATION_FAILURE"
    assert "KLARNA needs the order's items" in answer["message"]
    assert msp.requests == []


def test_the_storefront_learns_what_it_may_offer(
    saleor: SaleorServer, app_url: str, msp: Emulator, configured: Any
) -> None:
    payload = {
        "__typename": "PaymentGatewayInitializeSession",
        "recipient": {"id": saleor.app_id},
        "data": None,
        "amount": Decimal("36.30"),
        "sourceObject": CHECKOUT,
    }

    answer = saleor.answer(app_url + GATEWAY_INITIALIZE.path, payload)

    assert answer["data"]["paymentPage"] is True
    assert "KLARNA" in answer["data"]["cartMethods"]


def _fulfilled(saleor: SaleorServer, token: str, order_id: str, authorized: str) -> Dict[str, Any]:
    return {
        "__typename": "OrderFulfilled",
        "recipient": {"id": saleor.app_id},
        "order": {
            "id": "T3JkZXI6Mg==",
            "number": "1002",
            "channel": {"slug": "default-channel"},
            "transactions": [
                {
                    "id": f"VHJhbnNhY3Rpb25JdGVtOj{token}",
                    "token": token,
                    "pspReference": order_id,
                    "authorizedAmount": {"amount": Decimal(authorized), "currency": "EUR"},
                    "chargedAmount": {"amount": Decimal("0"), "currency": "EUR"},
                }
            ],
        },
    }


def test_a_fulfilled_order_is_shipped_and_saleor_hears_it_charged(
    saleor: SaleorServer, app_url: str, msp: Emulator, configured: Any
) -> None:
    token = str(uuid.uuid4())
    started = saleor.answer(
        app_url + INITIALIZE_SESSION.path,
        session(CHECKOUT, "36.30", token, data={"gateway": "KLARNA"}),
    )
    order_id = started["pspReference"]
    msp.pay(order_id)

    response = saleor.send(
        app_url + ORDER_FULFILLED.path, _fulfilled(saleor, token, order_id, "36.30")
    )
    reports.run_due(app_context().sealer)

    assert response.status_code == 200
    assert msp.order(order_id)["status"] == "shipped"
    assert [
        (r["type"], r["pspReference"], r["amount"], r["availableActions"])
        for r in saleor.reports
        if r["id"].endswith(token)
    ] == [("CHARGE_SUCCESS", order_id, "36.30", ["REFUND"])]


def test_a_shipment_multisafepay_refuses_is_reported_so_staff_can_capture(
    saleor: SaleorServer, app_url: str, msp: Emulator, configured: Any
) -> None:
    token = str(uuid.uuid4())
    started = saleor.answer(
        app_url + INITIALIZE_SESSION.path,
        session(CHECKOUT, "36.30", token, data={"gateway": "KLARNA"}),
    )
    order_id = started["pspReference"]  # never paid: nothing to ship

    saleor.send(app_url + ORDER_FULFILLED.path, _fulfilled(saleor, token, order_id, "36.30"))
    reports.run_due(app_context().sealer)

    (report,) = [r for r in saleor.reports if r["id"].endswith(token)]
    assert (report["type"], report["pspReference"]) == ("CHARGE_FAILURE", order_id)
    assert report["availableActions"] is None  # Capture stays offered: press it again
    assert "Press Capture" in report["message"]
    assert msp.order(order_id)["status"] == "initialized"
