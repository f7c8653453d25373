"""Benchmark: refund bodies for orders of 10, 100 and 1,000 cart lines, ours vs the SDK's.

Run with the package's own Python, from anywhere: `python benchmarks/refund_bodies.py`.

Both sides start from the same GET /orders `data` dict (`orders.make_order`), refund every
line at its full quantity (`orders.refund_all`) and end with the JSON text of the POST
/orders/{id}/refunds body. No HTTP on either side. One timed call is:

- ours: `wire.dumps(build_refund(parse_order(data), RefundRequest(items=refund_all(data))).body)`
  -- parse the order, check and build the refund plan, serialize the body;
- the SDK's (`multisafepay`, in its own virtual environment because it needs pydantic 1, see
  `sdk_refund_bodies.py`): `Order.from_dict(data)`, `OrderManager.create_refund_request(order)`,
  `checkout_data.refund_by_merchant_item_id(id, quantity)` per line, then
  `json.dumps(request.to_dict(), cls=DecimalEncoder)` as `OrderManager.refund` does.

Per-call time is the best of several batches with the garbage collector off (`timing.py`).
The two sides are timed in turn, in rounds (3 by default, `--rounds`): the machine's speed
drifts over a minute by about as much as the speed-up's margin, and a round compares the two
sides over the same few seconds. The table gives each time as the median over the rounds (its
speed-up column divides those medians); the speed-up judged against the target is the median of
the rounds' own speed-ups. The SDK's environment is created at `benchmarks/.venv-sdk` on first
use (PyPI needed once).

Targets: at 1,000 lines ours is at least 20x faster than the SDK, and ours grows linearly
(1,000 lines take at most 11x the 100-line time). Exits 1 when a target is missed.
`--no-sdk` times ours only (and checks growth only).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import venv
from decimal import Decimal
from functools import partial
from pathlib import Path
from statistics import median
from typing import Any, Callable, Dict, List, Optional, Sequence

from orders import make_order, refund_all
from timing import best_per_call

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SDK_VENV = HERE / ".venv-sdk"
# Verified together on CPython 3.9-3.13: the SDK's latest release and the last pydantic 1.
SDK_PINS = ("multisafepay==3.1.0", "pydantic==1.10.27")

LINES = (10, 100, 1000)
MIN_SPEED_UP = 20.0  # at 1,000 lines
MAX_GROWTH = 11.0  # 1,000-line time / 100-line time, ours


def our_refund_body() -> Callable[[Dict[str, Any]], str]:
    """Our body builder; the working tree's package wins over an installed copy."""
    sys.path.insert(0, str(REPO))
    from saleor_multisafepay_refund.multisafepay import wire
    from saleor_multisafepay_refund.multisafepay.order import parse_order
    from saleor_multisafepay_refund.multisafepay.refund_body import RefundRequest, build_refund

    def refund_body(data: Dict[str, Any]) -> str:
        plan = build_refund(parse_order(data), RefundRequest(items=refund_all(data)))
        body: str = wire.dumps(plan.body)
        return body

    return refund_body


def check_body(data: Dict[str, Any], body: str) -> None:
    """Refuse to time a body that does not refund the whole cart (2 lines per line, net 0)."""
    items = json.loads(body, parse_float=Decimal)["checkout_data"]["items"]
    lines = len(data["shopping_cart"]["items"])
    net = sum(Decimal(str(item["unit_price"])) * int(item["quantity"]) for item in items)
    if len(items) != 2 * lines or net != 0:
        raise SystemExit(f"our body for {lines} lines: {len(items)} items, net {net}")


def time_ours(lines: List[int], refund_body: Callable[[Dict[str, Any]], str]) -> Dict[int, float]:
    results = {}
    for n_lines in lines:
        data = make_order(n_lines)
        check_body(data, refund_body(data))
        results[n_lines] = best_per_call(partial(refund_body, data))
    return results


def sdk_python() -> Path:
    """The SDK environment's Python, creating the environment if it is missing or broken."""
    python = SDK_VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    probe = "import multisafepay, pydantic; assert pydantic.VERSION.startswith('1.')"
    if python.exists() and _run([str(python), "-c", probe]).returncode == 0:
        return python
    print(f"creating {SDK_VENV.relative_to(REPO)} with {' '.join(SDK_PINS)} ...", file=sys.stderr)
    venv.EnvBuilder(clear=True, with_pip=True).create(SDK_VENV)
    install = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    done = _run(install + list(SDK_PINS))
    if done.returncode != 0:
        sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit(f"could not install {' '.join(SDK_PINS)} in {SDK_VENV}")
    return python


def time_sdk(lines: List[int]) -> Dict[int, float]:
    script = HERE / "sdk_refund_bodies.py"
    done = _run([str(sdk_python()), str(script)] + [str(n) for n in lines])
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise SystemExit("the SDK side of the benchmark failed")
    return {int(n_lines): seconds for n_lines, seconds in json.loads(done.stdout).items()}


def _run(command: List[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, cwd=HERE, check=False)


def _duration(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    return f"{seconds * 1e3:.2f} ms"


def medians(rounds: Sequence[Dict[int, float]]) -> Dict[int, float]:
    """Per number of lines, the median of the rounds' times."""
    return {n_lines: median(timed[n_lines] for timed in rounds) for n_lines in rounds[0]}


def report(ours: List[Dict[int, float]], sdk: Optional[List[Dict[int, float]]]) -> List[str]:
    """Print the markdown table of the medians; return the targets missed."""
    our_times = medians(ours)
    sdk_times = medians(sdk) if sdk else None
    print("| lines | ours per call | SDK per call | speed-up |")
    print("|------:|--------------:|-------------:|---------:|")
    for n_lines, seconds in our_times.items():
        theirs = sdk_times.get(n_lines) if sdk_times else None
        sdk_cell = _duration(theirs) if theirs else "not run"
        ratio = f"{theirs / seconds:.1f}x" if theirs else "-"
        print(f"| {n_lines:,} | {_duration(seconds)} | {sdk_cell} | {ratio} |")
    missed = []
    if 100 in our_times and 1000 in our_times:
        growth = our_times[1000] / our_times[100]
        sdk_growth = f" (SDK: {sdk_times[1000] / sdk_times[100]:.1f}x)" if sdk_times else ""
        print(f"\nOurs, 1,000 lines / 100 lines: {growth:.1f}x{sdk_growth}", end="")
        print(f"; target <= {MAX_GROWTH:g}x.")
        if growth > MAX_GROWTH:
            missed.append(f"growth {growth:.1f}x > {MAX_GROWTH:g}x")
    if sdk and 1000 in our_times:
        each = [theirs[1000] / mine[1000] for theirs, mine in zip(sdk, ours)]
        speed_up = median(each)
        rounds = ", ".join(f"{ratio:.1f}x" for ratio in each)
        print(f"Speed-up at 1,000 lines: {speed_up:.1f}x (rounds: {rounds}); ", end="")
        print(f"target >= {MIN_SPEED_UP:g}x.")
        if speed_up < MIN_SPEED_UP:
            missed.append(f"speed-up {speed_up:.1f}x < {MIN_SPEED_UP:g}x at 1,000 lines")
    print(f"\nPython {sys.version.split()[0]}; SDK: {', '.join(SDK_PINS) if sdk else 'not run'}.")
    return missed


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-sdk", action="store_true", help="time ours only")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of both sides (3)")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    lines = list(LINES)
    refund_body = our_refund_body()
    ours: List[Dict[int, float]] = []
    sdk: Optional[List[Dict[int, float]]] = None if args.no_sdk else []
    for _ in range(args.rounds):
        if sdk is not None:
            sdk.append(time_sdk(lines))
        ours.append(time_ours(lines, refund_body))
    missed = report(ours, sdk)
    for miss in missed:
        print(f"TARGET MISSED: {miss}", file=sys.stderr)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
