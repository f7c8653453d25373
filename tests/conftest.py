from __future__ import annotations

from typing import Iterator

import pytest

from saleor_multisafepay_refund.emulator import Emulator


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    """A fresh emulator on a free port, API key "test-key-0123456789abcdef"."""
    with Emulator(api_key="test-key-0123456789abcdef") as running:
        yield running
