"""The App's page in a real browser: Debian's Chromium and ChromeDriver, driven by Selenium,
with a Dashboard (`dashboard.py`) that frames the page and speaks the App Bridge with it.

Nothing here downloads a browser or a driver: both paths are given, so Selenium Manager is
never run (and `SE_OFFLINE` forbids it the network should a Selenium version run it anyway).
The folder is skipped where Selenium, Chromium or ChromeDriver is missing; `.ci/run` installs
them (`apt-get install chromium chromium-driver`).
"""

from __future__ import annotations

import base64
import logging
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Callable, Iterator

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
_MISSING = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.is_file()]
if _MISSING:
    pytest.skip(
        f"the browser tests need {' and '.join(_MISSING)} "
        "(apt-get install chromium chromium-driver; .ci/run installs them)",
        allow_module_level=True,
    )
pytest.importorskip("selenium", reason="the browser tests need Selenium (the test extra)")

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.chrome.webdriver import WebDriver  # noqa: E402

from ..saleor_server import SaleorServer  # noqa: E402
from .dashboard import Dashboard, PageServer  # noqa: E402

REPOSITORY = Path(__file__).resolve().parents[3]

# Selenium's DEBUG records are every WebDriver request and answer in full: the keys a test
# types into the page, Saleor's tokens, whole screenshots in base64. They are the test's own
# driver talking, not the App; the suite logs everything at DEBUG, so Selenium says less.
logging.getLogger("selenium").setLevel(logging.INFO)

CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",  # CI runs as root, where Chromium's sandbox refuses to start
    "--disable-gpu",
    "--disable-dev-shm-usage",  # containers give /dev/shm 64 MB
    "--window-size=1280,900",
    "--hide-scrollbars",  # screenshots show the page, not the window's scrollbar
    # A closed network: Chromium's own calls home (updates, sync, sign-in, first-run pages,
    # Debian's remote extensions) are switched off, and every host name but 127.0.0.1 fails
    # to resolve without a DNS query, so nothing leaves this machine and nothing waits on it.
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
)


@pytest.fixture(scope="session")
def browser() -> Iterator[WebDriver]:
    """Headless Chromium with a fresh profile, for the whole session."""
    os.environ.setdefault("SE_OFFLINE", "true")
    profile = tempfile.mkdtemp(prefix="msp-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="session")
def dashboard_server() -> Iterator[PageServer]:
    server = PageServer()
    yield server
    server.close()


@pytest.fixture
def dashboard(
    browser: WebDriver, dashboard_server: PageServer, app_url: str, saleor: SaleorServer
) -> Iterator[Dashboard]:
    """The Dashboard of `saleor`, where the App at `app_url` is installed; a blank tab after."""
    yield Dashboard(browser, dashboard_server, app_url, saleor.app_id, saleor.api_url)
    # The next test starts on an empty page, not inside this one's frame or its timers.
    browser.switch_to.default_content()
    browser.get("about:blank")


@pytest.fixture
def screenshot(browser: WebDriver) -> Callable[[str], Path]:
    """`screenshot(name)`: the whole page (the Dashboard with the App's frame in it) as
    `<name>.png` in $SCREENSHOTS_DIR or test-artifacts/screenshots/; returns its path."""
    folder = Path(
        os.environ.get("SCREENSHOTS_DIR") or REPOSITORY / "test-artifacts" / "screenshots"
    )

    def take(name: str) -> Path:
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
            raise ValueError(f"a screenshot's name is a file name: {name!r}")
        folder.mkdir(parents=True, exist_ok=True)
        # The page's full height, not just the window: Chromium's DevTools protocol does it
        # (Selenium's full-page screenshot is Firefox's only).
        size = browser.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
        shot = browser.execute_cdp_cmd(
            "Page.captureScreenshot",
            {
                "format": "png",
                "captureBeyondViewport": True,
                "clip": {
                    "x": 0,
                    "y": 0,
                    "width": size["width"],
                    "height": size["height"],
                    "scale": 1,
                },
            },
        )
        path = folder / f"{name}.png"
        path.write_bytes(base64.b64decode(shot["data"]))
        print(f"screenshot: {path}")
        return path

    return take
