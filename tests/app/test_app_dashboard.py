"""The App's page API (`/api/dashboard/...`), as the page's script calls it with the token the
Dashboard hands over: who may see and change what, each channel's settings, the key check
against MultiSafepay (the emulator), and the refunds with Saleor's and MultiSafepay's view.

The page in a real browser is in `browser/`; a token Saleor itself made is accepted inside
real Saleor (tests/saleor_integration/test_saleor_app_page.py).
"""

from __future__ import annotations

import re
import uuid
from decimal import Decimal
from html import unescape
from typing import Any, Dict, Optional

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa

from saleor_multisafepay_refund.app import installations
from saleor_multisafepay_refund.app.context import app_context
from saleor_multisafepay_refund.app.manifest import REFUND_REQUESTED
from saleor_multisafepay_refund.config import SETTINGS
from saleor_multisafepay_refund.emulator import Emulator

from ..conftest import WRONG_MARK
from ..factories import item, order_data
from .conftest import KEY
from .events import CHANNEL, refund_requested, transaction
from .saleor_server import SaleorServer


def _ask(
    app_url: str,
    saleor: SaleorServer,
    path: str,
    token: Optional[str],
    data: Optional[Dict[str, str]] = None,
    api_url: Optional[str] = None,
) -> requests.Response:
    headers = {"Saleor-Api-Url": api_url or saleor.api_url}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    method = "POST" if data is not None else "GET"
    return requests.request(
        method, app_url + path, headers=headers, data=data, timeout=30, allow_redirects=False
    )


def _text(html: str) -> str:
    """What a person reads: the markup's text, spaces collapsed."""
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html))).strip()


def _form(msp: Emulator, **changes: str) -> Dict[str, str]:
    """The channel form as a browser posts it (test mode ticked: posted as "true")."""
    values = {
        "api_key": "",
        "test_mode": "",
        "api_url": msp.base_url,
        "merchant_item_id_source": "sku",
        "shipping_item_id": "",
        "sign_conventions": "",
        "refund_description": "",
        "rounding_tolerance": "",
    }
    values.update(changes)
    return {
        name: value for name, value in values.items() if not (name == "test_mode" and not value)
    }


def _save(
    app_url: str, saleor: SaleorServer, slug: str, token: str, form: Dict[str, str]
) -> requests.Response:
    """The channel form posted with Save."""
    return _ask(app_url, saleor, f"/api/dashboard/channels/{slug}", token, form)


def _stored(saleor: SaleorServer, slug: str) -> Optional[Dict[str, object]]:
    """The channel's stored settings (None: never saved)."""
    return installations.channel_values(saleor.api_url, slug, app_context().sealer)


def _fresh_channel(saleor: SaleorServer) -> str:
    slug = f"channel-{uuid.uuid4().hex[:8]}"
    saleor.channels.append({"slug": slug, "name": f"Shop {slug}", "currencyCode": "EUR"})
    return slug


# -- who may ---------------------------------------------------------------------------------


def test_the_page_itself_holds_nothing_and_runs_only_its_own_script(
    saleor: SaleorServer, app_url: str
) -> None:
    response = requests.get(app_url + "/app", timeout=10)

    assert response.status_code == 200
    assert "Waiting for the Saleor Dashboard" in response.text
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "connect-src 'self'" in policy
    script = requests.get(app_url + "/app/static/dashboard.js", timeout=10)
    assert script.status_code == 200 and "notifyReady" in script.text
    assert requests.get(app_url + "/app/static/settings.py", timeout=10).status_code == 404


@pytest.mark.parametrize(
    "case, status, says",
    [
        ("no token", 401, "Open this page from the Saleor Dashboard"),
        ("forged", 401, "not signed by this Saleor"),
        ("expired", 401, "expired"),
        ("a customer's token", 401, "not the Dashboard's for this App"),
        ("another App's", 401, "not the Dashboard's for this App"),
        ("unknown Saleor", 401, "not installed in this Saleor"),
        ("no permission", 403, "MANAGE_APPS"),
    ],
)
def test_the_page_shows_nothing_but_why_to_whoever_saleor_did_not_send(
    saleor: SaleorServer, app_url: str, configured: Any, case: str, status: int, says: str
) -> None:
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token: Optional[str] = {
        "no token": None,
        "forged": saleor.user_token(key=other_key),
        "expired": saleor.user_token(expires_in=-60),
        "a customer's token": saleor.user_token(type="access"),
        "another App's": saleor.user_token(app_id="QXBwOjI="),
        "unknown Saleor": saleor.user_token(),
        "no permission": saleor.user_token(permissions=()),
    }[case]
    api_url = "http://127.0.0.1:9/graphql/" if case == "unknown Saleor" else None

    response = _ask(app_url, saleor, "/api/dashboard/page", token, api_url=api_url)

    assert response.status_code == status
    assert says in _text(response.text)
    assert "data-refused" in response.text
    assert CHANNEL not in response.text and "Refunds" not in response.text
    assert response.headers["Cache-Control"] == "no-store"


def test_a_user_who_sees_refunds_cannot_change_settings(
    saleor: SaleorServer, app_url: str, msp: Emulator, configured: Any
) -> None:
    token = saleor.user_token(permissions=("MANAGE_ORDERS",))

    page = _ask(app_url, saleor, "/api/dashboard/page", token)
    save = _ask(
        app_url,
        saleor,
        f"/api/dashboard/channels/{CHANNEL}",
        token,
        _form(msp, test_mode="true", refund_description="changed"),
    )

    assert page.status_code == 200
    assert 'id="refunds"' in page.text and 'id="channels"' not in page.text
    assert "The settings need the MANAGE_APPS permission" in _text(page.text)
    assert save.status_code == 403 and "MANAGE_APPS" in save.text
    stored = installations.channel_values(saleor.api_url, CHANNEL, app_context().sealer)
    assert stored is not None and stored["refund_description"] != "changed"


# -- settings --------------------------------------------------------------------------------


def test_each_saleor_channel_has_the_plugins_fields_and_the_key_never_leaves(
    saleor: SaleorServer, app_url: str, configured: Any
) -> None:
    response = _ask(app_url, saleor, "/api/dashboard/page", saleor.user_token())

    assert response.status_code == 200
    text = _text(response.text)
    for setting in SETTINGS:
        assert f'<label for="{CHANNEL}-{setting.name}">' in response.text
        assert setting.help_text in text
    assert "A key is stored: leave this empty to keep it." in text
    assert KEY not in response.text and KEY[-4:] not in response.text
    assert 'type="password"' in response.text and 'value=""' in response.text


def test_a_wrong_field_is_refused_next_to_it_and_nothing_is_stored(
    saleor: SaleorServer, app_url: str, msp: Emulator
) -> None:
    slug = _fresh_channel(saleor)

    response = _save(
        app_url,
        saleor,
        slug,
        saleor.user_token(),
        _form(msp, api_key=KEY, test_mode="true", rounding_tolerance="5 euro"),
    )

    assert response.status_code == 400
    error = re.search(
        rf'<p class="error" id="{slug}-rounding_tolerance-error">([^<]*)</p>', response.text
    )
    assert error is not None and "Enter an amount of zero or more" in error.group(1)
    assert f'aria-describedby="{slug}-rounding_tolerance-help {slug}-rounding_tolerance-error"' in (
        response.text
    )
    assert 'value="5 euro"' in response.text  # what was typed stays to be corrected
    assert KEY not in response.text  # the key is typed again, never sent back
    assert _stored(saleor, slug) is None


def test_settings_saved_on_the_page_are_what_the_next_refund_uses(
    saleor: SaleorServer, app_url: str, msp: Emulator
) -> None:
    slug = _fresh_channel(saleor)
    token = saleor.user_token()

    first = _save(
        app_url,
        saleor,
        slug,
        token,
        _form(msp, api_key=KEY, test_mode="true", sign_conventions="KLARNA=negative_quantity"),
    )
    # Saved again without the key: the stored one stays.
    second = _save(
        app_url,
        saleor,
        slug,
        token,
        _form(msp, test_mode="true", refund_description="Refund from the shop"),
    )

    assert first.status_code == 200 and "Saved." in first.text
    assert second.status_code == 200 and "Saved." in second.text
    assert KEY not in first.text + second.text
    config = installations.channel_config(saleor.api_url, slug, app_context().sealer)
    assert config is not None
    assert config.api_key == KEY
    assert config.base_url == msp.base_url
    assert config.refund_description == "Refund from the shop"
    assert dict(config.sign_conventions) == {}  # the second save's empty field: the default


def test_an_unticked_test_mode_means_the_live_api(
    saleor: SaleorServer, app_url: str, msp: Emulator
) -> None:
    slug = _fresh_channel(saleor)

    response = _save(
        app_url,
        saleor,
        slug,
        saleor.user_token(),
        _form(msp, api_key=KEY, api_url=""),  # test_mode not posted: the box is not ticked
    )

    assert response.status_code == 200
    config = installations.channel_config(saleor.api_url, slug, app_context().sealer)
    assert config is not None and (config.test_mode, config.base_url) == (
        False,
        "https://api.multisafepay.com/v1/json/",
    )


def test_a_channel_saleor_does_not_have_cannot_be_configured(
    saleor: SaleorServer, app_url: str, msp: Emulator
) -> None:
    response = _ask(
        app_url,
        saleor,
        "/api/dashboard/channels/no-such-channel",
        saleor.user_token(),
        _form(msp, api_key=KEY, test_mode="true"),
    )

    assert response.status_code == 404 and "Saleor has no channel no-such-channel" in response.text
    assert (
        installations.channel_values(saleor.api_url, "no-such-channel", app_context().sealer)
        is None
    )


# -- test connection -------------------------------------------------------------------------


def test_the_connection_check_says_whether_multisafepay_takes_the_key(
    saleor: SaleorServer, app_url: str, msp: Emulator
) -> None:
    slug = _fresh_channel(saleor)
    token = saleor.user_token()
    path = f"/api/dashboard/channels/{slug}/check"

    right = _ask(app_url, saleor, path, token, _form(msp, api_key=KEY, test_mode="true"))
    wrong = _ask(
        app_url, saleor, path, token, _form(msp, api_key=f"wrong-{WRONG_MARK}", test_mode="true")
    )
    msp.gateways = ("IDEAL", "VISA")
    no_cart = _ask(app_url, saleor, path, token, _form(msp, api_key=KEY, test_mode="true"))
    away = _ask(
        app_url,
        saleor,
        path,
        token,
        _form(msp, api_key=KEY, test_mode="true", api_url="http://127.0.0.1:9/v1/json/"),
    )
    unusable = _ask(
        app_url, saleor, path, token, _form(msp, api_key=KEY, api_url="http://example.com/")
    )

    assert 'data-accepted="true"' in right.text
    assert f"The MultiSafepay API at {msp.base_url} accepts this API key" in _text(right.text)
    assert "Refunded by item: KLARNA, PAYAFTER, IN3, AFTERPAY" in _text(right.text)
    assert 'data-accepted="false"' in wrong.text
    assert "does not accept this API key" in _text(wrong.text) and "Test mode" in wrong.text
    assert "None of them refunds by item" in _text(no_cart.text)
    assert "could not be reached" in _text(away.text)
    assert "Not checked: API URL (optional): The API URL must use https" in _text(unusable.text)
    assert WRONG_MARK not in wrong.text and KEY not in right.text
    # Checking stores nothing.
    assert _stored(saleor, slug) is None
    assert [r.path for r in msp.requests if "gateways" in r.path] == ["/v1/json/gateways"] * 3


# -- refunds ---------------------------------------------------------------------------------


def _paid_order(msp: Emulator) -> str:
    order_id = f"page-{uuid.uuid4().hex[:10]}"
    data = order_data(
        [
            item("TSHIRT", unit_price="10.00", quantity="2"),
            item("msp-shipping", unit_price="4.95", quantity="1", name="Shipping"),
        ],
        gateway="KLARNA",
        amount=2495,
        order_id=order_id,
    )
    data["status"] = "shipped"
    msp.add_order(data)
    return order_id


def _refund(saleor: SaleorServer, app_url: str, msp_order: str, number: str) -> Dict[str, Any]:
    txn = transaction(msp_order, Decimal("24.95"))
    txn["order"]["number"] = number
    return saleor.answer(
        app_url + REFUND_REQUESTED.path, refund_requested(txn, Decimal("10.00"), [("TSHIRT", 1)])
    )


def test_refunds_are_listed_newest_first_with_what_saleor_was_told(
    saleor: SaleorServer, app_url: str, msp: Emulator, configured: Any
) -> None:
    first, second = _paid_order(msp), _paid_order(msp)
    answer_1 = _refund(saleor, app_url, first, "7001")
    answer_2 = _refund(saleor, app_url, second, "7002")

    page = _ask(app_url, saleor, "/api/dashboard/refunds", saleor.user_token())

    assert page.status_code == 200
    text = _text(page.text)
    assert text.index("#7002") < text.index("#7001")
    row = _text(page.text.split(f"{second}</span>")[1].split("</tr>")[0])
    assert "EUR 10.00 (1 x TSHIRT)" in row
    assert f"refunded refund {answer_2['pspReference']}" in row
    assert f"refunded, as {answer_2['pspReference']}" in row
    assert answer_1["pspReference"] in text


def test_one_order_is_compared_with_saleor_and_multisafepay_and_a_difference_is_marked(
    saleor: SaleorServer, app_url: str, msp: Emulator, configured: Any
) -> None:
    agreeing, differing = _paid_order(msp), _paid_order(msp)
    _refund(saleor, app_url, agreeing, "7101")
    _refund(saleor, app_url, differing, "7102")
    # A refund made in MultiSafepay's dashboard, which no notification brought to Saleor.
    msp.dashboard_refund(differing, 495)
    token = saleor.user_token(permissions=("MANAGE_ORDERS",))

    good = _ask(app_url, saleor, "/api/dashboard/refunds?order=7101", token)
    bad = _ask(app_url, saleor, f"/api/dashboard/refunds?order={differing}", token)
    none = _ask(app_url, saleor, "/api/dashboard/refunds?order=%23999999", token)

    assert "Saleor, the App and MultiSafepay agree." in _text(good.text)
    # The other order, by its number or its MultiSafepay id ("7102" alone can occur by chance
    # in a random id's hex, as CI once found).
    assert "#7102" not in _text(good.text) and differing not in good.text
    assert "Differs:" in bad.text and "is not recorded in Saleor" in _text(bad.text)
    assert "Refunded EUR 10.00 in Saleor, EUR 14.95 at MultiSafepay" in _text(bad.text)
    assert "No refunds of this order yet." in _text(none.text)


def test_a_refused_form_shows_test_mode_as_it_was_posted_not_the_default(
    saleor: SaleorServer, app_url: str, msp: Emulator
) -> None:
    slug = _fresh_channel(saleor)

    response = _save(
        app_url,
        saleor,
        slug,
        saleor.user_token(),
        _form(msp, api_key=KEY, rounding_tolerance="5 euro"),  # test mode unticked: live
    )

    assert response.status_code == 400
    box = re.search(rf'<input type="checkbox" id="{slug}-test_mode"[^>]*>', response.text)
    assert box is not None and " checked" not in box.group(0)
