"""TRANSACTION_CHARGE_REQUESTED and TRANSACTION_CANCELATION_REQUESTED: staff press Capture
(MultiSafepay's order is shipped: for buy-now-pay-later methods shipping is the capture, and
MultiSafepay then invoices the customer) or Cancel (the order is cancelled while not shipped).
The core refuses what cannot be done so, with the reason."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, Mapping

from ...answers import GatewayAnswer
from ...config import GatewayConfig
from ...payments import flow
from ...payments.ask import PaymentAsk
from .. import asks, locks, reports
from ..context import AppContext
from ..event_types import CANCEL_FAILURE, CANCEL_SUCCESS, CHARGE_FAILURE, CHARGE_SUCCESS
from ..installations import Installed
from . import common
from .payload import ActionRequested


@dataclass(frozen=True)
class OrderAction:
    """One of staff's actions on a transaction: what it is called, its results, its flow."""

    what: str  # in messages: "capture", "cancel"
    success: str
    failure_result: str
    run: Callable[[GatewayConfig, PaymentAsk], GatewayAnswer]

    def __call__(
        self, context: AppContext, installed: Installed, event: ActionRequested
    ) -> Mapping[str, object]:
        config = common.channel_config(context, installed, event, self.what)
        if isinstance(config, str):
            return self.failure(event, config)
        ask = asks.payment_ask(event)
        with locks.held(ask.payment_id) as got:
            if not got:
                return self.failure(
                    event, f"MultiSafepay {self.what} not sent: the transaction is busy."
                )
            answer = self.run(config, ask)
        if answer.is_success:
            return {
                "result": self.success,
                "pspReference": ask.msp_order_id,
                "amount": answer.amount,
                "actions": reports.actions_after(self.success),
            }
        message = answer.note or answer.error or f"MultiSafepay {self.what} failed."
        return self.failure(event, message)

    def failure(self, event: ActionRequested, message: str) -> Dict[str, object]:
        return common.failure(self.failure_result, event.amount, message)


CHARGE = OrderAction("capture", CHARGE_SUCCESS, CHARGE_FAILURE, flow.capture_payment)
CANCEL = OrderAction("cancel", CANCEL_SUCCESS, CANCEL_FAILURE, flow.void_payment)
