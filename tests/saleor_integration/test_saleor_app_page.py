"""The App's page with tokens real Saleor signs: the one the Dashboard gets for a staff user
(`app(id) { accessToken }`, what the Dashboard hands the page in App Bridge's handshake) opens
the settings and the refunds; the App reads Saleor's channels and the transaction's events
with its own token (HANDLE_PAYMENTS only); a user without MANAGE_APPS sees the refunds only.
The browser side is tested in tests/app/browser/ (the same API, a token made as Saleor makes it).
"""

from __future__ import annotations

import re
from html import unescape
from typing import Any, Dict, Optional

import pytest

pytest.importorskip("saleor", reason="Saleor is not installed: these tests run inside Saleor")
django_settings = pytest.importorskip("django.conf").settings
if not django_settings.configured:
    pytest.skip(
        "Django is not set up: run with --ds=saleor.tests.settings", allow_module_level=True
    )

import requests  # noqa: E402

from saleor_multisafepay_refund.emulator import Emulator  # noqa: E402

from .app_process import AppProcess  # noqa: E402
from .msp_orders import KEY  # noqa: E402
from .test_saleor_app import (  # noqa: E402, F401 (app_transaction: a fixture used here)
    MSP_ORDER_ID,
    _data,
    _gid,
    _refund_line_from_the_dashboard,
    app_transaction,
)

ACCESS_TOKEN = "query($id: ID!) { app(id: $id) { accessToken } }"


def _dashboard_token(staff: Any, app: Any) -> str:
    """What the Dashboard asks Saleor for before it opens an App's page."""
    token = _data(staff.post_graphql(ACCESS_TOKEN, {"id": _gid("App", app.pk)}), "app")
    assert token["accessToken"], "Saleor gave the staff user no token for the App"
    return str(token["accessToken"])


def _ask(
    app_server: AppProcess,
    saleor_api_url: str,
    path: str,
    token: str,
    data: Optional[Dict[str, str]] = None,
) -> requests.Response:
    return requests.request(
        "POST" if data is not None else "GET",
        app_server.url + path,
        headers={"Authorization": f"Bearer {token}", "Saleor-Api-Url": saleor_api_url},
        data=data,
        timeout=30,
    )


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html))).strip()


def test_the_dashboards_token_opens_the_page_with_saleors_channels(
    staff: Any, configured: Any, app_server: AppProcess, saleor_serving: str, channel_USD: Any
) -> None:
    token = _dashboard_token(staff, configured)

    page = _ask(app_server, saleor_serving, "/api/dashboard/page", token)

    assert page.status_code == 200, page.text
    text = _text(page.text)
    assert f"{channel_USD.name} ({channel_USD.slug}, USD) configured" in text
    assert f"Signed in as {staff.user.email}" in text
    assert KEY not in page.text


def test_settings_change_and_key_check_with_the_dashboards_token(
    staff: Any,
    configured: Any,
    app_server: AppProcess,
    saleor_serving: str,
    channel_USD: Any,
    msp: Emulator,
) -> None:
    token = _dashboard_token(staff, configured)
    form = {"test_mode": "true", "api_url": msp.base_url, "refund_description": "Shop refund"}

    check = _ask(
        app_server, saleor_serving, f"/api/dashboard/channels/{channel_USD.slug}/check", token, form
    )
    saved = _ask(
        app_server, saleor_serving, f"/api/dashboard/channels/{channel_USD.slug}", token, form
    )

    assert "accepts this API key" in _text(check.text)  # the stored key, never typed again
    assert saved.status_code == 200 and "Saved." in saved.text
    assert 'value="Shop refund"' in saved.text and KEY not in saved.text


def test_a_refund_made_in_the_dashboard_is_listed_and_agrees_with_saleor_and_multisafepay(
    staff: Any,
    configured: Any,
    app_server: AppProcess,
    saleor_serving: str,
    app_transaction: Dict[str, Any],  # noqa: F811 (the fixture imported above)
    order_with_lines: Any,
    msp: Emulator,
) -> None:
    order = order_with_lines
    _refund_line_from_the_dashboard(
        staff, order, order.lines.get(product_sku="SKU_AA"), app_transaction
    )
    (refund,) = msp.order(MSP_ORDER_ID)["related_transactions"]
    token = _dashboard_token(staff, configured)

    listed = _ask(app_server, saleor_serving, "/api/dashboard/refunds", token)
    compared = _ask(
        app_server, saleor_serving, f"/api/dashboard/refunds?order={order.number}", token
    )

    assert listed.status_code == 200, listed.text
    row = _text(listed.text.split(f"{MSP_ORDER_ID}</span>")[1].split("</tr>")[0])
    assert f"refunded refund {refund['transaction_id']}" in row
    assert f"refunded, as {refund['transaction_id']}" in row
    # Saleor's own record, read by the App with HANDLE_PAYMENTS: the refund Saleor counts.
    assert "Saleor, the App and MultiSafepay agree." in _text(compared.text), compared.text


def test_a_user_without_manage_apps_sees_the_refunds_but_not_the_settings(
    staff: Any,
    configured: Any,
    app_server: AppProcess,
    saleor_serving: str,
    channel_USD: Any,
    msp: Emulator,
    permission_manage_orders: Any,
) -> None:
    from saleor.account.models import Group, User
    from saleor.core.jwt import create_access_token_for_app

    clerk = User.objects.create(email="clerk@example.com", is_staff=True, is_active=True)
    group = Group.objects.create(name="Order clerks", restricted_access_to_channels=False)
    group.permissions.add(permission_manage_orders)
    group.user_set.add(clerk)
    # What app(id) { accessToken } returns to this user (saleor/graphql/app/resolvers.py).
    token = create_access_token_for_app(configured, clerk)

    page = _ask(app_server, saleor_serving, "/api/dashboard/page", token)
    save = _ask(
        app_server,
        saleor_serving,
        f"/api/dashboard/channels/{channel_USD.slug}",
        token,
        {"test_mode": "true", "api_url": msp.base_url},
    )

    assert page.status_code == 200
    assert 'id="refunds"' in page.text and 'id="channels"' not in page.text
    assert save.status_code == 403 and "MANAGE_APPS" in save.text
