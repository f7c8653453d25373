"""Shared fixtures, and the suite-wide secrets check.

Every API key the tests use ends in SECRET_MARK (or, for wrong keys, WRONG_MARK). Throughout
the run, logging is at DEBUG for every logger, and every log record (with its traceback),
every error this package creates, every answer the Saleor-facing flows give (refunds,
payments, notifications: their whole repr) and every test's captured output (the command
line's among it) is kept; when the session ends, any of them holding a key fails the run.
"""

from __future__ import annotations

import logging
from typing import Any, Iterator, List

import pytest

from saleor_multisafepay_refund import errors
from saleor_multisafepay_refund.emulator import Emulator
from saleor_multisafepay_refund.payments import flow as payments
from saleor_multisafepay_refund.payments import notifications as webhook
from saleor_multisafepay_refund.refunds import flow as gateway

SECRET_MARK = "0123456789abcdef"
WRONG_MARK = "ABCDEFGHIJ"
_SEEN: List[str] = []


class _Keep(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info:
            text += logging.Formatter().formatException(record.exc_info)
        _SEEN.append(text)


def pytest_configure(config: pytest.Config) -> None:
    root = logging.getLogger()
    root.setLevel(logging.DEBUG)
    root.addHandler(_Keep(level=logging.DEBUG))

    original_init = errors.MultiSafepayRefundError.__init__

    def keep_error(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        _SEEN.append(str(self))

    errors.MultiSafepayRefundError.__init__ = keep_error  # type: ignore[method-assign]

    for module, name in [
        (gateway, "refund_payment"),
        (payments, "process_payment"),
        (payments, "confirm_payment"),
        (payments, "capture_payment"),
        (payments, "void_payment"),
        (webhook, "handle_notification"),
    ]:
        setattr(module, name, _keeping_answers(getattr(module, name)))


def _keeping_answers(flow: Any) -> Any:
    """`flow`, keeping every text of its answers (to Saleor, or to MultiSafepay)."""

    def keep_answer(*args: Any, **kwargs: Any) -> Any:
        answer = flow(*args, **kwargs)
        _SEEN.append(repr(answer))
        return answer

    return keep_answer


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    _SEEN.extend([report.capstdout, report.capstderr, report.longreprtext])


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    leaks = [text for text in _SEEN if SECRET_MARK in text or WRONG_MARK in text]
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.ensure_newline()
    if leaks:
        if reporter is not None:
            reporter.write_line(f"SECRETS: an API key appears in {len(leaks)} output(s):", red=True)
            for text in leaks[:5]:
                reporter.write_line("  " + text[:300].replace("\n", " | "))
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    elif reporter is not None:
        reporter.write_line(
            f"secrets: no API key in {len(_SEEN)} log records, errors, answers and outputs"
        )


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    """A fresh emulator on a free port, API key "test-key-0123456789abcdef"."""
    with Emulator(api_key="test-key-0123456789abcdef") as running:
        yield running
