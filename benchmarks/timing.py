"""Per-call timing shared by both sides of the benchmark (standard library only)."""

from __future__ import annotations

import gc
import time
from typing import Callable

REPEAT = 5
MIN_BATCH_SECONDS = 0.2


def best_per_call(
    call: Callable[[], object], repeat: int = REPEAT, min_batch: float = MIN_BATCH_SECONDS
) -> float:
    """Seconds per call of `call`: the best of `repeat` batches, as `timeit` reports it.

    A batch is as many calls as take at least `min_batch` seconds (found by doubling, like
    `timeit.Timer.autorange`). The garbage collector is off while a batch runs, and a full
    collection before each batch keeps one side's garbage from being collected in the other's.
    """
    number = 1
    while True:
        elapsed = _batch(call, number)
        if elapsed >= min_batch:
            break
        number *= 2
    best = elapsed / number
    for _ in range(repeat - 1):
        best = min(best, _batch(call, number) / number)
    return best


def _batch(call: Callable[[], object], number: int) -> float:
    gc.collect()
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        start = time.perf_counter()
        for _ in range(number):
            call()
        return time.perf_counter() - start
    finally:
        if was_enabled:
            gc.enable()
