"""MultiSafepay's notifications: verified, the order read back, Saleor brought in line.

Imports nothing of Saleor or Django: Saleor's side is a `SaleorSide` (`plugin/saleor_side.py`
in Saleor, a fake in tests). A notification only says "this order changed": its signature is
checked (`multisafepay/signatures.py`), then the order is read from MultiSafepay and Saleor is
compared with what MultiSafepay shows NOW. So a repeated notification changes nothing, and
notifications arriving out of order cannot move Saleor backwards.

    MultiSafepay shows                     Saleor has                    done
    =====================================  ============================  ==========================
    paid (authorized, captured, uncleared) no order yet (customer left)  the checkout is completed
    captured (shipped, or iDEAL cleared)   no capture                    the capture is recorded
    declined, cancelled, expired, void     an order, nothing captured    a note, once
    charged back                           an order                      a note, once
    paid                                   a payment Saleor dropped      cancelled or refunded
    a refund Saleor did not make           -                             recorded once, and noted
    a refund declined or voided            counted as refunded           ledger, and noted

The answer: `OK` (HTTP 200) once done; a forged or stale notification 403; one for an order
Saleor does not know (yet) 404, and one whose order cannot be read now, or that arrives while
a refund of the payment is still being sent, 503, so that MultiSafepay sends it again later.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum
from functools import lru_cache
from typing import (
    TYPE_CHECKING,
    Callable,
    FrozenSet,
    List,
    Mapping,
    Optional,
    Protocol,
    Sequence,
    Tuple,
)

from ..config import GatewayConfig
from ..errors import MultiSafepayRefundError
from ..multisafepay import wire
from ..multisafepay.client import MultiSafepayClient
from ..multisafepay.order import Order, parse_order
from ..multisafepay.refund_body import RefundRequest, build_refund
from ..multisafepay.signatures import InvalidNotification, verify_notification
from ..multisafepay.statuses import PaymentState
from ..refunds.flow import (
    record_outcome,
    refuse_while_in_flight,
    settle_refunds,
    unrecorded_refunds,
)
from ..refunds.ledger import EntryState, LedgerEntry, LedgerStore, pending_entry
from ..refunds.send import RefundStatus, send_refund
from .flow import PaymentView, read_payment

if TYPE_CHECKING:
    import requests

logger = logging.getLogger(__name__)

# The reference Saleor records a refund under (ledger.LedgerEntry.reference), amount, currency.
Refund = Tuple[str, Decimal, str]


class CheckoutNotCompleted(MultiSafepayRefundError):
    """The checkout could not be completed for now (MultiSafepay unreadable): try again later."""


@dataclass(frozen=True)
class SaleorPayment:
    """What the notification flow needs of Saleor's payment."""

    payment_id: str
    order_id: Optional[str]  # Saleor's order; None while the checkout is not completed
    is_active: bool
    to_confirm: bool  # Saleor waits for the customer to come back
    captured: bool  # Saleor recorded a successful capture
    refund_ids: FrozenSet[str] = field(default_factory=frozenset)
    # Saleor voided or refunded it (the money went back through Saleor already).
    given_back: bool = False
    # The notes already in the order's history: a failure changes nothing in Saleor's payment,
    # so its note is the only trace that it was reported.
    notes: FrozenSet[str] = field(default_factory=frozenset)


class SaleorSide(Protocol):
    def find_payment(self, msp_order_id: str) -> Optional[SaleorPayment]: ...

    def complete_checkout(self, payment: SaleorPayment) -> str: ...

    def record_capture(self, payment: SaleorPayment, msp_order_id: str) -> bool: ...

    def write_note(self, payment: SaleorPayment, text: str) -> None: ...

    def record_refunds(self, payment: SaleorPayment, refunds: Sequence[Refund]) -> None: ...

    def reverse_refunds(self, payment: SaleorPayment, refunds: Sequence[Refund]) -> None: ...


class PaymentAction(str, Enum):
    NONE = "none"
    COMPLETE_CHECKOUT = "complete_checkout"
    RECORD_CAPTURE = "record_capture"
    REPORT_FAILURE = "report_failure"
    REPORT_CHARGEBACK = "report_chargeback"
    GIVE_BACK = "give_back"


@dataclass(frozen=True)
class NotificationAnswer:
    status: int
    body: str
    actions: Tuple[str, ...] = ()  # what was done, for logs and tests


def payment_action(payment: SaleorPayment, view: PaymentView) -> PaymentAction:
    """What Saleor's payment needs, given MultiSafepay's order now (the table above)."""
    state = view.state
    paid = state in (PaymentState.AUTHORIZED, PaymentState.CAPTURED) or (
        state is PaymentState.PENDING and view.status == "uncleared"
    )
    if not payment.is_active:
        if state in (PaymentState.AUTHORIZED, PaymentState.CAPTURED) and not payment.given_back:
            # Paid for a payment Saleor dropped (the customer started another one, and may
            # have placed the order with it): nothing in Saleor will ever claim this money.
            return PaymentAction.GIVE_BACK
        return PaymentAction.NONE
    if payment.order_id is None:
        # Whether or not Saleor still waits for the customer (`to_confirm`): a completion
        # stopped halfway resumes; what Saleor recorded already is answered as recorded.
        return PaymentAction.COMPLETE_CHECKOUT if paid else PaymentAction.NONE
    if state is PaymentState.CHARGED_BACK:
        return PaymentAction.REPORT_CHARGEBACK
    if state is PaymentState.CAPTURED and not payment.captured and payment.is_active:
        return PaymentAction.RECORD_CAPTURE
    if state is PaymentState.FAILED and not payment.captured and payment.is_active:
        return PaymentAction.REPORT_FAILURE
    return PaymentAction.NONE


def notified_order_id(raw_body: bytes, query: Mapping[str, str]) -> str:
    """The order a notification is about: the signed body's `order_id`, which must agree with
    the URL's (unsigned) `transactionid` when that is given; "" when there is none."""
    try:
        data = wire.loads(raw_body) if raw_body else None
    except ValueError:
        data = None
    from_body = str(data.get("order_id") or "") if isinstance(data, dict) else ""
    from_query = str(query.get("transactionid") or "")
    if from_query and from_body != from_query:
        return ""
    return from_body


def handle_notification(
    config: GatewayConfig,
    raw_body: bytes,
    auth_header: Optional[str],
    query: Mapping[str, str],
    saleor: SaleorSide,
    ledger: LedgerStore,
    session: Optional[requests.Session] = None,
    now: Optional[float] = None,
) -> NotificationAnswer:
    """Verify a notification and bring Saleor in line with MultiSafepay; never raises."""
    try:
        verify_notification(raw_body, auth_header, config.api_key, now=now)
    except InvalidNotification as exc:
        logger.warning("MultiSafepay notification refused: %s", exc)
        return NotificationAnswer(403, str(exc))
    order_id = notified_order_id(raw_body, query)
    if not order_id:
        return NotificationAnswer(400, "The notification names no order (or two).")
    try:
        payment = saleor.find_payment(order_id)
        if payment is None:
            # Not (yet) a payment of this shop: MultiSafepay tries again later.
            return NotificationAnswer(404, f"No Saleor payment for MultiSafepay order {order_id}.")
        with config.connected(session) as client:
            data = client.get_order(order_id)
            done = _apply(config, client, payment, data, saleor, ledger)
        return NotificationAnswer(200, "OK", done)
    except MultiSafepayRefundError as exc:
        logger.warning("MultiSafepay notification for %s not applied: %s", order_id, exc)
        return NotificationAnswer(503, f"Not applied, send it again later: {exc}")
    except Exception:
        logger.exception("MultiSafepay notification for %s stopped on an error", order_id)
        return NotificationAnswer(503, "Not applied (an error in the shop): send it again later.")


def _apply(
    config: GatewayConfig,
    client: MultiSafepayClient,
    payment: SaleorPayment,
    data: Mapping[str, object],
    saleor: SaleorSide,
    ledger: LedgerStore,
) -> Tuple[str, ...]:
    # MultiSafepay notifies a refund as soon as it is made, possibly before its POST is
    # answered. Settled now, the plugin's own refund would be taken for one whose answer was
    # lost (noted so, and recorded in Saleor beside the refund's own record): MultiSafepay
    # sends the notification again later, once the refund's flow has recorded it. Checked
    # first, so that nothing is done twice when the notification comes again. The entries are
    # read once, after the order, and these very entries are settled below: a refund started
    # since is in neither.
    entries = ledger.entries(payment.payment_id)
    refuse_while_in_flight(entries, config)
    view = read_payment(data)
    # Parsed only when refunds are looked at (a cart this package cannot read must not stop a
    # checkout from completing), and then once.
    order = lru_cache(maxsize=None)(lambda: parse_order(data))
    done: List[str] = []
    gave_back = False
    action = payment_action(payment, view)
    if action is PaymentAction.COMPLETE_CHECKOUT:
        done.append(f"checkout: {saleor.complete_checkout(payment)}")
    elif action is PaymentAction.GIVE_BACK:
        done.append(_give_back(config, client, payment, view, order, entries, ledger))
        gave_back = True
    elif action is PaymentAction.REPORT_CHARGEBACK:
        note = (
            f"MultiSafepay shows a chargeback on order {view.order_id}: the customer's bank "
            "took the money back. Saleor's payment does not show this; see MultiSafepay's "
            "dashboard."
        )
        if note not in payment.notes:
            done.append("reported chargeback")
            saleor.write_note(payment, note)
    elif action is PaymentAction.RECORD_CAPTURE:
        if saleor.record_capture(payment, view.order_id):
            done.append("capture recorded")
            saleor.write_note(
                payment,
                f"MultiSafepay captured order {view.order_id} ({view.status}): recorded in "
                "Saleor's payment.",
            )
    elif action is PaymentAction.REPORT_FAILURE:
        note = (
            f"MultiSafepay shows order {view.order_id} as {view.status}: nothing will be "
            "charged. Do not ship it; cancel the order in Saleor."
        )
        # Reporting leaves Saleor's payment as it was, so every repeated notification would
        # report it again: the order's history says whether staff were told already.
        if note not in payment.notes:
            done.append(f"reported {view.status}")
            saleor.write_note(payment, note)
    # Refunds show in the list, or only in amount_refunded (listed late or never).
    if view.gateway and (data.get("related_transactions") or data.get("amount_refunded")):
        # Giving back may have written a refund of its own: then the ledger is read again.
        read = None if gave_back else entries
        done.extend(_refunds(config, payment, order(), read, saleor, ledger))
    return tuple(done)


def _refunds(
    config: GatewayConfig,
    payment: SaleorPayment,
    order: Order,
    read: Optional[Sequence[LedgerEntry]],
    saleor: SaleorSide,
    ledger: LedgerStore,
) -> List[str]:
    """Refunds: open ledger entries settled, status changes noted, outside refunds recorded."""
    recorded = set(payment.refund_ids)
    entries, reports = settle_refunds(
        ledger, payment.payment_id, order, recorded, config, refuse_in_flight=True, read=read
    )
    for report in reports:
        saleor.write_note(payment, report)
    unrecorded = unrecorded_refunds(entries, recorded)
    if unrecorded:
        saleor.record_refunds(payment, unrecorded)
    # Refunds Saleor recorded that MultiSafepay declined or voided: Saleor's payment must count
    # that money as not refunded again (Saleor's "refund reversed"), once per refund.
    declined = [
        (entry.reference, entry.amount, entry.currency)
        for entry in entries
        if entry.state is EntryState.DECLINED and entry.reference in recorded
    ]
    if declined:
        saleor.reverse_refunds(payment, declined)
    return [
        *(f"noted: {report}" for report in reports),
        *(f"recorded {refund[0]}" for refund in unrecorded),
        *(f"reversed {refund[0]}" for refund in declined),
    ]


def _give_back(
    config: GatewayConfig,
    client: MultiSafepayClient,
    payment: SaleorPayment,
    view: PaymentView,
    order: Callable[[], Order],
    read: Sequence[LedgerEntry],
    ledger: LedgerStore,
) -> str:
    """Cancel, or refund whole, an order paid for a payment Saleor no longer uses. A refund is
    written to the ledger before it is sent, like every refund: sent once, never twice."""
    if view.amount_refunded >= view.amount:
        return "given back already"
    if view.state is PaymentState.AUTHORIZED:
        client.update_order(view.order_id, {"status": "cancelled"})
        what = "cancelled"
    else:
        what = _refund_whole(config, client, payment, order(), read, ledger)
    logger.error(
        "MultiSafepay order %s was paid for Saleor payment %s, which Saleor no longer uses "
        "(the customer paid again): %s at MultiSafepay.",
        view.order_id,
        payment.payment_id,
        what,
    )
    return f"paid for a payment Saleor dropped: {what}"


def _refund_whole(
    config: GatewayConfig,
    client: MultiSafepayClient,
    payment: SaleorPayment,
    order: Order,
    read: Sequence[LedgerEntry],
    ledger: LedgerStore,
) -> str:
    recorded = set(payment.refund_ids)
    entries, _ = settle_refunds(
        ledger, payment.payment_id, order, recorded, config, refuse_in_flight=True, read=read
    )
    if any(entry.is_open for entry in entries):
        raise CheckoutNotCompleted("an earlier refund of this order is still unclear")
    plan = build_refund(order, RefundRequest(full=True), config.sign_conventions)
    entry = pending_entry(payment.payment_id, plan, order)
    ledger.save(entry)
    outcome = send_refund(client, order, plan)
    record_outcome(ledger, entry, outcome)
    if outcome.status is not RefundStatus.REFUNDED:
        raise CheckoutNotCompleted(f"it could not be refunded: {outcome.error}")
    return f"refunded (refund {outcome.refund_id or 'counted, not listed yet'})"
