"""A refund Saleor asks for, made at MultiSafepay at most once: a `RefundAsk` in, an answer out.

Knows nothing of Saleor: a door builds the `RefundAsk` from Saleor's data and turns the
`GatewayAnswer` into Saleor's. Every answer carries a `note` for the order's history, because
Saleor replaces the plugin's error with "The refund operation is not available yet." in the
two fulfillment mutations.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import TYPE_CHECKING, Dict, Iterable, List, Optional, Sequence, Set, Tuple

from ..answers import GatewayAnswer, failure
from ..config import GatewayConfig
from ..errors import (
    SETTINGS_PLACE,
    AmountMismatch,
    AmountNotAllowed,
    ConfigurationError,
    EmptyRefund,
    InvalidQuantity,
    MultiSafepayRefundError,
    RefundInProgress,
    RefundRefused,
    UnknownItem,
)
from ..multisafepay.client import MultiSafepayClient
from ..multisafepay.money import shown, to_minor_units
from ..multisafepay.order import Order, parse_order
from ..multisafepay.refund_body import KnownRefunds, RefundPlan, RefundRequest, build_refund
from .ask import RefundAsk
from .ledger import (
    EntryState,
    LedgerEntry,
    LedgerStore,
    external_entry,
    external_refunds,
    in_flight,
    pending_entry,
    refund_status_changes,
    settle,
    with_state,
)
from .send import (
    CANNOT_REFUND,
    RefundOutcome,
    RefundStatus,
    send_refund,
    unreadable_order,
)

if TYPE_CHECKING:
    import requests

logger = logging.getLogger(__name__)

# MultiSafepay refuses the same amount twice on one order within 5 minutes (error 1034).
DUPLICATE_WINDOW_SECONDS = 300
# What staff can do when the ledger's table cannot be used (nothing was sent then).
LEDGER_ADVICE = (
    "(a database error: the server log says which). If it persists, run `python manage.py "
    "migrate saleor_multisafepay_refund`, then try again."
)


def refund_payment(
    config: GatewayConfig,
    ask: RefundAsk,
    ledger: LedgerStore,
    session: Optional[requests.Session] = None,
) -> GatewayAnswer:
    """Refund what Saleor asks through MultiSafepay, at most once; never raises.

    One client per refund, so that its GET and POST share one connection.
    """
    try:
        with config.connected(session) as client:
            return _refund(client, config, ask, ledger)
    except ConfigurationError as exc:
        return refuse_unconfigured(ask, exc, config.settings_place)
    except Exception:
        # Saleor turns an exception into an internal error and loses the reason: answer instead.
        logger.exception("MultiSafepay refund stopped on an unexpected error")
        return failure(
            ask,
            ask.msp_order_id,
            "The MultiSafepay refund stopped on an unexpected error: check the order in "
            "MultiSafepay's dashboard before trying again.",
        )


def refuse_unconfigured(
    ask: RefundAsk, error: ConfigurationError, where: str = SETTINGS_PLACE
) -> GatewayAnswer:
    """The answer when the configuration cannot be used: nothing is sent. `where`: where staff
    fix it, in the words of the door the refund came through."""
    return failure(
        ask,
        ask.msp_order_id,
        f"MultiSafepay refund not sent: the configuration cannot be used ({error}). "
        f"Fix it in {where}.",
    )


def _refund(
    client: MultiSafepayClient, config: GatewayConfig, ask: RefundAsk, ledger: LedgerStore
) -> GatewayAnswer:
    order_id = ask.msp_order_id
    if not order_id:
        return failure(
            ask,
            "",
            "MultiSafepay refund not sent: this payment has no MultiSafepay order id (no "
            "capture token or PSP reference). Refund it in MultiSafepay's dashboard.",
        )
    try:
        order = parse_order(client.get_order(order_id))
    except MultiSafepayRefundError as exc:
        return _from_outcome(ask, unreadable_order(order_id, exc, config.settings_place))
    recorded = set(ask.recorded)
    try:
        entries, reports = settle_refunds(ledger, ask.payment_id, order, recorded, config)
    except MultiSafepayRefundError:
        raise
    except Exception:
        logger.exception("Could not read or settle the MultiSafepay refund ledger")
        return failure(
            ask,
            order_id,
            f"MultiSafepay refund not sent: the refund ledger could not be read {LEDGER_ADVICE}",
        )
    answer = _answer(client, config, ask, ledger, order, entries, reports, recorded)
    unrecorded = unrecorded_refunds(
        entries, recorded, answer.transaction_id if answer.is_success else ""
    )
    return replace(answer, unrecorded=unrecorded) if unrecorded else answer


def _answer(
    client: MultiSafepayClient,
    config: GatewayConfig,
    ask: RefundAsk,
    ledger: LedgerStore,
    order: Order,
    entries: List[LedgerEntry],
    reports: List[str],
    recorded: Set[str],
) -> GatewayAnswer:
    """The refund itself, once the ledger is settled."""
    order_id = order.order_id
    still_open = [entry for entry in entries if entry.is_open]
    if still_open:
        message = _waiting_for(ask, config, still_open[0])
        return failure(ask, order_id, _joined(reports, message))
    try:
        asked = _asked(config, ask, order)
        landed = _landed_unrecorded(config, ask, entries, asked, recorded)
        if landed is not None:
            # Staff retry a refund that did go through: Saleor records it now, nothing is sent.
            return _already_refunded(landed, reports)
        plan = _plan(config, ask, order, asked, _known_refunds(entries, order))
    except RefundRefused as exc:
        message = f"MultiSafepay refund not sent: {exc}"
        return failure(ask, order_id, _joined(reports, message))
    entry = pending_entry(ask.payment_id, plan, order)
    try:
        ledger.save(entry)
    except Exception:
        logger.exception("Could not record the MultiSafepay refund before sending it")
        return failure(
            ask,
            order_id,
            "MultiSafepay refund not sent: it could not be recorded first, and a refund is never "
            f"sent unrecorded {LEDGER_ADVICE}",
        )
    outcome = send_refund(client, order, plan)
    settled = record_outcome(ledger, entry, outcome)
    answer = _from_outcome(ask, _explained(outcome, entries), settled.reference)
    if settled.is_open:
        answer = replace(answer, open_entry=settled.entry_id)
    return replace(answer, note=_joined(reports, answer.note)) if reports else answer


def _waiting_for(ask: RefundAsk, config: GatewayConfig, entry: LedgerEntry) -> str:
    """Why a new refund waits for `entry`, and what staff can do about it."""
    if in_flight(entry, config.in_flight_seconds):
        return (
            "MultiSafepay refund not sent: another refund of this payment "
            f"({entry.describe()}) is being sent to MultiSafepay right now. Try again in a "
            "minute: MultiSafepay is checked before anything is sent."
        )
    if time.time() - entry.created_at < config.settle_after_seconds:
        return (
            "MultiSafepay refund not sent: an earlier refund of this payment "
            f"({entry.describe()}) lost its answer and has not shown up at MultiSafepay yet; "
            "it still may. Try again in a minute: MultiSafepay is checked before anything is "
            "sent."
        )
    # Past the settle window only an entry the order cannot decide stays open: waiting longer
    # would loop, so staff decide it once they have looked.
    command = config.support_command.format(
        saleor_order=ask.saleor_order or "ORDER", msp_order=ask.msp_order_id
    )
    return (
        "MultiSafepay refund not sent: whether an earlier refund of this payment "
        f"({entry.describe()}, ledger entry {entry.entry_id}) went through cannot be told. "
        f"{entry.error} Check order {entry.msp_order_id} in MultiSafepay's dashboard, then "
        f"record what you find: `{command} --mark-refunded {entry.entry_id}` if the refund "
        f"is there, `{command} --mark-failed {entry.entry_id}` if it is not. Refunds of this "
        "payment wait until then."
    )


def settle_refunds(
    ledger: LedgerStore,
    payment_id: str,
    order: Order,
    saleor_refund_ids: Set[str],
    config: GatewayConfig,
    refuse_in_flight: bool = False,
    read: Optional[Sequence[LedgerEntry]] = None,
) -> Tuple[List[LedgerEntry], List[str]]:
    """The payment's entries after settling the open ones, and what staff must be told.

    While a refund of the payment is in flight nothing is settled or reported (its own flow
    records it); `refuse_in_flight` raises RefundInProgress then. The check is made on the very
    entries settled: `order` was read before them, so a refund written after this read is not
    in `order` either. `read`: the entries when the caller read them already, after `order`.
    """
    listed = ledger.entries(payment_id) if read is None else read
    entries = {entry.entry_id: entry for entry in listed}
    if refuse_in_flight:
        refuse_while_in_flight(entries.values(), config)
    elif any(in_flight(entry, config.in_flight_seconds) for entry in entries.values()):
        return sorted(entries.values(), key=lambda entry: entry.created_at), []
    reports: List[str] = []
    for changed in settle(list(entries.values()), order, settle_after=config.settle_after_seconds):
        ledger.save(changed)
        was_open = entries[changed.entry_id].is_open
        entries[changed.entry_id] = changed
        if was_open and changed.state is EntryState.REFUNDED:
            which = (
                f"refund {changed.refund_id}"
                if changed.refund_id
                else "refund (counted by MultiSafepay, not listed yet)"
            )
            reports.append(
                f"MultiSafepay did make the earlier {which} ({changed.describe()}) whose "
                "answer was lost."
            )
    for refund_id in external_refunds(entries.values(), order, saleor_refund_ids):
        entry = external_entry(payment_id, order, refund_id)
        ledger.save(entry)
        entries[entry.entry_id] = entry
        reports.append(
            f"MultiSafepay shows a refund Saleor did not make: refund {refund_id} of "
            f"{shown(entry.amount, entry.currency)} (made in MultiSafepay's dashboard?): "
            "recorded in Saleor's payment now."
        )
    for changed, told in refund_status_changes(list(entries.values()), order):
        ledger.save(changed)
        entries[changed.entry_id] = changed
        if told:
            reports.append(told)
    return sorted(entries.values(), key=lambda entry: entry.created_at), reports


def refuse_while_in_flight(entries: Iterable[LedgerEntry], config: GatewayConfig) -> None:
    """RefundInProgress when a refund of the payment is being sent right now: its own flow
    records its outcome, and the caller comes back later."""
    if any(in_flight(entry, config.in_flight_seconds) for entry in entries):
        raise RefundInProgress("a refund of this payment is being sent to MultiSafepay right now.")


def unrecorded_refunds(
    entries: Sequence[LedgerEntry], recorded: Set[str], answered: str = ""
) -> Tuple[Tuple[str, Decimal, str], ...]:
    """Refunds MultiSafepay made that Saleor has not recorded, except the one `answered` now:
    (the reference to record it under, amount, currency)."""
    return tuple(
        (e.reference, e.amount, e.currency)
        for e in entries
        if e.state is EntryState.REFUNDED
        and e.reference not in recorded
        and e.reference != answered
    )


def _landed_unrecorded(
    config: GatewayConfig,
    ask: RefundAsk,
    entries: Sequence[LedgerEntry],
    asked: _Asked,
    recorded: Set[str],
) -> Optional[LedgerEntry]:
    """A refund this plugin made that Saleor has not recorded and that is what Saleor asks now."""
    amount = ask.amount
    for entry in entries:
        # Bound to one Saleor record: once Saleor holds its reference it answers no other ask.
        if entry.state is not EntryState.REFUNDED or entry.external or entry.reference in recorded:
            continue
        if abs(entry.amount - amount) > config.rounding_tolerance:
            continue
        # Without products Saleor asks for an amount: everything that remained then.
        if not asked.by_products or asked.is_refund_of(entry, config.shipping_item_id):
            return entry
    return None


def _already_refunded(entry: LedgerEntry, reports: Sequence[str]) -> GatewayAnswer:
    refund_id = entry.refund_id or ""
    which = f"refund {refund_id}" if refund_id else "counted by MultiSafepay, not listed yet"
    note = _joined(
        reports,
        f"MultiSafepay had already refunded {entry.describe()} of order {entry.msp_order_id} "
        f"({which}) in an attempt whose answer was lost: recorded now, nothing sent again.",
    )
    return GatewayAnswer(
        is_success=True,
        amount=entry.amount,
        currency=entry.currency,
        transaction_id=entry.reference,
        error=None,
        raw_response={
            "multisafepay_order_id": entry.msp_order_id,
            "refund_id": refund_id,
            "status": "refunded",
            "amount": str(entry.amount),
            "currency": entry.currency,
            "request": "",
        },
        psp_reference=refund_id or None,
        note=note,
    )


def record_outcome(ledger: LedgerStore, entry: LedgerEntry, outcome: RefundOutcome) -> LedgerEntry:
    """`entry` as `outcome` leaves it, saved; what is answered must match it (its reference)."""
    state = {
        RefundStatus.REFUNDED: EntryState.REFUNDED,
        RefundStatus.FAILED: EntryState.FAILED,
    }.get(outcome.status, EntryState.UNKNOWN)
    settled = with_state(entry, state, refund_id=outcome.refund_id, error=outcome.error or "")
    try:
        ledger.save(settled)
    except Exception:
        # The entry stays PENDING and is settled against MultiSafepay before the next refund.
        logger.exception("Could not record the MultiSafepay refund's outcome")
    return settled


def _explained(outcome: RefundOutcome, entries: Sequence[LedgerEntry]) -> RefundOutcome:
    """Clearer words for what the ledger can explain."""
    error = outcome.error or ""
    if outcome.status is RefundStatus.UNKNOWN:
        # The ledger keeps track of it, and MultiSafepay's notification may record it in Saleor
        # any moment: once it is recorded, asking again is a new refund, so staff look first.
        error += (
            " In a minute, look at the payment's refunds: if MultiSafepay made it, it is "
            "recorded there as soon as MultiSafepay says so, and it is done. If it is not "
            "there, try again: MultiSafepay is checked first, and a refund that may have been "
            "made is never sent again."
        )
    elif outcome.error_code == CANNOT_REFUND and outcome.amount:
        recent = [
            e
            for e in entries
            if e.state is EntryState.REFUNDED
            and e.amount == outcome.amount
            and time.time() - e.updated_at < DUPLICATE_WINDOW_SECONDS
        ]
        if recent:
            error = (
                f"MultiSafepay refuses a second refund of the same amount ({outcome.currency} "
                f"{outcome.amount}) within 5 minutes of the first (refund {recent[-1].reference}). "
                "Nothing was refunded now: try again in 5 minutes."
            )
    return replace(outcome, error=error)


def _joined(reports: Sequence[str], message: str) -> str:
    return " ".join([*reports, message])


def _known_refunds(entries: Sequence[LedgerEntry], order: Order) -> KnownRefunds:
    """What the ledger knows this plugin refunded of the order, for a cart that does not say."""
    quantities: Dict[str, int] = {}
    amount = 0
    for entry in entries:
        # A refund made elsewhere says nothing of its items: it accounts for no cent here, so
        # a cart that does not show it is refused rather than read as all items remaining.
        if (
            entry.state is EntryState.REFUNDED
            and entry.msp_order_id == order.order_id
            and not entry.external
        ):
            for key, quantity in entry.lines.items():
                quantities[key] = quantities.get(key, 0) + quantity
            amount += to_minor_units(entry.amount, entry.currency)
    return KnownRefunds(quantities=quantities, amount=amount)


@dataclass(frozen=True)
class _Asked:
    """What Saleor asks to refund, in MultiSafepay's terms (cart methods only)."""

    items: Dict[str, int]
    shipping: bool
    by_products: bool

    def is_refund_of(self, entry: LedgerEntry, shipping_item_id: str) -> bool:
        """Whether `entry` refunded exactly these items, and the shipping if asked (whatever
        quantity the shipping line had: the refund takes all of it)."""
        items = {k: v for k, v in entry.lines.items() if k != shipping_item_id}
        return items == self.items and (shipping_item_id in entry.lines) == self.shipping


def _asked(config: GatewayConfig, ask: RefundAsk, order: Order) -> _Asked:
    """The ask in MultiSafepay's terms: items by merchant_item_id, the shipping, or neither."""
    if not ask.by_products or not order.by_cart:
        # Amount methods refund Saleor's amount, whatever lines it names.
        return _Asked({}, False, ask.by_products)
    items = _items(ask)
    # Free shipping has no line in MultiSafepay's cart: nothing of it to refund. (Had Saleor
    # counted shipping costs, the amount check refuses.)
    shipping = ask.shipping and _has_shipping(config, order)
    if not items and not shipping:
        # Never fall back to refunding an amount when Saleor named what to refund.
        if ask.products_named:
            raise EmptyRefund("these products were refunded before; nothing is left to refund.")
        raise EmptyRefund(
            f"MultiSafepay's cart has no shipping line ({config.shipping_item_id}): there is "
            "no shipping to refund."
        )
    return _Asked(items, shipping, True)


def _plan(
    config: GatewayConfig,
    ask: RefundAsk,
    order: Order,
    asked: _Asked,
    known: KnownRefunds,
) -> RefundPlan:
    """The refund to send, checked against the amount Saleor will record."""
    saleor_amount = ask.amount
    currency = ask.currency
    description = config.refund_description or None
    if not order.by_cart:
        request = RefundRequest(amount=saleor_amount, currency=currency, description=description)
        return build_refund(order, request)
    by_products = asked.by_products
    request = RefundRequest(
        items=asked.items,
        shipping=asked.shipping,
        full=not by_products,
        currency=currency,
        description=description,
        shipping_item_id=config.shipping_item_id,
        known_refunds=known,
    )
    plan = build_refund(order, request, config.sign_conventions)
    difference = plan.amount - saleor_amount
    if abs(difference) <= config.rounding_tolerance:
        return plan
    currency = plan.currency
    if not by_products:
        raise AmountNotAllowed(
            f"Saleor asked to refund {shown(saleor_amount, currency)} without saying which "
            f"products, and {order.gateway} refunds by product: only everything that remains "
            f"({shown(plan.amount, currency)}) can be refunded that way. Refund products instead."
        )
    raise AmountMismatch(
        f"MultiSafepay would refund {shown(plan.amount, currency)} for these products (its cart "
        f"prices with tax), Saleor asked for {shown(saleor_amount, currency)}: "
        f"{shown(abs(difference), currency)} apart, more than the "
        f"{shown(config.rounding_tolerance, currency)} allowed. An order discount or a typed "
        "amount causes this: refund the products without typing an amount."
    )


def _has_shipping(config: GatewayConfig, order: Order) -> bool:
    return any(item.merchant_item_id == config.shipping_item_id for item in order.items)


def _items(ask: RefundAsk) -> Dict[str, int]:
    """merchant_item_id -> quantity of the lines to refund; the same item adds up."""
    items: Dict[str, int] = {}
    for item in ask.items:
        if item.quantity < 0:
            raise InvalidQuantity(f"Saleor asked to refund {item.quantity} x {item.name!r}.")
        if item.quantity:  # Saleor's inputs accept a line with quantity 0: nothing comes back
            if not item.merchant_item_id:
                raise UnknownItem.without_id(item.name)
            key = item.merchant_item_id
            items[key] = items.get(key, 0) + item.quantity
    return items


def _from_outcome(ask: RefundAsk, outcome: RefundOutcome, reference: str = "") -> GatewayAnswer:
    """The answer for `outcome`; a refund made is recorded under the ledger's `reference`."""
    if outcome.status is not RefundStatus.REFUNDED:
        prefix = {
            RefundStatus.REFUSED: "MultiSafepay refund not sent",
            RefundStatus.FAILED: "MultiSafepay refund failed",
            RefundStatus.UNKNOWN: "MultiSafepay refund outcome unknown",
        }.get(outcome.status, "MultiSafepay refund not made")
        return failure(ask, outcome.order_id, f"{prefix}: {outcome.error}")
    assert outcome.plan is not None and outcome.amount is not None
    plan = outcome.plan
    refund_id = outcome.refund_id or ""
    what = ", ".join(
        f"{line.quantity} x {line.name} ({line.merchant_item_id})" for line in plan.lines
    )
    note = (
        f"MultiSafepay refunded {shown(plan.amount, plan.currency)} of order {plan.order_id}"
        + (f" (refund {refund_id})" if refund_id else " (counted by MultiSafepay, not listed yet)")
        + (f": {what}." if what else ".")
    )
    if plan.rounding_taken:
        note += (
            f" Their lines come to {shown(plan.amount + plan.rounding_taken, plan.currency)} by "
            "MultiSafepay's per-line rounding: as the order's last refund it took what was left."
        )
    answer = GatewayAnswer(
        is_success=True,
        amount=plan.amount,
        currency=plan.currency,
        transaction_id=reference or refund_id or plan.order_id,
        error=None,
        raw_response=_raw(outcome),
        psp_reference=refund_id or None,
        note=note,
    )
    return answer


def _raw(outcome: RefundOutcome) -> Dict[str, str]:
    """What MultiSafepay was asked and answered, for Saleor's transaction; never the key."""
    return {
        "multisafepay_order_id": outcome.order_id,
        "refund_id": outcome.refund_id or "",
        "status": outcome.status.value,
        "amount": str(outcome.amount),
        "currency": outcome.currency or "",
        "request": outcome.plan.body_json if outcome.plan is not None else "",
    }
