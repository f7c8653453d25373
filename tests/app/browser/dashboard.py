"""A Saleor Dashboard for the App's page, in a real browser: it frames `<app>/app` and speaks
Saleor's App Bridge with it, as the Dashboard does.

The messages follow @saleor/app-sdk (`src/app-bridge/`) and the Dashboard's handlers of them
(saleor-dashboard `src/extensions/components/AppFrame/`):

- the frame's URL: `<appUrl>?domain=<host:port>&saleorApiUrl=<url>&id=<App id>&theme=light
  &locale=en` (`app-iframe-params.ts`; the Dashboard's `resolveAppIframeUrl` puts `domain`,
  `saleorApiUrl` and `id` first, then theme and locale);
- the page's actions, posted to `window.parent`: `{type, payload: {..., actionId}}`, the first
  one `{type: "notifyReady", payload: {actionId}}` (`actions.ts`, `app-bridge.ts`);
- the Dashboard's events, posted to the frame with targetOrigin the App's origin
  (`usePostToExtension`): on `notifyReady` the handshake `{type: "handshake", payload: {token,
  version: 1, saleorVersion, dashboardVersion}}`, then to every action `{type: "response",
  payload: {actionId, ok: true}}` (`useAppActions.ts`); a new token later as `{type:
  "tokenRefresh", payload: {token}}` (`events.ts`, `useUpdateAppToken.ts`).

Today's Dashboard also posts the handshake when the frame's `load` fires (`AppFrame.tsx`,
marked deprecated there in favour of `notifyReady`); `handshake_on_load=True` plays that too.
"""

from __future__ import annotations

import itertools
import json
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Dict, Iterator, List, Optional, TypeVar
from urllib.parse import urlencode, urlsplit

from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

SALEOR_VERSION = "3.23.28"  # the handshake's versions, as a 3.23 Dashboard sends them
DASHBOARD_VERSION = "3.23.0"
FRAME_ID = "app"
T = TypeVar("T")

# The Dashboard's side of the App Bridge, in the page's own words (see the module docstring).
_PAGE = """<!doctype html>
<html lang="en">
<meta charset="utf-8">
<title>Saleor Dashboard (test) - Apps - MultiSafepay</title>
<style>
  html, body { margin: 0; font: 14px system-ui, sans-serif; background: #f4f4f5; }
  header { height: 48px; line-height: 48px; padding: 0 24px; background: #fff;
           border-bottom: 1px solid #e4e4e7; color: #52525b; }
  iframe { display: block; width: 100%; height: __HEIGHT__px; border: 0; background: #fff; }
</style>
<header>Saleor Dashboard (test) &rsaquo; Apps &rsaquo; MultiSafepay</header>
<iframe id="__FRAME_ID__" title="MultiSafepay"></iframe>
<script type="application/json" id="config">__CONFIG__</script>
<script>
"use strict";
const config = JSON.parse(document.getElementById("config").textContent);
const frame = document.getElementById("__FRAME_ID__");
window.appActions = [];       // every action the App's page posted, in order (tests read it)
window.dashboardEvents = [];  // every event this Dashboard posted to the page, in order
window.appFrameLoads = 0;

// usePostToExtension: to the frame, for the App's origin only.
function post(event) {
  frame.contentWindow.postMessage(event, config.appOrigin);
  window.dashboardEvents.push(event);
}
window.dashboardPost = post;

function handshake() {
  return {type: "handshake", payload: {token: config.token, version: 1,
          saleorVersion: config.saleorVersion, dashboardVersion: config.dashboardVersion}};
}

// useAppActions: a message from the App's origin is an action; it is handled and answered.
window.addEventListener("message", (event) => {
  if (event.origin !== config.appOrigin) return;
  const action = event.data;
  window.appActions.push(action);
  if (!config.answer) return;
  if (action && action.type === "notifyReady") post(handshake());
  const actionId = action && action.payload ? action.payload.actionId : undefined;
  post({type: "response", payload: {actionId: actionId, ok: true}});
});

frame.addEventListener("load", () => {
  window.appFrameLoads += 1;
  if (config.answer && config.handshakeOnLoad) post(handshake());
});
frame.src = config.src;
</script>
</html>
"""


class PageServer:
    """Pages on 127.0.0.1, on a port of their own: the Dashboard's, another origin than the
    App's as a real Dashboard is (each `dashboard_page()` at its own path)."""

    def __init__(self) -> None:
        self._pages: Dict[str, bytes] = {}
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                with server._lock:
                    body = server._pages.get(urlsplit(self.path).path)
                if body is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def serve(self, path: str, html: str) -> str:
        """`html` at `path` (whatever the query); its URL."""
        with self._lock:
            self._pages[path] = html.encode()
        return self.origin + path

    def dashboard_page(self, config: Dict[str, Any], frame_height: int) -> str:
        """A Dashboard page playing `config`, at a path of its own; its URL."""
        # JSON inside <script>: "<" escaped so that no value can close the element.
        data = json.dumps(config).replace("<", "\\u003c")
        html = (
            _PAGE.replace("__CONFIG__", data)
            .replace("__FRAME_ID__", FRAME_ID)
            .replace("__HEIGHT__", str(frame_height))
        )
        return self.serve(f"/dashboard/{next(self._numbers)}", html)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class Dashboard:
    """The browser as a staff user in the Dashboard, on the App's page."""

    def __init__(
        self,
        driver: WebDriver,
        server: PageServer,
        app_url: str,
        app_id: str,
        saleor_api_url: str,
        timeout: float = 10,
    ) -> None:
        self.driver = driver
        self.server = server
        self.app_url = app_url
        self.app_id = app_id
        self.saleor_api_url = saleor_api_url
        self.timeout = timeout
        self._in_frame = False

    @property
    def origin(self) -> str:
        """The Dashboard's origin (not the App's)."""
        return self.server.origin

    @property
    def app_origin(self) -> str:
        parts = urlsplit(self.app_url)
        return f"{parts.scheme}://{parts.netloc}"

    def page_url(
        self,
        saleor_api_url: Optional[str] = None,
        *,
        app_id: Optional[str] = None,
        theme: str = "light",
        locale: str = "en",
    ) -> str:
        """The App's page with the query the Dashboard adds to the frame's URL."""
        api_url = saleor_api_url or self.saleor_api_url
        query = urlencode(
            {
                "domain": urlsplit(api_url).netloc,
                "saleorApiUrl": api_url,
                "id": self.app_id if app_id is None else app_id,
                "theme": theme,
                "locale": locale,
            }
        )
        return f"{self.app_url}/app?{query}"

    def open(
        self,
        token: Optional[str],
        *,
        saleor_api_url: Optional[str] = None,
        app_id: Optional[str] = None,
        handshake: bool = True,
        handshake_on_load: bool = False,
        saleor_version: str = SALEOR_VERSION,
        dashboard_version: str = DASHBOARD_VERSION,
        frame_height: int = 1200,
    ) -> str:
        """Open the App's page in the Dashboard; returns the frame's URL once it has loaded.

        With `handshake`, the Dashboard answers the page's `notifyReady` with `token` and every
        action with ok; without it, it never answers (the page waits for a Dashboard that
        does not speak). The driver is left at the Dashboard's page: see `frame()`.
        """
        if handshake and token is None:
            raise ValueError("a Dashboard that answers hands the page a token")
        self.leave_frame()
        src = self.page_url(saleor_api_url, app_id=app_id)
        config = {
            "src": src,
            "appOrigin": self.app_origin,
            "token": token,
            "answer": handshake,
            "handshakeOnLoad": handshake_on_load,
            "saleorVersion": saleor_version,
            "dashboardVersion": dashboard_version,
        }
        self.driver.get(self.server.dashboard_page(config, frame_height))
        self.wait(lambda: self.driver.execute_script("return window.appFrameLoads") >= 1)
        return src

    def open_outside(self, *, with_query: bool = True, saleor_api_url: Optional[str] = None) -> str:
        """Open the App's page at the top level, in no frame (a bookmark, a copied link);
        `with_query` keeps the Dashboard's query in its URL. Returns that URL."""
        self.leave_frame()
        url = self.page_url(saleor_api_url) if with_query else f"{self.app_url}/app"
        self.driver.get(url)
        return url

    # -- the frame ----------------------------------------------------------------------------

    def enter_frame(self) -> None:
        """Point the driver into the App's page (find elements of the page from here on)."""
        if not self._in_frame:
            self.driver.switch_to.frame(self.driver.find_element(By.ID, FRAME_ID))
            self._in_frame = True

    def leave_frame(self) -> None:
        """Point the driver back at the Dashboard's page."""
        self.driver.switch_to.default_content()
        self._in_frame = False

    @contextmanager
    def frame(self) -> Iterator[WebDriver]:
        """`with dashboard.frame() as page:` the driver inside the App's page, back after."""
        self.enter_frame()
        try:
            yield self.driver
        finally:
            self.leave_frame()

    # -- what went between them ---------------------------------------------------------------

    def actions(self) -> List[Dict[str, Any]]:
        """Every action the App's page posted to the Dashboard, in order."""
        return list(self._at_dashboard(lambda: self.driver.execute_script("return appActions")))

    def events(self) -> List[Dict[str, Any]]:
        """Every event the Dashboard posted to the App's page, in order."""
        return list(
            self._at_dashboard(lambda: self.driver.execute_script("return dashboardEvents"))
        )

    def wait_for_action(self, action_type: str) -> Dict[str, Any]:
        """The first action of `action_type` the page posted, waiting for it."""
        found: List[Dict[str, Any]] = []

        def posted() -> bool:
            found.extend(a for a in self.actions() if a.get("type") == action_type)
            return bool(found)

        self.wait(posted)
        return found[0]

    def refresh_token(self, token: str) -> None:
        """The Dashboard's new token for the user, as `tokenRefresh`."""
        event = {"type": "tokenRefresh", "payload": {"token": token}}
        self._at_dashboard(lambda: self.driver.execute_script("dashboardPost(arguments[0])", event))

    def _at_dashboard(self, read: Callable[[], T]) -> T:
        """`read()` with the driver at the Dashboard's page, then back where it was."""
        was_in_frame = self._in_frame
        self.leave_frame()
        try:
            return read()
        finally:
            if was_in_frame:
                self.enter_frame()

    def wait(self, condition: Callable[[], Any]) -> None:
        """Until `condition()` is true (TimeoutException after `timeout` seconds)."""
        # Polled every 50 ms (Selenium polls every 500 ms by default, half a second per wait).
        WebDriverWait(self.driver, self.timeout, poll_frequency=0.05).until(
            lambda _driver: condition()
        )
