"""`app serve` and `app configure` as a shop runs them: separate processes, a fresh directory."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, Iterator, List

import pytest
import requests

from ..conftest import SECRET_MARK

SALEOR_API_URL = "https://shop.example.com/graphql/"
API_KEY = f"configure-key-{SECRET_MARK}"


def _env(directory: Path, **extra: str) -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("APP_", "MSP_", "DJANGO_"))}
    env.update(extra)
    return env


def _app(directory: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "saleor_multisafepay_refund", "app", *args],
        cwd=directory,
        env=_env(directory, **env),
        capture_output=True,
        text=True,
        timeout=60,
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "saleor_multisafepay_refund", "app", "serve", "--port", str(port)],
        cwd=tmp_path,
        env=_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and process.poll() is None:
            try:
                requests.get(url + "/api/manifest", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        yield url
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
        output = process.stdout.read() if process.stdout else ""
        print(output)


def test_app_serve_starts_from_an_empty_directory(served: str, tmp_path: Path) -> None:
    manifest = requests.get(served + "/api/manifest", timeout=5).json()

    assert manifest["tokenTargetUrl"] == served + "/api/register"
    assert (tmp_path / "multisafepay-app.sqlite3").stat().st_size > 0
    key = tmp_path / "multisafepay-app.key"
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    # No Saleor is allowed by default: nobody can install it before the shop says who.
    refused = requests.post(
        served + "/api/register",
        json={"auth_token": "t"},
        headers={"Saleor-Api-Url": SALEOR_API_URL},
        timeout=5,
    )
    assert refused.status_code == 403


def _configure(directory: Path, *args: str, key: str = "") -> subprocess.CompletedProcess[str]:
    extra = {"MSP_API_KEY": key} if key else {}
    return _app(directory, "configure", "--saleor-api-url", SALEOR_API_URL, *args, **extra)


def _listed(directory: Path) -> List[str]:
    listed = _app(directory, "configure", "--list")
    assert listed.returncode == 0, listed.stderr
    return listed.stdout.splitlines()


def test_configure_stores_a_channel_with_the_key_from_the_environment(tmp_path: Path) -> None:
    done = _configure(
        tmp_path,
        "--channel",
        "default-channel",
        "--sign-convention",
        "KLARNA=negative_unit_price",
        "--merchant-item-id-source",
        "variant_id",
        key=API_KEY,
    )

    assert done.returncode == 0, done.stderr
    assert "API key stored" in done.stdout
    lines = _listed(tmp_path)
    assert f"{SALEOR_API_URL} channel default-channel:" in lines
    assert f"  api_key = ****{API_KEY[-4:]}" in lines
    assert "  sign_conventions = KLARNA=negative_unit_price" in lines
    assert "  merchant_item_id_source = variant_id" in lines
    assert not any(API_KEY in line for line in lines)
    database = (tmp_path / "multisafepay-app.sqlite3").read_bytes()
    assert API_KEY.encode() not in database


def test_configure_refuses_a_bad_field_and_changes_nothing(tmp_path: Path) -> None:
    assert _configure(tmp_path, "--channel", "c", key=API_KEY).returncode == 0
    before = _listed(tmp_path)

    refused = _configure(tmp_path, "--channel", "c", "--rounding-tolerance", "5")

    assert refused.returncode == 2
    assert "rounding_tolerance: Enter an amount of zero or more, at most 1.00" in refused.stderr
    assert "Nothing was changed." in refused.stderr
    assert _listed(tmp_path) == before


def test_configure_without_a_key_says_where_the_key_comes_from(tmp_path: Path) -> None:
    refused = _configure(tmp_path, "--channel", "c")

    assert refused.returncode == 2
    assert "api_key:" in refused.stderr and "MSP_API_KEY" in refused.stderr
    assert _listed(tmp_path) == []


def test_live_and_an_api_url_cannot_be_combined(tmp_path: Path) -> None:
    refused = _configure(tmp_path, "--channel", "c", "--live", "--api-url", "http://x", key=API_KEY)

    assert refused.returncode == 2
    assert "not allowed with argument" in refused.stderr
