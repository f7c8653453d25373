"""Two workers, one payment: a refund in one process, MultiSafepay's notification in another.

Saleor runs several workers; the ledger is the only thing they share. Here it is a SQLite file
both processes open (a `LedgerStore` as the plugin's Django table is one), the refund runs in
a forked process, the notification in this one, and MultiSafepay (the emulator) answers both.
"""

from __future__ import annotations

import json
import multiprocessing
import sqlite3
import time
from dataclasses import asdict
from decimal import Decimal
from pathlib import Path
from typing import Iterator, List
from urllib.parse import parse_qsl, urlsplit

import pytest

from saleor_multisafepay_refund.config import GatewayConfig
from saleor_multisafepay_refund.emulator import Emulator, Fault, FaultKind
from saleor_multisafepay_refund.payments.notifications import handle_notification
from saleor_multisafepay_refund.refunds.ledger import EntryState, LedgerEntry

from .fake_saleor import FakeSaleor, ShopPayment
from .test_payment_cycle import KEY, paid

# MultiSafepay takes this long to answer the refund POST: the window the notification lands in.
POST_DELAY = 1.0


class SqliteLedger:
    """A LedgerStore in a SQLite file: each save committed before it returns."""

    def __init__(self, path: Path) -> None:
        self.path = path
        with self._connect() as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS entry (id TEXT PRIMARY KEY, payment TEXT, row TEXT)"
            )

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=10, isolation_level=None)

    def entries(self, payment_id: str) -> List[LedgerEntry]:
        with self._connect() as db:
            rows = db.execute("SELECT row FROM entry WHERE payment = ?", (payment_id,)).fetchall()
        found = [_entry(json.loads(row)) for (row,) in rows]
        return sorted(found, key=lambda entry: entry.created_at)

    def save(self, entry: LedgerEntry) -> None:
        row = {**asdict(entry), "amount": str(entry.amount), "state": entry.state.value}
        with self._connect() as db:
            db.execute(
                "INSERT OR REPLACE INTO entry VALUES (?, ?, ?)",
                (entry.entry_id, entry.payment_id, json.dumps(row)),
            )


def _entry(row: dict) -> LedgerEntry:
    return LedgerEntry(
        **{
            **row,
            "amount": Decimal(row["amount"]),
            "state": EntryState(row["state"]),
            "refunds_before": tuple(row["refunds_before"]),
        }
    )


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(KEY, duplicate_window_seconds=0) as emulator:
        yield emulator


def captured(saleor: FakeSaleor, emu: Emulator) -> ShopPayment:
    payment = paid(saleor, emu, "VISA")
    assert saleor.confirm(payment).is_success
    return payment


def refund_in_this_process(saleor: FakeSaleor, payment: ShopPayment) -> None:
    answer = saleor.refund(payment, Decimal("10.00"), None)
    raise SystemExit(0 if answer.is_success else f"refund failed: {answer.error}")


# Forked while the emulator's server thread runs: the child only sends HTTP to it and uses no
# lock another thread could hold (the fake Saleor's is free between its calls), so fork's
# warning about threads does not apply; fork keeps the fake Saleor's state for the child.
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_notification_in_another_process_leaves_a_refund_in_flight_to_its_own_worker(
    emu: Emulator, tmp_path: Path
) -> None:
    # Given a card payment with one refund made, its notification still to come, and a ledger
    # both workers share
    saleor = FakeSaleor(GatewayConfig(api_key=KEY, api_url=emu.base_url, read_timeout=5))
    saleor.ledger = SqliteLedger(tmp_path / "ledger.sqlite3")
    payment = captured(saleor, emu)
    assert saleor.refund(payment, Decimal("5.00"), None).is_success
    notification = emu.notifications()[-1]
    query = dict(parse_qsl(urlsplit(notification.url).query))

    # When staff's second refund runs in one process, its POST answered slowly ...
    emu.inject(Fault(FaultKind.SLOW, delay=POST_DELAY, apply=True))
    worker = multiprocessing.get_context("fork").Process(
        target=refund_in_this_process, args=(saleor, payment)
    )
    worker.start()
    shared = SqliteLedger(tmp_path / "ledger.sqlite3")
    deadline = time.monotonic() + 10
    while not any(e.state is EntryState.PENDING for e in shared.entries(str(payment.payment_id))):
        assert time.monotonic() < deadline, "the refund's worker wrote no ledger entry"
        time.sleep(0.01)
    # ... and the notification arrives in another while that POST is under way
    notes_before = list(payment.notes)
    during = handle_notification(
        saleor.config, notification.body, notification.headers.get("Auth"), query, saleor, shared
    )
    worker.join(15)

    # Then the notification leaves the refund to its worker and asks to be sent again
    assert during.status == 503 and "being sent to MultiSafepay right now" in during.body
    assert during.actions == () and payment.notes == notes_before
    # and the refund lands once, recorded once in the shared ledger
    assert worker.exitcode == 0
    entries = shared.entries(str(payment.payment_id))
    assert [(e.state, e.amount) for e in entries] == [
        (EntryState.REFUNDED, Decimal("5.00")),
        (EntryState.REFUNDED, Decimal("10.00")),
    ]
    assert len(emu.refund_posts(payment.msp_order_id)) == 2
    assert emu.order(payment.msp_order_id)["amount_refunded"] == 1500
