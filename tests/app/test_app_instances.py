"""Two `app serve` processes on one PostgreSQL, behind one load balancer: the same refund
reaching both at once (Saleor retrying, staff sending again) is made once, and both answer it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest
import requests

from saleor_multisafepay_refund.app.manifest import REFUND_REQUESTED
from saleor_multisafepay_refund.emulator import Emulator, Fault, FaultKind

from ..conftest import SECRET_MARK
from ..factories import item, order_data
from .events import CHANNEL, refund_requested, transaction
from .postgres import postgres_url
from .saleor_server import SaleorServer

pytest.importorskip("psycopg")

KEY = f"instances-key-{SECRET_MARK}"
ORDER = "two-instances"


@dataclass(frozen=True)
class Deployment:
    saleor: SaleorServer
    urls: List[str]
    env: Dict[str, str]
    directory: Path


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for(url: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            requests.get(url + "/api/manifest", timeout=1)
            return
        except requests.ConnectionError:
            time.sleep(0.1)


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[Deployment]:
    """Two App processes sharing the database and the secret key, installed in one Saleor."""
    with postgres_url() as database:
        if database is None:
            pytest.skip("no PostgreSQL on this machine (or set APP_TEST_DATABASE_URL)")
        saleor = SaleorServer()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("APP_", "DJANGO_"))}
        env.update(
            APP_DATABASE_URL=database,
            APP_SECRET_KEY=f"shared-secret-{SECRET_MARK}",
            APP_ALLOWED_SALEOR_URLS=saleor.api_url,
            MSP_API_KEY=KEY,
        )
        ports = [_free_port(), _free_port()]
        # One after the other: the first makes the database, the second finds it made.
        processes = []
        for port in ports:
            processes.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "saleor_multisafepay_refund",
                        "app",
                        "serve",
                        "--port",
                        str(port),
                    ],
                    cwd=tmp_path,
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
            _wait_for(f"http://127.0.0.1:{port}")
        urls = [f"http://127.0.0.1:{port}" for port in ports]
        try:
            assert saleor.install(urls[0]).status_code == 200
            yield Deployment(saleor, urls, env, tmp_path)
        finally:
            for process in processes:
                process.send_signal(signal.SIGINT)
            for process in processes:
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()
            saleor.close()


def test_the_same_refund_at_two_instances_at_once_is_made_once(deployment: Deployment) -> None:
    with Emulator(api_key=KEY, duplicate_window_seconds=0) as msp:
        configured = subprocess.run(
            [sys.executable, "-m", "saleor_multisafepay_refund", "app", "configure",
             "--saleor-api-url", deployment.saleor.api_url, "--channel", CHANNEL,
             "--api-url", msp.base_url],
            cwd=deployment.directory, env=deployment.env, capture_output=True, text=True,
        )  # fmt: skip
        assert configured.returncode == 0, configured.stderr
        data = order_data([item("A", unit_price="10.00", quantity="3")], gateway="KLARNA",
                          amount=3000, order_id=ORDER)  # fmt: skip
        data["status"] = "shipped"
        msp.add_order(data)
        # MultiSafepay takes its time over the refund: the second delivery arrives meanwhile.
        msp.inject(Fault(FaultKind.SLOW, method="POST", delay=0.5))
        payload = refund_requested(transaction(ORDER, Decimal("30.00")), Decimal("10.00"),
                                   [("A", 1)])  # fmt: skip
        answers: Dict[str, Any] = {}

        def deliver(url: str) -> None:
            response = deployment.saleor.send(url + REFUND_REQUESTED.path, payload)
            answers[url] = json.loads(response.content, parse_float=Decimal)

        threads = [threading.Thread(target=deliver, args=(url,)) for url in deployment.urls]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)

        assert len(msp.refund_posts(ORDER)) == 1
        assert msp.order(ORDER)["amount_refunded"] == 1000
        results = [(a["result"], a["pspReference"], a["amount"]) for a in answers.values()]
        assert len(results) == 2 and results[0] == results[1]
        assert results[0][0] == "REFUND_SUCCESS" and results[0][2] == Decimal("10.00")
