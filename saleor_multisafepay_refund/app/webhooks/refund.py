"""TRANSACTION_REFUND_REQUESTED: MultiSafepay's refund of what Saleor granted, once.

A granted refund names its lines (and the shipping): on cart methods MultiSafepay gets the
cart refund of exactly those; on other methods an amount refund. Without a granted refund
Saleor asks for an amount: on cart methods only the whole remainder can be refunded so (the
core refuses anything else, with what staff can do instead).

Answers: REFUND_SUCCESS (pspReference = what the ledger records it under: MultiSafepay's
refund id), REFUND_FAILURE with the message, or pending when MultiSafepay's answer was lost:
`{"pspReference": <ours>}`, reported later under that very reference (`reports.py`).
"""

from __future__ import annotations

import logging
from typing import Dict, Mapping

from django.db import DatabaseError

from ...refunds import flow
from .. import asks, locks, reports, transactions
from ..context import AppContext
from ..event_types import REFUND_FAILURE, REFUND_SUCCESS
from ..installations import Installed
from ..ledger_store import AppLedger
from . import common
from .payload import ActionRequested

logger = logging.getLogger(__name__)

SUCCESS = REFUND_SUCCESS
FAILURE = REFUND_FAILURE


def refund_requested(
    context: AppContext, installed: Installed, event: ActionRequested
) -> Mapping[str, object]:
    config = common.channel_config(context, installed, event, "refund")
    if isinstance(config, str):
        return failure(event, config)
    transaction = event.transaction
    url = installed.saleor_api_url
    channel = transaction.channel_slug
    ledger = AppLedger()
    payment_id = asks.ledger_key(transaction.token)
    granted_id = event.granted_refund.id if event.granted_refund is not None else ""
    where = reports.Where(url, channel, transaction.id, payment_id)
    with locks.held(payment_id) as got:
        if not got:
            return failure(
                event,
                "MultiSafepay refund not sent: the transaction is busy at MultiSafepay (a "
                "refund, a capture or a notification). Try again in a minute: MultiSafepay is "
                "checked first, so nothing is refunded twice.",
            )
        waiting = reports.waiting_for(url, transaction.id)
        if waiting is not None:
            if (
                granted_id
                and waiting.granted_refund_id == granted_id
                and waiting.amount_asked == event.amount
            ):
                # The very granted refund answered pending, asked again (Saleor itself refuses
                # to while it shows it pending): the same answer, nothing sent again. An amount
                # without a granted refund may be a new request of staff: it waits below.
                return {"pspReference": waiting.psp_reference}
            return failure(
                event,
                "MultiSafepay refund not sent: the outcome of an earlier refund of this "
                f"transaction ({waiting.psp_reference}) is still being found out at "
                "MultiSafepay. Send this refund again once Saleor shows that one settled.",
            )
        transactions.keep(where, transaction.order_number, transaction.psp_reference)
        reported = reports.reported_references(url, transaction.id, ledger, payment_id)
        ask = asks.refund_ask(config, event, reported)
        answer = flow.refund_payment(config, ask, ledger)
        try:
            reports.report_unrecorded(where, answer.unrecorded, ledger)
            if answer.open_entry:
                reference = reports.report_pending(
                    where,
                    answer.open_entry,
                    event.currency,
                    granted_id,
                    event.amount,
                )
                return {"pspReference": reference}
            if answer.is_success:
                reports.told(
                    where,
                    answer.transaction_id,
                    answer.amount,
                    answer.currency,
                )
        except DatabaseError:
            # After MultiSafepay was asked: a 5xx would bring Saleor back with an empty body.
            logger.exception("The App could not keep what it must tell Saleor later")
            if answer.open_entry:
                return failure(
                    event,
                    "MultiSafepay refund outcome unknown (its answer was lost, and the App's "
                    "database failed): check the order in MultiSafepay's dashboard. Sending the "
                    "refund again is safe: it is never made twice.",
                )
    if answer.is_success:
        return {
            "result": SUCCESS,
            "pspReference": answer.transaction_id,
            "amount": answer.amount,
            "message": answer.note[:512],
        }
    return failure(event, answer.note or answer.error or "MultiSafepay refund not made.")


def failure(event: ActionRequested, message: str) -> Dict[str, object]:
    return common.failure(FAILURE, event.amount, message)
