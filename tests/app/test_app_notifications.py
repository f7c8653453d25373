"""MultiSafepay's notifications to the App, brought into Saleor with transactionEventReport,
each once however often MultiSafepay sends it; a forged or stale one changes nothing."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any, List, Tuple

import pytest
import requests

from saleor_multisafepay_refund.app import reports
from saleor_multisafepay_refund.app.context import app_context
from saleor_multisafepay_refund.app.manifest import (
    INITIALIZE_SESSION,
    PROCESS_SESSION,
    REFUND_REQUESTED,
)
from saleor_multisafepay_refund.emulator import Emulator, Fault, FaultKind
from saleor_multisafepay_refund.multisafepay.client import MultiSafepayClient
from saleor_multisafepay_refund.multisafepay.signatures import sign_notification

from .conftest import KEY
from .events import VAT_CHECKOUT, refund_requested, session, transaction
from .saleor_server import SaleorServer

CHECKOUT = VAT_CHECKOUT


def _started(saleor: SaleorServer, app_url: str, gateway: str = "KLARNA") -> Tuple[str, str]:
    """A payment started through the App: (the transaction's token, MultiSafepay's order id)."""
    token = str(uuid.uuid4())
    data = {"gateway": gateway} if gateway else None
    started = saleor.answer(
        app_url + INITIALIZE_SESSION.path, session(CHECKOUT, "36.30", token, data=data)
    )
    return token, str(started["pspReference"])


def _deliver_all(msp: Emulator) -> List[int]:
    """MultiSafepay sends what it has not had acknowledged; the App's worker then reports."""
    statuses = [status for _, status, _ in msp.deliver_pending()]
    reports.run_due(app_context().sealer)
    return statuses


def _reports(saleor: SaleorServer, token: str) -> List[Tuple[str, str, Any]]:
    return [
        (r["type"], r["pspReference"], r["amount"])
        for r in saleor.reports
        if r["id"].endswith(token)
    ]


def test_paid_while_the_customer_never_came_back(
    saleor: SaleorServer, app_url: str, msp: Emulator, configured: Any
) -> None:
    token, order_id = _started(saleor, app_url)

    msp.pay(order_id)
    assert _deliver_all(msp) == [200]

    assert _reports(saleor, token) == [("AUTHORIZATION_SUCCESS", order_id, "36.30")]
    # Saleor offers staff Capture (shipping) and Cancel of it.
    (report,) = [r for r in saleor.reports if r["id"].endswith(token)]
    assert report["availableActions"] == ["CHARGE", "CANCEL"]


def test_a_notification_sent_again_is_reported_once(
    saleor: SaleorServer, app_url: str, msp: Emulator, configured: Any
) -> None:
    token, order_id = _started(saleor, app_url, gateway="")
    msp.pay(order_id, gateway="VISA")
    (notification,) = msp.notifications(order_id)

    for _ in range(3):
        status, body = msp.deliver(notification)
        assert (status, body[:2]) == (200, b"OK")
    reports.run_due(app_context().sealer)

    assert _reports(saleor, token) == [("CHARGE_SUCCESS", order_id, "36.30")]


def test_a_forged_notification_changes_nothing(
    saleor: SaleorServer, app_url: str, msp: Emulator, configured: Any
) -> None:
    token, order_id = _started(saleor, app_url)
    msp.pay(order_id)
    (notification,) = msp.notifications(order_id)
    forged = dict(notification.headers)
    forged["Auth"] = sign_notification(notification.body, "not-the-key", notification.timestamp)

    response = requests.post(notification.url, data=notification.body, headers=forged, timeout=5)
    reports.run_due(app_context().sealer)

    assert response.status_code == 403
    assert _reports(saleor, token) == []


def test_a_stale_notification_is_refused_as_a_replay(
    saleor: SaleorServer, app_url: str, msp: Emulator, configured: Any
) -> None:
    _token, order_id = _started(saleor, app_url)
    msp.pay(order_id)
    (notification,) = msp.notifications(order_id)
    old = notification.timestamp - 3600
    headers = dict(notification.headers, Auth=sign_notification(notification.body, KEY, old))

    response = requests.post(notification.url, data=notification.body, headers=headers, timeout=5)

    assert response.status_code == 403
    assert "replay" in response.text


def test_shipped_in_multisafepays_dashboard_is_charged(
    saleor: SaleorServer, app_url: str, msp: Emulator, configured: Any
) -> None:
    token, order_id = _started(saleor, app_url)
    msp.pay(order_id)
    _deliver_all(msp)
    client = MultiSafepayClient(KEY, base_url=msp.base_url)
    client.update_order(order_id, {"status": "shipped"})
    client.close()

    _deliver_all(msp)

    assert _reports(saleor, token) == [
        ("AUTHORIZATION_SUCCESS", order_id, "36.30"),
        ("CHARGE_SUCCESS", order_id, "36.30"),
    ]


def test_a_refund_made_in_multisafepays_dashboard_is_recorded(
    saleor: SaleorServer, app_url: str, msp: Emulator, configured: Any
) -> None:
    token, order_id = _started(saleor, app_url, gateway="")
    msp.pay(order_id, gateway="VISA")
    _deliver_all(msp)

    refund_id = msp.dashboard_refund(order_id, 500)
    _deliver_all(msp)

    assert _reports(saleor, token) == [
        ("CHARGE_SUCCESS", order_id, "36.30"),
        ("REFUND_SUCCESS", str(refund_id), "5.00"),
    ]


def test_a_refund_declined_later_is_reversed_in_saleor(
    saleor: SaleorServer, app_url: str, msp: Emulator, configured: Any
) -> None:
    token, order_id = _started(saleor, app_url, gateway="")
    msp.pay(order_id, gateway="VISA")
    _deliver_all(msp)
    txn = transaction(order_id, Decimal("36.30"), token=token)
    msp.refund_status = "reserved"  # MultiSafepay holds it a while (a card refund it checks)
    refunded = saleor.answer(
        app_url + REFUND_REQUESTED.path,
        refund_requested(txn, Decimal("10.00"), granted=False, action="REFUND"),
    )
    assert refunded["result"] == "REFUND_SUCCESS"

    msp.set_refund_status(order_id, refunded["pspReference"], "declined")
    _deliver_all(msp)

    assert ("REFUND_REVERSE", refunded["pspReference"], "10.00") in _reports(saleor, token)


def test_cancelled_after_authorization_is_cancelled_in_saleor(
    saleor: SaleorServer, app_url: str, msp: Emulator, configured: Any
) -> None:
    token, order_id = _started(saleor, app_url)
    msp.pay(order_id)
    saleor.answer(
        app_url + PROCESS_SESSION.path,
        session(CHECKOUT, "36.30", token, psp_reference=order_id),
    )
    _deliver_all(msp)

    msp.expire(order_id)
    _deliver_all(msp)

    assert ("CANCEL_SUCCESS", order_id, "36.30") in _reports(saleor, token)


@pytest.mark.parametrize("outcome", ["declined", "cancelled"])
def test_a_payment_that_never_succeeded_is_a_failure(
    saleor: SaleorServer, app_url: str, msp: Emulator, configured: Any, outcome: str
) -> None:
    token, order_id = _started(saleor, app_url)

    msp.pay(order_id, outcome=outcome)
    _deliver_all(msp)

    (report,) = _reports(saleor, token)
    assert report[:2] == ("AUTHORIZATION_FAILURE", order_id)


def test_a_pending_refund_declined_later_is_a_failure_never_a_reversal(
    saleor: SaleorServer, app_url: str, msp: Emulator, configured: Any
) -> None:
    # Saleor never counted the refund (it was pending): taking it back would overstate what
    # was charged. The pending answer's report says it failed, and that is all.
    token, order_id = _started(saleor, app_url, gateway="")
    msp.pay(order_id, gateway="VISA")
    _deliver_all(msp)
    msp.refund_status = "reserved"
    msp.inject(Fault(FaultKind.DROP_AFTER, method="POST"))
    msp.inject(Fault(FaultKind.UNAVAILABLE, method="GET", after=1))
    txn = transaction(order_id, Decimal("36.30"), token=token)
    pending = saleor.answer(
        app_url + REFUND_REQUESTED.path,
        refund_requested(txn, Decimal("10.00"), granted=False, action="REFUND"),
    )
    assert set(pending) == {"pspReference"}
    msp.clear_faults()
    (refund,) = msp.order(order_id)["related_transactions"]

    msp.set_refund_status(order_id, refund["transaction_id"], "declined")
    _deliver_all(msp)

    # MultiSafepay's order says nothing went back; the pending refund is decided from it once
    # MultiSafepay has had its time (a minute), as not made. Never a reversal, never a success.
    kinds = [kind for kind, _, _ in _reports(saleor, token)]
    assert kinds == ["CHARGE_SUCCESS"]
    assert reports.waiting_for(saleor.api_url, txn["id"]) is not None
