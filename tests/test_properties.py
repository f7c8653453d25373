"""Properties (hypothesis): any cart and request, any answer, any amount.

Engine and emulator: any order and refund request give either a body the emulator accepts,
which refunds exactly the total asked and never more of an item than was bought, or a
refusal that says why, with nothing sent. Parser: whatever MultiSafepay answers (wrong types,
missing fields, huge numbers, unicode), `parse_order` returns an Order or raises
InvalidOrderData, and a refund built from it repeats the cart verbatim. Exact JSON and minor
units round-trip.

Every property runs derandomized and without an example database, so CI sees the same
examples every time. The tests at the end keep the smallest examples of bugs these properties
found, fixed since.
"""

from __future__ import annotations

import itertools
import string
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from saleor_multisafepay_refund.emulator import Emulator, build_order
from saleor_multisafepay_refund.errors import InvalidOrderData, RefundRefused
from saleor_multisafepay_refund.multisafepay import money, wire
from saleor_multisafepay_refund.multisafepay.client import MultiSafepayClient
from saleor_multisafepay_refund.multisafepay.methods import SignConvention
from saleor_multisafepay_refund.multisafepay.order import parse_order
from saleor_multisafepay_refund.multisafepay.refund_body import (
    RefundRequest,
    build_refund,
    item_balances,
    refund_copy,
)
from saleor_multisafepay_refund.refunds.send import RefundStatus, refund_order

from .factories import item, order_data

KEY = "property-key-0123456789abcdef"
SHIPPING = "msp-shipping"
CART_GATEWAYS = ["PAYAFTER", "KLARNA", "AFTERPAY", "IN3", "BILLINK", "EINVOICE"]
AMOUNT_GATEWAYS = ["VISA", "IDEAL"]
EXPONENTS = {"EUR": 2, "JPY": 0, "KWD": 3}  # written out here, not read from money.py
TAX_TABLES = ["t-zero", "t-low", "t-mid", "t-high"]
RATES = ["0", "0.00", "0.06", "0.09", "0.21", Decimal("0.21"), Decimal("0.09")]

# Deterministic: the same examples on every run and every machine, nothing stored.
PROPERTY = settings(
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

_order_ids = itertools.count(1)


# --- the model: what MultiSafepay's arithmetic says, written independently -------------------


def quantum(currency: str) -> Decimal:
    return Decimal(1).scaleb(-EXPONENTS[currency])


def line_total(price: Decimal, quantity: int, rate: Decimal, currency: str) -> Decimal:
    """unit_price x quantity x (1 + rate), rounded half up (away from zero) per line."""
    return (price * quantity * (1 + rate)).quantize(quantum(currency), rounding=ROUND_HALF_UP)


def minor(amount: Decimal, currency: str) -> int:
    return int(amount.scaleb(EXPONENTS[currency]))


@dataclass
class Line:
    price: Decimal
    rate: Decimal
    bought: int
    refunded: int = 0

    @property
    def remaining(self) -> int:
        return self.bought - self.refunded


@dataclass
class Model:
    """One order as the test knows it: what was bought, what came back, what is left."""

    order_id: str
    gateway: str
    currency: str
    shows_refunds: bool
    lines: Dict[str, Line]  # in cart order
    amount: int  # minor units
    refunded: int = 0
    originals: int = 0  # cart lines bought; the lines after them are refund copies

    @property
    def is_cart(self) -> bool:
        return self.gateway in CART_GATEWAYS

    @property
    def remaining_amount(self) -> Decimal:
        return Decimal(self.amount - self.refunded).scaleb(-EXPONENTS[self.currency])

    def total(self, quantities: Dict[str, int]) -> Decimal:
        return sum(
            (
                line_total(self.lines[key].price, qty, self.lines[key].rate, self.currency)
                for key, qty in quantities.items()
            ),
            Decimal(0),
        )


@dataclass(frozen=True)
class Expected:
    """What the model says the request must do."""

    verdict: str  # "refuse", "accept", or "nothing" (a cart total of zero or less)
    lines: Dict[str, int] = field(default_factory=dict)
    total: Decimal = Decimal(0)


REFUSE = Expected("refuse")


def valid_amount(amount: Any, currency: str) -> Optional[int]:
    """The amount in minor units when it is a usable refund amount, else None."""
    if type(amount) is not Decimal or not amount.is_finite() or amount <= 0:
        return None
    if amount.adjusted() >= 15:
        return None
    if amount != amount.quantize(quantum(currency)):
        return None
    return minor(amount, currency)


def expect(model: Model, request: RefundRequest) -> Expected:
    if request.currency is not None and request.currency.upper() != model.currency:
        return REFUSE
    if model.is_cart:
        return _expect_cart(model, request)
    return _expect_amount(model, request)


def _expect_amount(model: Model, request: RefundRequest) -> Expected:
    if request.items or request.shipping:
        return REFUSE
    remaining = model.amount - model.refunded
    if request.full:
        if request.amount is not None or remaining <= 0:
            return REFUSE
        return Expected("accept", total=model.remaining_amount)
    wanted = valid_amount(request.amount, model.currency)
    if wanted is None or wanted > remaining:
        return REFUSE
    return Expected("accept", total=request.amount)  # type: ignore[arg-type]


def _expect_cart(model: Model, request: RefundRequest) -> Expected:
    if model.refunded and not model.shows_refunds:
        return REFUSE  # the cart cannot say what is left
    if request.full and (request.items or request.shipping or request.amount is not None):
        return REFUSE
    if request.amount is not None and (request.items or request.shipping):
        return REFUSE
    if request.amount is not None or request.full:
        if request.amount is not None:
            if valid_amount(request.amount, model.currency) is None:
                return REFUSE
            if request.amount != model.remaining_amount:
                return REFUSE
        wanted = {key: line.remaining for key, line in model.lines.items() if line.remaining > 0}
        if not wanted:
            return REFUSE
    else:
        wanted = {}
        for key, quantity in request.items.items():
            if type(quantity) is not int or quantity <= 0:
                return REFUSE
            wanted[key] = quantity
        if request.shipping and SHIPPING not in wanted:
            shipping = model.lines.get(SHIPPING)
            wanted[SHIPPING] = shipping.remaining if shipping and shipping.remaining > 0 else 1
        if not wanted:
            return REFUSE
        for key, quantity in wanted.items():
            if key not in model.lines or quantity > model.lines[key].remaining:
                return REFUSE
    total = amount = model.total(wanted)
    if total > model.remaining_amount:
        # The refund of every remaining priced unit may exceed what is left by per-line
        # rounding (a minor unit per unit refunded): it refunds exactly what is left.
        units = sum(line.refunded for line in model.lines.values()) + sum(wanted.values())
        rest = any(
            line.remaining > wanted.get(key, 0)
            for key, line in model.lines.items()
            if line.price != 0
        )
        excess = total - model.remaining_amount
        if rest or excess > quantum(model.currency) * units or model.refunded >= model.amount:
            return REFUSE
        amount = model.remaining_amount
    if request.amount is not None and amount != request.amount:
        return REFUSE
    if total <= 0:
        return Expected("nothing", wanted, total)
    return Expected("accept", {key: wanted[key] for key in model.lines if key in wanted}, amount)


# --- strategies ---------------------------------------------------------------------------------

SAFE_IDS = st.text(string.ascii_letters + string.digits + "-_.", min_size=1, max_size=8)
# Unicode, NUL and astral characters included.
NAMES = st.text(max_size=12)
ORDER_ID_TAILS = ["", "-\u00e9t\u00e9", "/x", " a-", "%20", "?q#f", "\u20ac", "\U0001f381"]


@st.composite
def prices(
    draw: Any, high: int, number_zero: bool, negative: bool = False, positive: bool = False
) -> Any:
    """A unit price with 0-4 decimals, as a string or a JSON number (int or Decimal).

    0 to `high` (above 0 when `positive`), or -`high` to just below 0 when `negative`.
    """
    decimals = draw(st.integers(0, 4))
    units = draw(st.integers(1 if negative or positive else 0, high * 10**decimals))
    value = Decimal(-units if negative else units).scaleb(-decimals)
    as_text = draw(st.booleans())
    if as_text or (units == 0 and not number_zero):
        return str(value)
    # A JSON number without a fraction reads back as an int, so it is written as one.
    return int(value) if decimals == 0 else value


def quantities(low: int, high: int) -> st.SearchStrategy[Any]:
    return st.integers(low, high).flatmap(lambda n: st.sampled_from([n, str(n)]))


@st.composite
def orders(draw: Any, gateways: List[str] = CART_GATEWAYS + AMOUNT_GATEWAYS) -> Dict[str, Any]:
    """An order in the shape of MultiSafepay's GET answer; `amount` is the cart's total."""
    gateway = draw(st.sampled_from(gateways))
    currency = draw(st.sampled_from(["EUR", "EUR", "EUR", "JPY", "KWD"]))
    rates = {name: draw(st.sampled_from(RATES)) for name in TAX_TABLES}
    selectors = st.sampled_from([*TAX_TABLES, "", "no-such-table"])
    # A Klarna copy of a free item priced as a JSON number cannot be told from the item
    # (test_a_klarna_refund_of_a_free_item_priced_as_a_number_counts_as_refunded).
    number_zero = gateway != "KLARNA"
    ids = draw(st.lists(SAFE_IDS, min_size=1, max_size=6, unique=True))
    cart = [
        item(
            key,
            draw(prices(500, number_zero, positive=index == 0)),
            draw(quantities(1 if index == 0 else 0, 5)),
            name=draw(NAMES),
            tax_table_selector=draw(selectors),
        )
        for index, key in enumerate(ids)
    ]
    if draw(st.booleans()):  # a discount line
        discount = draw(prices(50, number_zero, negative=True))
        cart.insert(draw(st.integers(0, len(cart))), item("discount", discount, 1, "Korting"))
    if draw(st.booleans()):
        shipping = item(SHIPPING, draw(prices(20, number_zero)), 1, "Verzending \u00e0 domicile")
        cart.append(shipping)
    tail = draw(st.sampled_from(ORDER_ID_TAILS))
    data = build_order(
        f"prop-{next(_order_ids)}{tail}", gateway, cart, currency=currency, tax_rates=rates
    )
    assume(data["amount"] > 0)
    return data


def model_of(data: Dict[str, Any], shows_refunds: bool) -> Model:
    currency = data["currency"]
    tables = {t["name"]: t["rules"][0]["rate"] for t in data["checkout_options"]["alternate"]}
    lines: Dict[str, Line] = {}
    for line in data["shopping_cart"]["items"]:
        rate = Decimal(tables.get(line["tax_table_selector"], "0"))
        lines[line["merchant_item_id"]] = Line(
            Decimal(line["unit_price"]), rate, int(line["quantity"])
        )
    model = Model(
        order_id=str(data["order_id"]),
        gateway=data["payment_details"]["type"],
        currency=currency,
        shows_refunds=shows_refunds,
        lines=lines,
        amount=data["amount"],
        originals=len(lines),
    )
    # The emulator's amount is the cart's, line by line: the model agrees to the cent.
    everything = {key: line.bought for key, line in lines.items()}
    assert data["amount"] == minor(model.total(everything), currency)
    return model


AMOUNT_VALUES = st.one_of(
    st.integers(-500, 60000).map(lambda n: Decimal(n).scaleb(-2)),
    st.integers(1, 20000).map(lambda n: Decimal(n).scaleb(-3)),  # too many decimals for EUR
    st.integers(1, 600).map(Decimal),
    st.sampled_from(
        [
            Decimal(0),
            Decimal("-0.00"),
            Decimal("1E+400"),
            Decimal("1E+15"),
            Decimal("NaN"),
            Decimal("sNaN"),
            Decimal("Infinity"),
            Decimal("1E-30"),
            5,
            "5.00",
            0.5,
        ]
    ),
)
QUANTITY_VALUES = st.one_of(
    st.integers(-2, 8), st.sampled_from(["1", 1.0, True, None, Decimal(1), 10**20])
)


@st.composite
def requests_for(draw: Any, model: Model, wild: bool) -> RefundRequest:
    """A refund request for the order as it is now: plausible, or (wild) anything."""
    ids = list(model.lines)
    currency = draw(st.sampled_from([None, None, model.currency, model.currency.lower(), "USD"]))
    description = draw(st.one_of(st.none(), st.just(""), NAMES))
    if not wild:
        currency = None
    kind = draw(st.sampled_from(["items", "items", "full", "amount", "mixed"]))
    items: Dict[str, Any] = {}
    shipping = full = False
    amount: Any = None
    if kind == "items" or kind == "mixed":
        keys = draw(
            st.lists(
                st.sampled_from([*ids, "no-such-item"]),
                min_size=0 if wild else 1,
                max_size=4,
                unique=True,
            )
        )
        if not wild:
            keys = [key for key in keys if key != "no-such-item"]
        for key in keys:
            line = model.lines.get(key)
            bought = line.bought if line else 1
            items[key] = draw(QUANTITY_VALUES if wild else st.integers(1, max(bought, 1)))
        shipping = draw(st.booleans())
    if kind == "full" or (kind == "mixed" and draw(st.booleans())):
        full = True
    if kind == "amount" or (kind == "mixed" and draw(st.booleans())):
        exact = model.remaining_amount
        amount = draw(
            st.one_of(st.just(exact), AMOUNT_VALUES)
            if wild
            else st.integers(1, max(1, model.amount - model.refunded)).map(
                lambda n: Decimal(n).scaleb(-EXPONENTS[model.currency])
            )
            | st.just(exact)
        )
    return RefundRequest(
        items=items,
        shipping=shipping,
        full=full,
        amount=amount,
        currency=currency,
        description=description,
    )


# --- engine + emulator ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def emulators() -> Iterator[Dict[bool, Tuple[Emulator, MultiSafepayClient]]]:
    """One emulator whose cart shows earlier refund lines, one whose cart does not; both let
    the last refund take what is left after per-line rounding."""
    options: Dict[str, Any] = dict(duplicate_window_seconds=0, last_refund_takes_remainder=True)
    with (
        Emulator(api_key=KEY, **options) as shows,
        Emulator(api_key=KEY, cart_shows_refunds=False, **options) as hides,
    ):
        yield {
            True: (shows, MultiSafepayClient(KEY, base_url=shows.base_url, retry_pause=0.01)),
            False: (hides, MultiSafepayClient(KEY, base_url=hides.base_url, retry_pause=0.01)),
        }


def refunded_per_item(emulator: Emulator, model: Model) -> Dict[str, int]:
    """Quantities refunded so far, counted from the refund copies the emulator's cart shows."""
    cart = emulator.order(model.order_id)["shopping_cart"]["items"]
    counted: Dict[str, int] = {}
    for copy in cart[model.originals :]:
        key = copy["merchant_item_id"]
        counted[key] = counted.get(key, 0) + abs(int(copy["quantity"]))
    return counted


def check_one(emulator: Emulator, client: MultiSafepayClient, model: Model, request: Any) -> None:
    """The property for one request on the order as it is now; updates the model."""
    order_id = model.order_id
    before = client.get_order(order_id)
    posts_before = len(emulator.refund_posts(order_id))
    expected = expect(model, request)
    try:
        plan = build_refund(parse_order(before), request)
    except RefundRefused as refused:
        event(f"refused: {type(refused).__name__}")
        outcome = refund_order(client, order_id, request)
        assert str(refused).strip()
        assert (outcome.status, outcome.error) == (RefundStatus.REFUSED, str(refused))
        assert len(emulator.refund_posts(order_id)) == posts_before
        assert emulator.order(order_id)["amount_refunded"] == model.refunded
        assert expected.verdict != "accept", f"a valid refund was refused: {refused}"
        return
    if plan.amount <= 0:
        # KNOWN BUG (test_a_cart_refund_that_comes_to_zero_or_less_is_refused_before_sending):
        # the engine builds a cart refund of zero or less that MultiSafepay refuses (1001).
        assert expected.verdict == "nothing" and plan.amount == expected.total
        event("skipped: cart total of zero or less (known bug)")
        return
    assert expected.verdict == "accept", f"should have been refused: {request}"
    event(f"refunded: {'cart' if model.is_cart else 'amount'}")

    outcome = refund_order(client, order_id, request)

    assert outcome.status is RefundStatus.REFUNDED, outcome.error
    assert wire.dumps(outcome.request) == wire.dumps(plan.body)
    [post] = emulator.refund_posts(order_id)[posts_before:]
    assert post.json == wire.loads(wire.dumps(plan.body))
    after = client.get_order(order_id)
    assert after["amount_refunded"] - before["amount_refunded"] == plan.amount_minor
    assert plan.amount == expected.total and plan.currency == model.currency
    if model.is_cart:
        assert {line.merchant_item_id: line.quantity for line in plan.lines} == expected.lines
        assert [line.merchant_item_id for line in plan.lines] == list(expected.lines)
        sent = plan.body["checkout_data"]["items"]
        assert len(sent) == len(before["shopping_cart"]["items"]) + len(plan.lines)
        assert "amount" not in plan.body
        for key, quantity in expected.lines.items():
            model.lines[key].refunded += quantity
    else:
        assert plan.lines == ()
        assert {k: v for k, v in plan.body.items() if k != "description"} == {
            "currency": model.currency,
            "amount": minor(expected.total, model.currency),
        }
    model.refunded += plan.amount_minor
    assert after["amount_refunded"] == model.refunded <= model.amount
    for line in model.lines.values():
        assert 0 <= line.refunded <= line.bought
    if model.is_cart and model.shows_refunds:
        counted = refunded_per_item(emulator, model)
        assert counted == {k: v.refunded for k, v in model.lines.items() if v.refunded}


@settings(PROPERTY, max_examples=220)
@given(data=st.data(), order=orders(), shows_refunds=st.booleans(), earlier=st.integers(0, 2))
def test_any_cart_and_request_is_refunded_exactly_as_asked_or_refused_with_nothing_sent(
    emulators, data, order, shows_refunds, earlier
):
    emulator, client = emulators[shows_refunds]
    emulator.add_order(order)
    model = model_of(order, shows_refunds)

    # Earlier refunds first (plausible requests), then any request at all: each is checked.
    for step in range(earlier + 1):
        request = data.draw(requests_for(model, wild=step == earlier), label=f"request {step}")
        check_one(emulator, client, model, request)


# --- the parser: any answer ---------------------------------------------------------------------

SPECIAL_VALUES = [
    10**30,
    -(10**30),
    Decimal("1E+400"),
    Decimal("-1E+400"),
    "1E+400",
    "1e999999999",
    Decimal("NaN"),
    Decimal("sNaN"),
    Decimal("-Infinity"),
    "NaN",
    "nan",
    "sNaN",
    "Infinity",
    "-inf",
    1.5,
    float("nan"),
    float("inf"),
    True,
    False,
    None,
    "",
    " ",
    "12abc",
    "0x10",
    "1,5",
    "\u00bd",
    "\uff11\uff12",
    "\u0663",
    "\x00",
    "\U0001f381",
    "\u202e10",
    [],
    {},
    [None],
    {"value": "1"},
]
# At the edge of what is read (fewer than 15 integer digits), used once per example (a price
# and a quantity both this large are the test of their own at the end).
NEAR_LIMIT_VALUES = [
    10**15 - 1,
    -(10**15 - 1),
    10**15,
    "999999999999999",
    "99999999999999.9999",
    Decimal("99999999999999.99"),
    "1e14",
    Decimal("9.99999999999999E+14"),
    "0.9999999999999999999999",
    "1E-30",
]

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.text(max_size=10),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.floats(),
    st.sampled_from(SPECIAL_VALUES),
)
ORDER_KEYS = st.sampled_from(
    [
        "order_id",
        "currency",
        "amount",
        "amount_refunded",
        "payment_details",
        "type",
        "shopping_cart",
        "items",
        "merchant_item_id",
        "unit_price",
        "quantity",
        "checkout_options",
        "tax_tables",
        "default",
        "alternate",
        "rules",
        "rate",
        "name",
        "country",
        "customer",
        "related_transactions",
        "transaction_id",
        "status",
        "payment_methods",
    ]
)
ANY_VALUES = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.one_of(ORDER_KEYS, st.text(max_size=6)), children, max_size=6),
    ),
    max_leaves=25,
)


WRONG_VALUES = st.one_of(
    SCALARS,
    st.lists(SCALARS, max_size=2),
    st.dictionaries(st.text(max_size=3), SCALARS, max_size=2),
)


def maybe(plausible: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly a plausible value, sometimes a wrong one."""
    return st.sampled_from([True] * 6 + [False]).flatmap(
        lambda ok: plausible if ok else WRONG_VALUES
    )


ANY_CART_ITEMS = st.fixed_dictionaries(
    {
        "merchant_item_id": maybe(SAFE_IDS),
        "unit_price": maybe(st.sampled_from(["10", "-5.00", "19.1200000000", 7])),
        "quantity": maybe(st.sampled_from([1, "2", "-1", 0])),
    },
    optional={
        "name": maybe(NAMES),
        "tax_table_selector": maybe(st.sampled_from(TAX_TABLES)),
        "weight": WRONG_VALUES,
        "description": WRONG_VALUES,
    },
)
# Shaped like an order, every field plausible or anything: more answers get past the first
# checks and into the cart, the tax tables and the refunds.
ORDER_SHAPED = st.fixed_dictionaries(
    {
        "order_id": maybe(SAFE_IDS),
        "currency": maybe(st.sampled_from(["EUR", "jpy", "KWD"])),
        "amount": maybe(st.integers(0, 10**6)),
        "payment_details": maybe(st.fixed_dictionaries({"type": maybe(st.just("KLARNA"))})),
    },
    optional={
        "amount_refunded": maybe(st.integers(0, 100)),
        "transaction_id": WRONG_VALUES,
        "status": WRONG_VALUES,
        "payment_methods": WRONG_VALUES,
        "customer": maybe(st.fixed_dictionaries({"country": maybe(st.just("NL"))})),
        "shopping_cart": maybe(
            st.fixed_dictionaries({"items": maybe(st.lists(maybe(ANY_CART_ITEMS), max_size=4))})
        ),
        "checkout_options": maybe(
            st.fixed_dictionaries(
                {
                    "default": maybe(st.fixed_dictionaries({"rate": maybe(st.just("0.21"))})),
                    "alternate": maybe(
                        st.lists(
                            st.fixed_dictionaries(
                                {
                                    "name": maybe(st.sampled_from(TAX_TABLES)),
                                    "rules": maybe(
                                        st.lists(
                                            st.fixed_dictionaries(
                                                {
                                                    "country": maybe(st.just("")),
                                                    "rate": maybe(st.sampled_from(RATES)),
                                                }
                                            ),
                                            max_size=2,
                                        )
                                    ),
                                }
                            ),
                            max_size=3,
                        )
                    ),
                }
            )
        ),
        "related_transactions": maybe(
            st.lists(
                st.fixed_dictionaries(
                    {
                        "type": maybe(st.just("refund")),
                        "transaction_id": WRONG_VALUES,
                        "status": WRONG_VALUES,
                        "amount": WRONG_VALUES,
                    }
                ),
                max_size=3,
            )
        ),
    },
)


@settings(PROPERTY, max_examples=400)
@given(data=st.one_of(ANY_VALUES, ORDER_SHAPED))
def test_any_value_is_read_as_an_order_or_refused_as_invalid_order_data(data):
    try:
        order = parse_order(data)
    except InvalidOrderData as refused:
        assert str(refused).strip()
        event("invalid order data")
        return
    event("read as an order")
    assert order.currency and order.order_id and order.gateway
    assert 0 <= order.amount_refunded <= order.amount


def paths(value: Any, prefix: Tuple[Any, ...] = ()) -> Iterator[Tuple[Any, ...]]:
    """Every path (dict keys and list indexes) into a JSON value, the value itself excluded."""
    children = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else ()
    )
    for key, child in children:
        yield (*prefix, key)
        yield from paths(child, (*prefix, key))


def mutate(data: Any, path: Tuple[Any, ...], value: Any, delete: bool) -> None:
    target = data
    for key in path[:-1]:
        target = target[key]
    if delete and isinstance(target, dict):
        del target[path[-1]]
    else:
        target[path[-1]] = value


@st.composite
def mutated_orders(draw: Any) -> Dict[str, Any]:
    """A valid order with a few fields dropped or replaced by wrong, huge or odd values."""
    data = draw(orders())
    data["related_transactions"] = [
        {"type": "refund", "transaction_id": 80000001, "status": "completed", "amount": 0}
    ]
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(list(paths(data))))
        value = draw(st.one_of(st.sampled_from(SPECIAL_VALUES), ANY_VALUES, NAMES))
        mutate(data, path, value, delete=draw(st.booleans()))
    if draw(st.booleans()):
        candidates = list(paths(data))
        if candidates:
            path = draw(st.sampled_from(candidates))
            mutate(data, path, draw(st.sampled_from(NEAR_LIMIT_VALUES)), delete=False)
    return data


@settings(PROPERTY, max_examples=400)
@given(data=mutated_orders(), choice=st.data())
def test_a_mutated_answer_is_refused_or_gives_a_refund_that_repeats_its_cart_verbatim(data, choice):
    try:
        order = parse_order(data)
    except InvalidOrderData as refused:
        assert str(refused).strip()
        event("invalid order data")
        return
    if any(abs(line.unit_price * line.quantity) >= 10**23 for line in order.items):
        # KNOWN BUG (test_a_huge_price_times_a_huge_quantity_is_refused_not_a_crash): a line
        # beyond Decimal's 28 digits makes build_refund raise InvalidOperation.
        event("skipped: a line too large for 28 digits (known bug)")
        return
    ids = [cart_item.merchant_item_id for cart_item in order.items]
    request = choice.draw(
        st.one_of(
            st.just(RefundRequest(full=True)),
            st.just(RefundRequest(amount=order.remaining_amount)),
            st.just(RefundRequest(shipping=True)),
            st.sampled_from(ids or [""]).map(lambda key: RefundRequest(items={key: 1})),
        )
    )

    try:
        plan = build_refund(order, request)
    except RefundRefused as refused:
        assert str(refused).strip()
        event("read, refund refused")
        return

    event(f"read, refund built ({'amount' if plan.convention is None else 'cart'})")
    assert plan.amount_minor <= order.remaining
    if plan.convention is None:
        assert plan.body["currency"] == order.currency and plan.amount_minor > 0
        return
    cart = data["shopping_cart"]["items"]
    sent = plan.body["checkout_data"]["items"]
    originals = [line for line in sent if any(line is raw for raw in cart)]
    assert len(originals) == len(cart) and all(a is b for a, b in zip(originals, cart))
    assert len(sent) == len(cart) + len(plan.lines)


# --- exact JSON ---------------------------------------------------------------------------------

JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.decimals(allow_nan=False, allow_infinity=False),
    st.text(max_size=10),
    st.sampled_from(
        [
            "\x00",
            "\x000\x00",
            "\\u0000",
            "\\u00000\\u0000",
            '"\\u00000\\u0000"',
            "\u2028",
            "\U0001f381",
            Decimal("19.1200000000"),
            Decimal("-0.00"),
            Decimal("1E+400"),
            Decimal("1E-400"),
            10**30,
        ]
    ),
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=25,
)


def as_read(value: Any) -> Any:
    """What a value becomes after a JSON round trip: a Decimal without fraction or exponent in
    its literal is an integer literal, read back as int; everything else is unchanged."""
    if isinstance(value, dict):
        return {key: as_read(item) for key, item in value.items()}
    if isinstance(value, list):
        return [as_read(item) for item in value]
    if isinstance(value, Decimal) and not any(c in str(value) for c in ".eE"):
        return int(value)
    return value


def same_json(a: Any, b: Any) -> bool:
    """Equal, with the same types, and Decimals digit for digit."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same_json(a[key], b[key]) for key in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same_json(x, y) for x, y in zip(a, b))
    if isinstance(a, Decimal):
        return str(a) == str(b)
    return bool(a == b)


@settings(PROPERTY, max_examples=300)
@given(value=JSON_VALUES)
def test_json_round_trips_exactly(value):
    text = wire.dumps(value)

    assert same_json(wire.loads(text), as_read(value))
    assert text.isascii()


@settings(PROPERTY, max_examples=150)
@given(
    value=JSON_VALUES,
    number=st.floats(),
    where=st.sampled_from(["list", "dict", "nested", "first"]),
)
def test_a_float_anywhere_is_refused_with_type_error(value, number, where):
    wrapped = {
        "list": lambda: [value, number],
        "dict": lambda: {"value": value, "amount": number},
        "nested": lambda: {"checkout_data": {"items": [value, {"unit_price": number}]}},
        "first": lambda: [number, value],
    }[where]()

    with pytest.raises(TypeError):
        wire.dumps(wrapped)


@st.composite
def lists_with_copies(draw: Any) -> Tuple[List[Dict[str, Any]], List[Optional[Dict[str, Any]]]]:
    """Originals and the changes of their copies: mostly every original copied with one value
    changed, as a refund by negative quantity is (the fast way), sometimes anything."""
    keys = st.one_of(st.sampled_from(["quantity", "unit_price", 'a"quantity']), st.text(max_size=4))
    originals = draw(
        st.lists(
            st.fixed_dictionaries({"quantity": JSON_SCALARS}, optional={"name": JSON_VALUES})
            | st.dictionaries(keys, JSON_VALUES, max_size=4),
            max_size=5,
        )
    )
    change = st.one_of(
        st.fixed_dictionaries({"quantity": JSON_SCALARS}),
        st.none(),
        st.dictionaries(keys, JSON_SCALARS, max_size=2),
    )
    if draw(st.booleans()):
        change = st.fixed_dictionaries({"quantity": JSON_SCALARS})
    return originals, [draw(change) for _ in originals]


@settings(PROPERTY, max_examples=300)
@given(copied=lists_with_copies(), description=JSON_SCALARS)
def test_a_list_with_copies_is_written_as_the_list_it_stands_for(copied, description):
    originals, changes = copied
    items = wire.WithCopies(originals, changes)
    plain: List[Any] = []
    for original, changed in zip(originals, changes):
        plain.append(original)
        if changed is not None:
            plain.append({**original, **changed})

    assert items == plain and list(items) == plain and len(items) == len(plain)
    assert wire.dumps(items) == wire.dumps(plain)
    body = {"checkout_data": {"items": items}, "description": description}
    plain_body = {"checkout_data": {"items": plain}, "description": description}
    assert wire.dumps(body) == wire.dumps(plain_body)


@settings(PROPERTY, max_examples=100)
@given(copied=lists_with_copies(), number=st.floats(), in_copy=st.booleans())
def test_a_float_in_a_list_with_copies_is_refused_with_type_error(copied, number, in_copy):
    originals, changes = copied
    originals = [*originals, {"quantity": 1}]
    changes = [*changes, {"quantity": number} if in_copy else {"quantity": -1}]
    if not in_copy:
        originals[-1] = {"quantity": 1, "weight": number}

    with pytest.raises(TypeError):
        wire.dumps({"items": wire.WithCopies(originals, changes)})


# --- money --------------------------------------------------------------------------------------


@settings(PROPERTY, max_examples=150)
@given(
    currency=st.sampled_from(["EUR", "JPY", "KWD"]),
    data=st.data(),
)
def test_minor_units_round_trip_at_the_currencys_quantum(currency, data):
    exponent = EXPONENTS[currency]
    largest = 10 ** (15 + exponent) - 1  # below 10**15 in major units
    units = data.draw(st.integers(-largest, largest), label="minor units")
    amount = Decimal(units).scaleb(-exponent)

    assert money.to_minor_units(amount, currency) == units
    back = money.from_minor_units(units, currency)
    assert back == amount and back.as_tuple().exponent == -exponent
    assert money.to_minor_units(back, currency) == units
    finer = amount + Decimal(data.draw(st.integers(1, 9), label="finer")).scaleb(-exponent - 1)
    with pytest.raises(ValueError):
        money.to_minor_units(finer, currency)


@settings(PROPERTY, max_examples=60)
@given(
    currency=st.sampled_from(["EUR", "JPY", "KWD"]),
    amount=st.sampled_from(["1E+15", "-1E+15", "1E+400", "123456789012345678"]).map(Decimal),
)
def test_minor_units_refuse_amounts_out_of_range(currency, amount):
    with pytest.raises(ValueError):
        money.to_minor_units(amount, currency)


# --- known bugs: the smallest failing examples --------------------------------------------------


@pytest.mark.parametrize(
    ("line", "amount"),
    [(item("D", "-10", "1"), 9000), (item("F", "0", "1"), 10000)],
    ids=["discount", "free"],
)
def test_a_cart_refund_that_comes_to_zero_or_less_is_refused_before_sending(line, amount):
    data = order_data([item("A", "50", "2"), line], amount=amount)
    request = RefundRequest(items={line["merchant_item_id"]: 1})

    with pytest.raises(RefundRefused):
        build_refund(parse_order(data), request)


@pytest.mark.parametrize("price", ["0", Decimal("0.00")])
def test_a_klarna_refund_of_a_free_item_priced_as_a_number_counts_as_refunded(price):
    free = item("F", price, 1)
    copy = refund_copy(free, 1, SignConvention.NEGATIVE_UNIT_PRICE)
    data = order_data([item("A", "50", "2"), free, copy], gateway="KLARNA", amount=10000)

    balance = item_balances(parse_order(data))["F"]

    assert (balance.bought, balance.refunded) == (1, 1)


def test_a_klarna_free_item_priced_as_the_number_0_is_left_out_not_sent_wrong():
    data = order_data([item("A", "50", "2"), item("F", 0, 1)], gateway="KLARNA", amount=10000)

    with pytest.raises(RefundRefused) as refused:
        build_refund(parse_order(data), RefundRequest(items={"F": 1, "A": 1}))
    everything = build_refund(parse_order(data), RefundRequest(full=True))

    assert "free (unit_price 0)" in str(refused.value)
    assert [line.merchant_item_id for line in everything.lines] == ["A"]


def test_a_huge_price_times_a_huge_quantity_is_refused_not_a_crash():
    data = order_data([item("A", "99999999999999", "99999999999999")], amount=10**14)

    with pytest.raises(RefundRefused):
        build_refund(parse_order(data), RefundRequest(full=True))


class _AnswerClient(MultiSafepayClient):
    """A client whose GET answer is given as MultiSafepay's raw JSON text."""

    answer = ""

    def get_order(self, order_id: str) -> Any:
        return wire.loads(self.answer)["data"]


ANSWER = (
    '{"success":true,"data":{"order_id":"s1","currency":"EUR","amount":1000,'
    '"payment_details":{"type":"PAYAFTER"},"shopping_cart":{"items":[{'
    '"merchant_item_id":"A","name":%s,"unit_price":"10","quantity":1}]}}}'
)


def test_text_read_from_an_answer_is_written_back_exactly_even_a_lone_surrogate():
    with Emulator(api_key=KEY) as emulator:
        client = _AnswerClient(KEY, base_url=emulator.base_url)
        client.answer = ANSWER % '"\\ud800"'
        emulator.add_order(wire.loads(client.answer)["data"])

        outcome = refund_order(client, "s1", RefundRequest(items={"A": 1}))

        assert outcome.status is RefundStatus.REFUNDED
        assert b'"name":"\\ud800"' in emulator.refund_posts()[0].body


@pytest.mark.parametrize(
    ("path", "name"),
    [
        (("transaction_id",), "transaction_id"),
        (("shopping_cart", "items", 0, "name"), "name"),
        (("shopping_cart", "items", 0, "tax_table_selector"), "tax_table_selector"),
        (("related_transactions", 0, "status"), "status"),
        (("checkout_options", "alternate", 0, "name"), "name"),
    ],
)
def test_text_fields_of_the_wrong_type_are_refused_with_a_message_naming_the_field(path, name):
    refund = {"type": "refund", "transaction_id": 1, "status": "completed", "amount": 0}
    data = order_data([item("A", "10", "1")], amount=1000, related_transactions=[refund])
    mutate(data, path, {"unexpected": "object"}, delete=False)

    with pytest.raises(InvalidOrderData) as refused:
        parse_order(data)

    message = str(refused.value)
    assert message.startswith("MultiSafepay's") and name in message
