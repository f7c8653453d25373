"""Fixtures shared by the tests inside a real Saleor: the emulator and the configured plugin.

Saleor is imported inside the fixtures: without Saleor the test modules skip themselves before
any fixture is used.
"""

from __future__ import annotations

from typing import Any, Iterator

import pytest

from saleor_multisafepay_refund.emulator import Emulator

from .msp_orders import KEY


@pytest.fixture
def msp() -> Iterator[Emulator]:
    with Emulator(api_key=KEY, duplicate_window_seconds=0) as emulator:
        yield emulator


@pytest.fixture
def multisafepay(settings: Any, channel_USD: Any, msp: Emulator) -> Any:
    """The plugin, active in the order's channel, configured as a shop owner would."""
    from saleor.plugins.models import PluginConfiguration

    from saleor_multisafepay_refund.plugin.hooks import PLUGIN_ID, MultiSafepayPlugin

    settings.PLUGINS = [f"{MultiSafepayPlugin.__module__}.{MultiSafepayPlugin.__name__}"]
    configuration = [
        {"name": "api_key", "value": KEY},
        {"name": "api_url", "value": msp.base_url},
        {"name": "test_mode", "value": True},
    ]
    plugin_configuration = PluginConfiguration(
        identifier=PLUGIN_ID,
        name="MultiSafepay",
        channel=channel_USD,
        active=True,
        configuration=configuration,
    )
    MultiSafepayPlugin.validate_plugin_configuration(plugin_configuration)
    plugin_configuration.save()
    return plugin_configuration
