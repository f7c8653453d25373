"""The Dashboard the browser tests play speaks the App Bridge as @saleor/app-sdk expects, checked
against a stand-in App page of a dozen lines that does what the app-sdk's AppBridge does
(`app-bridge.ts`): notifyReady to the parent, and only messages from the Dashboard's origin
(its referrer) are taken. The App's own page is tested in test_app_page.py.
"""

from __future__ import annotations

from typing import Any, Dict, Iterator, List
from urllib.parse import parse_qsl, urlsplit

import pytest

from ..saleor_server import SaleorServer
from .dashboard import DASHBOARD_VERSION, SALEOR_VERSION, Dashboard, PageServer

STAND_IN_APP = """<!doctype html>
<html lang="en"><meta charset="utf-8"><title>stand-in App</title>
<pre id="received"></pre>
<script>
"use strict";
window.received = [];
const dashboardOrigin = new URL(document.referrer).origin;
window.addEventListener("message", (event) => {
  if (event.origin !== dashboardOrigin) return;
  window.received.push(event.data);
  document.getElementById("received").textContent = JSON.stringify(window.received);
});
window.parent.postMessage({type: "notifyReady", payload: {actionId: crypto.randomUUID()}}, "*");
</script>
</html>
"""


@pytest.fixture(scope="module")
def stand_in_app() -> Iterator[str]:
    """The stand-in App's URL: its own origin, neither the Dashboard's nor the App's."""
    server = PageServer()
    server.serve("/app", STAND_IN_APP)
    yield server.origin
    server.close()


@pytest.fixture
def stand_in(dashboard: Dashboard, stand_in_app: str) -> Dashboard:
    """The Dashboard, with the stand-in App's page where the App's is."""
    dashboard.app_url = stand_in_app
    return dashboard


def received(dashboard: Dashboard, count: int) -> List[Dict[str, Any]]:
    """What the stand-in App has received, once it has `count` messages."""
    with dashboard.frame() as page:
        dashboard.wait(lambda: len(page.execute_script("return received")) >= count)
        return list(page.execute_script("return received"))


def test_the_dashboard_speaks_the_app_bridge(stand_in: Dashboard, saleor: SaleorServer) -> None:
    dashboard = stand_in
    token, refreshed = saleor.user_token(), saleor.user_token(expires_in=600)

    dashboard.open(token)
    ready = dashboard.wait_for_action("notifyReady")
    first = received(dashboard, 2)
    dashboard.refresh_token(refreshed)
    later = received(dashboard, 3)
    with dashboard.frame() as page:
        query = dict(parse_qsl(urlsplit(page.execute_script("return location.href")).query))

    assert query == {
        "domain": urlsplit(saleor.api_url).netloc,
        "saleorApiUrl": saleor.api_url,
        "id": saleor.app_id,
        "theme": "light",
        "locale": "en",
    }
    assert first == [
        {
            "type": "handshake",
            "payload": {
                "token": token,
                "version": 1,
                "saleorVersion": SALEOR_VERSION,
                "dashboardVersion": DASHBOARD_VERSION,
            },
        },
        {"type": "response", "payload": {"actionId": ready["payload"]["actionId"], "ok": True}},
    ]
    assert later[2:] == [{"type": "tokenRefresh", "payload": {"token": refreshed}}]
    assert dashboard.actions() == [ready]


def test_a_dashboard_that_never_answers(stand_in: Dashboard) -> None:
    dashboard = stand_in

    dashboard.open(None, handshake=False)
    dashboard.wait_for_action("notifyReady")

    # The Dashboard records and answers an action in one message handler: by now it would have.
    assert dashboard.events() == []


def test_todays_dashboard_also_hands_the_token_over_when_the_frame_loads(
    stand_in: Dashboard, saleor: SaleorServer
) -> None:
    stand_in.open(saleor.user_token(), handshake_on_load=True)

    # The frame's load and the page's notifyReady reach the Dashboard in either order.
    types = sorted(message["type"] for message in received(stand_in, 3))
    assert types == ["handshake", "handshake", "response"]
