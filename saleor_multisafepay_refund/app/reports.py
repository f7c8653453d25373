"""What the App tells Saleor after answering: `transactionEventReport`, from an outbox.

Two kinds of report:
- a refund answered pending (its outcome was lost on the way back from MultiSafepay): Saleor
  links the report to the granted refund only through the pending answer's `pspReference`, so
  the report uses that reference, once the ledger has settled the entry (MultiSafepay's refund
  id goes in the message);
- a refund MultiSafepay made that Saleor never recorded (made in MultiSafepay's dashboard, or
  landed after its answer was lost): REFUND_SUCCESS under the ledger's reference.
Saleor answers a repeat of (pspReference, type) with `alreadyProcessed`: a report sent twice
is recorded once. Never sent from inside a webhook (Saleor may be waiting on it).
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from django.db import IntegrityError

from ..errors import MultiSafepayRefundError
from ..multisafepay.money import round_money, shown
from ..multisafepay.order import parse_order
from ..refunds import flow
from ..refunds.ledger import EntryState, LedgerEntry
from . import installations, locks, saleor_api
from .asks import ledger_key
from .event_types import (
    AUTHORIZATION_SUCCESS,
    CANCEL_SUCCESS,
    CHARGE_BACK,
    CHARGE_SUCCESS,
    REFUND_FAILURE,
    REFUND_SUCCESS,
)
from .ledger_store import AppLedger
from .models import Report, TransactionOrder
from .sealed import Sealer

logger = logging.getLogger(__name__)

PENDING_PREFIX = "msp-pending-"
# Retries: 10 s, 20 s, ... at most 10 minutes apart, for as long as it takes.
FIRST_RETRY_SECONDS = 10.0
MAX_RETRY_SECONDS = 600.0
# transactionEventReport errors no retry can change (Saleor's TransactionEventReportErrorCode).
FINAL_CODES = frozenset({"INCORRECT_DETAILS", "NOT_FOUND", "INVALID", "GRAPHQL_ERROR"})
# How long a worker holds a report it works on (its calls are bounded far below).
CLAIM_SECONDS = 120.0

# What staff may do with the transaction once an event is recorded: Saleor offers Capture,
# Cancel and Refund in the Dashboard (and accepts those requests) by these. An authorized
# buy-now-pay-later payment is captured by shipping or cancelled; a charged one is refunded; a
# cancelled or charged-back one is done. Other events leave them as they are.
ACTIONS_AFTER: Dict[str, Tuple[str, ...]] = {
    AUTHORIZATION_SUCCESS: ("CHARGE", "CANCEL"),
    CHARGE_SUCCESS: ("REFUND",),
    CANCEL_SUCCESS: (),
    CHARGE_BACK: (),
}

REPORT_MUTATION = """
mutation MultiSafepayReport($id: ID!, $type: TransactionEventTypeEnum!, $amount: PositiveDecimal,
                            $pspReference: String!, $message: String,
                            $availableActions: [TransactionActionEnum!]) {
  transactionEventReport(id: $id, type: $type, amount: $amount, pspReference: $pspReference,
                         message: $message, availableActions: $availableActions) {
    alreadyProcessed
    errors { field code message }
  }
}"""


def actions_after(event_type: str) -> Optional[List[str]]:
    """The transaction's available actions once `event_type` is recorded; None: unchanged."""
    actions = ACTIONS_AFTER.get(event_type)
    return None if actions is None else list(actions)


def pending_reference(entry_id: str) -> str:
    """The pspReference of a pending answer: ours, the ledger entry's."""
    return PENDING_PREFIX + entry_id


@dataclass(frozen=True)
class Waiting:
    """A refund of the transaction answered pending, whose outcome Saleor has not heard yet."""

    psp_reference: str
    granted_refund_id: str
    amount_asked: Optional[Decimal]


def waiting_for(saleor_api_url: str, transaction_id: str) -> Optional[Waiting]:
    row = (
        Report.objects.filter(
            saleor_api_url=saleor_api_url, transaction_id=transaction_id, done=False
        )
        .exclude(entry_id="")
        .first()
    )
    if row is None:
        return None
    return Waiting(row.psp_reference, row.granted_refund_id, row.asked)


def reported_references(
    saleor_api_url: str, transaction_id: str, ledger: AppLedger, payment_id: str
) -> Dict[str, str]:
    """Pending reference -> the ledger's reference of its entry, for this transaction's
    reported refunds (what Saleor records them under, and what the ledger calls them)."""
    rows = Report.objects.filter(
        saleor_api_url=saleor_api_url, transaction_id=transaction_id
    ).exclude(entry_id="")
    pending = {row.entry_id: row.psp_reference for row in rows}
    if not pending:
        return {}
    return {
        pending[entry.entry_id]: entry.reference
        for entry in ledger.entries(payment_id)
        if entry.entry_id in pending
    }


@dataclass(frozen=True)
class Where:
    """The transaction a report is about: which Saleor, channel, transaction, ledger key."""

    saleor_api_url: str
    channel_slug: str
    transaction_id: str
    payment_id: str

    @classmethod
    def of(cls, link: TransactionOrder) -> Where:
        return cls(
            link.saleor_api_url,
            link.channel_slug,
            link.transaction_id,
            ledger_key(link.transaction_token),
        )


def report_pending(
    where: Where, entry_id: str, currency: str, granted_refund_id: str, asked: Decimal
) -> str:
    """Keep the report of a refund answered pending; its reference."""
    reference = pending_reference(entry_id)
    _add(
        where,
        reference,
        entry_id=entry_id,
        granted_refund_id=granted_refund_id,
        asked=asked,
        currency=currency,
    )
    return reference


def report_unrecorded(
    where: Where, unrecorded: Iterable[Tuple[str, Decimal, str]], ledger: AppLedger
) -> None:
    """Keep a REFUND_SUCCESS report of each refund Saleor has not recorded; not of those
    waiting for their pending report (Saleor would count them twice)."""
    unrecorded = list(unrecorded)
    if not unrecorded:
        return
    waiting = set(
        Report.objects.filter(
            saleor_api_url=where.saleor_api_url, transaction_id=where.transaction_id
        )
        .exclude(entry_id="")
        .values_list("entry_id", flat=True)
    )
    skip = {
        entry.reference for entry in ledger.entries(where.payment_id) if entry.entry_id in waiting
    }
    for reference, amount, currency in unrecorded:
        if reference not in skip:
            message = (
                f"MultiSafepay refunded {shown(amount, currency)} (refund {reference}), "
                "not asked through Saleor or its answer lost: recorded now."
            )
            report_event(where, reference, REFUND_SUCCESS, amount, currency, message)


def report_event(
    where: Where,
    psp_reference: str,
    event_type: str,
    amount: Decimal,
    currency: str,
    message: str,
) -> None:
    """Keep a report of what MultiSafepay shows, once."""
    _add(
        where,
        psp_reference,
        event_type=event_type,
        amount=amount,
        currency=currency,
        message=message,
    )


def told(where: Where, reference: str, amount: Decimal, currency: str) -> None:
    """Keep that Saleor was answered REFUND_SUCCESS under `reference` (nothing to send): what
    Saleor counts as refunded is what a refund declined later must take back."""
    _add(
        where,
        reference,
        event_type=REFUND_SUCCESS,
        amount=amount,
        currency=currency,
        message="answered",
        done=True,
    )


def refunds_told(saleor_api_url: str, transaction_id: str) -> Dict[str, str]:
    """The refunds Saleor counts (answered, or reported) as made, for this transaction: the
    reference Saleor holds each under -> its ledger entry ("" when not known: an answer, or a
    refund made in MultiSafepay's dashboard)."""
    rows = Report.objects.filter(
        saleor_api_url=saleor_api_url, transaction_id=transaction_id, event_type=REFUND_SUCCESS
    )
    return {row.psp_reference: row.entry_id for row in rows}


def _add(where: Where, psp_reference: str, **fields: object) -> None:
    report = Report(
        saleor_api_url=where.saleor_api_url,
        channel_slug=where.channel_slug,
        transaction_id=where.transaction_id,
        payment_id=where.payment_id,
        psp_reference=psp_reference,
        created_at=time.time(),
        **fields,
    )
    with contextlib.suppress(IntegrityError):  # kept already: one per (reference, type)
        report.save()


def run_due(sealer: Sealer, now: Optional[float] = None) -> int:
    """Make every report that is due; how many were made (or found already made)."""
    now = time.time() if now is None else now
    made = 0
    for report in list(Report.objects.filter(done=False, next_at__lte=now).order_by("created_at")):
        if not _claimed(report, now):
            continue  # another worker (another instance) has it
        try:
            if _make(report, sealer):
                made += 1
                continue
        except Exception as exc:  # one report must not stop the others
            logger.warning(
                "Report %s for transaction %s not made yet: %s",
                report.psp_reference,
                report.transaction_id,
                exc,
            )
            report.last_error = str(exc)[:1000]
        report.attempts += 1
        report.next_at = now + min(
            FIRST_RETRY_SECONDS * 2 ** (report.attempts - 1), MAX_RETRY_SECONDS
        )
        report.save(update_fields=["attempts", "next_at", "last_error"])
    return made


def _claimed(report: Report, now: float) -> bool:
    """Take the report for a while, unless another worker took it since it was read: each
    report is worked on by one worker at a time (Saleor would take a repeat, but MultiSafepay
    need not be read twice)."""
    taken = Report.objects.filter(pk=report.pk, done=False, next_at=report.next_at).update(
        next_at=now + CLAIM_SECONDS
    )
    return bool(taken == 1)


def _make(report: Report, sealer: Sealer) -> bool:
    """True once Saleor has the report."""
    if report.entry_id and not report.event_type and not _settled(report, sealer):
        return False
    installed = installations.find(report.saleor_api_url)
    if installed is None:
        raise MultiSafepayRefundError("the App is not installed in that Saleor any more")
    data = saleor_api.graphql(
        report.saleor_api_url,
        sealer.open(installed.token_sealed),
        REPORT_MUTATION,
        {
            "id": report.transaction_id,
            "type": report.event_type,
            # Saleor's decimal scalar takes the exact text, never a float; in the currency's
            # digits (the table keeps three).
            "amount": None
            if report.amount is None
            else str(round_money(report.amount, report.currency)),
            "pspReference": report.psp_reference,
            "message": report.message[:512],
            "availableActions": actions_after(report.event_type),
        },
    )
    result = data.get("transactionEventReport")
    errors = result.get("errors") if isinstance(result, dict) else None
    if errors:
        codes = {str(e.get("code")) for e in errors if isinstance(e, dict)}
        if codes & FINAL_CODES:
            # Saleor will never take it (another amount under this reference, a transaction
            # gone): sending it again changes nothing, and a refund waiting on it would wait
            # for ever. Kept with the reason for `app refunds` and the log.
            logger.warning(
                "Saleor refused the report %s of transaction %s for good: %s",
                report.psp_reference,
                report.transaction_id,
                errors,
            )
            report.done = True
            report.last_error = f"refused by Saleor: {errors}"[:1000]
            report.save(update_fields=["done", "last_error"])
            return True
        raise MultiSafepayRefundError(f"Saleor refused the report: {errors}")
    report.done = True
    report.save(update_fields=["done"])
    return True


def _settled(report: Report, sealer: Sealer) -> bool:
    """Settle the pending refund's entry by reading the order back; True once decided, with
    the report's type, amount and message set from it. Other refunds the order shows that
    Saleor has not recorded are reported by the next webhook, which knows what Saleor holds."""
    ledger = AppLedger()
    entry = _entry(ledger.entries(report.payment_id), report.entry_id)
    if entry is None:
        raise MultiSafepayRefundError(f"ledger entry {report.entry_id} is missing")
    if entry.is_open:
        config = installations.channel_config(report.saleor_api_url, report.channel_slug, sealer)
        if config is None:
            raise MultiSafepayRefundError(f"channel {report.channel_slug} is not configured")
        # Under the transaction's lock, as a refund settles it: the order read here must be
        # newer than anything another request saved, or a stale read could undo it.
        with locks.held(report.payment_id) as got:
            if not got:
                return False
            with config.connected() as client:
                order = parse_order(client.get_order(entry.msp_order_id))
            entries, _ = flow.settle_refunds(ledger, report.payment_id, order, set(), config)
        entry = _entry(entries, report.entry_id)
        if entry is None or entry.is_open:
            return False
    report.event_type, report.amount, report.message = _outcome(entry)
    report.save(update_fields=["event_type", "amount", "message"])
    return True


def _outcome(entry: LedgerEntry) -> Tuple[str, Optional[Decimal], str]:
    if entry.state is EntryState.REFUNDED:
        which = f"refund {entry.refund_id}" if entry.refund_id else "counted, not listed yet"
        return (
            REFUND_SUCCESS,
            entry.amount,
            f"MultiSafepay refunded {entry.describe()} of order {entry.msp_order_id} ({which}); "
            "its first answer was lost.",
        )
    return (
        REFUND_FAILURE,
        None,
        f"MultiSafepay did not make the refund of {entry.describe()} of order "
        f"{entry.msp_order_id}: {entry.error or entry.state.value}. Nothing was refunded.",
    )


def _entry(entries: Sequence[LedgerEntry], entry_id: str) -> Optional[LedgerEntry]:
    return next((entry for entry in entries if entry.entry_id == entry_id), None)
