"""Refunds: POST /orders/{id}/refunds checked and applied (amount_refunded, quantities, the cart's
refund lines, the duplicate window), dashboard refunds, refund statuses, refunds listed late.
"""

from __future__ import annotations

import itertools
import time
from datetime import datetime
from decimal import Decimal
from typing import Any, Callable, Dict, List, Mapping, Protocol, Set, Tuple, Union

from ..multisafepay import wire
from ..multisafepay.methods import SignConvention, is_cart_gateway, sign_convention
from ..multisafepay.money import parse_decimal, to_minor_units
from .envelope import (
    CANNOT_REFUND,
    CART_MISMATCH,
    INVALID_AMOUNT,
    INVALID_CURRENCY,
    MISSING_DATA,
    WRONG_ITEM_PRICE,
    Refusal,
    parse_body,
)
from .json_values import MISSING, first_difference, item_key, same, show, whole_quantity
from .orders import OrderState, Refund, cart_items, gateway_of, line_total, minor_units
from .refund_copies import Copy, check_copy

REFUND_STATUSES = frozenset({"initialized", "reserved", "completed", "declined", "void"})
_OPEN_REFUND = frozenset({"initialized", "reserved"})
_NOT_COUNTED = frozenset({"declined", "void"})  # a refund that refunds nothing


class RefundSettings(Protocol):
    """The emulator's refund options (see `Emulator`), read at each refund: a test may change
    them between two."""

    cart_shows_refunds: bool
    duplicate_window_seconds: float
    refund_status: str
    lists_refunds: bool
    last_refund_takes_remainder: bool
    sign_conventions: Dict[str, SignConvention]


class Refunds:
    """The refunds of the emulator's orders, made under the emulator's lock; each change queues
    a notification through `notify`."""

    def __init__(self, settings: RefundSettings, notify: Callable[[OrderState], None]) -> None:
        self._settings = settings
        self._notify = notify
        self._refund_ids = itertools.count(80_000_001)

    def refund(self, state: OrderState, raw_body: bytes) -> Dict[str, Any]:
        """POST /orders/{order_id}/refunds: checked, then applied."""
        body = parse_body(raw_body)
        if "amount" in body and "checkout_data" in body:
            raise Refusal(
                MISSING_DATA,
                "amount and checkout_data in one request: a refund is either an amount "
                "or a shopping cart, never both",
            )
        order = state.data
        currency = order.get("currency")
        gateway = gateway_of(order)
        copies: List[Copy] = []
        if is_cart_gateway(gateway):
            copies = self._check_cart_refund(state, body, gateway)
            total = _copies_total(order, copies)
            _check_currency(body, currency, required=False)
        else:
            total = _check_amount_refund(body, gateway, currency)
        amount = minor_units(order.get("amount"), "amount")
        refunded = minor_units(order.get("amount_refunded"), "amount_refunded")
        # UNCONFIRMED: the last refund's rounding, off by default (see _takes_remainder).
        if total > amount - refunded and self._takes_remainder(
            state, copies, total, amount - refunded
        ):
            total = amount - refunded
        if total > amount - refunded:
            raise Refusal(
                CANNOT_REFUND,
                f"cannot refund {total}: only {amount - refunded} of the order's {amount} "
                f"remains ({refunded} already refunded)",
            )
        now = time.monotonic()
        for accepted_at, accepted_amount in state.accepted:
            ago = now - accepted_at
            if accepted_amount == total and ago < self._settings.duplicate_window_seconds:
                raise Refusal(
                    CANNOT_REFUND,
                    f"the same amount ({total}) was refunded on this order {ago:.1f} s ago: "
                    f"a refund of the same amount is refused for "
                    f"{self._settings.duplicate_window_seconds:g} s",
                )
        return self._apply(state, body, total, copies, now)

    def dashboard_refund(self, state: OrderState, amount_minor_units: int, description: str) -> int:
        """A refund made in MultiSafepay's dashboard, of an amount above 0 (the caller checks)."""
        order = state.data
        remaining = minor_units(order.get("amount"), "amount") - minor_units(
            order.get("amount_refunded"), "amount_refunded"
        )
        if amount_minor_units > remaining:
            raise ValueError(f"only {remaining} of the order remains to refund")
        body = {"description": description}
        answer = self._apply(state, body, amount_minor_units, [], time.monotonic())
        return int(answer["refund_id"])

    def set_status(self, state: OrderState, refund_id: Union[str, int], status: str) -> None:
        """A refund of the order moves on to `status` (a refund status: the caller checks)."""
        refund = _find_refund(state, refund_id)
        before = refund.entry.get("status")
        if before not in _OPEN_REFUND or status == before:
            raise ValueError(f"refund {refund_id} is {before}: it cannot become {status}")
        refund.entry["status"] = status
        if status in _NOT_COUNTED:
            _uncount(state, refund)
        self._notify(state)

    def _takes_remainder(
        self, state: OrderState, copies: List[Copy], total: int, remaining: int
    ) -> bool:
        """Whether a cart refund whose copies come to more than remains refunds what remains
        instead (`last_refund_takes_remainder`).

        Each copy line is rounded with its tax, so the copies of the last units can come to a
        cent more than remains (5 x 54.32 at 9%: 296.04 paid, 118.42 + 177.63 refunded).
        MultiSafepay's documentation is silent on this: taking the remainder is UNCONFIRMED,
        and so is the bound, one minor unit per unit refunded on the order."""
        if not self._settings.last_refund_takes_remainder or not copies:
            return False
        if remaining <= 0:
            return False  # nothing left: never a refund of 0
        after = dict(state.refunded)
        for key, quantity in _asked(copies).items():
            after[key] = after.get(key, 0) + quantity
        bought = _bought(state)
        priced: Set[str] = set()  # the merchant_item_ids of items with a non-zero unit_price
        for _, original in state.originals():
            try:
                if parse_decimal(original.get("unit_price")) != 0:
                    priced.add(item_key(original))
            except ValueError:
                priced.add(item_key(original))  # a price it cannot read might be non-zero
        if any(after.get(key, 0) < bought[key] for key in priced):
            return False  # units remain: not the last refund
        units = sum(quantity for quantity in after.values() if quantity > 0)
        return total - remaining <= units

    def _check_cart_refund(
        self, state: OrderState, body: Dict[str, Any], gateway: str
    ) -> List[Copy]:
        if "amount" in body:
            raise Refusal(
                MISSING_DATA,
                f"this payment method ({gateway}) refunds by shopping cart: send "
                "checkout_data.items (the current cart plus refund copies), not an amount",
            )
        checkout_data = body.get("checkout_data")
        items = checkout_data.get("items") if isinstance(checkout_data, dict) else None
        if not isinstance(items, list):
            raise Refusal(
                MISSING_DATA,
                f"checkout_data.items (a list) is missing: this payment method ({gateway}) "
                "refunds by shopping cart",
            )
        for index, item in enumerate(items):
            if not isinstance(item, dict):
                raise Refusal(MISSING_DATA, f"checkout_data.items[{index}] is not an object")
        cart = cart_items(state.data)
        positions = _match_cart(cart, items)
        matched = set(positions)
        convention = sign_convention(gateway, self._settings.sign_conventions)
        originals = state.originals()
        by_id = _originals_by_id(originals)
        index_of = {id(original): i for i, original in originals}
        copies = []
        for index, item in enumerate(items):
            if index in matched:
                continue
            copy_ = check_copy(index, item, by_id, convention, gateway)
            original_index = index_of[id(copy_.original)]
            if positions[original_index] > index:
                raise Refusal(
                    CART_MISMATCH,
                    f"checkout_data.items[{index}] is a refund copy of "
                    f"checkout_data.items[{positions[original_index]}] but comes before it: "
                    "a refund copy follows the item it refunds",
                )
            copies.append(copy_)
        if not copies:
            raise Refusal(
                MISSING_DATA,
                "nothing to refund: checkout_data.items holds the order's cart but no refund "
                "copy of an item",
            )
        _check_bought(state, copies)
        return copies

    def _apply(
        self,
        state: OrderState,
        body: Dict[str, Any],
        total: int,
        copies: List[Copy],
        now: float,
    ) -> Dict[str, Any]:
        order = state.data
        refund_id = next(self._refund_ids)
        entry = {
            "amount": total,
            "currency": order.get("currency"),
            "description": body.get("description", ""),
            "status": self._settings.refund_status,
            "transaction_id": refund_id,
            "type": "refund",
            "created": datetime.now().replace(microsecond=0).isoformat(),
        }
        refund = Refund(entry, total)
        if state.refunds_listed(self._settings.lists_refunds):
            order["related_transactions"].append(entry)
        else:
            # Counted at once, listed later (list_refunds): MultiSafepay has shown
            # amount_refunded grown with the refund not yet in related_transactions.
            state.unlisted.append(refund)
        state.refunds[str(refund_id)] = refund
        state.accepted.append((now, total))
        if self._settings.refund_status not in _NOT_COUNTED:
            order["amount_refunded"] = minor_units(order.get("amount_refunded"), "") + total
            refund.copies = list(copies)
            for copy_ in copies:
                state.add_refunded(copy_)
            if self._settings.cart_shows_refunds and copies:
                # MultiSafepay's plugins read earlier refund lines from the GET cart
                # (UNCONFIRMED): the next refund must then repeat them as part of the cart.
                # Parsed for this request alone and never changed in place: no copy needed.
                refund.lines = [c.item for c in copies]
                cart_items(order).extend(refund.lines)
            state.show_status()
        self._notify(state)
        return {"transaction_id": order.get("transaction_id"), "refund_id": refund_id}


def list_refunds_kept_aside(state: OrderState) -> List[int]:
    """The order's refunds kept aside (counted, not listed) appended to related_transactions;
    their refund ids."""
    listed, state.unlisted = state.unlisted, []
    state.data["related_transactions"].extend(refund.entry for refund in listed)
    return [int(refund.entry["transaction_id"]) for refund in listed]


def _find_refund(state: OrderState, refund_id: Union[str, int]) -> Refund:
    refund = state.refunds.get(str(refund_id))
    if refund is not None:
        return refund
    # A refund the order came with (add_order): its amount is all that is known.
    for entry in state.data.get("related_transactions") or []:
        if (
            isinstance(entry, dict)
            and entry.get("type") == "refund"
            and str(entry.get("transaction_id")) == str(refund_id)
        ):
            refund = Refund(entry, minor_units(entry.get("amount"), "refund amount"))
            state.refunds[str(refund_id)] = refund
            return refund
    raise KeyError(f"order {state.data.get('order_id')!r} has no refund {refund_id!r}")


def _uncount(state: OrderState, refund: Refund) -> None:
    """A declined or void refund refunds nothing: undo what it counted."""
    order = state.data
    order["amount_refunded"] = minor_units(order.get("amount_refunded"), "") - refund.amount
    for copy_ in refund.copies:
        state.add_refunded(copy_, sign=-1)
    cart = cart_items(order)
    for line in refund.lines:  # the very objects added, wherever they are now
        for index, item in enumerate(cart):
            if item is line:
                del cart[index]
                break
    refund.copies, refund.lines = [], []
    state.show_status()


def _check_currency(body: Mapping[str, Any], currency: Any, *, required: bool) -> None:
    if "currency" not in body:
        if required:
            raise Refusal(
                INVALID_CURRENCY, f"currency is missing: the order's currency is {currency}"
            )
        return
    if not same(body["currency"], currency):
        raise Refusal(
            INVALID_CURRENCY,
            f"currency {show(body['currency'])} is not the order's currency ({currency})",
        )


def _check_amount_refund(body: Mapping[str, Any], gateway: str, currency: Any) -> int:
    if "checkout_data" in body:
        raise Refusal(
            MISSING_DATA,
            f"this payment method ({gateway}) refunds by amount: send amount and currency, "
            "not checkout_data",
        )
    if "amount" not in body:
        raise Refusal(
            INVALID_AMOUNT,
            "amount is missing: MultiSafepay would refund the whole order (refused here)",
        )
    amount = body["amount"]
    if type(amount) is not int:
        raise Refusal(
            INVALID_AMOUNT,
            f"amount {show(amount)} is not an integer number of minor units",
        )
    if amount <= 0:
        raise Refusal(
            INVALID_AMOUNT,
            f"amount {amount} is not positive: MultiSafepay would refund the whole order for "
            "0 (refused here)",
        )
    _check_currency(body, currency, required=True)
    return amount


def _match_cart(cart: List[Any], items: List[Dict[str, Any]]) -> List[int]:
    """Where each item of the current cart is in the request; refuses a cart not repeated.

    The cart must appear unchanged and in order; refund copies may come anywhere between
    (the seed page puts a copy right after its original, the SDKs append them at the end).
    """
    positions: List[int] = []
    for index, item in enumerate(items):
        if len(positions) < len(cart) and same(item, cart[len(positions)]):
            positions.append(index)
    if len(positions) == len(cart):
        return positions
    missing = len(positions)
    expected = cart[missing]
    found = ""
    if isinstance(expected, dict):
        unmatched = [(i, item) for i, item in enumerate(items) if i not in set(positions)]
        same_id = [
            (i, item)
            for i, item in unmatched
            if same(item.get("merchant_item_id", MISSING), expected.get("merchant_item_id"))
        ]
        identical = [i for i, item in same_id if same(item, expected)]
        if identical:
            found = f" (it is at checkout_data.items[{identical[0]}], out of order)"
        elif same_id:
            i, closest = same_id[0]
            found = (
                f" (checkout_data.items[{i}], with the same merchant_item_id, differs: "
                f"{first_difference(expected, closest)})"
            )
        else:
            found = " (no item in checkout_data.items has its merchant_item_id)"
    raise Refusal(
        CART_MISMATCH,
        f"the order's cart item {missing} ({_label(expected)}) is missing or changed in "
        f"checkout_data.items{found}: the request must repeat the order's whole current cart "
        f"({len(cart)} items, as GET /orders/{{order_id}} shows it) unchanged and in order, "
        "plus the refund copies",
    )


def _originals_by_id(
    originals: List[Tuple[int, Dict[str, Any]]],
) -> Dict[str, List[Dict[str, Any]]]:
    """The cart's original items by merchant_item_id, so each copy is checked in one look-up."""
    by_id: Dict[str, List[Dict[str, Any]]] = {}
    for _, original in originals:
        if isinstance(original, dict):
            key = item_key(original)
            by_id.setdefault(key, []).append(original)
    return by_id


def _label(item: Any) -> str:
    if not isinstance(item, dict):
        return show(item)
    parts = [
        f"{key} {wire.dumps(item[key])}" for key in ("merchant_item_id", "name") if key in item
    ]
    return ", ".join(parts) or "an item without merchant_item_id"


def _bought(state: OrderState) -> Dict[str, int]:
    """Quantity bought per item (merchant_item_id as JSON), over the order's original lines."""
    bought: Dict[str, int] = {}
    for _, original in state.originals():
        key = item_key(original)
        quantity = whole_quantity(original.get("quantity"), original.get("quantity"))
        bought[key] = bought.get(key, 0) + (quantity or 0)
    return bought


def _asked(copies: List[Copy]) -> Dict[str, int]:
    """Quantity a refund's copies return per item."""
    asked: Dict[str, int] = {}
    for copy_ in copies:
        key = item_key(copy_.item)
        asked[key] = asked.get(key, 0) + copy_.quantity
    return asked


def _check_bought(state: OrderState, copies: List[Copy]) -> None:
    bought = _bought(state)
    for key, quantity in _asked(copies).items():
        before = state.refunded.get(key, 0)
        if before + quantity > bought.get(key, 0):
            raise Refusal(
                CANNOT_REFUND,
                f"merchant_item_id {key}: cannot refund {quantity} more, {before} of the "
                f"{bought.get(key, 0)} bought are already refunded",
            )


def _copies_total(order: Mapping[str, Any], copies: List[Copy]) -> int:
    """The amount the copies refund, in minor units: each line with its tax, rounded."""
    currency = str(order.get("currency"))
    total = Decimal(0)
    for copy_ in copies:
        try:
            total += line_total(
                order, copy_.item, copy_.item.get("unit_price"), copy_.item.get("quantity")
            )
        except ValueError as error:
            raise Refusal(
                WRONG_ITEM_PRICE, f"checkout_data.items[{copy_.index}]: {error}"
            ) from None
    refund = -total
    if refund <= 0:
        raise Refusal(
            INVALID_AMOUNT,
            f"the refund copies add up to {refund} {currency}: nothing would be refunded",
        )
    return to_minor_units(refund, currency)
