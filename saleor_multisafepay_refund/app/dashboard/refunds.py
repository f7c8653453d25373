"""The page's refunds: the App's ledger entries of one Saleor, newest first, each with what
Saleor was told and a mark on anything open or disagreeing; for one order, the comparison of
Saleor, the ledger and MultiSafepay that the plugin's support command prints
(`refunds/reconcile.py`), read live from both."""

from __future__ import annotations

import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Dict, Iterable, List, Optional, Sequence, Set, Tuple

from django.db.models import Q, Value
from django.db.models.functions import Concat

from ...errors import MultiSafepayRefundError
from ...models import RefundLedgerEntry, as_entry
from ...multisafepay.money import at_precision, parse_decimal
from ...multisafepay.order import parse_order
from ...refunds.ledger import EntryState, LedgerEntry
from ...refunds.reconcile import Reconciliation, reconcile
from .. import installations, reports, saleor_api, transactions
from ..asks import LEDGER_PREFIX
from ..event_types import REFUND_FAILURE, REFUND_REVERSE, REFUND_SUCCESS
from ..ledger_store import AppLedger
from ..models import RefundedTransaction, Report, TransactionOrder
from ..sealed import Sealer
from .staff import Staff

LIMIT = 50
TRANSACTION_QUERY = (
    "query Transaction($id: ID!) { transaction(id: $id) { id "
    "events { type pspReference amount { amount currency } } } }"
)


@dataclass(frozen=True)
class RefundRow:
    entry: LedgerEntry
    when: str  # UTC
    order: str  # Saleor's order number, "" when not known
    saleor: str  # what Saleor was told
    mark: str  # "" or what needs a look

    @property
    def asked(self) -> str:
        return self.entry.describe()


@dataclass(frozen=True)
class Comparison:
    """One transaction as Saleor, the ledger and MultiSafepay have it, or why it could not be
    compared."""

    order: str
    msp_order_id: str
    reconciliation: Optional[Reconciliation]
    problem: str = ""


def rows(staff: Staff, order: str = "", limit: int = LIMIT) -> List[RefundRow]:
    """That Saleor's refunds in the App's ledger, newest first; of one order when `order` is
    Saleor's order number (with or without #) or MultiSafepay's order id."""
    url = staff.saleor_api_url
    wanted = order.strip().lstrip("#")
    if wanted:
        matching = transactions.find(url, order=wanted)
        entries = RefundLedgerEntry.objects.filter(payment_id__in=list(matching))
    else:
        entries = RefundLedgerEntry.objects.filter(
            Q(
                payment_id__in=RefundedTransaction.objects.filter(saleor_api_url=url).values(
                    "payment_id"
                )
            )
            | Q(
                payment_id__in=TransactionOrder.objects.filter(saleor_api_url=url)
                .annotate(key=Concat(Value(LEDGER_PREFIX), "transaction_token"))
                .values("key")
            )
        )
    found = [as_entry(row) for row in entries.order_by("-created_at")[:limit]]
    keys = {entry.payment_id for entry in found}
    known = transactions.find(url, keys=keys)
    told = _told(url, keys)
    out = []
    for entry in found:
        transaction = known.get(entry.payment_id)
        saleor, mark = _saleor_side(entry, told.get(entry.payment_id, []))
        out.append(
            RefundRow(
                entry,
                time.strftime("%Y-%m-%d %H:%M", time.gmtime(entry.created_at)),
                transaction.order_number if transaction is not None else "",
                saleor,
                mark,
            )
        )
    return out


def compare(staff: Staff, order: str, sealer: Sealer) -> List[Comparison]:
    """The comparison for each transaction of `order`, read from MultiSafepay and Saleor now."""
    wanted = order.strip().lstrip("#")
    if not wanted:
        return []
    url = staff.saleor_api_url
    token = sealer.open(staff.installed.token_sealed)
    ledger = AppLedger()
    out = []
    for key, row in transactions.find(url, order=wanted).items():
        shown = f"#{row.order_number}" if row.order_number else ""
        try:
            config = installations.channel_config(url, row.channel_slug, sealer)
            if config is None:
                raise MultiSafepayRefundError(f"channel {row.channel_slug} is not configured")
            with config.connected() as client:
                msp_order = parse_order(client.get_order(row.msp_order_id))
            saleor = _saleor_refunds(url, token, row, ledger)
        except MultiSafepayRefundError as exc:
            out.append(Comparison(shown, row.msp_order_id, None, f"Not compared: {exc}"))
            continue
        result = reconcile(key, saleor, ledger.entries(key), msp_order)
        out.append(Comparison(shown, row.msp_order_id, result))
    return out


def _saleor_refunds(
    url: str, token: str, row: RefundedTransaction, ledger: AppLedger
) -> Dict[str, Decimal]:
    """The refunds Saleor counts for the transaction, by the ledger's reference of each (a
    refund reported after a pending answer is held under that answer's reference)."""
    data = saleor_api.graphql(url, token, TRANSACTION_QUERY, {"id": row.transaction_id})
    found = data.get("transaction")
    if not isinstance(found, dict):
        raise saleor_api.SaleorApiError("Saleor does not show this transaction to the App.")
    reported = reports.reported_references(url, row.transaction_id, ledger, row.payment_id)
    refunded: Dict[str, Decimal] = {}
    reversed_: Set[str] = set()
    events = found.get("events")
    for event in events if isinstance(events, list) else []:
        if not isinstance(event, dict):
            continue
        reference = str(event.get("pspReference") or "")
        reference = reported.get(reference, reference)
        amount = event.get("amount")
        value = amount.get("amount") if isinstance(amount, dict) else None
        if event.get("type") == REFUND_SUCCESS and value is not None:
            # At the currency's precision (Saleor writes 15.5 for 15.50), as MultiSafepay's.
            currency = str(amount.get("currency") or "") if isinstance(amount, dict) else ""
            try:
                refunded[reference] = at_precision(parse_decimal(value), currency)
            except ValueError:
                raise saleor_api.SaleorApiError(f"Saleor shows an amount {value!r}.") from None
        elif event.get("type") == REFUND_REVERSE:
            reversed_.add(reference)
    return {ref: amount for ref, amount in refunded.items() if ref not in reversed_}


def _told(url: str, payment_ids: Iterable[str]) -> Dict[str, List[Report]]:
    """The App's reports to Saleor (and answers it kept) of these ledger keys."""
    out: Dict[str, List[Report]] = {}
    for report in Report.objects.filter(saleor_api_url=url, payment_id__in=list(payment_ids)):
        out.setdefault(report.payment_id, []).append(report)
    return out


def _saleor_side(entry: LedgerEntry, told: Sequence[Report]) -> Tuple[str, str]:
    """What Saleor was told of the entry, and what needs a look ("" when nothing)."""
    references = {entry.reference, entry.refund_id, entry.recorded_as} - {"", None}
    mine = [r for r in told if r.entry_id == entry.entry_id or r.psp_reference in references]
    success = next((r for r in mine if r.event_type == REFUND_SUCCESS), None)
    waiting = next((r for r in mine if r.event_type == "" and not r.done), None)
    failed = next((r for r in mine if r.event_type == REFUND_FAILURE), None)
    if success is not None:
        saleor = f"refunded, as {success.psp_reference}"
        if not success.done:
            return saleor + " (being reported)", _not_taken(success)
    elif waiting is not None:
        saleor = f"pending, as {waiting.psp_reference}; the App reports the outcome"
    elif failed is not None:
        saleor = "failed" + (" (being reported)" if not failed.done else "")
    elif entry.state is EntryState.FAILED:
        saleor = "failed (answered)"
    else:
        saleor = "-"
    if entry.is_open:
        return saleor, (
            "Outcome not known yet at MultiSafepay: compare this order; the next refund or "
            "notification settles it, or decide it by hand (app refunds)."
        )
    if entry.state is EntryState.DECLINED:
        return saleor, "MultiSafepay declined this refund after accepting it: no money went back."
    if entry.state is EntryState.REFUNDED and success is None:
        return saleor, "Refunded at MultiSafepay, but Saleor was not told: compare this order."
    return saleor, ""


def _not_taken(report: Report) -> str:
    why = f": {report.last_error}" if report.last_error else ""
    return f"Saleor has not taken the App's report yet{why}."
