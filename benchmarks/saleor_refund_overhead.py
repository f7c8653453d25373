"""Benchmark: what the plugin adds to a Saleor refund, measured inside a real Saleor.

Times `orderFulfillmentRefundProducts` refunding every line of a fulfilled order of 50 lines,
with this plugin against the emulator (on this machine: no network delay), next to the same
mutation with a trivial gateway plugin that approves every refund. Also counts the plugin's
HTTP calls per refund and the connections they used.

Targets: the plugin adds at most 10% to the mutation's time; exactly two HTTP calls (GET, POST)
per refund over one reused connection.

The emulator runs in a process of its own, as MultiSafepay does (`emulator_process.py` says
why): the plugin still waits for each of its answers, so its work (checking the refund, writing
the order as JSON: MultiSafepay's side of the two calls) is still in the plugin's time here; the
report says how much of it there was. SALEOR_BENCHMARK_EMULATOR=thread runs it in a thread of
the measured process instead, as until 2026-11-30, to compare.

It runs with pytest, inside an environment where Saleor and its test database work, like the
tests in tests/saleor_integration (see the README):

    SALEOR_SRC=/path/to/saleor python -m pytest -p tests.saleor_integration.saleor_fixtures \\
        --ds=saleor.tests.settings --reuse-db -s -q benchmarks/saleor_refund_overhead.py

Each refund runs in its own committed transaction (as in production, so the plugin's note is
written the way it is there), on a fresh order, with the ledger's table as a running shop has
it (`_warm_ledger`); the first refund of each kind warms up and is not counted.

How the two are compared, so that a machine whose speed drifts (other work on it) weighs on
both alike: the refunds come in pairs, one of each plugin, one after the other, and which one
goes first alternates from pair to pair (A B, B A, A B...: neither always follows the other).
The target is judged on the ratio of the two medians (each plugin's median over all its
refunds); the report adds the median of the per-pair ratios, their interquartile range, a 90%
bootstrap interval of the target's figure (pairs resampled), the machine's load average, and
the measured process's CPU time per refund (which other work on the machine changes least, but
which leaves out the database server's work: a cross-check, not the target).
SALEOR_BENCHMARK_RUNS sets the number of pairs (default 31, the first one a warm-up).
"""

from __future__ import annotations

import os
import random
import statistics
import time
import uuid
from decimal import Decimal
from typing import Any, Dict, Iterator, List, Tuple

import pytest

pytest.importorskip("saleor")

import graphene
from django.db import transaction
from emulator_process import running_emulator  # benchmarks/, on pytest's path
from saleor.order.models import FulfillmentLine, OrderLine
from saleor.payment import TransactionKind
from saleor.payment.interface import GatewayResponse
from saleor.plugins.base_plugin import BasePlugin
from saleor.plugins.models import PluginConfiguration

from saleor_multisafepay_refund.multisafepay.money import to_minor_units
from saleor_multisafepay_refund.plugin.hooks import PLUGIN_ID, MultiSafepayPlugin
from saleor_multisafepay_refund.plugin.ledger_store import SaleorLedger
from saleor_multisafepay_refund.refunds.ledger import EntryState, LedgerEntry
from tests.saleor_integration.msp_orders import msp_order_of

LINES = 50
RUNS = int(os.environ.get("SALEOR_BENCHMARK_RUNS", "31"))  # pairs, the first one a warm-up
# "process" (MultiSafepay's side in a process of its own, as in a shop) or "thread" (in this one).
EMULATOR = os.environ.get("SALEOR_BENCHMARK_EMULATOR", "process")
KEY = "benchmark-key-0123456789abcdef"
MAX_OVERHEAD = 0.10

REFUND_PRODUCTS = """
mutation($order: ID!, $input: OrderRefundProductsInput!) {
  orderFulfillmentRefundProducts(order: $order, input: $input) { errors { message } }
}
"""


class ApproveEveryRefund(BasePlugin):
    """The baseline: a gateway that approves every refund without doing anything."""

    PLUGIN_ID = "benchmark.approve"
    PLUGIN_NAME = "Approve every refund"
    CONFIGURATION_PER_CHANNEL = True

    def refund_payment(self, payment_information: Any, previous_value: Any) -> Any:
        return GatewayResponse(
            is_success=True,
            action_required=False,
            kind=TransactionKind.REFUND,
            amount=payment_information.amount,
            currency=payment_information.currency,
            transaction_id="approved",
            error=None,
            raw_response={},
        )


TIMES: Dict[str, List[float]] = {PLUGIN_ID: [], ApproveEveryRefund.PLUGIN_ID: []}
PAIRS: Dict[int, Dict[str, float]] = {}  # run -> plugin -> seconds
# The measured process's CPU time per refund (its threads, the emulator's when it runs here; not the
# database server's): what other work on the machine changes least.
CPU: Dict[str, List[float]] = {plugin: [] for plugin in TIMES}
CALLS: List[List[Any]] = []
EMULATOR_BUSY: List[float] = []
LOAD: List[float] = []  # the 1-minute load average when the refunds start and end


def _in_turn(run: int) -> List[str]:
    """The two plugins in the order they refund in `run`: alternately first."""
    plugins = list(TIMES)
    return plugins if run % 2 == 0 else plugins[::-1]


@pytest.fixture(scope="module")
def msp() -> Iterator[Any]:
    if EMULATOR not in ("process", "thread"):
        raise ValueError(f"SALEOR_BENCHMARK_EMULATOR is 'process' or 'thread', not {EMULATOR!r}")
    LOAD.append(os.getloadavg()[0])
    with running_emulator(
        EMULATOR == "process", api_key=KEY, duplicate_window_seconds=0
    ) as emulator:
        yield emulator
    LOAD.append(os.getloadavg()[0])
    _report()


def _order_of(fulfilled_order: Any, lines: int) -> Any:
    """The fixture's fulfilled order grown to `lines` lines, all fulfilled."""
    order = fulfilled_order
    template = order.lines.first()
    fulfillment = order.fulfillments.get()
    for index in range(lines - order.lines.count()):
        line = OrderLine.objects.get(pk=template.pk)
        line.pk = None
        line.id = None
        line.product_sku = f"BENCH-{index:03d}"
        line.quantity = line.quantity_fulfilled = 1
        line.save()
        FulfillmentLine.objects.create(order_line=line, quantity=1, fulfillment=fulfillment)
    return order


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("run", "plugin_id"),
    [(run, plugin) for run in range(RUNS) for plugin in _in_turn(run)],
)
def test_refund_all_lines(
    run: int,
    plugin_id: str,
    msp: Any,
    settings: Any,
    channel_USD: Any,
    fulfilled_order: Any,
    payment_txn_captured: Any,
    staff_api_client: Any,
    permission_group_manage_orders: Any,
) -> None:
    settings.PLUGINS = [
        f"{MultiSafepayPlugin.__module__}.{MultiSafepayPlugin.__name__}",
        f"{__name__}.{ApproveEveryRefund.__name__}",
    ]
    PluginConfiguration.objects.create(
        identifier=plugin_id,
        name=plugin_id,
        channel=channel_USD,
        active=True,
        configuration=[
            {"name": "api_key", "value": KEY},
            {"name": "api_url", "value": msp.url()},
        ],
    )
    order = _order_of(fulfilled_order, LINES)
    msp_order_id = f"bench-{run}-{plugin_id}"
    msp.add_order(msp_order_of(order, msp_order_id))
    total = sum(
        (line.unit_price_gross_amount * line.quantity for line in order.lines.all()), Decimal(0)
    )
    payment = payment_txn_captured
    payment.gateway = plugin_id
    payment.total = payment.captured_amount = total
    payment.save()
    payment.transactions.filter(kind=TransactionKind.CAPTURE).update(token=msp_order_id)
    permission_group_manage_orders.user_set.add(staff_api_client.user)
    lines = [
        {
            "fulfillmentLineId": graphene.Node.to_global_id("FulfillmentLine", line.pk),
            "quantity": line.quantity,
        }
        for line in order.fulfillments.get().lines.all()
    ]
    variables = {
        "order": graphene.Node.to_global_id("Order", order.id),
        "input": {"fulfillmentLines": lines},
    }
    _warm_ledger(payment.pk)
    before = msp.request_count()
    busy = msp.busy_seconds()

    started, cpu_started = time.perf_counter(), time.process_time()
    response = staff_api_client.post_graphql(REFUND_PRODUCTS, variables)
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_started

    assert response.json()["data"]["orderFulfillmentRefundProducts"]["errors"] == []
    if run:
        TIMES[plugin_id].append(elapsed)
        PAIRS.setdefault(run, {})[plugin_id] = elapsed
        CPU[plugin_id].append(cpu)
    if plugin_id == PLUGIN_ID:
        CALLS.append(msp.calls_since(before))
        if run:
            EMULATOR_BUSY.append(msp.busy_seconds() - busy)
        refund = payment.transactions.get(kind=TransactionKind.REFUND)
        assert msp.order(msp_order_id)["amount_refunded"] == to_minor_units(refund.amount, "USD")


def _warm_ledger(payment_id: int) -> None:
    """The ledger as a running shop has it: holding entries, known to both of the plugin's
    database connections. Done before both plugins' refunds alike.

    After each test pytest-django empties every table (TRUNCATE): the ledger's table and its
    indexes start again from empty files, and the database server forgets what it knew of
    them. The fixtures' writes make that good for Saleor's tables, not for the ledger's, so
    each refund paid about 1 ms for it. One entry of another payment, written as the plugin
    writes them (through its second connection, inside a transaction), and one read.
    """
    other = f"warm-up-{payment_id}"
    entry = LedgerEntry(
        entry_id=uuid.uuid4().hex,
        payment_id=other,
        msp_order_id=other,
        lines={"warm-up": 1},
        amount=Decimal("1.00"),
        currency="USD",
        body_fingerprint="",
        state=EntryState.FAILED,
        created_at=time.time(),
    )
    ledger = SaleorLedger()
    with transaction.atomic():
        ledger.save(entry)
    assert ledger.entries(other) == [entry]


def _report() -> None:
    if not all(TIMES.values()):
        return
    ours = statistics.median(TIMES[PLUGIN_ID])
    base = statistics.median(TIMES[ApproveEveryRefund.PLUGIN_ID])
    overhead = ours / base - 1
    two_calls = all(
        [method for method, _ in calls] == ["GET", "POST"] and len({port for _, port in calls}) == 1
        for calls in CALLS
    )
    print()
    print(
        f"orderFulfillmentRefundProducts, {LINES} lines, median of {len(TIMES[PLUGIN_ID])} "
        "refunds each:"
    )
    print("| gateway plugin | per refund |")
    print("|---|---:|")
    print(f"| approve every refund (baseline) | {base * 1000:.0f} ms |")
    print(f"| MultiSafepay (this plugin, emulator) | {ours * 1000:.0f} ms |")
    print(f"Added by the plugin: {overhead:+.1%} (target <= {MAX_OVERHEAD:.0%}).")
    pairs = [
        times[PLUGIN_ID] / times[ApproveEveryRefund.PLUGIN_ID] - 1
        for times in PAIRS.values()
        if len(times) == 2
    ]
    if len(pairs) >= 4:
        low, _, high = statistics.quantiles(pairs, n=4)
        print(
            f"Pair by pair ({len(pairs)} pairs, each plugin first in every other pair): median "
            f"{statistics.median(pairs):+.1%}, interquartile range {low:+.1%} .. {high:+.1%}."
        )
        first, last = _bootstrap_interval()
        print(f"90% bootstrap interval of the added cost: {first:+.1%} .. {last:+.1%}.")
    ours_cpu = statistics.median(CPU[PLUGIN_ID])
    base_cpu = statistics.median(CPU[ApproveEveryRefund.PLUGIN_ID])
    print(
        f"CPU time of the measured process (not the target; not the database server's): "
        f"{base_cpu * 1000:.0f} ms, {ours_cpu * 1000:.0f} ms: {ours_cpu / base_cpu - 1:+.1%}."
    )
    cores = os.cpu_count() or 0
    print(
        f"Load average (1 min) at the start and the end: {LOAD[0]:.2f}, {LOAD[-1]:.2f} "
        f"({cores} cores)."
    )
    emulator = statistics.median(EMULATOR_BUSY)
    print(
        f"Of which the emulator's own answers (MultiSafepay's side, in "
        f"{'a process of its own' if EMULATOR == 'process' else 'this process'}): "
        f"{emulator * 1000:.1f} ms per refund ({emulator / base:.1%} of the baseline)."
    )
    print(f"HTTP calls per refund: GET + POST over one connection in every refund: {two_calls}.")


def _bootstrap_interval(resamples: int = 2000) -> Tuple[float, float]:
    """5th and 95th percentiles of the added cost (ratio of the medians) over the pairs drawn
    again with replacement: how far another run of as many pairs may land. Seeded: the same
    times give the same interval."""
    pairs = [times for times in PAIRS.values() if len(times) == 2]
    draw = random.Random(0)
    added = []
    for _ in range(resamples):
        sample = [draw.choice(pairs) for _ in pairs]
        ours = statistics.median(times[PLUGIN_ID] for times in sample)
        base = statistics.median(times[ApproveEveryRefund.PLUGIN_ID] for times in sample)
        added.append(ours / base - 1)
    cuts = statistics.quantiles(added, n=20)
    return cuts[0], cuts[-1]
