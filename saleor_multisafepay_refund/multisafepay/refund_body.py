"""Pure cart logic: which items of an order remain, and the refund body that returns them.

No HTTP, no Saleor: an `Order` (see `order.py`) and a `RefundRequest` in, a `RefundPlan` out,
or a `RefundRefused` error that says why nothing may be sent.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from decimal import Decimal
from functools import cached_property
from typing import Callable, Dict, Iterable, List, Mapping, Optional, Tuple

from ..errors import (
    AmbiguousItem,
    AmountExceedsRemaining,
    AmountNotAllowed,
    ConflictingRequest,
    CurrencyMismatch,
    EmptyRefund,
    InvalidAmount,
    InvalidQuantity,
    ItemsNotSupported,
    QuantityExceedsRemaining,
    RefundsNotShown,
    UnknownItem,
)
from . import wire
from .methods import SignConvention, sign_convention
from .money import (
    LARGEST_DIGITS,
    from_minor_units,
    line_total,
    line_totals,
    parse_decimal,
    quantum,
    round_money,
    shown,
    to_minor_units,
)
from .order import CartItem, Order, made_again

SHIPPING_ITEM_ID = "msp-shipping"


@dataclass(frozen=True)
class ItemBalance:
    """Per merchant_item_id: what was bought, what came back already, what remains.

    `template` is the original line a refund copy repeats. `problem` is set when the cart
    cannot say safely what this id is (two different lines under one id, a refund line
    without its original): such an id is never refunded.
    """

    # Slots, and made by a twin: one is made per cart line (see order._CartItemMaker).
    __slots__ = ("bought", "merchant_item_id", "problem", "refunded", "template")

    merchant_item_id: str
    template: CartItem
    bought: int
    refunded: int
    problem: Optional[str]

    __reduce__ = made_again

    @property
    def remaining(self) -> int:
        return self.bought - self.refunded


@dataclass(frozen=True)
class KnownRefunds:
    """Earlier refunds of an order as its caller knows them (the plugin's ledger): quantities
    per merchant_item_id and their total in minor units. Used only when MultiSafepay's cart
    does not itemise earlier refunds."""

    quantities: Mapping[str, int]
    amount: int


@dataclass(frozen=True)
class RefundRequest:
    """What to refund: items by merchant_item_id, the shipping line, everything, or an amount.

    `amount` is in major units (Decimal("12.50")). `currency`, when given, must be the order's.
    `shipping_item_id` is the merchant_item_id of the cart's shipping line.
    """

    items: Mapping[str, int] = field(default_factory=dict)
    shipping: bool = False
    full: bool = False
    amount: Optional[Decimal] = None
    currency: Optional[str] = None
    description: Optional[str] = None
    shipping_item_id: str = SHIPPING_ITEM_ID
    known_refunds: Optional[KnownRefunds] = None


@dataclass(frozen=True)
class RefundLine:
    """One refunded item: what comes back and what MultiSafepay will refund for it."""

    # Slots, and made by a twin: one is made per line refunded (see order._CartItemMaker).
    __slots__ = ("merchant_item_id", "name", "quantity", "tax_rate", "total", "unit_price")

    merchant_item_id: str
    name: str
    quantity: int
    unit_price: Decimal
    tax_rate: Decimal
    total: Decimal

    __reduce__ = made_again


class _ItemBalanceMaker:
    """Makes the ItemBalance that ItemBalance(...) makes, in a third of the time:
    see order._CartItemMaker."""

    __slots__ = ItemBalance.__slots__

    def __init__(
        self,
        merchant_item_id: str,
        template: CartItem,
        bought: int,
        refunded: int,
        problem: Optional[str],
    ) -> None:
        self.merchant_item_id = merchant_item_id
        self.template = template
        self.bought = bought
        self.refunded = refunded
        self.problem = problem
        self.__class__ = ItemBalance  # type: ignore[assignment]


class _RefundLineMaker:
    """Makes the RefundLine that RefundLine(...) makes, in a third of the time:
    see order._CartItemMaker."""

    __slots__ = RefundLine.__slots__

    def __init__(
        self,
        merchant_item_id: str,
        name: str,
        quantity: int,
        unit_price: Decimal,
        tax_rate: Decimal,
        total: Decimal,
    ) -> None:
        self.merchant_item_id = merchant_item_id
        self.name = name
        self.quantity = quantity
        self.unit_price = unit_price
        self.tax_rate = tax_rate
        self.total = total
        self.__class__ = RefundLine  # type: ignore[assignment]


# Typed as what they make: a call is checked as the class's is, and gives one of its values.
item_balance: Callable[[str, CartItem, int, int, Optional[str]], ItemBalance]
item_balance = _ItemBalanceMaker  # type: ignore[assignment]
refund_line: Callable[[str, str, int, Decimal, Decimal, Decimal], RefundLine]
refund_line = _RefundLineMaker  # type: ignore[assignment]


@dataclass(frozen=True)
class RefundPlan:
    """The refund to send: `body` is the exact JSON object, `amount` what it refunds.

    `body` is written with `wire.dumps` (as `body_json` is): its values may be Decimals, and
    a cart refund's items are a `wire.WithCopies`, a read-only list of the cart's lines and
    their refund copies that is written without encoding each line twice.
    """

    order_id: str
    gateway: str
    currency: str
    amount: Decimal
    lines: Tuple[RefundLine, ...]
    body: Mapping[str, object]
    convention: Optional[SignConvention]

    @property
    def amount_minor(self) -> int:
        return to_minor_units(self.amount, self.currency)

    @cached_property
    def body_json(self) -> str:
        """`body` as the JSON text sent, serialized once: the POST, the ledger's fingerprint
        and the record kept in Saleor all use this very text."""
        return wire.dumps(self.body)

    @property
    def rounding_taken(self) -> Decimal:
        """How much more the lines come to than `amount`: the last refund of an order takes
        what is left where MultiSafepay's per-line rounding would exceed it. An amount refund
        has no lines: 0."""
        if not self.lines:
            return Decimal(0)
        return sum((line.total for line in self.lines), Decimal(0)) - self.amount


def item_balances(order: Order) -> Dict[str, ItemBalance]:
    """Bought, refunded and remaining quantity per merchant_item_id, in cart order.

    A refund copy already in the cart is recognised in either sign convention, whatever the
    gateway's current setting: a line with a negative quantity, or a line whose unit_price is
    the exact negation of its original's (positive quantity) and otherwise identical. A line
    with the original's data and price is more of the same item (a split line).
    """
    balances: Dict[str, ItemBalance] = {}
    for item in order.items:
        key = item.merchant_item_id
        balance = balances.get(key)
        if balance is None:
            if item.quantity < 0:
                problem = "the cart shows a refund of it but not the original line"
                balances[key] = item_balance(key, item, 0, -item.quantity, problem)
            else:
                balances[key] = item_balance(key, item, item.quantity, 0, None)
            continue
        template = balance.template
        if not _same_item_data(template, item):
            balances[key] = replace(
                balance, problem="two cart lines share this id but differ in name, tax or data"
            )
        elif item.quantity < 0 and item.unit_price == template.unit_price:
            balances[key] = replace(balance, refunded=balance.refunded - item.quantity)
        elif (
            item.quantity >= 0
            and item.unit_price == template.unit_price
            and not _sign_flipped(template, item)
        ):
            balances[key] = replace(balance, bought=balance.bought + item.quantity)
        elif item.quantity >= 0 and (
            item.unit_price == -template.unit_price or _sign_flipped(template, item)
        ):
            balances[key] = replace(balance, refunded=balance.refunded + item.quantity)
        else:
            balances[key] = replace(
                balance, problem="two cart lines share this id but have different prices"
            )
    return balances


def build_refund(
    order: Order,
    request: RefundRequest,
    conventions: Optional[Mapping[str, SignConvention]] = None,
) -> RefundPlan:
    """The refund body for `request`, or a `RefundRefused` that says why nothing may be sent."""
    if request.currency and request.currency.upper() != order.currency:
        raise CurrencyMismatch(
            f"The refund is in {request.currency.upper()} but order {order.order_id} "
            f"was paid in {order.currency}."
        )
    if order.by_cart:
        return _cart_refund(order, request, sign_convention(order.gateway, conventions))
    return _amount_refund(order, request)


def _amount_refund(order: Order, request: RefundRequest) -> RefundPlan:
    if request.items or request.shipping:
        raise ItemsNotSupported(
            f"Order {order.order_id} was paid with {order.gateway}, which MultiSafepay refunds "
            "by amount only: refund an amount instead of items."
        )
    if request.full:
        if request.amount is not None:
            raise ConflictingRequest("Give either a full refund or an amount, not both.")
        if order.remaining <= 0:
            raise EmptyRefund(f"Order {order.order_id} has been refunded in full already.")
        amount = order.remaining_amount
    elif request.amount is None:
        raise EmptyRefund("Nothing to refund: give an amount.")
    else:
        amount = request.amount
    minor = _positive_minor_units(amount, order)
    if minor > order.remaining:
        raise AmountExceedsRemaining(
            f"Cannot refund {_rounded(amount, order.currency)}: only "
            f"{_rounded(order.remaining_amount, order.currency)} of order {order.order_id} "
            "is left to refund."
        )
    body: Dict[str, object] = {"currency": order.currency, "amount": minor}
    if request.description:
        body["description"] = request.description
    return RefundPlan(
        order_id=order.order_id,
        gateway=order.gateway,
        currency=order.currency,
        amount=from_minor_units(minor, order.currency),
        lines=(),
        body=body,
        convention=None,
    )


def check_request(request: RefundRequest) -> None:
    """Refuse a request no order could satisfy (nothing asked, everything and something
    else, an amount with items, an amount below zero), before the order is read: a caller
    can say so without a network call. `build_refund` makes the same checks."""
    if not (request.items or request.shipping or request.full or request.amount is not None):
        raise EmptyRefund("Nothing to refund: give items, the shipping, everything or an amount.")
    _check_combination(request)
    if request.amount is not None:
        _check_amount(request.amount)


def _check_combination(request: RefundRequest) -> None:
    if request.full and (request.items or request.shipping or request.amount is not None):
        raise ConflictingRequest(
            "Give either everything that remains, or items, the shipping or an amount: not both."
        )
    if request.amount is not None and (request.items or request.shipping):
        raise AmountNotAllowed("Give either items or an amount, not both.")


def _check_amount(amount: Decimal) -> None:
    if not isinstance(amount, Decimal) or not amount.is_finite() or amount <= 0:
        # MultiSafepay treats a zero or missing amount as "refund everything".
        raise InvalidAmount(f"The refund amount must be more than zero, not {amount}.")
    if amount.adjusted() >= LARGEST_DIGITS:
        raise InvalidAmount(f"The refund amount {amount} is out of range.")


def _positive_minor_units(amount: Decimal, order: Order) -> int:
    _check_amount(amount)
    try:
        return to_minor_units(amount, order.currency)
    except ValueError:
        raise InvalidAmount(f"{amount} has more decimals than {order.currency} allows.") from None


def _cart_refund(order: Order, request: RefundRequest, convention: SignConvention) -> RefundPlan:
    balances = _with_unshown_refunds(order, item_balances(order), request.known_refunds)
    quantities = _requested_quantities(order, request, balances)
    if convention is SignConvention.NEGATIVE_UNIT_PRICE:
        quantities = _without_unwritable(order, request, balances, quantities)
    refunded = [(balances[key].template, n) for key, n in quantities.items()]
    lines = _refund_lines(order, refunded)
    total = sum([line.total for line in lines], Decimal(0))
    if total <= 0:
        # A discount line or a free item alone: MultiSafepay refunds nothing (or refuses).
        raise InvalidAmount(
            f"These items come to {_rounded(total, order.currency)}: a refund must come to more "
            "than zero. A discount line is refunded together with the items it discounted."
        )
    amount = total
    if total > order.remaining_amount:
        amount = _last_refund_amount(order, balances, quantities, total)
    if request.amount is not None and amount != request.amount:
        raise AmountNotAllowed(
            f"Refunding everything that remains of order {order.order_id} comes to "
            f"{_rounded(amount, order.currency)} by its cart, not "
            f"{_rounded(request.amount, order.currency)}: "
            "refund items instead."
        )
    body: Dict[str, object] = {
        "checkout_data": {"items": _cart_with_copies(order, refunded, convention)}
    }
    if request.description:
        body["description"] = request.description
    return RefundPlan(
        order_id=order.order_id,
        gateway=order.gateway,
        currency=order.currency,
        amount=amount,
        lines=lines,
        body=body,
        convention=convention,
    )


def _last_refund_amount(
    order: Order,
    balances: Mapping[str, ItemBalance],
    quantities: Mapping[str, int],
    total: Decimal,
) -> Decimal:
    """What a refund whose lines come to more than remains may refund, or why it may not.

    MultiSafepay rounds each refund's lines with their tax, so refunds of an item taken a few
    at a time can come to a cent or so more than the item's share of the order (5 x 54.32 at
    9%: 296.04 paid; 2 come to 118.42, the other 3 to 177.63 where 177.62 is left). Its
    documentation does not say how it rounds the last refund. Decided here: the refund that
    returns every remaining unit, when its lines exceed what is left by no more than that
    rounding (a minor unit per unit refunded), refunds exactly what is left: the customer gets
    back all that was paid, and nothing more is asked, since what is left is all MultiSafepay
    can refund (more, it refuses with 1034: nothing is refunded then, and the refusal says why).
    """
    excess = total - order.remaining_amount
    units = sum(b.refunded for b in balances.values()) + sum(quantities.values())
    rounding = excess <= quantum(order.currency) * units
    left = {key: b.remaining - quantities.get(key, 0) for key, b in balances.items()}
    takes_the_rest = not any(
        left[key] > 0 for key, b in balances.items() if b.template.unit_price != 0
    )
    if rounding and takes_the_rest and order.remaining > 0:
        return order.remaining_amount
    lowering = [
        b.merchant_item_id
        for b in balances.values()
        if b.template.unit_price < 0 and left[b.merchant_item_id] > 0
    ]
    if order.remaining <= 0:
        why = (
            "earlier refunds, rounded line by line with their tax, came to everything that "
            "was paid before every item was refunded: nothing is left to refund"
        )
    elif lowering:
        why = (
            f"the order's discount or gift card lines ({', '.join(lowering)}) lower what was "
            "paid, and a refund by product does not take them along. Refund everything that "
            "remains instead (an amount refund of exactly what is left)"
        )
    elif rounding:
        why = (
            "MultiSafepay rounds each refund's lines with their tax, and the earlier refunds "
            f"of this order rounded up by {_rounded(excess, order.currency)} in all. Refund "
            "everything that remains at once: that last refund takes exactly what is left"
        )
    else:
        why = "MultiSafepay's cart does not show every earlier refund"
    raise AmountExceedsRemaining(
        f"These items come to {_rounded(total, order.currency)}, but only "
        f"{_rounded(order.remaining_amount, order.currency)} of order {order.order_id} is "
        f"left to refund: {why}."
    )


def _with_unshown_refunds(
    order: Order, balances: Dict[str, ItemBalance], known: Optional[KnownRefunds]
) -> Dict[str, ItemBalance]:
    """The balances, with earlier refunds the cart does not itemise added from `known`.

    MultiSafepay's documentation does not say whether a GET cart lists earlier refund lines.
    When it lists none though money was refunded, which items remain can only come from the
    caller's own record of those refunds, and only if it accounts for every cent.
    """
    if order.amount_refunded == 0:
        return balances
    shown = [b for b in balances.values() if b.refunded]
    if shown:
        # The cart itemises refunds: they must account for what MultiSafepay refunded, or an
        # amount refund (or one it does not itemise) hides which items came back. Each refund
        # request rounds per line: up to a minor unit per item refunded.
        total = sum(
            (
                line_total(
                    b.template.unit_price,
                    b.refunded,
                    order.tax_rates.rate_for(b.template.tax_table_selector),
                    order.currency,
                )
                for b in shown
            ),
            Decimal(0),
        )
        slack = quantum(order.currency) * sum(b.refunded for b in shown)
        refunded = from_minor_units(order.amount_refunded, order.currency)
        if abs(refunded - total) <= slack:
            return balances
        raise RefundsNotShown(
            f"MultiSafepay has refunded {_rounded(refunded, order.currency)} of order "
            f"{order.order_id}, but the refunds its cart itemises come to "
            f"{_rounded(total, order.currency)}: what is left cannot be told safely. Refund the "
            "rest in MultiSafepay's dashboard."
        )
    if known is not None and known.amount == order.amount_refunded:
        return {
            key: replace(b, refunded=b.refunded + known.quantities.get(key, 0))
            for key, b in balances.items()
        }
    refunded = from_minor_units(order.amount_refunded, order.currency)
    raise RefundsNotShown(
        f"MultiSafepay has refunded {_rounded(refunded, order.currency)} "
        f"of order {order.order_id}, but its cart does not show which items, so what is left "
        "cannot be told safely. Refund the rest in MultiSafepay's dashboard."
    )


def _without_unwritable(
    order: Order,
    request: RefundRequest,
    balances: Mapping[str, ItemBalance],
    quantities: Dict[str, int],
) -> Dict[str, int]:
    """A free item priced as the JSON number 0 has no negative price to write: left out of
    "everything", refused when asked for by name (it would refund nothing anyway)."""
    unwritable = [key for key in quantities if not _negatable(balances[key].template.raw)]
    if unwritable and not (request.full or request.amount is not None):
        raise ItemsNotSupported(
            f"{unwritable[0]!r} of order {order.order_id} is free (unit_price 0): "
            f"{order.gateway} refunds by a negative unit price, which it cannot have. It "
            "refunds nothing; leave it out."
        )
    return {key: quantity for key, quantity in quantities.items() if key not in unwritable}


def _negatable(raw: Mapping[str, object]) -> bool:
    value = raw.get("unit_price")
    return not (isinstance(value, int) and not isinstance(value, bool) and value == 0)


def _requested_quantities(
    order: Order, request: RefundRequest, balances: Mapping[str, ItemBalance]
) -> Dict[str, int]:
    """merchant_item_id -> quantity to refund, in cart order, every check passed."""
    _check_combination(request)
    if request.amount is not None:
        _positive_minor_units(request.amount, order)
        if request.amount != order.remaining_amount:
            raise AmountNotAllowed(
                f"Order {order.order_id} was paid with {order.gateway}, which MultiSafepay "
                f"refunds by item: an amount ({_rounded(request.amount, order.currency)}) can only "
                "refund everything that remains "
                f"({_rounded(order.remaining_amount, order.currency)}). "
                "Refund items instead."
            )
    if request.full or request.amount is not None:
        wanted = {key: b.remaining for key, b in balances.items() if b.remaining > 0}
        if not wanted:
            raise EmptyRefund(f"Every item of order {order.order_id} has been refunded already.")
    else:
        wanted = {}
        for key, quantity in request.items.items():
            key = key if type(key) is str else str(key)
            if type(quantity) is not int or quantity <= 0:
                quantity = _check_quantity(key, quantity)
            wanted[key] = quantity
        shipping_id = request.shipping_item_id
        if request.shipping and shipping_id not in wanted:
            shipping = balances.get(shipping_id)
            wanted[shipping_id] = shipping.remaining if shipping and shipping.remaining else 1
        if not wanted:
            raise EmptyRefund("Nothing to refund: give at least one item or the shipping.")
    for key, quantity in wanted.items():
        balance = balances.get(key)
        if balance is None:
            what = "shipping line" if key == request.shipping_item_id else "item"
            raise UnknownItem(
                f"Order {order.order_id} has no {what} with merchant_item_id {key!r} in "
                "MultiSafepay's cart."
            )
        if balance.problem:
            raise AmbiguousItem(
                f"Cannot refund {key!r} of order {order.order_id}: {balance.problem}."
            )
        if not key:
            raise AmbiguousItem(
                f"Order {order.order_id} has a cart line without merchant_item_id: "
                "MultiSafepay cannot refund it by item."
            )
        if quantity > balance.remaining:
            raise QuantityExceedsRemaining(
                f"Cannot refund {quantity} x {balance.template.name or key} ({key}) of order "
                f"{order.order_id}: {balance.bought} bought, {balance.refunded} already "
                f"refunded, {max(balance.remaining, 0)} left."
            )
    # Cart order, so the body and the lines read like the order does.
    return {key: wanted[key] for key in balances if key in wanted}


def _check_quantity(key: str, quantity: object) -> int:
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity <= 0:
        raise InvalidQuantity(
            f"The quantity to refund of {key!r} must be a whole number above zero, "
            f"not {quantity!r}."
        )
    return quantity


def _refund_lines(order: Order, refunded: List[Tuple[CartItem, int]]) -> Tuple[RefundLine, ...]:
    """The refund line of each (item, quantity refunded)."""
    rate_for = order.tax_rates.rate_for
    priced = [
        (item.unit_price, quantity, rate_for(item.tax_table_selector))
        for item, quantity in refunded
    ]
    totals = line_totals(priced, order.currency)
    return tuple(
        [
            refund_line(item.merchant_item_id, item.name, quantity, unit_price, rate, total)
            for (item, _), (unit_price, quantity, rate), total in zip(refunded, priced, totals)
        ]
    )


def _cart_with_copies(
    order: Order, refunded: List[Tuple[CartItem, int]], convention: SignConvention
) -> wire.WithCopies:
    """The current cart verbatim, each refund copy (of its item's template line, with the
    quantity refunded) right after the last line of its item.

    That is where the seed page puts it, and it keeps an item and its refunds together. Each
    copy is kept as the values it changes (`copy_changes`), so that its text is written from
    its line's (`wire.WithCopies`): a cart of 1,000 lines is not encoded twice.
    """
    items = order.items
    last_index = {item.merchant_item_id: index for index, item in enumerate(items)}
    changes: List[Optional[Mapping[str, object]]] = [None] * len(items)
    copies = copies_changes([(template.raw, n) for template, n in refunded], convention)
    for (template, _), copy in zip(refunded, copies):
        changes[last_index[template.merchant_item_id]] = copy
    return wire.WithCopies([item.raw for item in items], changes)


def refund_copy(
    original: Mapping[str, object], quantity: int, convention: SignConvention
) -> Dict[str, object]:
    """A copy of `original` that refunds `quantity` of it, every other field repeated as is."""
    return {**original, **copy_changes(original, quantity, convention)}


def copy_changes(
    original: Mapping[str, object], quantity: int, convention: SignConvention
) -> Dict[str, object]:
    """The values a refund copy of `original` changes: its quantity, and its unit_price under
    the negative-unit-price convention. Every other field is repeated as is.

    Values keep the JSON type MultiSafepay used (string "90" stays a string), because the copy
    must be identical to the original except for the sign.
    """
    return copies_changes(((original, quantity),), convention)[0]


def copies_changes(
    refunded: Iterable[Tuple[Mapping[str, object], int]], convention: SignConvention
) -> List[Dict[str, object]]:
    """`copy_changes` of each (original, quantity refunded of it): a cart's at once, since a
    call per line is a tenth of a millisecond at 1,000 lines."""
    if convention is SignConvention.NEGATIVE_UNIT_PRICE:
        return [
            {
                "quantity": str(n) if isinstance(original.get("quantity"), str) else n,
                "unit_price": _negated(original.get("unit_price")),
            }
            for original, n in refunded
        ]
    return [
        {"quantity": str(-n) if isinstance(original.get("quantity"), str) else -n}
        for original, n in refunded
    ]


def _sign_flipped(template: CartItem, item: CartItem) -> bool:
    """A copy of a free item under the negative-unit-price convention: "0" became "-0"."""
    return template.unit_price.is_signed() != item.unit_price.is_signed()


# The fields that make two cart lines "the same item"; quantity and unit_price carry the sign.
_IDENTITY_FIELDS = ("name", "description", "tax_table_selector", "weight")


def _same_item_data(first: CartItem, second: CartItem) -> bool:
    return all(
        _comparable(first.raw.get(name)) == _comparable(second.raw.get(name))
        for name in _IDENTITY_FIELDS
    )


def _comparable(value: object) -> object:
    """Compare as MultiSafepay would: 12 == "12" == "12.0", None == ""."""
    if value is None:
        return ""
    if isinstance(value, Mapping):
        return {key: _comparable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_comparable(item) for item in value]
    if isinstance(value, bool):
        return value
    try:
        return parse_decimal(value).normalize()
    except ValueError:
        return str(value)


def _negated(value: object) -> object:
    if isinstance(value, str):
        text = value.strip()
        # Text flips its sign character, so "19.1200000000" keeps every decimal it had.
        return text[1:] if text.startswith("-") else "-" + text.lstrip("+")
    if isinstance(value, Decimal):
        return value.copy_negate()  # -0.00 stays told apart from 0.00
    if isinstance(value, int) and not isinstance(value, bool) and value:
        return -value
    raise ValueError(f"cannot negate unit_price {value!r}")


def _rounded(amount: Decimal, currency: str) -> str:
    """`amount` shown rounded to the currency: line totals carry MultiSafepay's fractions."""
    return shown(round_money(amount, currency), currency)
