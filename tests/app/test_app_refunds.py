"""The App's refunds: Saleor's granted refund in, MultiSafepay's refund (the emulator, strict)
out, and the answer Saleor records; exactly once, whatever Saleor retries."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from decimal import Decimal
from typing import Any, Dict, List, Tuple

import requests

from saleor_multisafepay_refund.app import reports
from saleor_multisafepay_refund.app.context import app_context
from saleor_multisafepay_refund.app.manifest import REFUND_REQUESTED
from saleor_multisafepay_refund.emulator import Emulator, Fault, FaultKind

from ..factories import item, order_data
from .events import refund_requested, transaction
from .saleor_server import SaleorServer

ORDER = "app-order-1"


def _order(msp: Emulator, gateway: str = "KLARNA", order_id: str = ORDER) -> Dict[str, Any]:
    """Two T-shirts at 10.00, a cap at 5.50, shipping 4.95: 30.45."""
    data = order_data(
        [
            item("TSHIRT", unit_price="10.00", quantity="2"),
            item("CAP", unit_price="5.50", quantity="1"),
            item("msp-shipping", unit_price="4.95", quantity="1", name="Shipping"),
        ],
        gateway=gateway,
        amount=3045,
        order_id=order_id,
    )
    data["status"] = "shipped" if gateway == "KLARNA" else "completed"
    msp.add_order(data)
    return data


def _send(saleor: SaleorServer, app_url: str, payload: Dict[str, Any]) -> requests.Response:
    return saleor.send(app_url + REFUND_REQUESTED.path, payload)


def _answer(response: requests.Response) -> Dict[str, Any]:
    assert response.status_code == 200, response.text
    return json.loads(response.content, parse_float=Decimal)


def _cart(msp: Emulator) -> Tuple[List[Dict[str, Any]], List[Dict[str, Any]]]:
    """The refund's whole original cart, and the refund copies (each after its original)."""
    (post,) = msp.refund_posts(ORDER)
    items = json.loads(post.body, parse_float=Decimal)["checkout_data"]["items"]
    return [i for i in items if _total(i) >= 0], [i for i in items if _total(i) < 0]


def _refund_ids(msp: Emulator) -> List[str]:
    return [str(r["transaction_id"]) for r in msp.order(ORDER)["related_transactions"] or ()]


def _total(item: Dict[str, Any]) -> Decimal:
    return Decimal(str(item["unit_price"])) * Decimal(str(item["quantity"]))


def test_a_granted_line_becomes_the_cart_refund_of_that_line(
    saleor: SaleorServer, app_url: str, msp: Emulator, configured: Any
) -> None:
    _order(msp)
    txn = transaction(ORDER, Decimal("30.45"))

    answer = _answer(
        _send(saleor, app_url, refund_requested(txn, Decimal("10.00"), [("TSHIRT", 1)]))
    )

    originals, copies = _cart(msp)
    assert [i["merchant_item_id"] for i in originals] == ["TSHIRT", "CAP", "msp-shipping"]
    assert [(i["merchant_item_id"], _total(i)) for i in copies] == [("TSHIRT", Decimal("-10.00"))]
    (refund_id,) = _refund_ids(msp)
    assert answer["result"] == "REFUND_SUCCESS"
    assert answer["pspReference"] == refund_id
    assert answer["amount"] == Decimal("10.00")
    assert msp.order(ORDER)["amount_refunded"] == 1000


def test_the_shipping_comes_back_when_saleor_includes_it(
    saleor: SaleorServer, app_url: str, msp: Emulator, configured: Any
) -> None:
    _order(msp)
    txn = transaction(ORDER, Decimal("30.45"))

    answer = _answer(
        _send(saleor, app_url, refund_requested(txn, Decimal("10.45"), [("CAP", 1)], shipping=True))
    )

    _, copies = _cart(msp)
    assert sorted(i["merchant_item_id"] for i in copies) == ["CAP", "msp-shipping"]
    assert (answer["result"], answer["amount"]) == ("REFUND_SUCCESS", Decimal("10.45"))


def test_an_amount_method_gets_an_amount_refund(
    saleor: SaleorServer, app_url: str, msp: Emulator, configured: Any
) -> None:
    _order(msp, gateway="IDEAL")
    txn = transaction(ORDER, Decimal("30.45"))

    answer = _answer(
        _send(saleor, app_url, refund_requested(txn, Decimal("10.00"), [("TSHIRT", 1)]))
    )

    (post,) = msp.refund_posts(ORDER)
    body = json.loads(post.body)
    assert "checkout_data" not in body
    assert body["amount"] == 1000
    assert (answer["result"], answer["amount"]) == ("REFUND_SUCCESS", Decimal("10.00"))


def test_an_amount_only_request_on_a_cart_method_refunds_only_the_remainder(
    saleor: SaleorServer, app_url: str, msp: Emulator, configured: Any
) -> None:
    _order(msp)
    txn = transaction(ORDER, Decimal("30.45"))

    part = _answer(_send(saleor, app_url, refund_requested(txn, Decimal("5.00"), granted=False)))
    assert part["result"] == "REFUND_FAILURE"
    assert part["amount"] == Decimal("5.00")
    assert msp.refund_posts(ORDER) == []

    whole = _answer(_send(saleor, app_url, refund_requested(txn, Decimal("30.45"), granted=False)))
    assert (whole["result"], whole["amount"]) == ("REFUND_SUCCESS", Decimal("30.45"))
    assert msp.order(ORDER)["amount_refunded"] == 3045


def test_a_channel_without_settings_is_answered_with_what_to_do(
    saleor: SaleorServer, app_url: str, msp: Emulator, configured: Any
) -> None:
    _order(msp)
    txn = transaction(ORDER, Decimal("30.45"), channel="other-channel")

    answer = _answer(
        _send(saleor, app_url, refund_requested(txn, Decimal("10.00"), [("TSHIRT", 1)]))
    )

    assert answer["result"] == "REFUND_FAILURE"
    assert "channel 'other-channel' is not configured" in answer["message"]
    assert "app configure" in answer["message"]
    assert msp.requests == []


def test_a_repeated_request_refunds_once_and_gets_the_same_answer(
    saleor: SaleorServer, app_url: str, msp: Emulator, configured: Any
) -> None:
    # Saleor sends again after a 5xx or a timeout: its answer was lost, the refund was not.
    _order(msp)
    txn = transaction(ORDER, Decimal("30.45"))
    payload = refund_requested(txn, Decimal("10.00"), [("TSHIRT", 1)])

    first = _answer(_send(saleor, app_url, payload))
    second = _answer(_send(saleor, app_url, payload))

    assert len(msp.refund_posts(ORDER)) == 1
    assert second["result"] == first["result"] == "REFUND_SUCCESS"
    assert (second["pspReference"], second["amount"]) == (first["pspReference"], first["amount"])


def test_two_deliveries_at_once_refund_once(
    saleor: SaleorServer, app_url: str, msp: Emulator, configured: Any
) -> None:
    _order(msp)
    msp.inject(Fault(FaultKind.SLOW, method="POST", delay=0.5))
    txn = transaction(ORDER, Decimal("30.45"))
    payload = refund_requested(txn, Decimal("10.00"), [("TSHIRT", 1)])
    answers: List[Dict[str, Any]] = []

    def deliver() -> None:
        answers.append(_answer(_send(saleor, app_url, payload)))

    threads = [threading.Thread(target=deliver) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert len(msp.refund_posts(ORDER)) == 1
    assert [a["result"] for a in answers] == ["REFUND_SUCCESS", "REFUND_SUCCESS"]
    assert answers[0]["pspReference"] == answers[1]["pspReference"]


def test_a_lost_answer_is_pending_then_reported_under_the_same_reference(
    saleor: SaleorServer, app_url: str, msp: Emulator, configured: Any
) -> None:
    _order(msp)
    # The refund is made, its answer lost, and the order cannot be read back yet.
    msp.inject(Fault(FaultKind.DROP_AFTER, method="POST"))
    msp.inject(Fault(FaultKind.UNAVAILABLE, method="GET", after=1))
    msp.inject(Fault(FaultKind.UNAVAILABLE, method="GET", after=1))
    txn = transaction(ORDER, Decimal("30.45"))
    payload = refund_requested(txn, Decimal("10.00"), [("TSHIRT", 1)])

    pending = _answer(_send(saleor, app_url, payload))
    assert set(pending) == {"pspReference"}
    reference = pending["pspReference"]
    assert reference.startswith("msp-pending-")
    # Saleor would not send it again while pending; if it did, the same answer, nothing sent.
    assert _answer(_send(saleor, app_url, payload)) == pending
    assert len(msp.refund_posts(ORDER)) == 1

    msp.clear_faults()
    reports.run_due(app_context().sealer)

    (refund_id,) = _refund_ids(msp)
    report = [r for r in saleor.reports if r["id"] == txn["id"]]
    assert [(r["pspReference"], r["type"], r["amount"]) for r in report] == [
        (reference, "REFUND_SUCCESS", "10.00")
    ]
    assert refund_id in report[0]["message"]
    assert len(msp.refund_posts(ORDER)) == 1


def test_a_slow_multisafepay_is_answered_within_saleors_time(
    saleor: SaleorServer, app_url: str, msp: Emulator, configured: Any
) -> None:
    # MultiSafepay makes the refund but answers after Saleor has given up (18 s): the App
    # stops waiting in time, reads the order back, and answers what it finds.
    _order(msp)
    msp.inject(Fault(FaultKind.SLOW, method="POST", delay=20.0, apply=True))
    txn = transaction(ORDER, Decimal("30.45"))

    started = time.monotonic()
    answer = _answer(
        _send(saleor, app_url, refund_requested(txn, Decimal("10.00"), [("TSHIRT", 1)]))
    )
    elapsed = time.monotonic() - started

    assert elapsed < 18.0
    (refund_id,) = _refund_ids(msp)
    assert (answer["result"], answer["pspReference"]) == ("REFUND_SUCCESS", refund_id)


def test_a_payload_without_what_the_app_needs_is_answered_not_crashed_on(
    saleor: SaleorServer, app_url: str, msp: Emulator, configured: Any
) -> None:
    # Signed by Saleor, but the subscription's fields are missing (a webhook edited by hand):
    # an answer Saleor records as the failure, not a 500 it would retry.
    payload = refund_requested(transaction(ORDER, Decimal("30.45")), Decimal("10.00"))
    del payload["transaction"]

    response = _send(saleor, app_url, payload)

    assert response.status_code == 200
    assert "no transaction" in response.text
    assert msp.requests == []


def test_a_transaction_without_a_multisafepay_order_is_refused_with_why(
    saleor: SaleorServer, app_url: str, msp: Emulator, configured: Any
) -> None:
    txn = transaction("", Decimal("30.45"))

    answer = _answer(_send(saleor, app_url, refund_requested(txn, Decimal("10.00"), [("A", 1)])))

    assert (answer["result"], answer["amount"]) == ("REFUND_FAILURE", Decimal("10.00"))
    assert "no pspReference" in answer["message"]
    assert msp.requests == []


def test_staff_decide_a_refund_the_ledger_cannot_and_saleor_hears_of_it(
    saleor: SaleorServer, app_url: str, msp: Emulator, configured: Any
) -> None:
    _order(msp)
    # The POST's answer is lost and the order cannot be read: nothing tells whether it landed.
    msp.inject(Fault(FaultKind.DROP_AFTER, method="POST", apply=False))
    msp.inject(Fault(FaultKind.UNAVAILABLE, method="GET", after=1))
    msp.inject(Fault(FaultKind.UNAVAILABLE, method="GET", after=1))
    txn = transaction(ORDER, Decimal("30.45"))
    pending = _answer(_send(saleor, app_url, refund_requested(txn, Decimal("5.50"), [("CAP", 1)])))
    assert "pspReference" in pending, pending
    entry_id = pending["pspReference"][len(reports.PENDING_PREFIX) :]

    listed = _app_command("refunds", "--order", ORDER)
    assert listed.returncode == 1, listed.stderr  # an open outcome: monitoring alerts on it
    assert f"{entry_id}  order {ORDER}  unknown" in listed.stdout
    assert "refund(s) with an open outcome" in listed.stderr
    as_json = _app_command("refunds", "--order", ORDER, "--json")
    assert as_json.returncode == 1, as_json.stderr
    document = json.loads(as_json.stdout)
    # (The App's database is shared by this module's tests: other entries of ORDER may be listed.)
    still_open = sum(listed_entry["open"] for listed_entry in document["entries"])
    assert (document["order"], document["open"], document["exit_code"]) == (ORDER, still_open, 1)
    [entry] = [e for e in document["entries"] if e["entry_id"] == entry_id]
    assert {k: entry[k] for k in ("msp_order_id", "state", "open", "refund_id")} == {
        "msp_order_id": ORDER,
        "state": "unknown",
        "open": True,
        "refund_id": None,
    }
    assert (entry["amount"], entry["currency"], entry["lines"]) == ("5.50", "EUR", {"CAP": 1})

    marked = _app_command("refunds", "--order", ORDER, "--mark-failed", entry_id, "--json")
    assert marked.returncode == 0, marked.stderr
    assert json.loads(marked.stdout)["decided"]["state"] == "failed"
    after = _app_command("refunds", "--order", ORDER, "--json")
    assert json.loads(after.stdout)["open"] == still_open - 1
    assert after.returncode == (1 if still_open > 1 else 0)
    refused = _app_command("refunds", "--mark-failed", entry_id)
    assert refused.returncode == 2 and "need --order" in refused.stderr
    msp.clear_faults()
    reports.run_due(app_context().sealer)

    report = [r for r in saleor.reports if r["id"] == txn["id"]]
    assert [(r["pspReference"], r["type"]) for r in report] == [
        (pending["pspReference"], "REFUND_FAILURE")
    ]
    assert "Nothing was refunded" in report[0]["message"]
    assert msp.refund_posts(ORDER)[0] and msp.order(ORDER)["amount_refunded"] == 0


def _app_command(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "saleor_multisafepay_refund", "app", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_another_refund_waits_while_an_earlier_one_is_pending(
    saleor: SaleorServer, app_url: str, msp: Emulator, configured: Any
) -> None:
    # Saleor links a report to the request that got the pending reference: a second granted
    # refund must not be given the first one's reference.
    _order(msp)
    msp.inject(Fault(FaultKind.DROP_AFTER, method="POST"))
    msp.inject(Fault(FaultKind.UNAVAILABLE, method="GET", after=1))
    msp.inject(Fault(FaultKind.UNAVAILABLE, method="GET", after=1))
    txn = transaction(ORDER, Decimal("30.45"))
    first = _answer(
        _send(saleor, app_url, refund_requested(txn, Decimal("10.00"), [("TSHIRT", 1)]))
    )
    assert set(first) == {"pspReference"}
    second_grant = refund_requested(txn, Decimal("5.50"), [("CAP", 1)])
    second_grant["grantedRefund"]["id"] = "T3JkZXJHcmFudGVkUmVmdW5kOjI="

    second = _answer(_send(saleor, app_url, second_grant))

    assert second["result"] == "REFUND_FAILURE"
    assert first["pspReference"] in second["message"]
    assert len(msp.refund_posts(ORDER)) == 1


def test_saleors_empty_retry_is_answered_with_what_staff_can_do(
    saleor: SaleorServer, app_url: str, msp: Emulator, configured: Any
) -> None:
    # Saleor retries a webhook after a 5xx with an empty body, signed (tests/saleor_integration
    # shows it on 3.20, 3.23 and main): nothing says which refund, so nothing is done.
    response = saleor.send(app_url + REFUND_REQUESTED.path, None, body=b"")

    assert response.status_code == 200
    assert "without its content" in response.text and "never made twice" in response.text
    assert msp.requests == []
