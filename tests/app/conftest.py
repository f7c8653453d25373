"""The App as Saleor meets it: `app serve`'s web server on 127.0.0.1 (in this process, with
its own SQLite database in a temporary directory), a fake Saleor that installed it, and
MultiSafepay's emulator. Skipped where Django or PyJWT is missing (the App's extra)."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

pytest.importorskip("django")
pytest.importorskip("jwt")

from saleor_multisafepay_refund.emulator import Emulator

from ..conftest import SECRET_MARK
from .saleor_server import SaleorServer

KEY = f"app-test-key-{SECRET_MARK}"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# Django is set up once, when this folder is collected, as `app serve` sets it up (its
# environment, its database made): the test modules import the App's models.
_SALEOR = SaleorServer()
_PORT = _free_port()
_DIRECTORY = Path(tempfile.mkdtemp(prefix="msp-app-"))
os.environ.update(
    APP_DATABASE_URL=f"sqlite:///{_DIRECTORY / 'app.sqlite3'}",
    APP_SECRET_KEY=f"app-secret-{SECRET_MARK}",
    APP_ALLOWED_SALEOR_URLS=_SALEOR.api_url,
    APP_PUBLIC_URL=f"http://127.0.0.1:{_PORT}",
)
from saleor_multisafepay_refund.app.serve import serve, setup  # noqa: E402

setup("127.0.0.1", _PORT, migrate=True)


@pytest.fixture(scope="session")
def saleor() -> Iterator[SaleorServer]:
    yield _SALEOR
    _SALEOR.close()
    shutil.rmtree(_DIRECTORY, ignore_errors=True)


@pytest.fixture(scope="session")
def app_url(saleor: SaleorServer) -> Iterator[str]:
    """The App, serving; installed in `saleor` (the reports worker is run by the tests)."""
    stop = threading.Event()
    thread = threading.Thread(
        target=serve, args=("127.0.0.1", _PORT, stop), kwargs={"with_worker": False}, daemon=True
    )
    thread.start()
    url = f"http://127.0.0.1:{_PORT}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", _PORT), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    response = saleor.install(url)
    assert response.status_code == 200, response.text
    yield url
    stop.set()
    thread.join(5)


@pytest.fixture
def msp() -> Iterator[Emulator]:
    with Emulator(api_key=KEY, duplicate_window_seconds=0) as emulator:
        yield emulator


@pytest.fixture
def configured(app_url: str, saleor: SaleorServer, msp: Emulator) -> Any:
    """The channel's settings point at the emulator, with its key."""
    from saleor_multisafepay_refund.app import installations
    from saleor_multisafepay_refund.app.context import app_context

    from .events import CHANNEL

    return installations.configure(
        saleor.api_url,
        CHANNEL,
        {"api_url": msp.base_url, "test_mode": "true"},
        app_context().sealer,
        api_key=KEY,
    )
