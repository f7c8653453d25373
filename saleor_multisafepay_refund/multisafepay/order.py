"""A MultiSafepay order as GET /orders/{id} returns it, read leniently into exact values.

Real answers mix types (docs/msp-api.md, fixtures/msp/order.json): `unit_price` as a string
with up to 10 decimals, `quantity` as an int or a string, `description` as a number, `weight`
null, tax rates as numbers or strings. Each cart item keeps the exact JSON it came with, so a
refund can repeat it to the byte. Anything that cannot be read safely is `InvalidOrderData`:
a refund is never built from a guess.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from decimal import Decimal
from functools import cached_property
from typing import Callable, Mapping, Optional, Tuple

from ..errors import InvalidOrderData
from .methods import is_cart_gateway
from .money import LARGEST_DIGITS, from_minor_units, parse_decimal

_LARGEST_WHOLE = 10**LARGEST_DIGITS  # parse_decimal's bound, for the int fast path


def made_again(value: object) -> Tuple[type, Tuple[object, ...]]:
    """`__reduce__` of a frozen dataclass with slots: made again by its class, from its fields.

    Without it, copy and pickle remake such a value by setting each slot, which a frozen class
    refuses (@dataclass(slots=True) adds the same, but needs Python 3.10).
    """
    return type(value), tuple(getattr(value, field.name) for field in fields(value))  # type: ignore[arg-type]


@dataclass(frozen=True)
class CartItem:
    """One line of the order's shopping cart; `raw` is the line exactly as received."""

    # Slots, and made by a twin: one is made per cart line (see _CartItemMaker).
    __slots__ = ("merchant_item_id", "name", "quantity", "raw", "tax_table_selector", "unit_price")

    merchant_item_id: str
    name: str
    unit_price: Decimal
    quantity: int
    tax_table_selector: str
    raw: Mapping[str, object]

    __reduce__ = made_again


@dataclass(frozen=True)
class RelatedRefund:
    """A refund listed in the order's `related_transactions`."""

    refund_id: str
    status: str
    amount: Optional[int]


@dataclass(frozen=True)
class TaxRates:
    """Tax rate per `tax_table_selector`, already resolved for the customer's country."""

    default: Decimal
    by_selector: Mapping[str, Decimal]

    def rate_for(self, selector: str) -> Decimal:
        # An empty or unknown selector falls back to the default table, as MultiSafepay does
        # for items without a selector.
        return self.by_selector.get(selector, self.default)


@dataclass(frozen=True)
class Order:
    order_id: str
    transaction_id: Optional[str]
    status: str
    currency: str
    amount: int
    amount_refunded: int
    gateway: str
    items: Tuple[CartItem, ...]
    tax_rates: TaxRates
    refunds: Tuple[RelatedRefund, ...]

    @cached_property
    def by_cart(self) -> bool:
        """Whether MultiSafepay refunds this order by shopping cart (its payment method is a
        buy-now-pay-later or invoice method), else by amount: decided once per order read."""
        return is_cart_gateway(self.gateway)

    @property
    def remaining(self) -> int:
        """What can still be refunded, in minor units."""
        return self.amount - self.amount_refunded

    @property
    def remaining_amount(self) -> Decimal:
        return from_minor_units(self.remaining, self.currency)


class _CartItemMaker:
    """Makes the CartItem that CartItem(...) makes, in a third of the time.

    A frozen dataclass's __init__ sets each field through object.__setattr__, far slower than
    an assignment. The values made once per cart line (CartItem, ItemBalance, RefundLine) took
    a sixth of a 1,000-line refund body's time even when made around their __init__. So each
    of them has slots, and a twin: a plain class with the same slots, whose __init__ assigns
    them and then gives the object the frozen class (the two have the same layout, so Python
    allows it). From then on it is an ordinary instance of that class: immutable, equal to one
    its class makes, copied and pickled like one (made_again). tests/test_cart.py holds each
    twin to its class.
    """

    __slots__ = CartItem.__slots__

    def __init__(
        self,
        merchant_item_id: str,
        name: str,
        unit_price: Decimal,
        quantity: int,
        tax_table_selector: str,
        raw: Mapping[str, object],
    ) -> None:
        self.merchant_item_id = merchant_item_id
        self.name = name
        self.unit_price = unit_price
        self.quantity = quantity
        self.tax_table_selector = tax_table_selector
        self.raw = raw
        self.__class__ = CartItem  # type: ignore[assignment]


# Typed as what it makes: a call is checked as CartItem(...) is, and gives a CartItem.
cart_item: Callable[[str, str, Decimal, int, str, Mapping[str, object]], CartItem]
cart_item = _CartItemMaker  # type: ignore[assignment]


def parse_order(data: Mapping[str, object]) -> Order:
    """Read the `data` object of a GET /orders/{id} answer."""
    if not isinstance(data, Mapping):
        raise InvalidOrderData("MultiSafepay's order answer is not a JSON object.")
    currency = _text(data, "currency", required=True).upper()
    amount = _whole(data.get("amount"), "amount")
    refunded_value = data.get("amount_refunded")
    refunded = 0 if refunded_value in (None, "") else _whole(refunded_value, "amount_refunded")
    if amount < 0 or refunded < 0 or refunded > amount:
        raise InvalidOrderData(
            f"MultiSafepay's order has inconsistent amounts: amount {amount}, "
            f"amount_refunded {refunded}."
        )
    transaction = data.get("transaction_id")
    return Order(
        order_id=_text(data, "order_id", required=True),
        transaction_id=None
        if transaction in (None, "")
        else _scalar_text(transaction, "transaction_id"),
        status=_text(data, "status"),
        currency=currency,
        amount=amount,
        amount_refunded=refunded,
        gateway=_gateway(data),
        # A list first: tuple() of a generator runs a frame switch per line.
        items=tuple([_item(raw, index) for index, raw in enumerate(_cart_items(data))]),
        tax_rates=_tax_rates(data),
        refunds=_refunds(data.get("related_transactions")),
    )


def _gateway(data: Mapping[str, object]) -> str:
    details = data.get("payment_details")
    gateway = details.get("type") if isinstance(details, Mapping) else None
    if not gateway:
        # Older answers carry the method only in payment_methods[].
        methods = data.get("payment_methods")
        if isinstance(methods, list) and methods and isinstance(methods[0], Mapping):
            gateway = methods[0].get("type")
    if not isinstance(gateway, str) or not gateway.strip():
        raise InvalidOrderData("MultiSafepay's order does not say its payment method.")
    return gateway.strip().upper()


def _cart_items(data: Mapping[str, object]) -> list[object]:
    cart = data.get("shopping_cart")
    if cart in (None, "", []):
        return []
    if not isinstance(cart, Mapping):
        raise InvalidOrderData("MultiSafepay's order has a shopping_cart that is not an object.")
    items = cart.get("items")
    if items in (None, ""):
        return []
    if not isinstance(items, list):
        raise InvalidOrderData("MultiSafepay's order has shopping_cart.items that is not a list.")
    return items


def _item(raw: object, index: int) -> CartItem:
    # Read once per cart line: the common types (str, int) are checked first, and the texts
    # that only an error needs are written only then.
    if type(raw) is not dict and not isinstance(raw, Mapping):
        raise InvalidOrderData(f"MultiSafepay's cart item {index + 1} is not an object.")
    get = raw.get
    merchant_item_id = get("merchant_item_id")
    if type(merchant_item_id) is not str:
        if merchant_item_id is None:
            merchant_item_id = ""
        elif isinstance(merchant_item_id, (str, int)) and not isinstance(merchant_item_id, bool):
            merchant_item_id = str(merchant_item_id)
        else:
            raise InvalidOrderData(
                f"MultiSafepay's cart item {index + 1} has an unreadable merchant_item_id."
            )
    try:
        unit_price = parse_decimal(get("unit_price"))
    except ValueError:
        raise InvalidOrderData(
            f"MultiSafepay's cart item {index + 1} ({merchant_item_id or 'no id'}) has an "
            f"unreadable unit_price: {get('unit_price')!r}."
        ) from None
    # In this order, so that of two unreadable fields the same one is named as always.
    name = get("name")
    if type(name) is not str:
        name = _scalar_text(name, f"cart item {index + 1} name")
    quantity = get("quantity")
    if type(quantity) is not int or not -_LARGEST_WHOLE < quantity < _LARGEST_WHOLE:
        quantity = _whole(quantity, f"cart item {index + 1} quantity")
    selector = get("tax_table_selector")
    if selector is None:
        selector = ""
    elif type(selector) is not str:
        selector = _scalar_text(selector, f"cart item {index + 1} tax_table_selector")
    return cart_item(merchant_item_id, name, unit_price, quantity, selector, raw)


def _tax_rates(data: Mapping[str, object]) -> TaxRates:
    options = data.get("checkout_options")
    if not isinstance(options, Mapping):
        return TaxRates(default=Decimal(0), by_selector={})
    # POST /orders nests the tables under tax_tables; GET answers flatten them. Accept both.
    tables = options.get("tax_tables")
    if not isinstance(tables, Mapping):
        tables = options
    country = ""
    customer = data.get("customer")
    if isinstance(customer, Mapping) and isinstance(customer.get("country"), str):
        country = customer["country"].upper()
    default = tables.get("default")
    default_rate = Decimal(0)
    if isinstance(default, Mapping) and default.get("rate") not in (None, ""):
        default_rate = _rate(default.get("rate"), "default")
    by_selector: dict[str, Decimal] = {}
    alternate = tables.get("alternate")
    for table in alternate if isinstance(alternate, list) else []:
        if not isinstance(table, Mapping) or table.get("name") in (None, ""):
            continue
        name = _scalar_text(table["name"], "tax table name")
        rate = _rule_rate(table.get("rules"), country, name)
        if rate is not None:
            by_selector[name] = rate
    return TaxRates(default=default_rate, by_selector=by_selector)


def _rule_rate(rules: object, country: str, name: str) -> Optional[Decimal]:
    """The rule for the customer's country wins over the rule for every country ("")."""
    fallback = None
    for rule in rules if isinstance(rules, list) else []:
        if not isinstance(rule, Mapping):
            continue
        rule_country = str(rule.get("country") or "").upper()
        if rule_country == country and country:
            return _rate(rule.get("rate"), name)
        if rule_country == "" and fallback is None:
            fallback = _rate(rule.get("rate"), name)
    return fallback


def _rate(value: object, name: str) -> Decimal:
    try:
        rate = parse_decimal(value)
    except ValueError:
        raise InvalidOrderData(
            f"MultiSafepay's tax table {name!r} has an unreadable rate."
        ) from None
    if rate < 0 or rate >= 1:
        # Rates are fractions (0.21); a 21 here would multiply every refund by 22.
        raise InvalidOrderData(f"MultiSafepay's tax table {name!r} has an impossible rate {rate}.")
    return rate


def _refunds(related: object) -> Tuple[RelatedRefund, ...]:
    if not isinstance(related, list):
        return ()
    refunds = []
    for entry in related:
        if not isinstance(entry, Mapping) or str(entry.get("type") or "").lower() != "refund":
            continue
        refund_id = entry.get("transaction_id")
        if refund_id in (None, ""):
            continue
        amount = entry.get("amount")
        # Absent is allowed (None: matched by amount_refunded alone); unreadable is not: a
        # refund of unknown size must not be taken for the one a lost answer was about.
        minor = None if amount in (None, "") else _whole(amount, "refund amount")
        refunds.append(
            RelatedRefund(
                refund_id=_scalar_text(refund_id, "refund transaction_id"),
                status=_scalar_text(entry.get("status"), "refund status").lower(),
                amount=minor,
            )
        )
    return tuple(refunds)


def _whole(value: object, field: str) -> int:
    """An integer from an int or an integral string/decimal ("2", "2.0"); never from a float."""
    if type(value) is int and -_LARGEST_WHOLE < value < _LARGEST_WHOLE:
        return value
    if type(value) is str and len(value) <= LARGEST_DIGITS and value.isascii() and value.isdigit():
        # "3", as quantities often come: what parse_decimal would make of it, read directly.
        return int(value)
    try:
        number = parse_decimal(value)
    except ValueError:
        raise InvalidOrderData(f"MultiSafepay's {field} is not a number: {value!r}.") from None
    if number != number.to_integral_value():
        raise InvalidOrderData(f"MultiSafepay's {field} is not a whole number: {value!r}.")
    return int(number)


def _text(data: Mapping[str, object], field: str, required: bool = False) -> str:
    value = data.get(field)
    if value in (None, ""):
        if required:
            raise InvalidOrderData(f"MultiSafepay's order has no {field}.")
        return ""
    if isinstance(value, (dict, list, bool)):
        raise InvalidOrderData(f"MultiSafepay's order has an unreadable {field}.")
    return _scalar_text(value, field)


def _scalar_text(value: object, field: str) -> str:
    if type(value) is str:
        return value
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        raise InvalidOrderData(f"MultiSafepay's {field} is not text.")
    return str(value)
