"""Faults a test injects, one-shot, to make the emulator an unreliable network: a connection lost
before or after the request is processed, a 500 page, a 503, a slow answer, truncated JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum
from typing import Callable, List, Optional

from .envelope import UNKNOWN_ERROR, Answer, failure

_SERVER_ERROR_PAGE = (
    b"<html><head><title>500 Internal Server Error</title></head>"
    b"<body><h1>Internal Server Error</h1></body></html>"
)
# What a MALFORMED_JSON fault answers when the request was not processed.
_UNPROCESSED_TRUNCATED = b'{"success":true,"data":{"transaction_id":'


class FaultKind(str, Enum):
    """How the emulator misbehaves for one request."""

    SERVER_ERROR = "server_error"  # HTTP 500 with an HTML body
    UNAVAILABLE = "unavailable"  # HTTP 503 with MultiSafepay's error envelope (9999)
    SLOW = "slow"  # the answer comes `delay` seconds late
    MALFORMED_JSON = "malformed_json"  # HTTP 200 with truncated JSON
    DROP_BEFORE = "drop_before"  # connection closed, request not processed
    DROP_AFTER = "drop_after"  # request processed, connection closed without an answer


_APPLIED_BY_DEFAULT = frozenset({FaultKind.SLOW, FaultKind.DROP_AFTER})


@dataclass(frozen=True)
class Fault:
    """A one-shot fault for the next request with this method (and order id, if given).

    `apply`: whether the request is processed (and a refund applied) despite the fault;
    None means True for SLOW and DROP_AFTER, False for the others. SLOW with apply=True
    applies the request first, then waits `delay` seconds before answering, so a client
    that timed out and reads the order back finds the refund; with apply=False it waits,
    then closes the connection without processing anything.
    """

    kind: FaultKind
    method: str = "POST"
    order_id: Optional[str] = None
    delay: float = 0.0
    apply: Optional[bool] = None
    after: int = 0  # matching requests to let through first

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", FaultKind(self.kind))
        object.__setattr__(self, "method", self.method.upper())
        if self.order_id is not None:
            object.__setattr__(self, "order_id", str(self.order_id))
        if self.apply is None:
            object.__setattr__(self, "apply", self.kind in _APPLIED_BY_DEFAULT)
        if self.delay < 0:
            raise ValueError("a fault's delay cannot be negative")

    def matches(self, method: str, order_id: Optional[str]) -> bool:
        return self.method == method and (self.order_id is None or self.order_id == order_id)


def take_fault(queued: List[Fault], method: str, order_id: Optional[str]) -> Optional[Fault]:
    """The first queued fault a request matches, taken off the queue; one with `after` left lets
    the request through and counts it instead."""
    for index, fault in enumerate(queued):
        if fault.matches(method, order_id):
            if fault.after:
                queued[index] = replace(fault, after=fault.after - 1)
                return None
            return queued.pop(index)
    return None


def serve_fault(
    fault: Fault,
    process: Callable[[], Answer],
    send: Callable[[Answer, bool], None],
    drop: Callable[[], None],
    wait: Callable[[float], None],
) -> None:
    """Misbehave for one request as `fault` says. `process` processes the request and gives its
    answer (called only when the fault applies it); `send` writes an answer, closing the
    connection when told; `drop` closes it without one; `wait` sleeps, cut short by `stop`."""
    if fault.kind is FaultKind.DROP_BEFORE:
        drop()
        return
    answer = process() if fault.apply else None
    if fault.kind is FaultKind.SLOW:
        wait(fault.delay)
        if answer is None:
            drop()
        else:
            send(answer, False)
    elif fault.kind is FaultKind.DROP_AFTER:
        drop()
    elif fault.kind is FaultKind.SERVER_ERROR:
        send(Answer(500, _SERVER_ERROR_PAGE, "text/html; charset=utf-8"), True)
    elif fault.kind is FaultKind.UNAVAILABLE:
        unavailable = failure(UNKNOWN_ERROR, "service temporarily unavailable", 503)
        send(unavailable, True)
    else:  # MALFORMED_JSON
        full = answer.body if answer is not None else _UNPROCESSED_TRUNCATED
        send(Answer(200, full[: max(1, len(full) // 2)]), True)
