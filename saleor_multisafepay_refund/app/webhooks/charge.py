"""TRANSACTION_CHARGE_REQUESTED: staff press Capture; MultiSafepay's order is shipped.

For buy-now-pay-later methods shipping is the capture (MultiSafepay then invoices the
customer); the core refuses what cannot be captured so, with the reason.
"""

from __future__ import annotations

from typing import Dict, Mapping

from ...payments import flow
from .. import asks, locks, reports
from ..context import AppContext
from ..installations import Installed
from . import common
from .payload import ActionRequested

SUCCESS = "CHARGE_SUCCESS"
FAILURE = "CHARGE_FAILURE"


def charge_requested(
    context: AppContext, installed: Installed, event: ActionRequested
) -> Mapping[str, object]:
    config = common.channel_config(context, installed, event, "capture")
    if isinstance(config, str):
        return failure(event, config)
    ask = asks.payment_ask(event)
    with locks.held(ask.payment_id) as got:
        if not got:
            return failure(event, "MultiSafepay capture not sent: the transaction is busy.")
        answer = flow.capture_payment(config, ask)
    if answer.is_success:
        return {
            "result": SUCCESS,
            "pspReference": ask.msp_order_id,
            "amount": answer.amount,
            "actions": reports.actions_after(SUCCESS),
        }
    return failure(event, answer.note or answer.error or "MultiSafepay capture failed.")


def failure(event: ActionRequested, message: str) -> Dict[str, object]:
    return common.failure(FAILURE, event.amount, message)
