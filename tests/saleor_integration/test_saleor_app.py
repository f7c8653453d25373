"""The App inside a real Saleor (door 2, the Transactions API): `app serve` as a process of its
own on 127.0.0.1, installed through Saleor's `appInstall` from its manifest URL with
HANDLE_PAYMENTS only, against Saleor's live test server (so the App checks its token with
Saleor's GraphQL and reads Saleor's JWKS for real), a transaction the App owns, and the
Dashboard's line refund (`orderGrantRefundCreate`, `transactionRequestRefundForGrantedRefund`):
Saleor calls the App's webhook, signed; the App refunds the line at MultiSafepay (the emulator)
and Saleor records the answer. Skipped unless Saleor is importable and Django is set up (see
saleor_fixtures.py and the README, "Tests inside a real Saleor").
"""

from __future__ import annotations

import json
import time
from decimal import Decimal
from typing import Any, Dict, List, Tuple

import pytest

pytest.importorskip("saleor", reason="Saleor is not installed: these tests run inside Saleor")
django_settings = pytest.importorskip("django.conf").settings
if not django_settings.configured:
    pytest.skip(
        "Django is not set up: run with --ds=saleor.tests.settings", allow_module_level=True
    )

import graphene  # noqa: E402
import requests  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: E402
from django.test import TestCase  # noqa: E402
from saleor.core.jwt_manager import get_jwt_manager  # noqa: E402
from saleor.graphql.tests.fixtures import ApiClient  # noqa: E402

from saleor_multisafepay_refund.app.manifest import REFUND_REQUESTED  # noqa: E402
from saleor_multisafepay_refund.emulator import Emulator, Fault, FaultKind  # noqa: E402
from saleor_multisafepay_refund.multisafepay import wire  # noqa: E402

from .app_process import AppProcess, FlakyGateway, Installed  # noqa: E402
from .msp_orders import msp_order_of  # noqa: E402

MSP_ORDER_ID = "msp-app-order-1"
# The App's worker tries every 2 s, and 10 s later after a failed try.
REPORT_WAIT_SECONDS = 30.0

TRANSACTION_CREATE = """
mutation($id: ID!, $transaction: TransactionCreateInput!) {
  transactionCreate(id: $id, transaction: $transaction) {
    transaction { id token pspReference chargedAmount { amount } }
    errors { field code message }
  }
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
ORDER_REFUNDS = """
query($id: ID!) {
  order(id: $id) {
    grantedRefunds { id status }
    transactions {
      id chargedAmount { amount } refundedAmount { amount }
      events { type pspReference message amount { amount } }
    }
  }
}
"""


def _data(response: Any, field: str) -> Dict[str, Any]:
    content = response.json()
    assert "errors" not in content, content["errors"]
    data = content["data"][field]
    assert not data.get("errors"), data["errors"]
    return data


def _gid(kind: str, pk: Any) -> str:
    return graphene.Node.to_global_id(kind, pk)


@pytest.fixture
def app_transaction(configured: Any, order_with_lines: Any, msp: Emulator) -> Dict[str, Any]:
    """The order paid with Pay After Delivery at MultiSafepay; its transaction made by the App
    (`transactionCreate` with the App's token), pspReference = the MultiSafepay order id."""
    order = order_with_lines
    msp.add_order(msp_order_of(order, MSP_ORDER_ID))
    response = ApiClient(app=configured).post_graphql(
        TRANSACTION_CREATE,
        {
            "id": _gid("Order", order.pk),
            "transaction": {
                "name": "MultiSafepay",
                "pspReference": MSP_ORDER_ID,
                "availableActions": ["REFUND"],
                "amountCharged": {
                    "amount": str(order.total_gross_amount),
                    "currency": order.currency,
                },
            },
        },
    )
    return _data(response, "transactionCreate")["transaction"]


# -- the Dashboard's line refund ---------------------------------------------------------------


def test_the_app_installs_from_its_manifest_with_handle_payments_only(
    installed: Installed, app_server: AppProcess
) -> None:
    saleor_app = installed.app
    assert saleor_app.is_active and saleor_app.is_installed
    assert [p.codename for p in saleor_app.permissions.all()] == ["handle_payments"]
    assert app_server.url + REFUND_REQUESTED.path in {
        hook.target_url for hook in saleor_app.webhooks.all()
    }
    # The App kept the token only after asking Saleor which App it is for ({ app { id } }).
    assert f"as App {_gid('App', saleor_app.pk)}" in app_server.log()
    # Kept sealed, never logged.
    assert installed.token not in app_server.log()
    assert installed.token.encode() not in app_server.database()


def _refund_line_from_the_dashboard(
    staff: Any, order: Any, line: Any, transaction: Dict[str, Any]
) -> Dict[str, Any]:
    """What the Dashboard sends for "refund one unit of this line": the granted refund, then
    the request to the App; the granted refund as Saleor made it."""
    granted = _data(
        staff.post_graphql(
            GRANT_REFUND,
            {
                "id": _gid("Order", order.pk),
                "input": {
                    "lines": [{"id": _gid("OrderLine", line.pk), "quantity": 1}],
                    "grantRefundForShipping": False,
                    "transactionId": transaction["id"],
                },
            },
        ),
        "orderGrantRefundCreate",
    )["grantedRefund"]
    _request_refund(staff, granted, transaction)
    return granted


def _request_refund(staff: Any, granted: Dict[str, Any], transaction: Dict[str, Any]) -> None:
    """The Dashboard's "send refund" of a granted refund: Saleor calls the App's webhook when
    the request's database transaction commits, before the mutation answers."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        _data(
            staff.post_graphql(
                REQUEST_REFUND, {"grantedRefundId": granted["id"], "id": transaction["id"]}
            ),
            "transactionRequestRefundForGrantedRefund",
        )


def _refunds_in_saleor(staff: Any, order: Any) -> Dict[str, Any]:
    """The order's granted refunds and its one transaction, as the Dashboard reads them."""
    shown = _data(staff.post_graphql(ORDER_REFUNDS, {"id": _gid("Order", order.pk)}), "order")
    (transaction,) = shown["transactions"]
    return {"granted": [g["status"] for g in shown["grantedRefunds"]], "transaction": transaction}


def _copies(post: Any) -> List[Tuple[str, int]]:
    """The refund copies of a cart refund MultiSafepay got: (merchant_item_id, quantity)."""
    items = json.loads(post.body)["checkout_data"]["items"]
    return [(i["merchant_item_id"], i["quantity"]) for i in items if i["quantity"] < 0]


def _events(transaction: Dict[str, Any], kind: str) -> List[Tuple[str, Decimal]]:
    return [
        (e["pspReference"], Decimal(str(e["amount"]["amount"])))
        for e in transaction["events"]
        if e["type"] == kind
    ]


def test_a_line_refunded_in_the_dashboard_is_refunded_at_multisafepay_and_recorded_in_saleor(
    staff: Any, app_transaction: Dict[str, Any], order_with_lines: Any, msp: Emulator
) -> None:
    order = order_with_lines
    line = order.lines.get(product_sku="SKU_AA")
    cart = msp.order(MSP_ORDER_ID)["shopping_cart"]["items"]

    granted = _refund_line_from_the_dashboard(staff, order, line, app_transaction)

    # MultiSafepay got one cart refund: the whole cart as it was, and a copy of the line
    # refunding one unit, right after it.
    (post,) = msp.refund_posts(MSP_ORDER_ID)
    items = json.loads(post.body)["checkout_data"]["items"]
    original = next(item for item in cart if item["merchant_item_id"] == "SKU_AA")
    at = cart.index(original) + 1
    assert items == [*cart[:at], dict(original, quantity=-1), *cart[at:]]
    (refund,) = msp.order(MSP_ORDER_ID)["related_transactions"]
    unit_gross = line.unit_price_gross_amount
    assert Decimal(str(granted["amount"]["amount"])) == unit_gross

    # Saleor recorded the App's answer: the granted refund succeeded, with MultiSafepay's
    # refund id and the amount on the transaction.
    shown = _refunds_in_saleor(staff, order)
    assert shown["granted"] == ["SUCCESS"]
    transaction = shown["transaction"]
    assert _events(transaction, "REFUND_SUCCESS") == [(str(refund["transaction_id"]), unit_gross)]
    assert Decimal(str(transaction["refundedAmount"]["amount"])) == unit_gross


def test_a_second_unit_of_the_line_refunded_later_is_a_second_refund(
    staff: Any, app_transaction: Dict[str, Any], order_with_lines: Any, msp: Emulator
) -> None:
    order = order_with_lines
    line = order.lines.get(product_sku="SKU_AA")

    _refund_line_from_the_dashboard(staff, order, line, app_transaction)
    _refund_line_from_the_dashboard(staff, order, line, app_transaction)

    # The second request carries the first refund as recorded by Saleor: the App tells it from
    # a repeat of the first and refunds again.
    posts = msp.refund_posts(MSP_ORDER_ID)
    assert [_copies(post) for post in posts] == [[("SKU_AA", -1)], [("SKU_AA", -1), ("SKU_AA", -1)]]
    refunds = [str(r["transaction_id"]) for r in msp.order(MSP_ORDER_ID)["related_transactions"]]
    assert len(set(refunds)) == 2
    shown = _refunds_in_saleor(staff, order)
    assert shown["granted"] == ["SUCCESS", "SUCCESS"]
    unit_gross = line.unit_price_gross_amount
    assert sorted(_events(shown["transaction"], "REFUND_SUCCESS")) == sorted(
        (refund, unit_gross) for refund in refunds
    )


def test_a_5xx_on_the_way_back_fails_in_saleor_and_a_resend_records_the_one_refund(
    staff: Any,
    app_transaction: Dict[str, Any],
    configured: Any,
    app_server: AppProcess,
    order_with_lines: Any,
    msp: Emulator,
) -> None:
    order = order_with_lines
    line = order.lines.get(product_sku="SKU_AA")
    unit_gross = line.unit_price_gross_amount
    # A proxy in front of the App: the App refunds, Saleor gets a 502.
    gateway = FlakyGateway(app_server.url)
    try:
        moved = configured.webhooks.filter(
            target_url=app_server.url + REFUND_REQUESTED.path
        ).update(target_url=gateway.url + REFUND_REQUESTED.path)
        assert moved == 1

        granted = _refund_line_from_the_dashboard(staff, order, line, app_transaction)

        # Saleor retries (at once here: Celery runs eagerly in its tests) with the payload it
        # kept, but after the failed attempt it has rewritten that payload's file from its empty
        # text column (save_unsuccessful_delivery_attempt -> EventPayload.save_as_file): the
        # retry is an empty body, signed. The App cannot act on it; Saleor records a failure.
        assert gateway.forwarded == [200, 200]
        assert gateway.bodies[0] != b"" and gateway.bodies[1] == b""
        assert len(msp.refund_posts(MSP_ORDER_ID)) == 1
        assert _refunds_in_saleor(staff, order)["granted"] == ["FAILURE"]

        # Staff send the granted refund again: the App finds the refund MultiSafepay made and
        # answers with it; nothing is refunded twice.
        _request_refund(staff, granted, app_transaction)
    finally:
        gateway.close()

    assert len(msp.refund_posts(MSP_ORDER_ID)) == 1
    (refund,) = msp.order(MSP_ORDER_ID)["related_transactions"]
    shown = _refunds_in_saleor(staff, order)
    assert shown["granted"] == ["SUCCESS"]
    assert _events(shown["transaction"], "REFUND_SUCCESS") == [
        (str(refund["transaction_id"]), unit_gross)
    ]
    assert Decimal(str(shown["transaction"]["refundedAmount"]["amount"])) == unit_gross


def test_a_refund_whose_answer_was_lost_is_pending_then_settled_by_the_apps_report(
    staff: Any, app_transaction: Dict[str, Any], order_with_lines: Any, msp: Emulator
) -> None:
    order = order_with_lines
    line = order.lines.get(product_sku="SKU_AA")
    # MultiSafepay makes the refund but its answer is lost, and the order cannot be read back
    # while Saleor waits: the App answers pending, with a reference of its own.
    msp.inject(Fault(FaultKind.DROP_AFTER, method="POST"))
    # MultiSafepay stays unreadable until the faults are cleared below, even when another
    # caller (the App's worker, settling what an earlier test left) takes a GET meanwhile:
    # main's suite runs in random order.
    for _ in range(4):
        msp.inject(Fault(FaultKind.UNAVAILABLE, method="GET", after=1))

    _refund_line_from_the_dashboard(staff, order, line, app_transaction)

    shown = _refunds_in_saleor(staff, order)
    assert shown["granted"] == ["PENDING"]
    ((reference, _),) = _events(shown["transaction"], "REFUND_REQUEST")
    assert reference.startswith("msp-pending-")
    assert _events(shown["transaction"], "REFUND_SUCCESS") == []

    # MultiSafepay answers again: the App's worker (inside `app serve`) reads the order back and
    # reports to Saleor with transactionEventReport, under the pending reference.
    msp.clear_faults()
    deadline = time.monotonic() + REPORT_WAIT_SECONDS
    while time.monotonic() < deadline:
        shown = _refunds_in_saleor(staff, order)
        if shown["granted"] != ["PENDING"]:
            break
        time.sleep(0.5)

    assert shown["granted"] == ["SUCCESS"]
    unit_gross = line.unit_price_gross_amount
    assert _events(shown["transaction"], "REFUND_SUCCESS") == [(reference, unit_gross)]
    (refund,) = msp.order(MSP_ORDER_ID)["related_transactions"]
    (success,) = [e for e in shown["transaction"]["events"] if e["type"] == "REFUND_SUCCESS"]
    assert str(refund["transaction_id"]) in success["message"]
    assert len(msp.refund_posts(MSP_ORDER_ID)) == 1


# -- trust ---------------------------------------------------------------------------------------


def _refund_payload(app_id: str, transaction: Dict[str, Any], order: Any, amount: Decimal) -> bytes:
    """A refund request shaped as the App's subscription query shapes it."""
    line = order.lines.get(product_sku="SKU_AA")
    payload = {
        "__typename": "TransactionRefundRequested",
        "recipient": {"id": app_id},
        "action": {"actionType": "REFUND", "amount": amount, "currency": order.currency},
        "transaction": {
            "id": transaction["id"],
            "token": transaction["token"],
            "pspReference": transaction["pspReference"],
            "chargedAmount": {"amount": order.total_gross_amount, "currency": order.currency},
            "events": [],
            "order": {
                "id": _gid("Order", order.pk),
                "number": str(order.number),
                "channel": {"slug": order.channel.slug},
            },
        },
        "grantedRefund": {
            "id": "T3JkZXJHcmFudGVkUmVmdW5kOjE=",
            "amount": {"amount": amount, "currency": order.currency},
            "shippingCostsIncluded": False,
            "lines": [
                {
                    "id": "line-1",
                    "quantity": 1,
                    "orderLine": {
                        "id": _gid("OrderLine", line.pk),
                        "productName": line.product_name,
                        "productSku": line.product_sku,
                        "productVariantId": line.product_variant_id,
                        "isGift": False,
                        "quantity": line.quantity,
                    },
                }
            ],
        },
    }
    return wire.dumps(payload).encode()


def _post(url: str, body: bytes, saleor_api_url: str, signature: str) -> requests.Response:
    domain = saleor_api_url.split("/")[2]
    headers = {
        "Content-Type": "application/json",
        "Saleor-Event": "transaction_refund_requested",
        "Saleor-Domain": domain,
        "Saleor-Api-Url": saleor_api_url,
        "Saleor-Signature": signature,
    }
    return requests.post(url, data=body, headers=headers, timeout=30, allow_redirects=False)


def _forged_signature(body: bytes) -> str:
    """Signed as Saleor signs (RS256, detached, Saleor's key id), with another key."""
    import jwt

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    genuine = jwt.get_unverified_header(get_jwt_manager().jws_encode(body))
    return jwt.api_jws.encode(
        body,
        key,
        algorithm="RS256",
        headers={"kid": genuine["kid"], "crit": ["b64"]},
        is_payload_detached=True,
    )


def test_a_forged_or_misdirected_refund_webhook_is_refused_and_nothing_is_refunded(
    app_server: AppProcess,
    app_transaction: Dict[str, Any],
    configured: Any,
    order_with_lines: Any,
    msp: Emulator,
    saleor_serving: str,
) -> None:
    url = app_server.url + REFUND_REQUESTED.path
    app_id = _gid("App", configured.pk)
    body = _refund_payload(app_id, app_transaction, order_with_lines, Decimal("12.30"))
    genuine = get_jwt_manager().jws_encode(body)
    tampered = body.replace(b'"amount":12.30', b'"amount":99.00')
    assert tampered != body

    refused = [
        _post(url, body, saleor_serving, _forged_signature(body)),  # another key
        _post(url, tampered, saleor_serving, genuine),  # Saleor's signature, another body
        _post(url, body, saleor_serving, ""),  # no signature
        # Saleor's own signature, but from a Saleor that never installed the App.
        _post(url, body, "http://127.0.0.1:9/graphql/", genuine),
    ]

    assert [response.status_code for response in refused] == [401, 401, 401, 401]
    assert msp.refund_posts() == []
    # The same body with Saleor's signature is what a refund takes: the refusals above were
    # for the signature and the sender alone.
    accepted = _post(url, body, saleor_serving, genuine)
    assert accepted.status_code == 200, accepted.text
    assert json.loads(accepted.content)["result"] == "REFUND_SUCCESS"
    assert len(msp.refund_posts(MSP_ORDER_ID)) == 1
