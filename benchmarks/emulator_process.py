"""The emulator for the plugin-cost benchmark: in a process of its own, or in the measured one.

MultiSafepay is a server of its own: its work never runs in Saleor's process. In the measured
process the emulator's answers (reading the refund, checking it, writing the order as JSON)
compete with the plugin for the interpreter's lock, each answer has to wait for the thread
that serves it to be scheduled, and the emulator's garbage counts towards the measured
process's collections: costs a shop never pays. So the benchmark runs it in its own process
by default (`own_process`), and in a thread of the measured process on request, to compare.

Standard library and the package's emulator only: the child process imports this module
without Saleor or Django.
"""

from __future__ import annotations

import multiprocessing
import time
from contextlib import contextmanager
from multiprocessing.managers import BaseManager
from typing import Any, Iterator, List, Tuple

from saleor_multisafepay_refund.emulator import Emulator


class TimedEmulator(Emulator):
    """The emulator, adding up the CPU time of its answers (its HTTP parsing not counted), and
    what the benchmark asks of it as methods, so that a proxy to another process has them."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.busy = 0.0

    def _answer(self, request: Any, route: Any) -> Any:
        started = time.thread_time()
        try:
            return super()._answer(request, route)
        finally:
            self.busy += time.thread_time() - started

    def serve(self) -> None:
        self.start()

    def url(self) -> str:
        return self.base_url

    def request_count(self) -> int:
        return len(self.requests)

    def calls_since(self, index: int) -> List[Tuple[str, int]]:
        """(method, client port) of each request from the `index`th on."""
        return [(call.method, call.client_port) for call in self.requests[index:]]

    def busy_seconds(self) -> float:
        return self.busy


class _Manager(BaseManager):
    pass


_Manager.register(
    "TimedEmulator",
    TimedEmulator,
    exposed=(
        "serve",
        "stop",
        "add_order",
        "order",
        "url",
        "request_count",
        "calls_since",
        "busy_seconds",
    ),
)


@contextmanager
def running_emulator(own_process: bool, **options: Any) -> Iterator[Any]:
    """A started TimedEmulator, or a proxy to one in a process of its own ("spawn": nothing of
    the measured process, its database connections among it, is copied into the child)."""
    if not own_process:
        emulator = TimedEmulator(**options)
        emulator.serve()
        try:
            yield emulator
        finally:
            emulator.stop()
        return
    manager = _Manager(ctx=multiprocessing.get_context("spawn"))
    manager.start()
    try:
        remote = manager.TimedEmulator(**options)  # type: ignore[attr-defined]
        remote.serve()
        try:
            yield remote
        finally:
            remote.stop()
    finally:
        manager.shutdown()
