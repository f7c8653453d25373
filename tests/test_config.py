"""The plugin's configuration: typed once, a message per bad field, the key never shown."""

from __future__ import annotations

from decimal import Decimal

import pytest

from saleor_multisafepay_refund.config import (
    GatewayConfig,
    InvalidConfiguration,
    ItemIdSource,
    configuration_values,
    parse_configuration,
)
from saleor_multisafepay_refund.multisafepay.client import LIVE_API_URL, TEST_API_URL
from saleor_multisafepay_refund.multisafepay.methods import SignConvention

KEY = "config-key-0123456789abcdef"


def test_saleors_configuration_list_becomes_a_typed_config():
    saleor_list = [
        {"name": "api_key", "value": KEY, "type": "Secret"},
        {"name": "test_mode", "value": "false"},
        {"name": "merchant_item_id_source", "value": "variant_id"},
        {"name": "shipping_item_id", "value": "ship"},
        {
            "name": "sign_conventions",
            "value": "klarna = negative_quantity\nAFTERPAY=negative_unit_price",
        },
        {"name": "refund_description", "value": " Retour "},
        {"name": "rounding_tolerance", "value": "0.05"},
    ]

    config = parse_configuration(configuration_values(saleor_list))

    assert config == GatewayConfig(
        api_key=KEY,
        test_mode=False,
        merchant_item_id_source=ItemIdSource.VARIANT_ID,
        shipping_item_id="ship",
        sign_conventions={
            "KLARNA": SignConvention.NEGATIVE_QUANTITY,
            "AFTERPAY": SignConvention.NEGATIVE_UNIT_PRICE,
        },
        refund_description="Retour",
        rounding_tolerance=Decimal("0.05"),
    )
    assert config.base_url == LIVE_API_URL


def test_defaults_are_safe():
    config = parse_configuration({"api_key": KEY})

    assert (config.test_mode, config.base_url) == (True, TEST_API_URL)
    assert config.merchant_item_id_source is ItemIdSource.SKU
    assert (config.shipping_item_id, config.sign_conventions) == ("msp-shipping", {})
    assert config.rounding_tolerance == Decimal("0.01")


def test_an_api_url_overrides_test_and_live():
    config = parse_configuration({"api_key": KEY, "api_url": "http://127.0.0.1:8080/v1/json"})

    assert config.base_url == "http://127.0.0.1:8080/v1/json/"


@pytest.mark.parametrize(
    ("values", "field", "words"),
    [
        ({}, "api_key", "API key"),
        ({"api_url": "http://msp.example/v1/json/"}, "api_url", "must use https"),
        ({"api_url": "https://msp.example/v1/json/?api_key=x"}, "api_url", "query"),
        ({"merchant_item_id_source": "ean"}, "merchant_item_id_source", "'sku'"),
        ({"sign_conventions": "KLARNA"}, "sign_conventions", "GATEWAY=negative_quantity"),
        ({"sign_conventions": "KLARNA=negative"}, "sign_conventions", "KLARNA: use"),
        ({"sign_conventions": "Klar na=negative_quantity"}, "sign_conventions", "not"),
        ({"rounding_tolerance": "-0.01"}, "rounding_tolerance", "zero or more"),
        ({"rounding_tolerance": "one cent"}, "rounding_tolerance", "zero or more"),
        ({"rounding_tolerance": "1_000"}, "rounding_tolerance", "at most 1.00"),
        ({"rounding_tolerance": "5"}, "rounding_tolerance", "at most 1.00"),
        # A typo must not switch to the live API.
        ({"api_key": "k", "test_mode": "ture"}, "test_mode", "true or false"),
    ],
)
def test_each_bad_field_gets_its_own_message(values, field, words):
    with pytest.raises(InvalidConfiguration) as raised:
        parse_configuration(values)

    assert words in raised.value.errors[field]


def test_all_bad_fields_are_reported_at_once():
    with pytest.raises(InvalidConfiguration) as raised:
        parse_configuration({"api_url": "ftp://x", "rounding_tolerance": "x"})

    assert set(raised.value.errors) == {"api_key", "api_url", "rounding_tolerance"}


def test_an_inactive_plugin_may_be_saved_without_a_key():
    assert parse_configuration({}, require_api_key=False).api_key == ""


def test_the_key_is_not_in_the_configs_repr():
    assert KEY not in repr(parse_configuration({"api_key": KEY}))
