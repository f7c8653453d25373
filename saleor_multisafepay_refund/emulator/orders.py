"""Orders: what the emulator keeps of each (its GET data, and beside it what was refunded), an
order added whole or built (`build_order`), and POST /orders checked: a cart adds up to the amount.
"""

from __future__ import annotations

import copy
import re
import zlib
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union
from urllib.parse import urlsplit

from ..multisafepay import wire
from ..multisafepay.methods import SignConvention, is_cart_gateway, sign_convention
from ..multisafepay.money import parse_decimal, round_money, to_minor_units
from .envelope import (
    CART_MISMATCH,
    INVALID_AMOUNT,
    INVALID_CURRENCY,
    MISSING_DATA,
    WRONG_ITEM_PRICE,
    Refusal,
    parse_body,
)
from .json_values import POSITIVE_WHOLE, item_key, show
from .refund_copies import Copy, earlier_copy_of

GATEWAY_CODE = re.compile(r"[A-Z0-9_]+\Z")
_NOTIFICATION_METHODS = ("POST", "GET")


@dataclass
class Refund:
    """An accepted refund: its line in related_transactions and what it changed."""

    entry: Dict[str, Any]  # the related_transactions entry, updated in place
    amount: int
    copies: List[Copy] = field(default_factory=list)
    lines: List[Dict[str, Any]] = field(default_factory=list)  # refund lines added to the cart


class OrderState:
    """An order as GET shows it, plus what the emulator tracks beside it."""

    def __init__(self, data: Dict[str, Any], convention: Optional[SignConvention]) -> None:
        self.data = data
        # What POST /orders gave that GET does not show.
        self.payment_options: Dict[str, Any] = {}
        # The status the order has when no refund counts (refunds show over it).
        status = data.get("status")
        self.base_status = (
            status
            if isinstance(status, str) and status not in ("refunded", "partial_refunded")
            else "completed"
        )
        # Refunds accepted here, by refund id (as text).
        self.refunds: Dict[str, Refund] = {}
        # Whether refunds accepted from now on are listed in related_transactions at once;
        # None: as the emulator's `lists_refunds` says.
        self.lists_refunds: Optional[bool] = None
        # Refunds counted but not listed yet, in the order they were made (list_refunds).
        self.unlisted: List[Refund] = []
        # Indexes (into the cart) of the items bought; the other cart items are refund copies.
        self.original_indexes: List[int] = []
        # merchant_item_id (as JSON) -> quantity refunded so far, whatever the cart shows.
        self.refunded: Dict[str, int] = {}
        # (monotonic time, amount in minor units) of each accepted refund.
        self.accepted: List[Tuple[float, int]] = []
        cart = cart_items(data)
        for index, item in enumerate(cart):
            found = None
            if convention is not None and isinstance(item, dict):
                found = earlier_copy_of(item, [cart[i] for i in self.original_indexes], convention)
            if found is None:
                self.original_indexes.append(index)
            else:
                self.add_refunded(found)

    def originals(self) -> List[Tuple[int, Dict[str, Any]]]:
        cart = cart_items(self.data)
        return [(i, cart[i]) for i in self.original_indexes]

    def add_refunded(self, copy_: Copy, sign: int = 1) -> None:
        key = item_key(copy_.item)
        self.refunded[key] = self.refunded.get(key, 0) + sign * copy_.quantity

    def has_cart(self) -> bool:
        return bool(self.original_indexes)

    def set_status(self, status: str, financial_status: str) -> None:
        self.base_status = status
        self.data["financial_status"] = financial_status
        self.show_status()

    def show_status(self) -> None:
        """The order's status: refunded or partial_refunded over the base status."""
        refunded = minor_units(self.data.get("amount_refunded"), "amount_refunded")
        if refunded <= 0:
            self.data["status"] = self.base_status
        elif refunded >= minor_units(self.data.get("amount"), "amount"):
            self.data["status"] = "refunded"
        else:
            self.data["status"] = "partial_refunded"

    def refunds_listed(self, by_default: bool) -> bool:
        """Whether a refund accepted now is listed in related_transactions at once: the order's
        own setting (`set_refund_listing`), else the emulator's `lists_refunds`."""
        return by_default if self.lists_refunds is None else self.lists_refunds

    def shown(self, lists_by_default: bool) -> Dict[str, Any]:
        """The order as MultiSafepay shows it (GET, notifications, `order`); not a copy.

        An order that does not list refunds and lists none shows related_transactions
        null, as the recorded card order does (fixtures/msp/credit-card-order.json)."""
        if not self.data.get("related_transactions") and not self.refunds_listed(lists_by_default):
            return dict(self.data, related_transactions=None)
        return self.data


def order_from_data(
    data: Mapping[str, Any], sign_conventions: Mapping[str, SignConvention]
) -> OrderState:
    """An order given as the `data` of MultiSafepay's GET answer (`add_order`), checked, with
    amount_refunded and related_transactions set where GET may show null."""
    order = copy.deepcopy(dict(data))
    wire.dumps(order)  # fails now, not in a request, on a float or a non-JSON value
    if "order_id" not in order:
        raise ValueError("an order needs an order_id")
    if order.get("amount_refunded") is None:
        order["amount_refunded"] = 0
    if order.get("related_transactions") is None:
        order["related_transactions"] = []
    minor_units(order.get("amount"), "amount")
    minor_units(order["amount_refunded"], "amount_refunded")
    return OrderState(order, cart_convention(gateway_of(order), sign_conventions))


def cart_convention(
    gateway: str, sign_conventions: Mapping[str, SignConvention]
) -> Optional[SignConvention]:
    """The sign convention of a cart method's refund copies; None for a method refunded by
    amount."""
    return sign_convention(gateway, sign_conventions) if is_cart_gateway(gateway) else None


def create_order(
    raw_body: bytes,
    orders: Mapping[str, OrderState],
    sign_conventions: Mapping[str, SignConvention],
) -> OrderState:
    """POST /orders: an order whose cart, for a cart method, adds up to its amount, with an
    order_id none of `orders` has."""
    body = parse_body(raw_body)
    order_id = body.get("order_id")
    if not isinstance(order_id, (str, int)) or isinstance(order_id, bool) or not str(order_id):
        raise Refusal(MISSING_DATA, "order_id is missing")
    if len(str(order_id)) > 50:
        raise Refusal(MISSING_DATA, "order_id is longer than 50 characters")
    if str(order_id) in orders:
        # 1016 (not 1006 "unknown order", which would say the opposite); the code
        # MultiSafepay uses is UNCONFIRMED.
        raise Refusal(MISSING_DATA, f"order_id {str(order_id)!r} is already used")
    if body.get("type") not in ("redirect", "direct", "paymentlink"):
        raise Refusal(MISSING_DATA, "type must be redirect, direct or paymentlink")
    amount = body.get("amount")
    if type(amount) is not int or amount <= 0:
        raise Refusal(INVALID_AMOUNT, "amount must be a whole number of minor units above 0")
    currency = body.get("currency")
    if not isinstance(currency, str) or len(currency) != 3:
        raise Refusal(INVALID_CURRENCY, "currency must be a 3-letter ISO code")
    gateway = body.get("gateway") or ""
    if not isinstance(gateway, str) or (gateway and not GATEWAY_CODE.match(gateway)):
        raise Refusal(MISSING_DATA, f"gateway {show(gateway)} is not a gateway code")
    payment_options = _payment_options(body)
    customer = body.get("customer", {})
    delivery = body.get("delivery")
    if not isinstance(customer, dict) or not isinstance(delivery, (dict, type(None))):
        raise Refusal(MISSING_DATA, "customer and delivery must be JSON objects")
    tables = _object(_object(body.get("checkout_options")).get("tax_tables"))
    cart = _object(body.get("shopping_cart"))
    items = cart.get("items") if isinstance(cart.get("items"), list) else None
    _check_new_cart(items or [], tables)
    order = build_order(
        str(order_id),
        gateway,
        copy.deepcopy(items or []),
        currency=currency,
        amount=amount,
    )
    # GET shows the description and the customer as given (no delivery, no
    # payment_options); without a gateway there is no transaction yet, so no PSP ID
    # (MultiSafepay's webhook page on pre-transactions).
    if "description" in body:
        order["description"] = copy.deepcopy(body["description"])
    order["customer"] = copy.deepcopy(customer) if customer else order["customer"]
    if not gateway:
        order["transaction_id"] = None
    order["related_transactions"] = []  # as add_order has it: refunds are appended
    # GET shows the tax tables flattened: default and alternate at the top.
    order["checkout_options"] = {
        "default": tables.get("default") or {"rate": "0", "shipping_taxed": True},
        "alternate": [
            dict(table, rules=[{"country": "", **rule} for rule in table.get("rules") or []])
            for table in tables.get("alternate") or []
            if isinstance(table, dict)
        ],
    }
    order["status"] = order["financial_status"] = "initialized"
    if (gateway and is_cart_gateway(gateway)) or items:
        if not items:
            raise Refusal(MISSING_DATA, f"{gateway} needs shopping_cart.items")
        total = sum(
            (line_total(order, i, i.get("unit_price"), i.get("quantity")) for i in items),
            Decimal(0),
        )
        if to_minor_units(total, currency) != amount:
            raise Refusal(
                CART_MISMATCH,
                f"the shopping cart comes to {total} {currency}, not the amount "
                f"{amount} (minor units)",
            )
    state = OrderState(order, cart_convention(gateway, sign_conventions))
    state.payment_options = payment_options
    return state


def build_order(
    order_id: Union[str, int],
    gateway: str,
    items: Sequence[Mapping[str, Any]],
    *,
    currency: str = "EUR",
    tax_rates: Optional[Mapping[str, Union[Decimal, str]]] = None,
    country: str = "NL",
    amount: Optional[int] = None,
    transaction_id: Union[str, int, None] = None,
) -> Dict[str, Any]:
    """An order `data` dict shaped like MultiSafepay's GET answer (see fixtures/msp/order.json).

    `items` go into the cart verbatim; `amount` (minor units) defaults to the cart's total
    with tax, line by line as the emulator computes refunds.
    """
    status = "uncleared" if is_cart_gateway(gateway) else "completed"
    rates = {"none": "0.00"} if tax_rates is None else tax_rates
    cart = [copy.deepcopy(dict(item)) for item in items]
    order: Dict[str, Any] = {
        "order_id": order_id,
        "transaction_id": (
            transaction_id
            if transaction_id is not None
            else 4_000_000 + zlib.crc32(str(order_id).encode()) % 1_000_000
        ),
        "status": status,
        "financial_status": status,
        "currency": currency,
        "amount": 0,
        "amount_refunded": 0,
        "payment_details": {"type": gateway},
        "customer": {"country": country},
        "shopping_cart": {"items": cart},
        "checkout_options": {
            "default": {"rate": "0.00", "shipping_taxed": True},
            "alternate": [
                {"name": name, "standalone": "", "rules": [{"country": "", "rate": rate}]}
                for name, rate in rates.items()
            ],
        },
        "related_transactions": None,
    }
    if amount is None:
        total = sum(
            (
                line_total(order, item, item.get("unit_price"), item.get("quantity"))
                for item in cart
            ),
            Decimal(0),
        )
        amount = to_minor_units(total, currency)
    order["amount"] = amount
    return order


def _check_new_cart(items: List[Any], tables: Mapping[str, Any]) -> None:
    """A cart to create an order with: objects, a readable unit price, a whole quantity above
    zero, tax rules as objects; refused with the field named (never a 500)."""
    for index, item in enumerate(items):
        where = f"shopping_cart.items[{index}]"
        if not isinstance(item, dict):
            raise Refusal(MISSING_DATA, f"{where} is not an object")
        try:
            parse_decimal(item.get("unit_price"))
        except ValueError:
            raise Refusal(
                WRONG_ITEM_PRICE, f"{where}.unit_price {show(item.get('unit_price'))} is no price"
            ) from None
        if not POSITIVE_WHOLE.match(str(item.get("quantity"))) or isinstance(
            item.get("quantity"), bool
        ):
            raise Refusal(
                MISSING_DATA,
                f"{where}.quantity {show(item.get('quantity'))} is not a whole number above 0",
            )
    for table in tables.get("alternate") or []:
        rules = table.get("rules") if isinstance(table, dict) else None
        if not isinstance(table, dict) or not all(isinstance(r, dict) for r in rules or []):
            raise Refusal(MISSING_DATA, "checkout_options.tax_tables: tables and rules are objects")


def _object(value: Any) -> Dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _payment_options(body: Mapping[str, Any]) -> Dict[str, Any]:
    """POST /orders' payment_options, checked: URLs http(s), notification_method POST or GET.

    MultiSafepay wants https without a port for webhooks; the emulator takes http and ports,
    as its tests listen on 127.0.0.1.
    """
    options = body.get("payment_options", {})
    if not isinstance(options, dict):
        raise Refusal(MISSING_DATA, "payment_options must be a JSON object")
    for name in ("notification_url", "redirect_url", "cancel_url"):
        url = options.get(name)
        if url is None or url == "":
            continue
        split = urlsplit(url) if isinstance(url, str) else None
        if split is None or split.scheme not in ("http", "https") or not split.hostname:
            raise Refusal(MISSING_DATA, f"payment_options.{name} {show(url)} is not an http(s) URL")
    method = options.get("notification_method")
    if method is not None and method not in _NOTIFICATION_METHODS:
        raise Refusal(
            MISSING_DATA, f"payment_options.notification_method {show(method)}: POST or GET"
        )
    return copy.deepcopy(options)


def gateway_of(order: Mapping[str, Any]) -> str:
    """The order's payment method code, "" when it has none."""
    details = order.get("payment_details")
    gateway = details.get("type") if isinstance(details, dict) else None
    return gateway if isinstance(gateway, str) else ""


def cart_items(order: Mapping[str, Any]) -> List[Any]:
    """The order's cart items, the very list (empty when the order has no readable cart)."""
    cart = order.get("shopping_cart")
    if not isinstance(cart, dict):
        return []
    items = cart.get("items")
    if not isinstance(items, list):
        return []
    return items


def minor_units(value: Any, name: str) -> int:
    """An order's amount field (`name`) read as a whole number of minor units, else ValueError."""
    if isinstance(value, bool) or not isinstance(value, (int, str, Decimal)):
        raise ValueError(f"order field {name} is not an integer amount: {value!r}")
    number = parse_decimal(value)
    if number != number.to_integral_value():
        raise ValueError(f"order field {name} is not an integer amount: {value!r}")
    return int(number)


def line_total(
    order: Mapping[str, Any], item: Mapping[str, Any], price: Any, quantity: Any
) -> Decimal:
    """unit_price x quantity x (1 + the item's tax rate), rounded to the currency."""
    rate = _tax_rate(order, item.get("tax_table_selector"))
    value = parse_decimal(price) * parse_decimal(quantity) * (1 + rate)
    return round_money(value, str(order.get("currency")))


def _tax_rate(order: Mapping[str, Any], selector: Any) -> Decimal:
    """The rate of the tax table an item names; the default rate when it names none.

    A table's rule for the customer's country wins over its rule for every country ("").
    """
    options = order.get("checkout_options")
    options = options if isinstance(options, dict) else {}
    default = options.get("default")
    default_rate = default.get("rate") if isinstance(default, dict) else None
    if isinstance(selector, str) and selector:
        customer = order.get("customer")
        country = customer.get("country") if isinstance(customer, dict) else None
        for table in options.get("alternate") or []:
            if not isinstance(table, dict) or table.get("name") != selector:
                continue
            rules = [rule for rule in table.get("rules") or [] if isinstance(rule, dict)]
            for wanted in (country, ""):
                for rule in rules:
                    if wanted is not None and (rule.get("country") or "") == wanted:
                        return parse_decimal(rule.get("rate"))
            break
    return parse_decimal(default_rate) if default_rate is not None else Decimal(0)
