"""Payments in Saleor's own terms (Saleor glue): the checkout's totals for the MultiSafepay
order, the notification URL, and what a notification changes in Saleor (`webhook.SaleorSide`).

Saleor's own functions do the recording, as its payment mutations do: `complete_checkout` for
a customer who paid and never came back (it calls the plugin's `confirm_payment`, which reads
MultiSafepay again), `create_transaction` + `gateway_postprocess` + `order_charged` for a
capture MultiSafepay made, `gateway.capture` + `order_charged` when an order is fulfilled.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any, FrozenSet, Optional, Sequence, Set, Tuple
from urllib.parse import urljoin

from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from saleor.checkout.complete_checkout import complete_checkout
from saleor.checkout.error_codes import CheckoutErrorCode
from saleor.checkout.fetch import fetch_checkout_info, fetch_checkout_lines
from saleor.checkout.models import Checkout
from saleor.core.utils import build_absolute_uri
from saleor.order import OrderEvents
from saleor.order.actions import order_charged
from saleor.order.fetch import fetch_order_info
from saleor.order.models import Order, OrderEvent
from saleor.payment import ChargeStatus, PaymentError, TransactionKind
from saleor.payment import gateway as saleor_gateway
from saleor.payment.gateway import payment_refund_or_void
from saleor.payment.interface import GatewayResponse
from saleor.payment.models import Payment
from saleor.payment.utils import (
    create_transaction,
    gateway_postprocess,
)
from saleor.plugins.manager import get_plugins_manager

from ..payments.ask import CheckoutLineTotals, CheckoutTotals, PaymentContext
from ..payments.notifications import CheckoutNotCompleted, SaleorPayment
from .order_history import write_order_note
from .records import record_after_commit, reverse_refunds

logger = logging.getLogger(__name__)

NOTIFICATION_PATH = "notification"
TAX_ERROR = CheckoutErrorCode.TAX_ERROR.value


def notification_url(plugin_id: str, channel_slug: str) -> str:
    """Where MultiSafepay sends this channel's notifications (Saleor's plugin webhook)."""
    path = reverse(
        "plugins-per-channel", kwargs={"plugin_id": plugin_id, "channel_slug": channel_slug}
    )
    return str(urljoin(build_absolute_uri(path), NOTIFICATION_PATH))


def payment_context(payment_information: Any, plugin_id: str, channel_slug: str) -> PaymentContext:
    """What the MultiSafepay order needs beyond PaymentData: the checkout's lines and totals as
    Saleor computed them (fresh: checkoutComplete recalculates before paying), and where the
    customer returns to."""
    payment = Payment.objects.filter(pk=payment_information.payment_id).first()
    checkout = _checkout(payment_information)
    return PaymentContext(
        notification_url=notification_url(plugin_id, channel_slug),
        return_url=(payment.return_url or "") if payment is not None else "",
        checkout=_totals(checkout) if checkout is not None else None,
        locale=_locale(checkout, payment_information),
    )


def checkout_totals(payment_information: Any) -> Optional[CheckoutTotals]:
    """The payment's checkout as Saleor priced it now; None once it is an order (or gone)."""
    checkout = _checkout(payment_information)
    return _totals(checkout) if checkout is not None else None


def _checkout(payment_information: Any) -> Optional[Checkout]:
    if not payment_information.checkout_token:
        return None
    return (
        Checkout.objects.filter(token=payment_information.checkout_token)
        .prefetch_related("lines__variant__product")
        .first()
    )


def _totals(checkout: Checkout) -> CheckoutTotals:
    lines = []
    for line in checkout.lines.all():
        variant = line.variant
        product = variant.product if variant is not None else None
        name = str(product.name) if product is not None else ""
        if variant is not None and variant.name:
            name = f"{name}, {variant.name}" if name else str(variant.name)
        lines.append(
            CheckoutLineTotals(
                product_name=name,
                product_sku=variant.sku if variant is not None else None,
                product_variant_id=variant.get_global_id() if variant is not None else "",
                quantity=int(line.quantity),
                total_gross=Decimal(line.total_price_gross_amount),
                total_net=Decimal(line.total_price_net_amount),
                tax_rate=_rate(line.tax_rate),
                is_gift=bool(getattr(line, "is_gift", False)),
            )
        )
    return CheckoutTotals(
        lines=tuple(lines),
        shipping_gross=Decimal(checkout.shipping_price_gross_amount),
        shipping_net=Decimal(checkout.shipping_price_net_amount),
        shipping_tax_rate=_rate(checkout.shipping_tax_rate),
        total_gross=Decimal(checkout.total_gross_amount),
        voucher_code=checkout.voucher_code or "",
    )


def _rate(value: Any) -> Optional[Decimal]:
    return None if value is None else Decimal(value)


def _locale(checkout: Optional[Checkout], payment_information: Any) -> str:
    """MultiSafepay's locale (nl_NL) from the checkout's language and the billing country."""
    language = (getattr(checkout, "language_code", "") or "").split("-")[0].lower()
    billing = payment_information.billing
    country = str(getattr(billing, "country", "") or "").upper()
    return f"{language}_{country}" if len(language) == 2 and len(country) == 2 else ""


class SaleorPayments:
    """`webhook.SaleorSide` on Saleor's models, for one channel. Called outside a transaction:
    every change locks the payment itself (Saleor's refunds hold that lock too) and checks
    first whether it was made already."""

    def __init__(self, plugin_id: str, channel_slug: str) -> None:
        self.plugin_id = plugin_id
        self.channel_slug = channel_slug

    def find_payment(self, msp_order_id: str) -> Optional[SaleorPayment]:
        found = (
            Payment.objects.filter(gateway=self.plugin_id, psp_reference=msp_order_id)
            .order_by("-pk")
            .first()
        )
        if found is None:
            return None
        payment = found
        if _channel_slug(payment) not in (None, self.channel_slug):
            return None  # another channel's payment: its own URL and key apply
        transactions = list(payment.transactions.all())
        return SaleorPayment(
            payment_id=str(payment.pk),
            order_id=str(payment.order_id) if payment.order_id else None,
            is_active=bool(payment.is_active),
            to_confirm=bool(payment.to_confirm),
            captured=any(
                t.kind == TransactionKind.CAPTURE and t.is_success and not t.action_required
                for t in transactions
            ),
            refund_ids=frozenset(
                str(t.token)
                for t in transactions
                if t.kind == TransactionKind.REFUND and t.is_success and t.token
            ),
            notes=_notes(payment.order_id),
            given_back=any(
                t.kind in (TransactionKind.VOID, TransactionKind.REFUND) and t.is_success
                for t in transactions
            ),
        )

    def complete_checkout(self, payment: SaleorPayment) -> str:
        """Place the order of a customer who paid and never came back, the way the storefront's
        checkoutComplete would; when it cannot be placed, the money goes back (Saleor's own
        `payment_refund_or_void`: the plugin's void or refund)."""
        saleor_payment = Payment.objects.get(pk=payment.payment_id)
        manager = get_plugins_manager(allow_replica=False)
        try:
            # What MultiSafepay shows, recorded first (the plugin's confirm_payment; a second
            # confirm by the storefront meanwhile is answered "already recorded"), so that a
            # checkout that cannot be completed is refunded or voided below.
            saleor_gateway.confirm(saleor_payment, manager, channel_slug=self.channel_slug)
        except PaymentError as exc:
            raise CheckoutNotCompleted(f"the payment could not be confirmed ({exc})") from None
        with transaction.atomic():
            saleor_payment = Payment.objects.select_for_update().get(pk=payment.payment_id)
            if saleor_payment.order_id:
                return "placed meanwhile by the storefront"
            # checkoutComplete confirms through the plugin again: "already recorded".
            saleor_payment.to_confirm = True
            saleor_payment.save(update_fields=["to_confirm"])
        reason = self._place_order(saleor_payment, manager)
        if reason.startswith("order "):
            return reason
        with transaction.atomic():
            saleor_payment = Payment.objects.select_for_update().get(pk=payment.payment_id)
            if saleor_payment.order_id:
                return "placed meanwhile by the storefront"
        try:
            payment_refund_or_void(saleor_payment, manager, self.channel_slug)
        except PaymentError:
            logger.exception("Could not give back MultiSafepay payment %s", saleor_payment.pk)
        saleor_payment.refresh_from_db()
        if _holds_money(saleor_payment):
            # Not given back (MultiSafepay unreachable, a refund still unclear, a payment
            # still being checked): MultiSafepay sends the notification again, this runs again.
            raise CheckoutNotCompleted(
                f"the order cannot be placed ({reason}) and the payment is not given back yet"
            )
        logger.error(
            "MultiSafepay paid for Saleor payment %s, but Saleor could not place the order "
            "(%s): the payment is refunded or voided.",
            saleor_payment.pk,
            reason,
        )
        return f"not completed ({reason}): payment refunded or voided"

    def _place_order(self, payment: Payment, manager: Any) -> str:
        """ "order <number> created", or why not."""
        checkout = Checkout.objects.filter(pk=payment.checkout_id).first()
        if checkout is None:
            order = Order.objects.filter(payments=payment).first()
            if order is not None:  # the storefront placed it meanwhile
                return f"order {order.number} created"
            return "its checkout no longer exists"
        lines, unavailable = fetch_checkout_lines(checkout)
        if unavailable:
            return "some of its products are no longer available"
        checkout_info = fetch_checkout_info(checkout, list(lines), manager)
        try:
            order, _, _ = complete_checkout(
                manager=manager,
                checkout_info=checkout_info,
                lines=list(lines),
                payment_data={},
                store_source=False,
                user=checkout.user or None,
                app=None,
            )
        except ValidationError as exc:
            if TAX_ERROR in _codes(exc):
                # The tax app failed for now: try again, rather than give a good order back.
                raise CheckoutNotCompleted("Saleor's taxes could not be computed") from None
            return "; ".join(exc.messages)
        return f"order {order.number} created" if order is not None else "Saleor placed no order"

    def record_capture(self, payment: SaleorPayment, msp_order_id: str) -> bool:
        with transaction.atomic():
            return self._record_capture(payment, msp_order_id)

    def _record_capture(self, payment: SaleorPayment, msp_order_id: str) -> bool:
        saleor_payment = Payment.objects.select_for_update().get(pk=payment.payment_id)
        if saleor_payment.transactions.filter(
            kind=TransactionKind.CAPTURE, is_success=True, action_required=False
        ).exists():
            return False
        amount = saleor_payment.total - saleor_payment.captured_amount
        response = GatewayResponse(
            is_success=True,
            action_required=False,
            kind=TransactionKind.CAPTURE,
            amount=amount,
            currency=saleor_payment.currency,
            transaction_id=msp_order_id,
            error=None,
            raw_response={"multisafepay_order_id": msp_order_id, "source": "notification"},
            psp_reference=msp_order_id,
        )
        capture = create_transaction(
            saleor_payment,
            kind=TransactionKind.CAPTURE,
            payment_information=None,
            action_required=False,
            gateway_response=response,
        )
        gateway_postprocess(capture, saleor_payment)
        if saleor_payment.order is not None:
            manager = get_plugins_manager(allow_replica=False)
            order_charged(
                fetch_order_info(saleor_payment.order),
                None,
                None,
                amount,
                saleor_payment,
                manager,
            )
        return True

    def write_note(self, payment: SaleorPayment, text: str) -> None:
        if payment.order_id is None:
            logger.warning("MultiSafepay (payment %s, no order yet): %s", payment.payment_id, text)
            return
        # Written as it happens: the change it reports is made already, and made once.
        write_order_note(payment.order_id, text, outside=False)

    def reverse_refunds(
        self, payment: SaleorPayment, refunds: Sequence[Tuple[str, Decimal, str]]
    ) -> None:
        reverse_refunds(int(payment.payment_id), refunds)

    def record_refunds(
        self, payment: SaleorPayment, refunds: Sequence[Tuple[str, Decimal, str]]
    ) -> None:
        record_after_commit(int(payment.payment_id), refunds)


def _holds_money(payment: Payment) -> bool:
    """Whether Saleor's payment still counts money the customer paid (captured, authorized, or
    being checked at MultiSafepay)."""
    # A void or a full refund makes Saleor's payment inactive.
    return bool(payment.is_active) and bool(
        payment.can_refund() or payment.can_void() or payment.charge_status == ChargeStatus.PENDING
    )


def _codes(error: ValidationError) -> Set[str]:
    errors = (
        [e for values in error.error_dict.values() for e in values]
        if hasattr(error, "error_dict")
        else error.error_list
    )
    return {str(e.code) for e in errors if e.code}


def _notes(order_id: Any) -> FrozenSet[str]:
    if not order_id:
        return frozenset()
    events = OrderEvent.objects.filter(order_id=order_id, type=OrderEvents.NOTE_ADDED)
    return frozenset(str(event.parameters.get("message", "")) for event in events)


def _channel_slug(payment: Payment) -> Optional[str]:
    if payment.order_id:
        return str(payment.order.channel.slug)
    if payment.checkout_id:
        checkout = Checkout.objects.filter(pk=payment.checkout_id).select_related("channel").first()
        if checkout is not None:
            return str(checkout.channel.slug)
    return None


def capture_fulfilled(order: Any, channel_slug: str, plugin_id: str) -> Optional[str]:
    """Capture (ship) the order's authorized MultiSafepay payment now that it is fulfilled, as
    Saleor's orderCapture does; the order's history says what happened. None when there is
    nothing to capture."""
    payment = order.get_last_payment()
    if (
        payment is None
        or payment.gateway != plugin_id
        or not payment.is_active
        or not payment.can_capture()
        or not payment.is_authorized
    ):
        return None
    manager = get_plugins_manager(allow_replica=False)
    try:
        captured = saleor_gateway.capture(payment, manager, channel_slug=channel_slug)
    except Exception as exc:  # Saleor raises PaymentError; anything else must not break
        note = (
            f"MultiSafepay capture (shipping) of this order failed: {exc}. The order is "
            "fulfilled but not captured: capture it from the order once the cause is fixed."
        )
        write_order_note(order.pk, note, outside=True)
        return note
    payment.refresh_from_db()
    if captured.kind != TransactionKind.CAPTURE or not captured.is_success:
        return None
    order.refresh_from_db()  # the hook's order predates the capture
    order_charged(fetch_order_info(order), None, None, captured.amount, payment, manager)
    note = (
        f"MultiSafepay order {captured.token} shipped: {payment.currency} "
        f"{captured.amount} captured (the customer is invoiced by the payment provider)."
    )
    write_order_note(order.pk, note, outside=False)
    return note


__all__: Sequence[str] = [
    "SaleorPayments",
    "capture_fulfilled",
    "notification_url",
    "payment_context",
]
