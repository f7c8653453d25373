"""Capture and cancel of a transaction the App owns: staff press Capture (MultiSafepay ships the
order, which for buy-now-pay-later is the capture) or Cancel (MultiSafepay cancels it)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any, Dict

from saleor_multisafepay_refund.app.manifest import CANCELATION_REQUESTED, CHARGE_REQUESTED
from saleor_multisafepay_refund.emulator import Emulator

from ..factories import item, order_data
from .events import action_requested, transaction
from .saleor_server import SaleorServer

ORDER = "capture-order"


def _authorized(msp: Emulator, status: str = "completed") -> None:
    data = order_data(
        [item("A", unit_price="10.00", quantity="2"), item("B", unit_price="5.50")],
        gateway="KLARNA",
        amount=2550,
        order_id=ORDER,
    )
    data["status"] = status
    msp.add_order(data)


def _send(saleor: SaleorServer, url: str, amount: str, action: str) -> Dict[str, Any]:
    txn = transaction(ORDER, Decimal("0"))
    response = saleor.send(url, action_requested(txn, Decimal(amount), action))
    assert response.status_code == 200, response.text
    return dict(json.loads(response.content, parse_float=Decimal))


def test_capture_ships_the_order(
    saleor: SaleorServer, app_url: str, msp: Emulator, configured: Any
) -> None:
    _authorized(msp)

    answer = _send(saleor, app_url + CHARGE_REQUESTED.path, "25.50", "CHARGE")

    # Charged: Saleor offers Refund from now on, no longer Capture or Cancel.
    assert answer == {
        "result": "CHARGE_SUCCESS",
        "pspReference": ORDER,
        "amount": Decimal("25.50"),
        "actions": ["REFUND"],
    }
    assert msp.order(ORDER)["status"] == "shipped"


def test_a_partial_capture_is_refused_with_the_reason(
    saleor: SaleorServer, app_url: str, msp: Emulator, configured: Any
) -> None:
    _authorized(msp)

    answer = _send(saleor, app_url + CHARGE_REQUESTED.path, "10.00", "CHARGE")

    assert (answer["result"], answer["amount"]) == ("CHARGE_FAILURE", Decimal("10.00"))
    assert "captured whole" in answer["message"]
    assert msp.order(ORDER)["status"] == "completed"


def test_cancel_cancels_an_order_not_shipped(
    saleor: SaleorServer, app_url: str, msp: Emulator, configured: Any
) -> None:
    _authorized(msp)

    answer = _send(saleor, app_url + CANCELATION_REQUESTED.path, "25.50", "CANCEL")

    assert (answer["result"], answer["pspReference"]) == ("CANCEL_SUCCESS", ORDER)
    assert answer["actions"] == []  # nothing left to do with a cancelled payment
    assert msp.order(ORDER)["status"] == "void"


def test_a_shipped_order_is_not_cancelled(
    saleor: SaleorServer, app_url: str, msp: Emulator, configured: Any
) -> None:
    _authorized(msp, status="shipped")

    answer = _send(saleor, app_url + CANCELATION_REQUESTED.path, "25.50", "CANCEL")

    assert answer["result"] == "CANCEL_FAILURE"
    assert "refund it instead" in answer["message"]
    assert msp.order(ORDER)["status"] == "shipped"
