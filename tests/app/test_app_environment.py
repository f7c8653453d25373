"""The App's environment: what a shop sets, checked when the App starts, with what is wrong."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import List

import pytest

from saleor_multisafepay_refund.app.environment import AppSetupError, read_environment
from saleor_multisafepay_refund.app.saleor_api import jwks_url


def test_the_defaults_are_a_sqlite_file_and_a_key_beside_it(tmp_path: Path) -> None:
    environment = read_environment({}, host="127.0.0.1", port=8123, directory=tmp_path)

    assert environment.public_url == "http://127.0.0.1:8123"
    assert environment.database.name == str(tmp_path / "multisafepay-app.sqlite3")
    assert environment.allowed_saleor_urls == ()
    assert (tmp_path / "multisafepay-app.key").read_text().strip() == environment.secret_key


def test_allowed_urls_are_compared_as_saleor_sends_them(tmp_path: Path) -> None:
    environment = read_environment(
        {
            "APP_ALLOWED_SALEOR_URLS": "HTTPS://Shop.Example.com:443/graphql, http://127.0.0.1:8000/graphql/"
        },
        directory=tmp_path,
    )

    assert environment.allowed_saleor_urls == (
        "https://shop.example.com/graphql/",
        "http://127.0.0.1:8000/graphql/",
    )


@pytest.mark.parametrize(
    "url", ["shop.example.com/graphql/", "https://:443/graphql/", "http://x:99999/"]
)
def test_an_allowed_url_that_can_never_match_is_refused_at_start(tmp_path: Path, url: str) -> None:
    with pytest.raises(AppSetupError, match="APP_ALLOWED_SALEOR_URLS"):
        read_environment({"APP_ALLOWED_SALEOR_URLS": url}, directory=tmp_path)


def test_postgresql_needs_a_shared_secret_key(tmp_path: Path) -> None:
    url = "postgres://app:pw-0123456789abcdef@db.example.com:5432/app"
    with pytest.raises(AppSetupError, match="APP_SECRET_KEY"):
        read_environment({"APP_DATABASE_URL": url}, directory=tmp_path)

    environment = read_environment(
        {"APP_DATABASE_URL": url, "APP_SECRET_KEY": "k"}, directory=tmp_path
    )
    assert "pw-0123456789abcdef" not in repr(environment)
    assert not (tmp_path / "multisafepay-app.key").exists()


def test_processes_starting_together_share_one_key(tmp_path: Path) -> None:
    keys: List[str] = []
    start = threading.Barrier(8)

    def read() -> None:
        start.wait()
        keys.append(read_environment({}, directory=tmp_path).secret_key)

    threads = [threading.Thread(target=read) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(keys) == 8 and len(set(keys)) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["multisafepay-app.key"]


def test_saleors_keys_url_never_carries_credentials() -> None:
    assert jwks_url("https://user:secret@shop.example.com:8443/graphql/") == (
        "https://shop.example.com:8443/.well-known/jwks.json"
    )
