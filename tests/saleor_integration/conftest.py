"""Fixtures shared by the tests inside a real Saleor: the emulator, the configured plugin, and
the App as a shop runs it (`app serve` as its own process, installed by `appInstall` against
Saleor's live test server, a channel configured with `app configure`).

Saleor is imported inside the fixtures: without Saleor the test modules skip themselves before
any fixture is used.
"""

from __future__ import annotations

from typing import Any, Iterator, List, Sequence

import pytest

from saleor_multisafepay_refund.emulator import Emulator

from .app_process import AppProcess, Installed
from .msp_orders import KEY

WEBHOOK_PLUGIN = "saleor.plugins.webhook.plugin.WebhookPlugin"

APP_INSTALL = """
mutation($input: AppInstallInput!) {
  appInstall(input: $input) { errors { field code message } }
}
"""


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


# -- the App: Saleor served over HTTP, the App as its own process ------------------------------


@pytest.fixture(scope="module")
def saleor_api_url(live_server: Any) -> Iterator[str]:
    """Saleor's API URL as Saleor names itself (PUBLIC_URL is the live server).

    The live server's threads open connections of their own; Saleor's conftest keeps the
    replica alias away from the test database (it wraps the main thread's connection), so a
    thread would read Saleor's real database: pointed at the test database here.
    """
    from django.db import connections
    from saleor.tests.utils import FakeDbReplicaConnection

    replica = connections.settings["replica"]
    name = replica["NAME"]
    replica["NAME"] = connections["default"].settings_dict["NAME"]
    yield live_server.url + "/graphql/"
    replica["NAME"] = name
    # The live server's tests are transactional: their flush opens an atomic block on the
    # replica alias, which sets transaction state on Saleor's FakeDbReplicaConnection itself
    # instead of on the connection it stands for. Left there, that state shadows the real one
    # and breaks the next non-transactional test ("An error occurred in the current
    # transaction"): the wrapper is made to delegate everything again.
    wrapper = connections["replica"]
    if isinstance(wrapper, FakeDbReplicaConnection):
        for attribute in [a for a in vars(wrapper) if a not in ("replica_conn", "writer_conn")]:
            delattr(wrapper, attribute)


@pytest.fixture(scope="module")
def app_server(saleor_api_url: str) -> Iterator[AppProcess]:
    """`app serve` from an empty directory, accepting installs from this Saleor only."""
    process = AppProcess(allowed_saleor_url=saleor_api_url).start()
    yield process
    log = process.log()
    process.stop()
    assert KEY not in log, "the App logged the MultiSafepay API key"


@pytest.fixture
def saleor_serving(settings: Any, live_server: Any, saleor_api_url: str) -> str:
    settings.PUBLIC_URL = live_server.url
    # Saleor's test settings load no plugin; the webhook plugin is what sends App webhooks.
    settings.PLUGINS = [WEBHOOK_PLUGIN]
    return saleor_api_url


@pytest.fixture
def staff(
    staff_api_client: Any,
    permission_manage_apps: Any,
    permission_manage_orders: Any,
    permission_manage_payments: Any,
) -> Any:
    """A staff member who may install Apps, grant refunds and send them (the Dashboard's user)."""
    from saleor.account.models import Group

    group = Group.objects.create(name="MultiSafepay staff", restricted_access_to_channels=False)
    group.permissions.add(
        permission_manage_apps, permission_manage_orders, permission_manage_payments
    )
    group.user_set.add(staff_api_client.user)
    return staff_api_client


@pytest.fixture
def app_permissions() -> Sequence[str]:
    """What the staff member grants at installation (Saleor uses these, not the manifest's):
    a module overrides it."""
    return ["HANDLE_PAYMENTS"]


@pytest.fixture
def installed(
    saleor_serving: str,
    app_server: AppProcess,
    staff: Any,
    monkeypatch: Any,
    app_permissions: Sequence[str],
) -> Installed:
    """The App, installed as from the Dashboard (Apps > Install from manifest URL)."""
    from saleor.app import installation_utils
    from saleor.app.models import App, AppInstallation

    from saleor_multisafepay_refund.app.manifest import APP_ID

    sent: List[str] = []
    send_app_token = installation_utils.send_app_token

    def keeping_the_token(target_url: str, token: str) -> None:
        sent.append(token)
        send_app_token(target_url=target_url, token=token)

    monkeypatch.setattr(installation_utils, "send_app_token", keeping_the_token)
    response = staff.post_graphql(
        APP_INSTALL,
        {
            "input": {
                "appName": "MultiSafepay",
                "manifestUrl": app_server.url + "/api/manifest",
                "permissions": list(app_permissions),
                "activateAfterInstallation": True,
            }
        },
    )
    content = response.json()
    assert "errors" not in content, content["errors"]
    assert not content["data"]["appInstall"]["errors"], content["data"]["appInstall"]["errors"]
    installed_app = App.objects.filter(identifier=APP_ID).first()
    failures = [installation.message for installation in AppInstallation.objects.all()]
    assert installed_app is not None, f"not installed: {failures}\n{app_server.log()}"
    (token,) = sent
    return Installed(installed_app, token)


@pytest.fixture
def configured(
    installed: Installed,
    app_server: AppProcess,
    msp: Emulator,
    channel_USD: Any,
    saleor_serving: str,
) -> Any:
    """The channel's MultiSafepay settings, with `app configure` (the key from MSP_API_KEY)."""
    done = app_server.configure(
        [
            "--saleor-api-url",
            saleor_serving,
            "--channel",
            channel_USD.slug,
            "--api-url",
            msp.base_url,
        ],
        api_key=KEY,
    )
    assert done.returncode == 0, done.stderr
    assert KEY not in done.stdout + done.stderr
    return installed.app
