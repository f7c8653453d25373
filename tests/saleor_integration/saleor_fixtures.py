"""A pytest plugin that lends Saleor's own test fixtures to these tests.

Use it from an environment where Saleor is importable and its test database can be created
(PostgreSQL), with SALEOR_SRC pointing at the Saleor checkout whose root conftest.py declares
the fixtures (see the README, "Tests inside a real Saleor"):

    SALEOR_SRC=/path/to/saleor python -m pytest -p tests.saleor_integration.saleor_fixtures \\
        --ds=saleor.tests.settings --reuse-db tests/saleor_integration
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from typing import Iterator

import pytest


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    # Saleor's root conftest imports its models, so it can only be loaded once pytest-django
    # has set Django up (from --ds), which is why this is done here and not at import time.
    source = os.environ.get("SALEOR_SRC")
    if not source:
        raise pytest.UsageError("Set SALEOR_SRC to the Saleor checkout (holding conftest.py).")
    conftest = Path(source) / "conftest.py"
    spec = importlib.util.spec_from_file_location("saleor_root_conftest", conftest)
    if spec is None or spec.loader is None:
        raise pytest.UsageError(f"No Saleor conftest.py at {conftest}.")
    if source not in sys.path:
        sys.path.insert(0, source)
    module = importlib.util.module_from_spec(spec)
    sys.modules["saleor_root_conftest"] = module
    spec.loader.exec_module(module)
    config.pluginmanager.register(module, "saleor_root_conftest")
    config.pluginmanager.consider_module(module)


@pytest.fixture(scope="session", autouse=True)
def _close_the_plugins_side_connection(django_db_setup: None) -> Iterator[None]:
    """The plugin keeps a second connection between requests, as Django keeps its own: close
    it before pytest-django tears the test database down."""
    yield
    from saleor_multisafepay_refund.plugin.outside import close_side_connection

    close_side_connection()
