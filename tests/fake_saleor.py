"""Saleor's legacy payment flow, played in memory: what Saleor does with the plugin's answers.

`FakeSaleor` calls the Saleor-free flows (`payments.flow`, `plugin.asks.refund_payment`) with
PaymentData shaped as `saleor.payment.utils.create_payment_information` builds it, and keeps
each answer as Saleor does (`saleor.payment.gateway` and `utils.gateway_postprocess`):

    process_payment  the answer becomes an ACTION_TO_CONFIRM transaction; to_confirm
    confirm_payment  token = that transaction's token; a success without action_required
                     (auth, capture, pending) completes the checkout (Saleor creates the order)
    capture, void    token = the AUTH transaction's token; a capture adds to captured_amount,
                     a void makes the payment inactive
    refund           token = the CAPTURE transaction's token; the note goes to the order's
                     history, a success lowers captured_amount, refunds Saleor missed
                     (`answer.unrecorded`) are recorded once (`plugin/records.py`)

It is also the `webhook.SaleorSide` a notification works on: `complete_checkout` runs
Saleor's checkout completion (confirm, then the order) under the checkout's lock, so a second
call finds the order made by the first, as Saleor's `checkoutComplete` does.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Dict, List, Optional, Sequence, Set, Tuple
from urllib.parse import parse_qsl, urlsplit

from saleor_multisafepay_refund.answers import GatewayAnswer
from saleor_multisafepay_refund.config import GatewayConfig
from saleor_multisafepay_refund.emulator import Emulator, Notification
from saleor_multisafepay_refund.payments import flow as payments
from saleor_multisafepay_refund.payments.ask import CheckoutTotals, PaymentContext
from saleor_multisafepay_refund.payments.notifications import (
    NotificationAnswer,
    SaleorPayment,
    handle_notification,
)
from saleor_multisafepay_refund.plugin import asks
from saleor_multisafepay_refund.plugin.asks import payment_ask
from saleor_multisafepay_refund.refunds.ledger import MemoryLedger

from .saleor_shapes import AddressData, OrderLine, PaymentData, RefundData, TransactionData

# saleor.payment.TransactionKind
ACTION_TO_CONFIRM, AUTH, CAPTURE, VOID, REFUND, PENDING = (
    "action_to_confirm",
    "auth",
    "capture",
    "void",
    "refund",
    "pending",
)
REFUND_REVERSED = "refund_reversed"

NOTIFICATION_URL = "https://shop.example/plugins/channel/default-channel/multisafepay/notify"
RETURN_URL = "https://store.example/checkout/return"


@dataclass
class ShopPayment:
    """One Saleor payment (saleor.payment.models.Payment) and what Saleor keeps around it."""

    payment_id: int
    amount: Decimal
    currency: str
    payment_data: Dict[str, Any]  # the storefront's paymentData
    checkout: Optional[CheckoutTotals]
    order_lines: List[OrderLine]  # the lines Saleor's order gets from the checkout's lines
    billing: Optional[AddressData] = None
    shipping: Optional[AddressData] = None
    email: str = "jan@example.org"
    transactions: List[TransactionData] = field(default_factory=list)
    psp_reference: Optional[str] = None
    order_id: Optional[str] = None  # Saleor's order, once the checkout is completed
    to_confirm: bool = False
    is_active: bool = True
    captured_amount: Decimal = Decimal(0)
    notes: List[str] = field(default_factory=list)  # the order's history (plugin notes)
    orders_created: int = 0
    confirm_calls: int = 0

    def token_of(self, kind: str) -> str:
        """Saleor's `_get_past_transaction_token`: the last successful one of `kind`."""
        tokens = [t.token for t in self.transactions if t.kind == kind and t.is_success]
        return tokens[-1] if tokens else ""

    @property
    def msp_order_id(self) -> str:
        return self.token_of(ACTION_TO_CONFIRM)

    @property
    def refund_ids(self) -> Set[str]:
        """Refunds Saleor counts: recorded and not reversed."""
        recorded = {t.token for t in self.transactions if t.kind == REFUND and t.is_success}
        return recorded - self.reversed_ids

    @property
    def reversed_ids(self) -> Set[str]:
        return {t.token for t in self.transactions if t.kind == REFUND_REVERSED and t.is_success}

    @property
    def refunded(self) -> Decimal:
        return sum(
            (
                Decimal(t.amount["amount"]) * (1 if t.kind == REFUND else -1)
                for t in self.transactions
                if t.kind in (REFUND, REFUND_REVERSED) and t.is_success
            ),
            Decimal(0),
        )

    @property
    def captured(self) -> bool:
        return any(t.kind == CAPTURE and t.is_success for t in self.transactions)


class FakeSaleor:
    """Saleor's side of every payment of one channel, and its `webhook.SaleorSide`."""

    def __init__(self, config: GatewayConfig) -> None:
        self.config = config
        self.ledger = MemoryLedger()
        self.payments: Dict[int, ShopPayment] = {}
        self._lock = threading.Lock()  # Saleor's checkout and payment row locks (one for all)
        self._delivered = 0  # notifications of the emulator already handed to the webhook

    # -- the storefront and the dashboard ------------------------------------------------

    def checkout(
        self,
        amount: Decimal,
        checkout: Optional[CheckoutTotals],
        order_lines: Sequence[OrderLine] = (),
        payment_data: Optional[Dict[str, Any]] = None,
        currency: str = "EUR",
        **fields: Any,
    ) -> ShopPayment:
        """checkoutPaymentCreate: a payment of the checkout, not processed yet."""
        payment = ShopPayment(
            payment_id=len(self.payments) + 1,
            amount=amount,
            currency=currency,
            payment_data=dict(payment_data or {}),
            checkout=checkout,
            order_lines=list(order_lines),
            **fields,
        )
        self.payments[payment.payment_id] = payment
        return payment

    def process(self, payment: ShopPayment) -> GatewayAnswer:
        """checkoutComplete, the first time: process_payment (token: none from the storefront)."""
        context = PaymentContext(NOTIFICATION_URL, RETURN_URL, payment.checkout, "nl_NL")
        answer = payments.process_payment(
            self.config,
            payment_ask(self.payment_data(payment, token="", data=payment.payment_data)),
            context,
        )
        self._keep(payment, answer)
        return answer

    def confirm(self, payment: ShopPayment) -> GatewayAnswer:
        """checkoutComplete again, the customer back from the payment page."""
        with self._lock:
            return self._complete(payment)

    def capture(self, payment: ShopPayment, amount: Optional[Decimal] = None) -> GatewayAnswer:
        """The order fulfilled: Saleor captures what is not captured yet (or `amount`)."""
        amount = payment.amount - payment.captured_amount if amount is None else amount
        data = self.payment_data(payment, token=payment.token_of(AUTH), amount=amount)
        answer = payments.capture_payment(self.config, payment_ask(data))
        self._keep(payment, answer)
        return answer

    def void(self, payment: ShopPayment) -> GatewayAnswer:
        data = self.payment_data(payment, token=payment.token_of(AUTH))
        answer = payments.void_payment(self.config, payment_ask(data))
        self._keep(payment, answer)
        return answer

    def refund(
        self, payment: ShopPayment, amount: Decimal, refund_data: Optional[RefundData]
    ) -> GatewayAnswer:
        """A refund from the Dashboard, as the plugin's `refund_payment` hook runs it."""
        # Saleor locks the payment for the whole refund (`with_locked_payment`).
        with self._lock:
            data = self.payment_data(
                payment, token=payment.token_of(CAPTURE), amount=amount, refund_data=refund_data
            )
            answer = asks.refund_payment(self.config, data, self.ledger)
            payment.notes.append(answer.note)
            self._keep(payment, answer)
            self._record_refunds(payment, answer.unrecorded)
            return answer

    def payment_data(
        self,
        payment: ShopPayment,
        token: str,
        amount: Optional[Decimal] = None,
        refund_data: Optional[RefundData] = None,
        data: Optional[Dict[str, Any]] = None,
    ) -> PaymentData:
        """`create_payment_information(payment, token, amount, refund_data, additional_data)`."""
        return PaymentData(
            amount=payment.amount if amount is None else amount,
            currency=payment.currency,
            token=token,
            psp_reference=payment.psp_reference,
            order_id=str(payment.order_id),  # "None" before the order exists
            refund_data=refund_data,
            payment_id=payment.payment_id,
            transactions=list(payment.transactions),
            billing=payment.billing,
            shipping=payment.shipping,
            graphql_payment_id=f"UGF5bWVudDp{payment.payment_id}",
            customer_ip_address="203.0.113.9",
            customer_email=payment.email,
            data=data or {},
            checkout_token=f"checkout-{payment.payment_id}",
        )

    # -- MultiSafepay's notifications ------------------------------------------------------

    def notify(self, notification: Notification, **kwargs: Any) -> NotificationAnswer:
        """The plugin's webhook, given the notification's raw body, Auth header and query."""
        query = dict(parse_qsl(urlsplit(notification.url).query))
        return handle_notification(
            self.config,
            notification.body,
            notification.headers.get("Auth"),
            query,
            self,
            self.ledger,
            **kwargs,
        )

    def notify_new(self, emulator: Emulator) -> List[NotificationAnswer]:
        """Every notification the emulator made since the last call, in order."""
        made = emulator.notifications()
        new, self._delivered = made[self._delivered :], len(made)
        return [self.notify(notification) for notification in new]

    # -- webhook.SaleorSide ----------------------------------------------------------------

    def find_payment(self, msp_order_id: str) -> Optional[SaleorPayment]:
        for payment in self.payments.values():
            if payment.psp_reference == msp_order_id:
                return self.view(payment)
        return None

    def complete_checkout(self, payment: SaleorPayment) -> str:
        with self._lock:
            shop = self.payments[int(payment.payment_id)]
            if shop.order_id is not None:
                # The checkout is gone: Saleor returns the order made from it.
                return shop.order_id
            answer = self._complete(shop)
            if shop.order_id is None:
                raise RuntimeError(f"checkout not completed: {answer.error}")
            return shop.order_id

    def record_capture(self, payment: SaleorPayment, msp_order_id: str) -> bool:
        with self._lock:
            shop = self.payments[int(payment.payment_id)]
            if shop.captured:
                return False
            self._add(shop, CAPTURE, msp_order_id, True, shop.amount - shop.captured_amount)
            return True

    def write_note(self, payment: SaleorPayment, text: str) -> None:
        self.payments[int(payment.payment_id)].notes.append(text)

    def record_refunds(
        self, payment: SaleorPayment, refunds: Sequence[Tuple[str, Decimal, str]]
    ) -> None:
        with self._lock:  # as `plugin.records._record`: the payment locked, then looked at
            self._record_refunds(self.payments[int(payment.payment_id)], refunds)

    def reverse_refunds(
        self, payment: SaleorPayment, refunds: Sequence[Tuple[str, Decimal, str]]
    ) -> None:
        """`plugin.saleor_side.reverse_refunds`: a refund reversed once, if Saleor recorded it."""
        with self._lock:
            shop = self.payments[int(payment.payment_id)]
            for refund_id, amount, _currency in refunds:
                recorded = any(
                    t.kind == REFUND and t.is_success and t.token == refund_id
                    for t in shop.transactions
                )
                if recorded and refund_id not in shop.reversed_ids:
                    self._add(shop, REFUND_REVERSED, refund_id, True, amount)

    def view(self, payment: ShopPayment) -> SaleorPayment:
        return SaleorPayment(
            payment_id=str(payment.payment_id),
            order_id=payment.order_id,
            is_active=payment.is_active,
            to_confirm=payment.to_confirm,
            captured=payment.captured,
            refund_ids=frozenset(payment.refund_ids),
            notes=frozenset(payment.notes),
            given_back=any(t.kind in (VOID, REFUND) and t.is_success for t in payment.transactions),
        )

    # -- what Saleor does with an answer ---------------------------------------------------

    def _complete(self, payment: ShopPayment) -> GatewayAnswer:
        """Saleor's checkout completion of a payment to confirm: confirm, then the order."""
        payment.confirm_calls += 1
        data = self.payment_data(payment, token=payment.token_of(ACTION_TO_CONFIRM))
        # The plugin gives confirm the checkout as it is now (the customer may have changed it).
        answer = payments.confirm_payment(self.config, payment_ask(data), checkout=payment.checkout)
        self._keep(payment, answer)
        # Saleor makes the order of any success that needs no more action (auth, capture,
        # pending); a failure or action_required leaves the checkout as it is.
        if answer.is_success and not answer.action_required and payment.order_id is None:
            payment.orders_created += 1
            payment.order_id = f"order-{payment.payment_id}"
        return answer

    def _keep(self, payment: ShopPayment, answer: GatewayAnswer) -> None:
        """`create_transaction` + `update_payment` + `gateway_postprocess`."""
        if answer.psp_reference and answer.kind != REFUND:
            payment.psp_reference = answer.psp_reference
        self._add(
            payment,
            answer.kind,
            answer.transaction_id,
            answer.is_success,
            answer.amount,
            dict(answer.raw_response),
            answer.action_required,
        )

    def _add(
        self,
        payment: ShopPayment,
        kind: str,
        token: str,
        is_success: bool,
        amount: Decimal,
        response: Optional[Dict[str, str]] = None,
        action_required: bool = False,
    ) -> None:
        payment.transactions.append(
            TransactionData(
                token=token,
                is_success=is_success,
                kind=kind,
                gateway_response=response or {},
                amount={"amount": str(amount), "currency": payment.currency},
            )
        )
        if not is_success:
            return
        if action_required:
            payment.to_confirm = True
            return
        payment.to_confirm = False
        if kind == CAPTURE:
            payment.captured_amount += amount
        elif kind == VOID:
            payment.is_active = False
        elif kind == REFUND:
            payment.captured_amount -= amount
            if payment.captured_amount <= 0:
                payment.captured_amount = Decimal(0)
                payment.is_active = False
        elif kind == REFUND_REVERSED:  # Saleor: captured again, the payment active again
            payment.captured_amount += amount
            payment.is_active = True

    def _record_refunds(
        self, payment: ShopPayment, refunds: Sequence[Tuple[str, Decimal, str]]
    ) -> None:
        """`plugin.records._record`: each refund once, by its id."""
        for refund_id, amount, _currency in refunds:
            if refund_id not in payment.refund_ids:
                self._add(payment, REFUND, refund_id, True, amount, {"refund_id": refund_id})
