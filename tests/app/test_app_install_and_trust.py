"""Installing the App, and which requests it believes: only an allowed Saleor's token, checked
against that Saleor; only webhooks signed by that Saleor's key over exactly their body."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from decimal import Decimal
from typing import Any, Iterator

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa

from saleor_multisafepay_refund.app import trust
from saleor_multisafepay_refund.app.manifest import REFUND_REQUESTED, WEBHOOKS
from saleor_multisafepay_refund.app.models import Installation
from saleor_multisafepay_refund.emulator import Emulator
from saleor_multisafepay_refund.multisafepay import wire

from .events import refund_requested, transaction
from .saleor_server import APP_TOKEN, SaleorServer

ORDER = "trust-order"


def test_the_manifest_names_the_app_its_permission_and_its_webhooks(app_url: str) -> None:
    manifest = requests.get(app_url + "/api/manifest", timeout=5).json()

    assert manifest["id"] == "saleor.app.multisafepay"
    assert manifest["permissions"] == ["HANDLE_PAYMENTS", "MANAGE_ORDERS"]
    assert manifest["tokenTargetUrl"] == app_url + "/api/register"
    assert manifest["requiredSaleorVersion"] == ">=3.20 <4"
    hooks = {
        (hook.get("syncEvents") or hook["asyncEvents"])[0]: hook for hook in manifest["webhooks"]
    }
    assert set(hooks) == {
        "TRANSACTION_REFUND_REQUESTED",
        "TRANSACTION_CHARGE_REQUESTED",
        "TRANSACTION_CANCELATION_REQUESTED",
        "PAYMENT_GATEWAY_INITIALIZE_SESSION",
        "TRANSACTION_INITIALIZE_SESSION",
        "TRANSACTION_PROCESS_SESSION",
        "ORDER_FULFILLED",
    }
    assert hooks["ORDER_FULFILLED"]["asyncEvents"] == ["ORDER_FULFILLED"]
    for webhook in WEBHOOKS:
        hook = hooks[webhook.event]
        assert hook["targetUrl"] == app_url + webhook.path
        assert hook["isActive"] is True
        assert hook["query"].startswith("subscription ")


def test_the_token_is_stored_sealed_never_as_text(app_url: str, saleor: SaleorServer) -> None:
    from django.conf import settings

    row = Installation.objects.get()
    assert row.app_id == saleor.app_id
    assert APP_TOKEN not in row.token_encrypted
    with open(settings.DATABASES["default"]["NAME"], "rb") as database:
        assert APP_TOKEN.encode() not in database.read()


def test_a_saleor_not_allowed_cannot_install(app_url: str, saleor: SaleorServer) -> None:
    before = list(Installation.objects.values_list("saleor_api_url", "token_encrypted"))

    response = saleor.install(app_url, api_url="https://evil.example.com/graphql/")

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "SALEOR_URL_PROHIBITED"
    assert "APP_ALLOWED_SALEOR_URLS" in response.json()["error"]["message"]
    assert list(Installation.objects.values_list("saleor_api_url", "token_encrypted")) == before


def test_a_token_saleor_does_not_accept_is_refused(app_url: str, saleor: SaleorServer) -> None:
    before = list(Installation.objects.values_list("token_encrypted", flat=True))

    response = saleor.install(app_url, token="stolen-token")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "SALEOR_CHECK_FAILED"
    assert list(Installation.objects.values_list("token_encrypted", flat=True)) == before


def test_another_apps_token_is_refused(app_url: str, saleor: SaleorServer) -> None:
    # Anyone who can make an App in the allowed Saleor holds a token Saleor accepts: it must not
    # replace this App's installation.
    before = list(Installation.objects.values_list("app_id", "token_encrypted"))
    saleor.identifier = "someone.elses.app"
    try:
        response = saleor.install(app_url)
    finally:
        saleor.identifier = "saleor.app.multisafepay"

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "NOT_THIS_APP"
    assert list(Installation.objects.values_list("app_id", "token_encrypted")) == before


def test_without_saleors_keys_nothing_is_installed(app_url: str, saleor: SaleorServer) -> None:
    before = list(Installation.objects.values_list("token_encrypted", flat=True))
    saleor.jwks_down = True
    try:
        response = saleor.install(app_url)
    finally:
        saleor.jwks_down = False

    assert response.status_code == 400
    assert "keys" in response.json()["error"]["message"]
    assert list(Installation.objects.values_list("token_encrypted", flat=True)) == before


# -- webhooks ---------------------------------------------------------------------------------


@pytest.fixture
def payload(msp: Emulator, configured: Any) -> Any:
    from ..factories import item, order_data

    msp.add_order(
        order_data([item("A", unit_price="10.00")], gateway="IDEAL", amount=1000, order_id=ORDER)
    )
    return refund_requested(transaction(ORDER, Decimal("10.00")), Decimal("10.00"))


@pytest.fixture
def fresh_keys() -> Iterator[None]:
    trust.forget_keys()
    yield
    trust.forget_keys()


def _url(app_url: str) -> str:
    return app_url + REFUND_REQUESTED.path


def test_a_webhook_signed_by_saleor_is_answered(
    app_url: str, saleor: SaleorServer, msp: Emulator, payload: Any
) -> None:
    response = saleor.send(_url(app_url), payload)

    assert response.status_code == 200
    assert response.json()["result"] == "REFUND_SUCCESS"
    assert len(msp.refund_posts(ORDER)) == 1


def _refused(response: requests.Response, msp: Emulator) -> None:
    assert response.status_code == 401
    assert msp.requests == []


def test_a_body_changed_after_signing_is_refused(
    app_url: str, saleor: SaleorServer, msp: Emulator, payload: Any
) -> None:
    signed = wire.dumps(payload).encode()
    payload["action"]["amount"] = Decimal("1000.00")
    changed = wire.dumps(payload).encode()

    _refused(saleor.send(_url(app_url), None, signature=saleor.sign(signed), body=changed), msp)


def test_a_signature_by_another_key_is_refused(
    app_url: str, saleor: SaleorServer, msp: Emulator, payload: Any
) -> None:
    body = wire.dumps(payload).encode()
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    _refused(
        saleor.send(_url(app_url), None, signature=saleor.sign(body, key=other), body=body), msp
    )


@pytest.mark.parametrize("algorithm", ["HS256", "none"])
def test_a_signature_that_names_its_own_algorithm_is_refused(
    app_url: str, saleor: SaleorServer, msp: Emulator, payload: Any, algorithm: str
) -> None:
    # The classic forgeries: HS256 keyed with Saleor's public key (which anyone can read),
    # or no signature at all ("none"). Built by hand: PyJWT refuses to make the first.
    body = wire.dumps(payload).encode()
    header = {"alg": algorithm, "b64": False, "crit": ["b64"], "kid": saleor.kid}
    signing_input = _b64(json.dumps(header).encode()) + b"." + body
    public = json.dumps(saleor.jwks()["keys"][0]).encode()
    mac = hmac.new(public, signing_input, hashlib.sha256).digest() if algorithm == "HS256" else b""
    signature = (_b64(json.dumps(header).encode()) + b".." + _b64(mac)).decode()

    _refused(saleor.send(_url(app_url), None, signature=signature, body=body), msp)


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def test_a_webhook_without_a_signature_is_refused(
    app_url: str, saleor: SaleorServer, msp: Emulator, payload: Any
) -> None:
    _refused(saleor.send(_url(app_url), payload, signature=""), msp)


def test_a_webhook_from_a_saleor_that_did_not_install_the_app_is_refused(
    app_url: str, saleor: SaleorServer, msp: Emulator, payload: Any
) -> None:
    _refused(saleor.send(_url(app_url), payload, api_url="https://other.example.com/graphql/"), msp)


def test_a_webhook_for_another_app_is_refused(
    app_url: str, saleor: SaleorServer, msp: Emulator, payload: Any
) -> None:
    payload["recipient"]["id"] = "QXBwOjI="

    _refused(saleor.send(_url(app_url), payload), msp)


def test_a_rotated_key_is_fetched_once_then_trusted(
    app_url: str,
    saleor: SaleorServer,
    msp: Emulator,
    payload: Any,
    fresh_keys: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(trust, "REFETCH_AFTER_SECONDS", 0.0)
    saleor.rotate_key()
    fetches = saleor.jwks_fetches

    first = saleor.send(_url(app_url), payload)
    second = saleor.send(_url(app_url), payload)

    assert (first.status_code, second.status_code) == (200, 200)
    assert saleor.jwks_fetches == fetches + 1
    assert len(msp.refund_posts(ORDER)) == 1


def test_forged_signatures_do_not_become_a_flood_of_key_fetches(
    app_url: str, saleor: SaleorServer, msp: Emulator, payload: Any, fresh_keys: None
) -> None:
    body = wire.dumps(payload).encode()
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    fetches = saleor.jwks_fetches

    for _ in range(5):
        forged = saleor.sign(body, key=other, kid="unknown-kid")
        _refused(saleor.send(_url(app_url), None, signature=forged, body=body), msp)

    assert saleor.jwks_fetches - fetches <= 1


def test_a_token_saleor_signed_for_something_else_does_not_sign_a_webhook(
    app_url: str, saleor: SaleorServer, msp: Emulator, payload: Any
) -> None:
    # Saleor signs a customer's access token with the webhook key. Such a token carries its own
    # payload; some PyJWT releases (Saleor 3.20's, 3.23's) check that payload and ignore the
    # body they are given. It must never pass for a webhook's signature.
    import jwt

    access_token = jwt.encode(
        {"token": "x", "email": "customer@example.com", "type": "access"},
        saleor.private_key,
        algorithm="RS256",
        headers={"kid": saleor.kid},
    )

    _refused(saleor.send(_url(app_url), payload, signature=access_token), msp)
