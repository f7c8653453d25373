"""Benchmark: the App's time per TRANSACTION_REFUND_REQUESTED webhook.

Run with the package's own Python (the `[app]` extra installed), from anywhere:
`python benchmarks/app_refund_webhooks.py`.

The App runs as `app serve` in a process of its own (SQLite in a temporary directory, as a
fresh install has it); a Saleor stand-in (tests/app/saleor_server.py) installs it and signs
every webhook as Saleor does; MultiSafepay's emulator answers at once. Each webhook is a
granted refund of one line of a fresh 5-line Klarna order: the App checks the signature, reads
the order at MultiSafepay, writes the ledger, posts the cart refund, records the outcome and
answers. The time is the webhook's round trip as Saleor sees it, so an upper bound of the
App's own time (the emulator's work and the signing are in it).

Targets: over 200 webhooks one after another, p99 at most 50 ms; 20 webhooks for 20 orders
sent at once are all answered, within Saleor's 18 s for a sync webhook. Exits 1 when missed.
"""

from __future__ import annotations

import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Dict, List, Tuple

import requests

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

from saleor_multisafepay_refund.emulator import Emulator  # noqa: E402
from tests.app.events import CHANNEL, refund_requested, transaction  # noqa: E402
from tests.app.saleor_server import SaleorServer  # noqa: E402
from tests.factories import item, order_data  # noqa: E402

KEY = "benchmark-key-0123456789abcdef"
SEQUENTIAL = 200
CONCURRENT = 20
P99_TARGET_MS = 50.0
SALEOR_TIMEOUT_S = 18.0
WARM_UP = 10


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _order(msp: Emulator, order_id: str) -> None:
    items = [item(f"SKU-{n}", unit_price="10.00", quantity="2") for n in range(4)]
    items.append(item("msp-shipping", unit_price="4.95", name="Shipping"))
    data = order_data(items, gateway="KLARNA", amount=8495, order_id=order_id)
    data["status"] = "shipped"
    msp.add_order(data)


def _refund(saleor: SaleorServer, url: str, order_id: str) -> Tuple[float, str]:
    payload = refund_requested(
        transaction(order_id, Decimal("84.95")), Decimal("10.00"), [("SKU-1", 1)]
    )
    started = time.perf_counter()
    response = saleor.send(url, payload)
    elapsed = time.perf_counter() - started
    result = response.json().get("result", "") if response.status_code == 200 else ""
    return elapsed, str(result)


def main() -> int:
    directory = Path(tempfile.mkdtemp(prefix="msp-app-bench-"))
    saleor = SaleorServer()
    port = _free_port()
    app_url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("APP_", "DJANGO_"))}
    env.update(APP_ALLOWED_SALEOR_URLS=saleor.api_url, MSP_API_KEY=KEY)
    app = subprocess.Popen(
        [sys.executable, "-m", "saleor_multisafepay_refund", "app", "serve", "--port", str(port)],
        cwd=directory,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    with Emulator(api_key=KEY, duplicate_window_seconds=0) as msp:
        try:
            for _ in range(300):
                try:
                    requests.get(app_url + "/api/manifest", timeout=1)
                    break
                except requests.ConnectionError:
                    time.sleep(0.1)
            assert saleor.install(app_url).status_code == 200
            configured = subprocess.run(
                [sys.executable, "-m", "saleor_multisafepay_refund", "app", "configure",
                 "--saleor-api-url", saleor.api_url, "--channel", CHANNEL,
                 "--api-url", msp.base_url],
                cwd=directory, env=env, capture_output=True, text=True, check=False,
            )  # fmt: skip
            assert configured.returncode == 0, configured.stderr
            url = app_url + "/api/webhooks/saleor/transaction-refund-requested"
            times: List[float] = []
            for n in range(WARM_UP + SEQUENTIAL):
                order_id = f"bench-{n}"
                _order(msp, order_id)
                elapsed, result = _refund(saleor, url, order_id)
                assert result == "REFUND_SUCCESS", result
                if n >= WARM_UP:
                    times.append(elapsed)
            concurrent = _concurrent(saleor, msp, url)
        finally:
            app.send_signal(signal.SIGINT)
            app.wait(10)
            saleor.close()
    ms = sorted(t * 1000 for t in times)
    p99 = ms[int(len(ms) * 0.99) - 1]
    print(f"{SEQUENTIAL} refund webhooks, one after another (after {WARM_UP} to warm up):")
    print(f"  p50 {statistics.median(ms):.1f} ms, p99 {p99:.1f} ms, max {ms[-1]:.1f} ms")
    slowest = max(t for t, _ in concurrent.values())
    answered = sum(1 for _, r in concurrent.values() if r == "REFUND_SUCCESS")
    print(f"{CONCURRENT} refund webhooks for {CONCURRENT} orders at once:")
    print(f"  {answered} refunded, the slowest answered in {slowest * 1000:.0f} ms")
    refunds = sum(len(msp.refund_posts(f"conc-{n}")) for n in range(CONCURRENT))
    missed = []
    if p99 > P99_TARGET_MS:
        missed.append(f"p99 {p99:.1f} ms > {P99_TARGET_MS} ms")
    if answered != CONCURRENT or refunds != CONCURRENT or slowest > SALEOR_TIMEOUT_S:
        missed.append(
            f"concurrent: {answered} answered, {refunds} refunds, slowest {slowest:.1f} s"
        )
    print("targets met" if not missed else "MISSED: " + "; ".join(missed))
    return 1 if missed else 0


def _concurrent(saleor: SaleorServer, msp: Emulator, url: str) -> Dict[int, Tuple[float, str]]:
    for n in range(CONCURRENT):
        _order(msp, f"conc-{n}")
    results: Dict[int, Tuple[float, str]] = {}
    start = threading.Barrier(CONCURRENT)

    def send(n: int) -> None:
        start.wait()
        results[n] = _refund(saleor, url, f"conc-{n}")

    threads = [threading.Thread(target=send, args=(n,)) for n in range(CONCURRENT)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


if __name__ == "__main__":
    sys.exit(main())
