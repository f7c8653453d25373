"""The storefront's payment through the App: PAYMENT_GATEWAY_INITIALIZE_SESSION (what it may
offer), TRANSACTION_INITIALIZE_SESSION (the MultiSafepay order, created from the checkout with
the plugin's cart rules, so that refunds find its items) and TRANSACTION_PROCESS_SESSION (the
customer is back: what became of the payment).

Buy-now-pay-later methods are authorized when paid and charged when shipped (ORDER_FULFILLED,
or staff pressing Capture); other methods are charged when paid. The answer's `pspReference`
is the MultiSafepay order id: Saleor keeps it on the transaction, and every later event of the
transaction finds the order by it.
"""

from __future__ import annotations

import time
from typing import Dict, Mapping

from ...answers import AUTH, CAPTURE, GatewayAnswer
from ...multisafepay.methods import CART_GATEWAYS, is_cart_gateway
from ...payments import flow
from ...payments.ask import PaymentAsk, PaymentContext
from .. import reports
from ..context import AppContext
from ..event_types import AUTHORIZATION_SUCCESS, CHARGE_SUCCESS
from ..installations import Installed
from ..models import TransactionOrder
from . import common
from .session_payload import GatewayRequested, SessionRequested

NOTIFICATION_PATH = "/api/notifications/multisafepay"
AUTHORIZATION = "AUTHORIZATION"
CHARGE = "CHARGE"


def gateway_initialize(
    context: AppContext, installed: Installed, event: GatewayRequested
) -> Mapping[str, object]:
    """What the storefront may offer: MultiSafepay's payment page, or a method chosen in the
    storefront (`{"gateway": "KLARNA"}` in transactionInitialize's data)."""
    config = common.settings_of(context, installed, event.channel_slug, "payment")
    if isinstance(config, str):
        return {"data": {"error": config}}
    return {
        "data": {
            "paymentPage": True,
            # Methods MultiSafepay invoices by item: the checkout's lines go with the order.
            "cartMethods": sorted(CART_GATEWAYS),
            "testMode": config.test_mode,
        }
    }


def initialize(
    context: AppContext, installed: Installed, event: SessionRequested
) -> Mapping[str, object]:
    config = common.settings_of(context, installed, event.channel_slug, "payment")
    kind = _kind("", event)
    if isinstance(config, str):
        return common.failure(f"{kind}_FAILURE", event.amount, config)
    data = event.data if isinstance(event.data, dict) else {}
    method = data.get("gateway")
    return_url = data.get("returnUrl")
    ask = PaymentAsk(
        # MultiSafepay's order ids hold 50 characters: the token's 32 hex digits fit with the
        # order id's prefix and random part (payments/flow.new_order_id).
        payment_id=event.transaction_token.replace("-", ""),
        amount=event.amount,
        currency=event.currency,
        token=event.transaction_token,
        method=str(method) if isinstance(method, str) else "",
        email=event.email,
        ip_address=event.ip_address,
        billing=event.billing,
        shipping=event.shipping,
    )
    payment_context = PaymentContext(
        notification_url=context.environment.public_url + NOTIFICATION_PATH,
        return_url=return_url if isinstance(return_url, str) else "",
        checkout=event.checkout,
        locale=event.locale,
    )
    answer = flow.process_payment(config, ask, payment_context)
    gateway = answer.raw_response.get("gateway", "") or ask.method.upper()
    kind = _kind(gateway, event)
    if not answer.is_success or not answer.action_required_data:
        return common.failure(f"{kind}_FAILURE", event.amount, _message(answer))
    page = answer.action_required_data["payment_url"]
    order_id = answer.transaction_id
    TransactionOrder.objects.create(
        msp_order_id=order_id,
        saleor_api_url=installed.saleor_api_url,
        channel_slug=event.channel_slug,
        transaction_id=event.transaction_id,
        transaction_token=event.transaction_token,
        payment_url=page,
        gateway=gateway,
        created_at=time.time(),
    )
    return {
        "result": f"{kind}_ACTION_REQUIRED",
        "amount": event.amount,
        "pspReference": order_id,
        "data": {"payment_url": page, "multisafepay_order_id": order_id},
    }


def process(
    context: AppContext, installed: Installed, event: SessionRequested
) -> Mapping[str, object]:
    """The customer is back from the payment page (or the storefront asks again)."""
    link = TransactionOrder.objects.filter(
        saleor_api_url=installed.saleor_api_url, transaction_token=event.transaction_token
    ).first()
    order_id = event.psp_reference or (link.msp_order_id if link is not None else "")
    kind = _kind(link.gateway if link is not None else "", event)
    if not order_id:
        return common.failure(
            f"{kind}_FAILURE",
            event.amount,
            "MultiSafepay payment unclear: this transaction has no MultiSafepay order. Start "
            "the payment again.",
        )
    config = common.settings_of(context, installed, event.channel_slug, "payment")
    if isinstance(config, str):
        return common.failure(f"{kind}_FAILURE", event.amount, config)
    ask = PaymentAsk(
        payment_id=event.transaction_token,
        amount=event.amount,
        currency=event.currency,
        msp_order_id=order_id,
        token=order_id,
        payment_url=link.payment_url if link is not None else "",
    )
    answer = flow.confirm_payment(config, ask, checkout=event.checkout)
    gateway = answer.raw_response.get("gateway", "") or (link.gateway if link is not None else "")
    kind = _kind(gateway, event)
    if not answer.is_success:
        return common.failure(f"{kind}_FAILURE", event.amount, _message(answer))
    result: Dict[str, object] = {"amount": event.amount, "pspReference": order_id}
    if answer.kind == AUTH:
        result["result"] = AUTHORIZATION_SUCCESS
        TransactionOrder.objects.filter(msp_order_id=order_id).update(authorized=True)
    elif answer.kind == CAPTURE:
        result["result"] = CHARGE_SUCCESS
    elif answer.action_required_data:
        result["result"] = f"{kind}_ACTION_REQUIRED"
        page = answer.action_required_data["payment_url"]
        result["data"] = {"payment_url": page, "multisafepay_order_id": order_id}
    else:
        # Paid, MultiSafepay still checking (Pay After Delivery's "uncleared"): the outcome
        # comes with MultiSafepay's notification, reported to Saleor then.
        result["result"] = f"{kind}_REQUEST"
    actions = reports.actions_after(str(result["result"]))
    if actions is not None:
        # What Saleor offers staff (Capture, Cancel, Refund): none unless the App says.
        result["actions"] = actions
    return result


def failure(event: SessionRequested, message: str) -> Dict[str, object]:
    return common.failure(f"{_kind('', event)}_FAILURE", event.amount, message)


def gateway_failure(event: GatewayRequested, message: str) -> Dict[str, object]:
    return {"data": {"error": message}}


def _kind(gateway: str, event: SessionRequested) -> str:
    """AUTHORIZATION for buy-now-pay-later methods (shipping is their capture), else what the
    storefront asked for."""
    if is_cart_gateway(gateway) or event.action_type == AUTHORIZATION:
        return AUTHORIZATION
    return CHARGE


def _message(answer: GatewayAnswer) -> str:
    return answer.note or answer.error or "MultiSafepay payment not started."
