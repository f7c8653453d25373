"""The refund flow: read the order, build the refund, send it once, settle an unknown outcome.

Shared by the command line and the Saleor plugin. It never raises for an expected failure:
the `RefundOutcome` says what happened in words a shop owner can act on.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal
from enum import Enum
from typing import Mapping, Optional

from ..errors import (
    SETTINGS_PLACE,
    ApiError,
    ConfigurationError,
    InvalidOrderData,
    InvalidResponse,
    MultiSafepayRefundError,
    RefundRefused,
    TransportError,
    with_where_to_fix,
)
from ..multisafepay.client import MultiSafepayClient
from ..multisafepay.methods import SignConvention
from ..multisafepay.money import shown
from ..multisafepay.order import Order, parse_order
from ..multisafepay.refund_body import RefundPlan, RefundRequest, build_refund

# MultiSafepay's "cannot refund": more than remains, already refunded, or the same amount twice.
CANNOT_REFUND = 1034


class RefundStatus(str, Enum):
    REFUNDED = "refunded"  # MultiSafepay accepted the refund
    DRY_RUN = "dry-run"  # built and checked, deliberately not sent
    REFUSED = "refused"  # refused here, nothing sent
    FAILED = "failed"  # MultiSafepay refused or was unreachable; nothing refunded
    UNKNOWN = "unknown"  # sent, and whether it landed cannot be told yet


@dataclass(frozen=True)
class RefundOutcome:
    """What became of a refund; what it asked (amount, body) is its `plan`'s."""

    status: RefundStatus
    order_id: str
    refund_id: Optional[str] = None
    error: Optional[str] = None
    error_code: Optional[int] = None  # MultiSafepay's, when it refused
    plan: Optional[RefundPlan] = None  # None when refused or failed before a plan was made
    order_currency: Optional[str] = None  # the order's, when it was read but nothing planned

    @property
    def succeeded(self) -> bool:
        return self.status in (RefundStatus.REFUNDED, RefundStatus.DRY_RUN)

    @property
    def amount(self) -> Optional[Decimal]:
        return self.plan.amount if self.plan is not None else None

    @property
    def currency(self) -> Optional[str]:
        return self.plan.currency if self.plan is not None else self.order_currency

    @property
    def request(self) -> Optional[Mapping[str, object]]:
        """The refund body sent (or, dry run, that would be sent)."""
        return self.plan.body if self.plan is not None else None


def refund_order(
    client: MultiSafepayClient,
    order_id: str,
    request: RefundRequest,
    conventions: Optional[Mapping[str, SignConvention]] = None,
    dry_run: bool = False,
    settings_place: str = SETTINGS_PLACE,
) -> RefundOutcome:
    """Refund `request` of MultiSafepay order `order_id`; the POST is sent at most once.
    `settings_place`: where the caller's key and API URL are set, in its own words."""
    try:
        before = parse_order(client.get_order(order_id))
    except MultiSafepayRefundError as exc:
        return unreadable_order(order_id, exc, settings_place)
    try:
        plan = build_refund(before, request, conventions)
    except RefundRefused as exc:
        return RefundOutcome(
            RefundStatus.REFUSED, order_id, order_currency=before.currency, error=str(exc)
        )
    if dry_run:
        return planned(plan)
    return send_refund(client, before, plan)


def unreadable_order(
    order_id: str, error: MultiSafepayRefundError, settings_place: str = SETTINGS_PLACE
) -> RefundOutcome:
    """The outcome when the order could not be read: nothing was sent. `settings_place`: where
    the key and API URL are set, in the words of the door that was used."""
    if isinstance(error, (InvalidOrderData, ConfigurationError)):
        return RefundOutcome(RefundStatus.REFUSED, order_id, error=str(error))
    return RefundOutcome(
        RefundStatus.FAILED,
        order_id,
        error=f"Could not read the order: {with_where_to_fix(error, settings_place)}",
    )


def planned(plan: RefundPlan) -> RefundOutcome:
    """A checked plan, not sent (yet)."""
    return RefundOutcome(RefundStatus.DRY_RUN, plan.order_id, plan=plan)


def send_refund(client: MultiSafepayClient, before: Order, plan: RefundPlan) -> RefundOutcome:
    """POST the plan once; an answer that was lost is settled by reading the order back."""
    outcome = planned(plan)
    try:
        answer = client.refund(plan.order_id, plan.body_json)
    except ApiError as exc:
        if exc.http_status >= 500:
            # A server in trouble may have refunded before it failed: its error proves nothing.
            return settle_unknown(client, before, outcome, exc)
        error = str(exc)
        if exc.error_code == CANNOT_REFUND and plan.rounding_taken > 0:
            lines = plan.amount + plan.rounding_taken
            error += (
                f" These are the order's last items: their lines come to "
                f"{shown(lines, plan.currency)} by MultiSafepay's per-line rounding, "
                f"{shown(plan.rounding_taken, plan.currency)} more than the "
                f"{shown(plan.amount, plan.currency)} left, and "
                "MultiSafepay does not let the last refund take what is left. Nothing was "
                "refunded: refund the rest in MultiSafepay's dashboard."
            )
        return _with(outcome, RefundStatus.FAILED, error=error, error_code=exc.error_code)
    except TransportError as exc:
        if not exc.may_have_arrived:
            return _with(outcome, RefundStatus.FAILED, error=str(exc))
        return settle_unknown(client, before, outcome, exc)
    refund_id = answer.get("refund_id")
    if refund_id in (None, ""):
        return settle_unknown(client, before, outcome, None)
    return _with(outcome, RefundStatus.REFUNDED, refund_id=str(refund_id))


def settle_unknown(
    client: MultiSafepayClient,
    before: Order,
    outcome: RefundOutcome,
    cause: Optional[MultiSafepayRefundError],
) -> RefundOutcome:
    """Read the order back once and tell whether the refund in `outcome` landed.

    Landed: amount_refunded grown by this refund's amount, with exactly one new refund in
    related_transactions (its id known) or none (counted, not listed yet). Not landed:
    nothing changed, and MultiSafepay had finished with the request (it answered below HTTP
    500, however badly), so a retry is safe. After a timeout,
    a dropped connection or a server error (a 5xx may come from a proxy that gave up while
    MultiSafepay goes on) an unchanged order proves nothing: unknown, settled later.
    """
    what = str(cause) if cause else "MultiSafepay answered without a refund id."
    assert outcome.plan is not None
    expected = outcome.plan.amount_minor
    try:
        after = parse_order(client.get_order(before.order_id))
    except MultiSafepayRefundError as exc:
        return _with(
            outcome, RefundStatus.UNKNOWN, error=f"{what} Reading the order back failed too: {exc}"
        )
    known = {refund.refund_id for refund in before.refunds}
    new = [refund for refund in after.refunds if refund.refund_id not in known]
    grown = after.amount_refunded - before.amount_refunded
    if grown == expected and len(new) == 1 and new[0].amount in (None, expected):
        return _with(outcome, RefundStatus.REFUNDED, refund_id=new[0].refund_id)
    if grown == expected and not new:
        # MultiSafepay may count a refund before it lists it, or never list it
        # (related_transactions null): the amount alone shows it landed.
        return _with(outcome, RefundStatus.REFUNDED)
    finished = isinstance(cause, InvalidResponse) and (cause.http_status or 500) < 500
    if grown == 0 and not new and finished:
        return _with(
            outcome,
            RefundStatus.FAILED,
            error=f"{what} The order shows no new refund: nothing was refunded, "
            "it is safe to try again.",
        )
    return _with(
        outcome,
        RefundStatus.UNKNOWN,
        error=f"{what} Whether the refund went through cannot be told yet.",
    )


def dashboard_advice(order_id: str) -> str:
    """What to do about an unknown outcome when nothing else keeps track of it (the command
    line; the plugin's ledger does keep track, and says so instead)."""
    return f" Check order {order_id} in MultiSafepay's dashboard before refunding again."


def _with(
    outcome: RefundOutcome,
    status: RefundStatus,
    error: Optional[str] = None,
    refund_id: Optional[str] = None,
    error_code: Optional[int] = None,
) -> RefundOutcome:
    """`outcome` moved to `status`, with what is given (the rest kept)."""
    return replace(
        outcome,
        status=status,
        error=outcome.error if error is None else error,
        refund_id=outcome.refund_id if refund_id is None else refund_id,
        error_code=outcome.error_code if error_code is None else error_code,
    )
