"""MultiSafepay's notifications to the App (`/api/notifications/multisafepay`), brought into
Saleor with `transactionEventReport`.

The notification only says which order changed: the App reads the order at MultiSafepay (never
trusting the body), and reports what Saleor has not heard: the payment authorized or charged
(a customer who never came back), shipped in MultiSafepay's dashboard, cancelled, expired or
declined, charged back, a refund made in MultiSafepay's dashboard, a refund declined later.
Each report is kept once per (transaction, reference, type) and Saleor takes each once, so a
notification MultiSafepay sends again changes nothing. A signed notification is checked as the
plugin checks it (the site's API key, at most 5 minutes old); answered "OK" once kept.
"""

from __future__ import annotations

import logging
from typing import List, Mapping

from django.http import HttpRequest, HttpResponse

from ..config import GatewayConfig
from ..errors import MultiSafepayRefundError
from ..multisafepay.methods import is_cart_gateway
from ..multisafepay.money import from_minor_units
from ..multisafepay.order import parse_order
from ..multisafepay.signatures import InvalidNotification, verify_notification
from ..multisafepay.statuses import PaymentState
from ..payments.flow import PaymentView, read_payment
from ..payments.notifications import notified_order_id
from ..refunds import flow
from ..refunds.ledger import EntryState
from . import installations, locks, reports
from .asks import ledger_key
from .context import app_context
from .event_types import (
    AUTHORIZATION_FAILURE,
    AUTHORIZATION_SUCCESS,
    CANCEL_SUCCESS,
    CHARGE_BACK,
    CHARGE_FAILURE,
    CHARGE_SUCCESS,
    REFUND_REVERSE,
    REFUND_SUCCESS,
)
from .ledger_store import AppLedger
from .models import TransactionOrder

logger = logging.getLogger(__name__)


def notification(request: HttpRequest) -> HttpResponse:
    if request.method not in ("POST", "GET"):
        return _answer(405, "POST or GET.")
    raw = request.body if request.method == "POST" else b""
    query = {key: str(value) for key, value in request.GET.items()}
    order_id = notified_order_id(raw, query) if raw else query.get("transactionid", "")
    if not order_id:
        return _answer(400, "The notification names no order (or two).")
    link = TransactionOrder.objects.filter(msp_order_id=order_id).first()
    if link is None:
        # Not an order this App made: MultiSafepay tries again, and then gives up.
        return _answer(404, f"No transaction of this App for MultiSafepay order {order_id}.")
    config = installations.channel_config(
        link.saleor_api_url, link.channel_slug, app_context().sealer
    )
    if config is None:
        return _answer(503, "The channel's MultiSafepay settings are gone: send it again later.")
    if raw:
        try:
            verify_notification(raw, request.headers.get("Auth"), config.api_key)
        except InvalidNotification as exc:
            logger.warning("MultiSafepay notification refused: %s", exc)
            return _answer(403, str(exc))
    # A GET notification (MultiSafepay's older kind) is not signed: it only makes the App
    # read the order at MultiSafepay, which is what is believed.
    try:
        with locks.held(ledger_key(link.transaction_token)) as got:
            if not got:
                return _answer(503, "A refund of this payment is being made: send it again.")
            kept = _bring_in(config, link)
    except MultiSafepayRefundError as exc:
        logger.warning("MultiSafepay notification for %s not applied: %s", order_id, exc)
        return _answer(503, f"Not applied, send it again later: {exc}")
    logger.info("MultiSafepay notification for %s: %s", order_id, ", ".join(kept) or "nothing new")
    return _answer(200, "OK")


def _bring_in(config: GatewayConfig, link: TransactionOrder) -> List[str]:
    """The reports MultiSafepay's order calls for, kept for the worker; what they are."""
    with config.connected() as client:
        data = client.get_order(link.msp_order_id)
    view = read_payment(data)
    kept = [_payment(link, view)] if view.state is not PaymentState.PENDING else []
    kept += _refunds(config, link, data)
    return [k for k in kept if k]


def _payment(link: TransactionOrder, view: PaymentView) -> str:
    amount = from_minor_units(view.amount, view.currency)
    cart = is_cart_gateway(view.gateway or link.gateway)
    state = view.state
    if state is PaymentState.AUTHORIZED:
        kind = AUTHORIZATION_SUCCESS
        TransactionOrder.objects.filter(pk=link.pk).update(authorized=True)
    elif state is PaymentState.CAPTURED:
        kind = CHARGE_SUCCESS
    elif state is PaymentState.CHARGED_BACK:
        kind = CHARGE_BACK
    elif link.authorized or TransactionOrder.objects.filter(pk=link.pk, authorized=True).exists():
        kind = CANCEL_SUCCESS  # an authorization cancelled, voided or expired
    else:
        kind = AUTHORIZATION_FAILURE if cart else CHARGE_FAILURE
    message = (
        f"MultiSafepay order {view.order_id} is {view.status} ({view.gateway or 'no method'})."
    )
    reports.report_event(
        reports.Where.of(link), link.msp_order_id, kind, amount, view.currency, message
    )
    return kind


def _refunds(
    config: GatewayConfig, link: TransactionOrder, data: Mapping[str, object]
) -> List[str]:
    """Refunds Saleor has not heard of: made in MultiSafepay's dashboard, or declined later."""
    ledger = AppLedger()
    payment_id = ledger_key(link.transaction_token)
    order = parse_order(data)
    told = reports.refunds_told(link.saleor_api_url, link.transaction_id)
    entries, _ = flow.settle_refunds(ledger, payment_id, order, set(told), config)
    # The reference Saleor holds each counted refund under: a refund answered pending was
    # reported under the pending answer's reference, not its refund id.
    counted = {entry_id: reference for reference, entry_id in told.items() if entry_id}
    counted_refs = set(told)
    kept: List[str] = []
    for entry in entries:
        reference = counted.get(entry.entry_id) or (
            entry.reference if entry.reference in counted_refs else ""
        )
        if entry.external and entry.state is EntryState.REFUNDED and not reference:
            kind = REFUND_SUCCESS
            reference = entry.reference
            message = f"MultiSafepay refund {entry.reference} (made in MultiSafepay's dashboard)."
        elif entry.state is EntryState.DECLINED and reference:
            # Saleor counted it as refunded; MultiSafepay now says nothing went back.
            kind = REFUND_REVERSE
            message = (
                f"MultiSafepay {entry.refund_status or 'declined'} refund {entry.reference}: "
                "nothing was refunded."
            )
        else:
            continue
        reports.report_event(
            reports.Where.of(link), reference, kind, entry.amount, entry.currency, message
        )
        kept.append(kind)
    return kept


def _answer(status: int, text: str) -> HttpResponse:
    return HttpResponse(text, status=status, content_type="text/plain")
