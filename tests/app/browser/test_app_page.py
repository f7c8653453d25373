"""The App's page in a real browser (Debian's Chromium), framed by a Dashboard on its own origin
that hands it a token Saleor's way (App Bridge): a shop owner configures a channel, is told
what is wrong with a field next to it, checks the key against MultiSafepay (the emulator), and
staff find a refund; a page without a good token shows why and nothing else.

Screenshots land in test-artifacts/screenshots/ (or $SCREENSHOTS_DIR) for a person to look at.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable

from cryptography.hazmat.primitives.asymmetric import rsa
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver

from saleor_multisafepay_refund.app import installations
from saleor_multisafepay_refund.app.context import app_context
from saleor_multisafepay_refund.app.manifest import REFUND_REQUESTED
from saleor_multisafepay_refund.emulator import Emulator

from ...factories import item, order_data
from ..conftest import KEY
from ..events import refund_requested, transaction
from ..saleor_server import SaleorServer
from .dashboard import Dashboard

Screenshot = Callable[[str], Path]


def _body(page: WebDriver) -> str:
    return str(page.find_element(By.TAG_NAME, "body").text)


def _shows(dashboard: Dashboard, page: WebDriver, text: str) -> None:
    dashboard.wait(lambda: text in _body(page))


def _channel(saleor: SaleorServer) -> str:
    slug = f"shop-{uuid.uuid4().hex[:6]}"
    saleor.channels.append({"slug": slug, "name": "Webshop NL", "currencyCode": "EUR"})
    return slug


def _field(page: WebDriver, slug: str, name: str) -> Any:
    return page.find_element(By.ID, f"{slug}-{name}")


def _type_key(page: WebDriver, slug: str, msp: Emulator) -> None:
    """The emulator's key and URL, typed into the channel's form."""
    _field(page, slug, "api_key").send_keys(KEY)
    _field(page, slug, "api_url").send_keys(msp.base_url)


def _press(page: WebDriver, slug: str, label: str) -> None:
    form = page.find_element(By.ID, f"channel-{slug}")
    form.find_element(By.XPATH, f".//button[normalize-space()='{label}']").click()


def test_a_shop_owner_configures_a_channel_and_checks_the_key(
    dashboard: Dashboard, saleor: SaleorServer, msp: Emulator, screenshot: Screenshot
) -> None:
    slug = _channel(saleor)
    dashboard.open(saleor.user_token(email="owner@example.com"), frame_height=2600)

    with dashboard.frame() as page:
        _shows(dashboard, page, "Signed in as owner@example.com")
        assert "Webshop NL" in _body(page)
        _type_key(page, slug, msp)
        assert _field(page, slug, "test_mode").is_selected()  # the safe default: test
        _press(page, slug, "Test connection")
        _shows(dashboard, page, "Connected.")
        result = page.find_element(By.ID, f"check-{slug}").text
        # Checked as typed, before saving: the key stays in its field for Save.
        assert _field(page, slug, "api_key").get_attribute("value") == KEY
        _press(page, slug, "Save")
        _shows(dashboard, page, "Saved. In effect for the next payment or refund.")
        saved = page.find_element(By.CSS_SELECTOR, f"#channel-{slug} [data-saved]")
        focused = page.switch_to.active_element == saved  # a screen reader hears it
        key_field = _field(page, slug, "api_key")
        key_value = key_field.get_attribute("value")
        placeholder = key_field.get_attribute("placeholder")
    screenshot("app-page-channel-saved")

    assert f"The MultiSafepay API at {msp.base_url} accepts this API key" in result
    assert "Refunded by item: KLARNA, PAYAFTER, IN3, AFTERPAY" in result
    assert focused
    assert key_value == "" and "stored" in placeholder  # write-only: never sent back
    config = installations.channel_config(saleor.api_url, slug, app_context().sealer)
    assert config is not None and (config.api_key, config.base_url) == (KEY, msp.base_url)


def test_a_wrong_field_is_refused_next_to_it_with_the_focus_there(
    dashboard: Dashboard, saleor: SaleorServer, msp: Emulator, screenshot: Screenshot
) -> None:
    slug = _channel(saleor)
    dashboard.open(saleor.user_token(), frame_height=2600)

    with dashboard.frame() as page:
        _shows(dashboard, page, "Webshop NL")
        _type_key(page, slug, msp)
        _field(page, slug, "rounding_tolerance").send_keys("5 euro")
        _press(page, slug, "Save")
        _shows(dashboard, page, "Nothing was saved")
        error = page.find_element(By.ID, f"{slug}-rounding_tolerance-error").text
        tolerance = _field(page, slug, "rounding_tolerance")
        described_by = tolerance.get_attribute("aria-describedby")
        invalid = tolerance.get_attribute("aria-invalid")
        focused = page.switch_to.active_element == tolerance
        kept = tolerance.get_attribute("value")
    screenshot("app-page-field-refused")

    assert "Enter an amount of zero or more, at most 1.00" in error
    assert f"{slug}-rounding_tolerance-error" in described_by.split()
    assert invalid == "true"
    assert focused and kept == "5 euro"
    assert installations.channel_values(saleor.api_url, slug, app_context().sealer) is None


def test_every_field_has_a_label_and_the_page_works_from_the_keyboard(
    dashboard: Dashboard, saleor: SaleorServer, msp: Emulator
) -> None:
    slug = _channel(saleor)
    dashboard.open(saleor.user_token(), frame_height=2600)

    with dashboard.frame() as page:
        _shows(dashboard, page, "Webshop NL")
        unlabelled = page.execute_script(
            """return [...document.querySelectorAll('input, select, textarea')]
                 .filter(e => !document.querySelector(`label[for="${e.id}"]`))
                 .map(e => e.name || e.outerHTML)"""
        )
        # Tab from the channel's first field to its check, then Enter on the button.
        first = _field(page, slug, "api_key")
        first.send_keys(KEY)
        first.send_keys(Keys.TAB)  # test mode
        page.switch_to.active_element.send_keys(Keys.TAB)  # the API URL
        page.switch_to.active_element.send_keys(msp.base_url)
        button = page.find_element(
            By.XPATH, f"//form[@id='channel-{slug}']//button[normalize-space()='Test connection']"
        )
        while page.switch_to.active_element != button:
            page.switch_to.active_element.send_keys(Keys.TAB)
        button.send_keys(Keys.ENTER)
        _shows(dashboard, page, "Connected.")

    assert unlabelled == []


def test_staff_find_a_refund_and_see_it_agree_with_saleor_and_multisafepay(
    dashboard: Dashboard,
    saleor: SaleorServer,
    app_url: str,
    msp: Emulator,
    configured: Any,
    screenshot: Screenshot,
) -> None:
    msp_order = f"web-{uuid.uuid4().hex[:8]}"
    data = order_data(
        [
            item("TSHIRT", unit_price="10.00", quantity="2"),
            item("CAP", unit_price="5.50", quantity="1"),
            item("msp-shipping", unit_price="4.95", quantity="1", name="Shipping"),
        ],
        gateway="KLARNA",
        amount=3045,
        order_id=msp_order,
    )
    data["status"] = "shipped"
    msp.add_order(data)
    txn = transaction(msp_order, Decimal("30.45"))
    number = str(8000 + uuid.uuid4().int % 1000)
    txn["order"]["number"] = number
    answer = saleor.answer(
        app_url + REFUND_REQUESTED.path,
        refund_requested(txn, Decimal("15.50"), [("TSHIRT", 1), ("CAP", 1)]),
    )
    dashboard.open(saleor.user_token(["MANAGE_ORDERS"]), frame_height=900)

    with dashboard.frame() as page:
        _shows(dashboard, page, "Refunds")
        listed = _body(page)
        search = page.find_element(By.ID, "refunds-order")
        search.send_keys(f"#{number}", Keys.ENTER)
        _shows(dashboard, page, "Saleor, the App and MultiSafepay agree.")
        compared = _body(page)
    screenshot("app-page-refunds")

    assert "Channels" not in listed  # MANAGE_ORDERS only: no settings
    assert "EUR 15.50 (1 x TSHIRT, 1 x CAP)" in listed
    assert f"refunded, as {answer['pspReference']}" in listed
    assert f"Order #{number}, MultiSafepay order {msp_order}" in compared


def test_a_forged_token_shows_why_and_nothing_else(
    dashboard: Dashboard, saleor: SaleorServer, configured: Any, screenshot: Screenshot
) -> None:
    forged = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    dashboard.open(saleor.user_token(key=forged))

    with dashboard.frame() as page:
        _shows(dashboard, page, "not signed by this Saleor")
        fields = page.find_elements(By.CSS_SELECTOR, "input, select, textarea, table")
    screenshot("app-page-forged-token")

    assert fields == []


def test_a_user_without_either_permission_is_told_which_one_to_ask_for(
    dashboard: Dashboard, saleor: SaleorServer, configured: Any
) -> None:
    dashboard.open(saleor.user_token(["MANAGE_PRODUCTS"]))

    with dashboard.frame() as page:
        _shows(dashboard, page, "needs MANAGE_APPS (the settings) or MANAGE_ORDERS")
        fields = page.find_elements(By.CSS_SELECTOR, "input, select, textarea, table")

    assert fields == []


def test_opened_outside_the_dashboard_the_page_says_where_to_open_it(
    dashboard: Dashboard, saleor: SaleorServer, screenshot: Screenshot
) -> None:
    dashboard.open_outside()

    text = _body(dashboard.driver)
    screenshot("app-page-outside-dashboard")

    assert "Open this page from the Saleor Dashboard (Apps > MultiSafepay)" in text
    assert dashboard.driver.find_elements(By.CSS_SELECTOR, "input, table") == []


def test_the_dashboards_new_token_is_the_one_the_page_uses_next(
    dashboard: Dashboard, saleor: SaleorServer, msp: Emulator
) -> None:
    slug = _channel(saleor)
    dashboard.open(saleor.user_token(), frame_height=2600)
    with dashboard.frame() as page:
        _shows(dashboard, page, "Webshop NL")

    # The user lost MANAGE_APPS meanwhile: the Dashboard's next token says so.
    dashboard.refresh_token(saleor.user_token(["MANAGE_ORDERS"]))
    with dashboard.frame() as page:
        _type_key(page, slug, msp)
        _press(page, slug, "Save")
        _shows(dashboard, page, "lacks the MANAGE_APPS permission")

    assert installations.channel_values(saleor.api_url, slug, app_context().sealer) is None


def test_a_frame_that_is_never_handed_a_token_says_so_and_shows_nothing(
    dashboard: Dashboard, saleor: SaleorServer
) -> None:
    dashboard.open(None, handshake=False)
    dashboard.wait_for_action("notifyReady")

    with dashboard.frame() as page:
        waiting = _body(page)
        # The page gives the Dashboard 6 s to answer.
        _shows(dashboard, page, "did not hand this page a sign-in")
        fields = page.find_elements(By.CSS_SELECTOR, "input, select, textarea, table")

    assert "Waiting for the Saleor Dashboard" in waiting
    assert fields == []
