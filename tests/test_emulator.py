"""The MultiSafepay emulator, over real HTTP: envelopes, refund checks, state and faults."""

from __future__ import annotations

import copy
import time
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Union
from urllib.parse import quote

import pytest
import requests

from saleor_multisafepay_refund.emulator import (
    Emulator,
    Fault,
    FaultKind,
    RecordedRequest,
    build_order,
)
from saleor_multisafepay_refund.multisafepay import wire
from saleor_multisafepay_refund.multisafepay.methods import SignConvention

KEY = "test-key"
DATA = Path(__file__).parent / "data"
SEED_BODY_BYTES = (DATA / "seed-refund-body.json").read_bytes()
SEED_ITEMS: List[Dict[str, Any]] = wire.loads(SEED_BODY_BYTES)["checkout_data"]["items"]
# The seed page's body: candle holders x3, the refund copy of two of them, apple, shipping.
CANDLES, CANDLES_COPY, APPLE, SHIPPING = SEED_ITEMS
SEED_CART = [CANDLES, APPLE, SHIPPING]
SEED_AMOUNT = 31500  # 3 x 90 + 35 + 10, no tax

Body = Union[Dict[str, Any], bytes]


# -- helpers -----------------------------------------------------------------------------------


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(KEY) as emulator:
        yield emulator


@pytest.fixture
def make_emulator() -> Iterator[Callable[..., Emulator]]:
    started: List[Emulator] = []

    def make(**options: Any) -> Emulator:
        emulator = Emulator(KEY, **options).start()
        started.append(emulator)
        return emulator

    yield make
    for emulator in started:
        emulator.stop()


def item(**changes: Any) -> Dict[str, Any]:
    """The seed's candle holders line with some fields changed."""
    line = copy.deepcopy(CANDLES)
    line.update(changes)
    return line


def cart_body(*copies: Dict[str, Any], cart: Optional[List[Any]] = None) -> Dict[str, Any]:
    """The whole cart (the seed's unless given), then the refund copies."""
    items = copy.deepcopy(SEED_CART if cart is None else cart)
    return {"checkout_data": {"items": [*items, *copy.deepcopy(list(copies))]}}


def seed_order(order_id: str = "seed-1", gateway: str = "PAYAFTER", **options: Any) -> Any:
    return build_order(order_id, gateway, SEED_CART, **options)


def url(emulator: Emulator, order_id: str, refunds: bool = False) -> str:
    path = f"orders/{quote(order_id, safe='')}" + ("/refunds" if refunds else "")
    return emulator.base_url + path


def get(emulator: Emulator, order_id: str, **kwargs: Any) -> requests.Response:
    kwargs.setdefault("headers", {"api_key": KEY})
    kwargs.setdefault("timeout", 5)
    return requests.get(url(emulator, order_id), **kwargs)


def post(emulator: Emulator, order_id: str, body: Body, **kwargs: Any) -> requests.Response:
    data = body if isinstance(body, bytes) else wire.dumps(body).encode()
    kwargs.setdefault("headers", {"api_key": KEY, "Content-Type": "application/json"})
    kwargs.setdefault("timeout", 5)
    return requests.post(url(emulator, order_id, refunds=True), data=data, **kwargs)


def error_of(response: requests.Response) -> tuple[int, int]:
    envelope = wire.loads(response.content)
    assert envelope["success"] is False
    assert envelope["data"] == {}
    return response.status_code, envelope["error_code"]


def error_info(response: requests.Response) -> str:
    return str(wire.loads(response.content)["error_info"])


def current_cart(emulator: Emulator, order_id: str) -> List[Any]:
    """The cart as a client reads it: from GET."""
    return list(wire.loads(get(emulator, order_id).content)["data"]["shopping_cart"]["items"])


def assert_untouched(emulator: Emulator, order_id: str, original: Dict[str, Any]) -> None:
    order = emulator.order(order_id)
    assert order["amount_refunded"] == (original.get("amount_refunded") or 0)
    assert order["related_transactions"] == (original.get("related_transactions") or [])
    assert order["shopping_cart"] == original["shopping_cart"]
    assert order["status"] == original["status"]


# -- GET, auth, routes ---------------------------------------------------------------------------


def test_given_an_order_when_get_then_success_envelope_with_the_order(emu: Emulator) -> None:
    order = seed_order()
    emu.add_order(order)

    response = get(emu, "seed-1")

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    expected = dict(order, related_transactions=[])
    assert wire.loads(response.content) == {"success": True, "data": expected}


@pytest.mark.parametrize(
    ("headers", "params", "status"),
    [
        pytest.param({"api_key": KEY}, {}, 200, id="header"),
        pytest.param({}, {"api_key": KEY}, 200, id="query"),
        pytest.param({"API_KEY": KEY}, {}, 200, id="header-name-any-case"),
        pytest.param({"api_key": "wrong"}, {}, 401, id="wrong-header"),
        pytest.param({}, {"api_key": "wrong"}, 401, id="wrong-query"),
        pytest.param({}, {}, 401, id="missing"),
        pytest.param({"api_key": ""}, {}, 401, id="empty-header"),
        pytest.param({"api_key": "wrong"}, {"api_key": KEY}, 401, id="header-wins-over-query"),
    ],
)
def test_given_a_key_when_get_then_only_the_right_key_is_accepted(
    emu: Emulator, headers: Dict[str, str], params: Dict[str, str], status: int
) -> None:
    emu.add_order(seed_order())

    response = get(emu, "seed-1", headers=headers, params=params)

    assert response.status_code == status
    if status == 401:
        assert error_of(response) == (401, 1032)
    assert KEY not in response.text
    assert "wrong" not in response.text
    assert len(emu.requests) == 1  # refused requests are recorded too


def test_given_a_wrong_key_when_refunding_an_unknown_order_then_1032_before_anything(
    emu: Emulator,
) -> None:
    response = post(emu, "nope", b"not json", headers={"api_key": "wrong"})

    assert error_of(response) == (401, 1032)
    assert len(emu.refund_posts("nope")) == 1


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        pytest.param("GET", "orders/unknown", (404, 1006), id="get-unknown-order"),
        pytest.param("POST", "orders/unknown/refunds", (404, 1006), id="refund-unknown-order"),
        pytest.param("GET", "orders", (404, 9999), id="no-order-id"),
        pytest.param("GET", "orders/seed-1/refunds", (404, 9999), id="get-refunds"),
        pytest.param("POST", "orders/seed-1", (404, 9999), id="post-order"),
        pytest.param("PUT", "orders/seed-1", (404, 9999), id="put-order"),
        pytest.param("GET", "transactions/seed-1", (404, 9999), id="other-resource"),
    ],
)
def test_given_unknown_order_or_route_when_requested_then_404_envelope(
    emu: Emulator, method: str, path: str, expected: tuple[int, int]
) -> None:
    emu.add_order(seed_order())

    response = requests.request(
        method, emu.base_url + path, headers={"api_key": KEY}, data=b"{}", timeout=5
    )

    assert error_of(response) == expected


def test_given_an_order_id_needing_encoding_when_get_then_found_and_recorded_decoded(
    emu: Emulator,
) -> None:
    emu.add_order(seed_order("shop/1 €"))

    response = get(emu, "shop/1 €", params={"x": "1"})

    assert response.status_code == 200
    [recorded] = emu.requests
    assert recorded == RecordedRequest(
        method="GET",
        path="/v1/json/orders/shop/1 €",
        query={"x": "1"},
        headers=recorded.headers,
        body=b"",
    )
    assert recorded.headers["api_key"] == KEY
    assert recorded.json is None


def test_given_requests_when_served_then_nothing_is_written_to_stderr(
    emu: Emulator, capfd: pytest.CaptureFixture[str]
) -> None:
    emu.add_order(seed_order())
    emu.inject(Fault(FaultKind.DROP_BEFORE, method="GET"))

    with pytest.raises(requests.ConnectionError):
        get(emu, "seed-1")
    get(emu, "seed-1")
    get(emu, "unknown")
    post(emu, "seed-1", b"[")

    captured = capfd.readouterr()
    assert captured.err == ""
    assert captured.out == ""


def test_given_the_recorded_fixture_order_when_added_then_get_returns_it_normalised(
    emu: Emulator,
) -> None:
    fixture = wire.loads((DATA / "msp-order.json").read_bytes())
    emu.add_order(fixture)

    data = wire.loads(get(emu, "1588947171").content)["data"]

    assert data == dict(fixture, related_transactions=[])
    assert data["shopping_cart"]["items"][0]["description"] == 1234
    assert data["checkout_options"]["alternate"][0]["rules"][0]["rate"] == Decimal("0.21")


def test_given_the_fixture_order_when_refunding_one_of_two_then_50_euro_refunded(
    emu: Emulator,
) -> None:
    fixture = wire.loads((DATA / "msp-order.json").read_bytes())
    emu.add_order(fixture)
    cart = current_cart(emu, "1588947171")
    refund_copy = dict(cart[0], quantity=-1)  # int, like the recorded quantity 2

    response = post(emu, "1588947171", cart_body(refund_copy, cart=cart))

    assert response.status_code == 200
    assert wire.loads(response.content)["data"]["transaction_id"] == 4145725
    order = emu.order(1588947171)
    assert order["amount_refunded"] == 5000  # "50.00" x 1, selector "" -> default rate 0.00
    assert order["shopping_cart"]["items"] == [*cart, refund_copy]


def test_given_the_fixture_order_when_quantity_sent_as_string_then_1027(emu: Emulator) -> None:
    fixture = wire.loads((DATA / "msp-order.json").read_bytes())
    emu.add_order(fixture)
    cart = current_cart(emu, "1588947171")

    response = post(emu, "1588947171", cart_body(dict(cart[0], quantity="-1"), cart=cart))

    assert error_of(response) == (400, 1027)
    assert 'quantity "-1" (string)' in error_info(response)
    assert emu.order(1588947171)["amount_refunded"] == 0


# -- build_order -------------------------------------------------------------------------------


def test_given_seed_items_when_build_order_then_get_shape_with_amount_from_the_cart() -> None:
    order = build_order("seed-1", "PAYAFTER", SEED_CART, transaction_id=42)

    assert order == {
        "order_id": "seed-1",
        "transaction_id": 42,
        "status": "uncleared",
        "financial_status": "uncleared",
        "currency": "EUR",
        "amount": SEED_AMOUNT,
        "amount_refunded": 0,
        "payment_details": {"type": "PAYAFTER"},
        "customer": {"country": "NL"},
        "shopping_cart": {"items": SEED_CART},
        "checkout_options": {
            "default": {"rate": "0.00", "shipping_taxed": True},
            "alternate": [
                {"name": "none", "standalone": "", "rules": [{"country": "", "rate": "0.00"}]}
            ],
        },
        "related_transactions": None,
    }


def test_given_a_card_gateway_and_tax_when_build_order_then_completed_and_taxed() -> None:
    items = [item(unit_price="10.00", quantity=2, tax_table_selector="BTW21")]

    order = build_order(7, "VISA", items, tax_rates={"BTW21": Decimal("0.21")})

    assert (order["status"], order["financial_status"]) == ("completed", "completed")
    assert order["amount"] == 2420
    assert order["checkout_options"]["alternate"][0]["rules"][0]["rate"] == Decimal("0.21")
    assert isinstance(order["transaction_id"], int)


# -- refund with shopping cart: accepted -----------------------------------------------------------


def test_given_the_seed_order_when_posting_the_seed_body_then_refunded_and_cart_grows(
    emu: Emulator,
) -> None:
    emu.add_order(seed_order(transaction_id=4145725))

    response = post(emu, "seed-1", SEED_BODY_BYTES)

    assert response.status_code == 200
    envelope = wire.loads(response.content)
    assert envelope["success"] is True
    assert envelope["data"]["transaction_id"] == 4145725
    refund_id = envelope["data"]["refund_id"]
    assert isinstance(refund_id, int)
    order = emu.order("seed-1")
    assert order["amount_refunded"] == 18000
    assert order["status"] == "partial_refunded"
    [refund] = order["related_transactions"]
    assert refund == {
        "amount": 18000,
        "currency": "EUR",
        "description": "",
        "status": "completed",
        "transaction_id": refund_id,
        "type": "refund",
        "created": refund["created"],
    }
    assert order["shopping_cart"]["items"] == [*SEED_CART, CANDLES_COPY]
    [recorded] = emu.refund_posts("seed-1")
    assert recorded.body == SEED_BODY_BYTES
    assert recorded.json == wire.loads(SEED_BODY_BYTES)


def test_given_the_seed_order_when_copies_appended_after_the_cart_then_accepted(
    emu: Emulator,
) -> None:
    emu.add_order(seed_order())

    response = post(emu, "seed-1", cart_body(CANDLES_COPY, dict(APPLE, quantity="-1")))

    assert response.status_code == 200
    assert emu.order("seed-1")["amount_refunded"] == 18000 + 3500


def test_given_a_klarna_order_when_copy_has_negative_unit_price_then_accepted(
    emu: Emulator,
) -> None:
    emu.add_order(seed_order("klarna-1", "KLARNA"))
    klarna_copy = item(unit_price="-90", quantity="2")

    response = post(emu, "klarna-1", cart_body(klarna_copy))

    assert response.status_code == 200
    order = emu.order("klarna-1")
    assert order["amount_refunded"] == 18000
    assert order["shopping_cart"]["items"] == [*SEED_CART, klarna_copy]


@pytest.mark.parametrize(
    ("unit_price", "refund_copy_price"),
    [
        pytest.param("19.1200000000", "-19.1200000000", id="ten-decimals-string"),
        pytest.param(Decimal("19.12"), Decimal("-19.12"), id="number"),
        pytest.param(19, -19, id="integer"),
        pytest.param("-5", "5", id="discount-negated-back"),
    ],
)
def test_given_klarna_prices_when_negated_in_the_same_json_type_then_accepted(
    emu: Emulator, unit_price: Any, refund_copy_price: Any
) -> None:
    line = item(unit_price=unit_price, quantity="3")
    others = [item(merchant_item_id="big", unit_price="100", quantity="1")]
    emu.add_order(build_order("k", "KLARNA", [line, *others]))
    refund_copy = dict(line, unit_price=refund_copy_price, quantity="1")

    response = post(emu, "k", cart_body(refund_copy, cart=[line, *others]))

    if unit_price == "-5":  # a discount's copy adds money back: nothing would be refunded
        assert error_of(response) == (400, 1001)
    else:
        assert response.status_code == 200


def test_given_an_override_when_payafter_uses_negative_unit_price_then_seed_body_refused(
    make_emulator: Callable[..., Emulator],
) -> None:
    emu = make_emulator(sign_conventions={"payafter": SignConvention.NEGATIVE_UNIT_PRICE})
    emu.add_order(seed_order())

    refused = post(emu, "seed-1", SEED_BODY_BYTES)
    accepted = post(emu, "seed-1", cart_body(item(unit_price="-90", quantity="2")))

    assert error_of(refused) == (400, 1031)
    assert "negative unit price" in error_info(refused)
    assert accepted.status_code == 200


def test_given_refund_status_reserved_when_refunding_then_related_transaction_reserved(
    make_emulator: Callable[..., Emulator],
) -> None:
    emu = make_emulator(refund_status="reserved")
    emu.add_order(seed_order())

    post(emu, "seed-1", SEED_BODY_BYTES)

    assert emu.order("seed-1")["related_transactions"][0]["status"] == "reserved"


def test_given_a_description_when_refunding_then_kept_in_the_related_transaction(
    emu: Emulator,
) -> None:
    emu.add_order(seed_order())

    post(emu, "seed-1", dict(cart_body(CANDLES_COPY), description="Saleor refund 12"))

    assert emu.order("seed-1")["related_transactions"][0]["description"] == "Saleor refund 12"


def test_given_everything_refunded_when_the_last_copy_is_accepted_then_status_refunded(
    make_emulator: Callable[..., Emulator],
) -> None:
    emu = make_emulator(duplicate_window_seconds=0)
    emu.add_order(seed_order())
    full = [item(quantity="-3"), dict(APPLE, quantity="-1"), dict(SHIPPING, quantity="-1")]

    response = post(emu, "seed-1", cart_body(*full))

    assert response.status_code == 200
    order = emu.order("seed-1")
    assert (order["amount_refunded"], order["status"]) == (SEED_AMOUNT, "refunded")


# -- refund with shopping cart: refused ------------------------------------------------------------

# (id, body, code, words the message must contain)
PAYAFTER_REFUSALS = [
    ("body-not-json", b"{not json", 1016, "not JSON"),
    ("body-an-array", b"[]", 1016, "JSON object"),
    ("empty-body", b"", 1016, "JSON object"),
    (
        "amount-and-checkout-data",
        dict(cart_body(CANDLES_COPY), amount=18000, currency="EUR"),
        1016,
        "never both",
    ),
    ("amount-on-cart-method", {"amount": 18000, "currency": "EUR"}, 1016, "by shopping cart"),
    ("no-checkout-data", {"description": "x"}, 1016, "checkout_data.items"),
    ("items-not-a-list", {"checkout_data": {"items": {}}}, 1016, "checkout_data.items"),
    ("item-not-an-object", cart_body("x"), 1016, "items[3] is not an object"),
    ("cart-only", cart_body(), 1016, "nothing to refund"),
    ("cart-quantity-as-number", cart_body(CANDLES_COPY, cart=[item(quantity=3), APPLE, SHIPPING]),
     1027, "field 'quantity' is \"3\" (string) in the order but 3 (number)"),
    ("cart-price-with-decimals", cart_body(CANDLES_COPY, cart=[item(unit_price="90.00"), APPLE,
     SHIPPING]), 1027, "field 'unit_price'"),
    ("cart-item-missing", cart_body(CANDLES_COPY, cart=[CANDLES, SHIPPING]), 1027,
     'cart item 1 (merchant_item_id "666666"'),
    ("cart-reordered", cart_body(CANDLES_COPY, cart=[CANDLES, SHIPPING, APPLE]), 1027,
     "out of order"),
    ("cart-item-extra-field", cart_body(CANDLES_COPY, cart=[item(image=""), APPLE, SHIPPING]),
     1027, "field 'image' is not in the order's item"),
    ("copy-of-unknown-item", cart_body(item(merchant_item_id="999999", quantity="-1")), 1027,
     'merchant_item_id "999999" (string) matches no item'),
    ("copy-id-as-number", cart_body(item(merchant_item_id=111111, quantity="-1")), 1027,
     "matches no item"),
    ("copy-renamed", cart_body(item(name="Candle", quantity="-2")), 1027, "field 'name'"),
    ("copy-weight-changed", cart_body(item(weight={"unit": "KG", "value": 12}, quantity="-2")),
     1027, "field 'weight'"),
    ("copy-extra-field", cart_body(item(quantity="-2", reason="broken")), 1027,
     "field 'reason' is not in the order's item"),
    ("copy-missing-field", cart_body({k: v for k, v in CANDLES_COPY.items() if k != "weight"}),
     1027, "field 'weight' is missing"),
    ("copy-tax-table-changed", cart_body(item(quantity="-2", tax_table_selector="BTW21")), 1029,
     'tax_table_selector is "BTW21" (string) but the item bought has "none" (string)'),
    ("copy-price-changed", cart_body(item(unit_price="80", quantity="-2")), 1031,
     'unit_price is "80" (string), expected "90" (string)'),
    ("copy-price-as-number", cart_body(item(unit_price=90, quantity="-2")), 1031,
     "expected \"90\" (string)"),
    ("klarna-style-copy", cart_body(item(unit_price="-90", quantity="2")), 1031,
     "PAYAFTER refunds by negative quantity"),
    ("both-negative", cart_body(item(unit_price="-90", quantity="-2")), 1031,
     "refunds by negative quantity"),
    ("positive-quantity", cart_body(item(quantity="2")), 1027, "not a negative whole number"),
    ("quantity-as-number", cart_body(item(quantity=-2)), 1027, "written like the original's"),
    ("quantity-fraction", cart_body(item(quantity="-1.5")), 1027, "whole number"),
    ("quantity-zero", cart_body(item(quantity="0")), 1027, "whole number"),
    ("quantity-negative-zero", cart_body(item(quantity="-0")), 1027, "whole number"),
    ("quantity-padded", cart_body(item(quantity=" -2")), 1027, "whole number"),
    ("quantity-missing", cart_body({k: v for k, v in CANDLES_COPY.items() if k != "quantity"}),
     1027, "whole number"),
    ("copy-before-its-original", {"checkout_data": {"items": [CANDLES_COPY, *SEED_CART]}}, 1027,
     "comes before it"),
    ("more-than-bought", cart_body(item(quantity="-4")), 1034, "0 of the 3 bought"),
    ("two-copies-more-than-bought", cart_body(CANDLES_COPY, CANDLES_COPY), 1034,
     "cannot refund 4 more"),
    ("shipping-twice", cart_body(dict(SHIPPING, quantity="-1"), dict(SHIPPING, quantity="-1")),
     1034, '"msp-shipping": cannot refund 2 more'),
    ("wrong-currency", dict(cart_body(CANDLES_COPY), currency="USD"), 1002,
     'currency "USD" (string) is not the order\'s currency (EUR)'),
]  # fmt: skip


@pytest.mark.parametrize(
    ("body", "code", "words"),
    [pytest.param(body, code, words, id=name) for name, body, code, words in PAYAFTER_REFUSALS],
)
def test_given_the_seed_order_when_the_body_is_wrong_then_refused_and_nothing_changes(
    emu: Emulator, body: Body, code: int, words: str
) -> None:
    order = seed_order()
    emu.add_order(order)

    response = post(emu, "seed-1", body)

    assert error_of(response) == (400, code)
    assert words in error_info(response)
    assert_untouched(emu, "seed-1", order)


KLARNA_REFUSALS = [
    ("payafter-style-copy", item(quantity="-2"), 1031, "KLARNA refunds by negative unit price"),
    ("price-negated-as-number", item(unit_price=-90, quantity="2"), 1031,
     'expected "-90" (string)'),
    ("price-not-negated-exactly", item(unit_price="-90.00", quantity="2"), 1031, "expected"),
    ("negative-quantity-too", item(unit_price="-90", quantity="-2"), 1027,
     "not a positive whole number"),
    ("quantity-as-number", item(unit_price="-90", quantity=2), 1027,
     "written like the original's"),
    ("more-than-bought", item(unit_price="-90", quantity="4"), 1034, "0 of the 3 bought"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("refund_copy", "code", "words"),
    [pytest.param(copy_, code, words, id=name) for name, copy_, code, words in KLARNA_REFUSALS],
)
def test_given_a_klarna_order_when_the_copy_is_wrong_then_refused(
    emu: Emulator, refund_copy: Dict[str, Any], code: int, words: str
) -> None:
    order = seed_order("klarna-1", "KLARNA")
    emu.add_order(order)

    response = post(emu, "klarna-1", cart_body(refund_copy))

    assert error_of(response) == (400, code)
    assert words in error_info(response)
    assert_untouched(emu, "klarna-1", order)


def test_given_an_amount_below_the_cart_when_the_copies_exceed_it_then_1034(
    emu: Emulator,
) -> None:
    emu.add_order(seed_order(amount=10000))

    response = post(emu, "seed-1", SEED_BODY_BYTES)

    assert error_of(response) == (400, 1034)
    assert "cannot refund 18000: only 10000" in error_info(response)


def test_given_one_merchant_id_on_two_lines_when_copies_match_either_then_both_count(
    emu: Emulator,
) -> None:
    # A copy matches any line of its merchant_item_id; what was bought is the sum of the lines.
    cheap = item(unit_price="10", quantity="1")
    dear = item(unit_price="20", quantity="1")
    emu.add_order(build_order("dup", "PAYAFTER", [cheap, dear]))

    dear_refund = post(emu, "dup", cart_body(dict(dear, quantity="-1"), cart=[cheap, dear]))
    cart = current_cart(emu, "dup")
    cheap_refund = post(emu, "dup", cart_body(dict(cheap, quantity="-1"), cart=cart))
    third = post(emu, "dup", cart_body(dict(cheap, quantity="-1"), cart=current_cart(emu, "dup")))

    assert (dear_refund.status_code, cheap_refund.status_code) == (200, 200)
    assert error_of(third) == (400, 1034)
    assert "2 of the 2 bought are already refunded" in error_info(third)
    assert emu.order("dup")["amount_refunded"] == 3000


# -- earlier refunds, both readings of the cart -----------------------------------------------


@pytest.mark.parametrize("cart_shows_refunds", [True, False])
def test_given_two_candles_refunded_when_refunding_more_then_limited_to_what_was_bought(
    make_emulator: Callable[..., Emulator], cart_shows_refunds: bool
) -> None:
    emu = make_emulator(cart_shows_refunds=cart_shows_refunds)
    emu.add_order(seed_order())
    assert post(emu, "seed-1", SEED_BODY_BYTES).status_code == 200
    cart = current_cart(emu, "seed-1")
    expected_cart = [*SEED_CART, CANDLES_COPY] if cart_shows_refunds else SEED_CART
    assert cart == expected_cart

    too_many = post(emu, "seed-1", cart_body(item(quantity="-2"), cart=cart))
    one_more = post(emu, "seed-1", cart_body(item(quantity="-1"), cart=cart))
    cart = current_cart(emu, "seed-1")
    none_left = post(emu, "seed-1", cart_body(item(quantity="-1"), cart=cart))

    assert error_of(too_many) == (400, 1034)
    assert "cannot refund 2 more, 2 of the 3 bought are already refunded" in error_info(too_many)
    assert one_more.status_code == 200
    assert error_of(none_left) == (400, 1034)
    order = emu.order("seed-1")
    assert order["amount_refunded"] == 27000
    assert [t["amount"] for t in order["related_transactions"]] == [18000, 9000]
    assert len(order["shopping_cart"]["items"]) == (5 if cart_shows_refunds else 3)


def test_given_the_cart_shows_refunds_when_the_earlier_copy_is_left_out_then_1027(
    emu: Emulator,
) -> None:
    emu.add_order(seed_order())
    post(emu, "seed-1", SEED_BODY_BYTES)

    response = post(emu, "seed-1", cart_body(dict(APPLE, quantity="-1")))

    assert error_of(response) == (400, 1027)
    assert "cart item 3" in error_info(response)


def test_given_the_cart_hides_refunds_when_the_earlier_copy_is_repeated_then_counted_again(
    make_emulator: Callable[..., Emulator],
) -> None:
    emu = make_emulator(cart_shows_refunds=False)
    emu.add_order(seed_order())
    post(emu, "seed-1", SEED_BODY_BYTES)

    # The earlier copy is not in the cart any more: sent again, it is a new refund of two.
    response = post(emu, "seed-1", cart_body(CANDLES_COPY, dict(APPLE, quantity="-1")))

    assert error_of(response) == (400, 1034)


def test_given_an_order_added_with_an_earlier_refund_line_when_refunding_then_it_counts(
    emu: Emulator,
) -> None:
    order = seed_order(amount=SEED_AMOUNT)
    order["shopping_cart"]["items"].append(CANDLES_COPY)
    order["amount_refunded"] = 18000
    emu.add_order(order)
    cart = [*SEED_CART, CANDLES_COPY]

    too_many = post(emu, "seed-1", cart_body(item(quantity="-2"), cart=cart))
    last_one = post(emu, "seed-1", cart_body(item(quantity="-1"), cart=cart))

    assert error_of(too_many) == (400, 1034)
    assert last_one.status_code == 200
    assert emu.order("seed-1")["amount_refunded"] == 27000


# -- tax -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "rates", "country_rules", "country", "refunded"),
    [
        pytest.param(
            item(unit_price="10.00", quantity="1", tax_table_selector="BTW21"),
            {"BTW21": "0.21"}, None, "NL", 1210, id="21-percent-string",
        ),
        pytest.param(
            item(unit_price="19.1200000000", quantity="3", tax_table_selector="BTW21"),
            {"BTW21": Decimal("0.21")}, None, "NL", 6941, id="21-percent-rounded-per-line",
        ),
        pytest.param(
            item(unit_price="10.00", quantity="1", tax_table_selector="BTW21"),
            {"BTW21": "0.21"},
            [{"country": "", "rate": "0.21"}, {"country": "BE", "rate": Decimal("0.06")}],
            "BE", 1060, id="country-rule-wins",
        ),
        pytest.param(
            item(unit_price="10.00", quantity="1", tax_table_selector="BTW21"),
            {"BTW21": "0.21"}, [{"country": "BE", "rate": "0.06"}, {"country": "", "rate": "0.21"}],
            "NL", 1210, id="all-countries-rule-otherwise",
        ),
        pytest.param(
            item(unit_price="10.00", quantity="1", tax_table_selector=""),
            {"BTW21": "0.21"}, None, "NL", 1000, id="no-selector-default-rate",
        ),
        pytest.param(
            item(unit_price="10.00", quantity="1", tax_table_selector="unknown"),
            {"BTW21": "0.21"}, None, "NL", 1000, id="unknown-selector-default-rate",
        ),
    ],
)  # fmt: skip
def test_given_a_taxed_item_when_refunded_then_the_amount_includes_its_tax(
    emu: Emulator,
    line: Dict[str, Any],
    rates: Dict[str, Any],
    country_rules: Optional[List[Dict[str, Any]]],
    country: str,
    refunded: int,
) -> None:
    order = build_order("tax", "PAYAFTER", [line], tax_rates=rates, country=country, amount=10000)
    if country_rules is not None:
        order["checkout_options"]["alternate"][0]["rules"] = wire.loads(wire.dumps(country_rules))
    emu.add_order(order)
    refund_copy = dict(line, quantity="-" + line["quantity"])

    response = post(emu, "tax", cart_body(refund_copy, cart=[line]))

    assert response.status_code == 200
    order = emu.order("tax")
    assert order["amount_refunded"] == refunded
    assert order["related_transactions"][0]["amount"] == refunded


# -- amount refunds ------------------------------------------------------------------------------


def card_order(amount: int = 1000, order_id: str = "card-1") -> Dict[str, Any]:
    return build_order(order_id, "VISA", [], amount=amount, transaction_id=1753953275109182)


def test_given_a_card_order_when_refunding_part_of_it_then_applied(emu: Emulator) -> None:
    emu.add_order(card_order())

    response = post(emu, "card-1", {"amount": 400, "currency": "EUR", "description": "partial"})

    assert response.status_code == 200
    data = wire.loads(response.content)["data"]
    assert data["transaction_id"] == 1753953275109182
    order = emu.order("card-1")
    assert (order["amount_refunded"], order["status"]) == (400, "partial_refunded")
    [refund] = order["related_transactions"]
    assert refund["transaction_id"] == data["refund_id"]
    assert (refund["amount"], refund["description"]) == (400, "partial")
    assert "shopping_cart" not in order or order["shopping_cart"]["items"] == []


def test_given_a_card_order_when_refunding_all_of_it_then_refunded(emu: Emulator) -> None:
    emu.add_order(card_order())

    post(emu, "card-1", {"amount": 1000, "currency": "EUR"})

    order = emu.order("card-1")
    assert (order["amount_refunded"], order["status"]) == (1000, "refunded")


AMOUNT_REFUSALS = [
    ("zero", {"amount": 0, "currency": "EUR"}, 1001, "whole order"),
    ("missing", {"currency": "EUR"}, 1001, "amount is missing"),
    ("null", {"amount": None, "currency": "EUR"}, 1001, "not an integer"),
    ("float", b'{"amount": 5.5, "currency": "EUR"}', 1001, "5.5 (number) is not an integer"),
    ("integral-float", b'{"amount": 500.0, "currency": "EUR"}', 1001, "not an integer"),
    ("string", {"amount": "500", "currency": "EUR"}, 1001, "not an integer"),
    ("bool", {"amount": True, "currency": "EUR"}, 1001, "not an integer"),
    ("negative", {"amount": -5, "currency": "EUR"}, 1001, "not positive"),
    ("over-remaining", {"amount": 1001, "currency": "EUR"}, 1034, "only 1000"),
    ("wrong-currency", {"amount": 500, "currency": "USD"}, 1002, "not the order's currency"),
    ("lower-case-currency", {"amount": 500, "currency": "eur"}, 1002, "not the order's"),
    ("missing-currency", {"amount": 500}, 1002, "currency is missing"),
    ("checkout-data", cart_body(CANDLES_COPY), 1016, "refunds by amount"),
    ("mixed", dict(cart_body(CANDLES_COPY), amount=500, currency="EUR"), 1016, "never both"),
]


@pytest.mark.parametrize(
    ("body", "code", "words"),
    [pytest.param(body, code, words, id=name) for name, body, code, words in AMOUNT_REFUSALS],
)
def test_given_a_card_order_when_the_amount_refund_is_wrong_then_refused(
    emu: Emulator, body: Body, code: int, words: str
) -> None:
    order = card_order()
    emu.add_order(order)

    response = post(emu, "card-1", body)

    assert error_of(response) == (400, code)
    assert words in error_info(response)
    state = emu.order("card-1")
    assert (state["amount_refunded"], state["related_transactions"]) == (0, [])
    assert state["status"] == "completed"


def test_given_part_refunded_when_refunding_more_than_remains_then_1034(emu: Emulator) -> None:
    emu.add_order(card_order())
    post(emu, "card-1", {"amount": 600, "currency": "EUR"})

    response = post(emu, "card-1", {"amount": 500, "currency": "EUR"})

    assert error_of(response) == (400, 1034)
    assert "only 400 of the order's 1000 remains (600 already refunded)" in error_info(response)


# -- duplicate window ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("window", "pause", "second_amount", "accepted"),
    [
        pytest.param(300.0, 0.0, 100, False, id="same-amount-within-window"),
        pytest.param(300.0, 0.0, 200, True, id="other-amount"),
        pytest.param(0.0, 0.0, 100, True, id="window-disabled"),
        pytest.param(0.2, 0.3, 100, True, id="window-passed"),
    ],
)
def test_given_an_accepted_refund_when_the_same_amount_follows_then_window_applies(
    make_emulator: Callable[..., Emulator],
    window: float,
    pause: float,
    second_amount: int,
    accepted: bool,
) -> None:
    emu = make_emulator(duplicate_window_seconds=window)
    emu.add_order(card_order())
    assert post(emu, "card-1", {"amount": 100, "currency": "EUR"}).status_code == 200
    time.sleep(pause)

    response = post(emu, "card-1", {"amount": second_amount, "currency": "EUR"})

    if accepted:
        assert response.status_code == 200
        assert emu.order("card-1")["amount_refunded"] == 100 + second_amount
    else:
        assert error_of(response) == (400, 1034)
        assert "same amount (100)" in error_info(response)
        assert emu.order("card-1")["amount_refunded"] == 100


def test_given_the_same_amount_on_another_order_when_refunding_then_accepted(
    emu: Emulator,
) -> None:
    emu.add_order(card_order(order_id="a"))
    emu.add_order(card_order(order_id="b"))

    first = post(emu, "a", {"amount": 100, "currency": "EUR"})
    second = post(emu, "b", {"amount": 100, "currency": "EUR"})

    assert (first.status_code, second.status_code) == (200, 200)


@pytest.mark.parametrize(("window", "accepted"), [(300.0, False), (0.0, True)])
def test_given_a_cart_refund_when_the_same_amount_follows_then_window_applies(
    make_emulator: Callable[..., Emulator], window: float, accepted: bool
) -> None:
    emu = make_emulator(duplicate_window_seconds=window)
    emu.add_order(seed_order())
    assert post(emu, "seed-1", cart_body(item(quantity="-1"))).status_code == 200
    cart = current_cart(emu, "seed-1")

    response = post(emu, "seed-1", cart_body(item(quantity="-1"), cart=cart))

    if accepted:
        assert response.status_code == 200
    else:
        assert error_of(response) == (400, 1034)
        assert "same amount (9000)" in error_info(response)


# -- faults ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "client_sees", "applied"),
    [
        pytest.param(Fault(FaultKind.SERVER_ERROR), "500", False, id="server-error"),
        pytest.param(Fault(FaultKind.SERVER_ERROR, apply=True), "500", True,
                     id="server-error-applied"),
        pytest.param(Fault(FaultKind.MALFORMED_JSON), "malformed", False, id="malformed"),
        pytest.param(Fault(FaultKind.MALFORMED_JSON, apply=True), "malformed", True,
                     id="malformed-applied"),
        pytest.param(Fault(FaultKind.DROP_BEFORE), "connection", False, id="drop-before"),
        pytest.param(Fault(FaultKind.DROP_AFTER), "connection", True, id="drop-after"),
        pytest.param(Fault(FaultKind.DROP_AFTER, apply=False), "connection", False,
                     id="drop-after-not-applied"),
        pytest.param(Fault(FaultKind.SLOW, delay=2.0), "timeout", True, id="slow"),
        pytest.param(Fault(FaultKind.SLOW, delay=2.0, apply=False), "timeout", False,
                     id="slow-not-applied"),
    ],
)  # fmt: skip
def test_given_a_fault_when_refunding_then_the_client_sees_it_and_state_tells_the_outcome(
    emu: Emulator, fault: Fault, client_sees: str, applied: bool
) -> None:
    emu.add_order(card_order())
    emu.inject(fault)
    body = {"amount": 100, "currency": "EUR"}

    if client_sees == "connection":
        with pytest.raises(requests.ConnectionError):
            post(emu, "card-1", body)
    elif client_sees == "timeout":
        with pytest.raises(requests.ReadTimeout):
            post(emu, "card-1", body, timeout=0.2)
    else:
        response = post(emu, "card-1", body)
        if client_sees == "500":
            assert response.status_code == 500
            assert response.headers["Content-Type"].startswith("text/html")
            assert response.text.startswith("<html>")
        else:
            assert response.status_code == 200
            assert response.content.startswith(b'{"success":true')
        with pytest.raises(ValueError):
            wire.loads(response.content)

    # The client resolves the unknown outcome by reading the order back.
    order = wire.loads(get(emu, "card-1").content)["data"]
    assert order["amount_refunded"] == (100 if applied else 0)
    assert len(order["related_transactions"]) == (1 if applied else 0)
    assert len(emu.refund_posts("card-1")) == 1
    # One-shot: the next request is served normally.
    retry = post(emu, "card-1", {"amount": 50, "currency": "EUR"})
    assert retry.status_code == 200


def test_given_a_slow_get_when_the_client_waits_long_enough_then_answered(
    emu: Emulator,
) -> None:
    emu.add_order(card_order())
    emu.inject(Fault(FaultKind.SLOW, method="GET", delay=0.2))

    started = time.monotonic()
    response = get(emu, "card-1", timeout=5)

    assert time.monotonic() - started >= 0.2
    assert wire.loads(response.content)["data"]["order_id"] == "card-1"


def test_given_faults_for_one_order_and_method_when_others_come_first_then_they_pass(
    emu: Emulator,
) -> None:
    emu.add_order(card_order(order_id="a"))
    emu.add_order(card_order(order_id="b"))
    emu.inject(Fault(FaultKind.SERVER_ERROR, method="POST", order_id="b"))
    emu.inject(Fault(FaultKind.DROP_BEFORE, method="get"))

    post_a = post(emu, "a", {"amount": 100, "currency": "EUR"})
    with pytest.raises(requests.ConnectionError):
        get(emu, "b")
    get_b = get(emu, "b")
    post_b = post(emu, "b", {"amount": 100, "currency": "EUR"})
    post_b_again = post(emu, "b", {"amount": 100, "currency": "EUR"})

    assert post_a.status_code == 200
    assert get_b.status_code == 200
    assert post_b.status_code == 500
    assert post_b_again.status_code == 200
    assert [r.method for r in emu.requests] == ["POST", "GET", "GET", "POST", "POST"]
    assert len(emu.refund_posts()) == 3
    assert len(emu.refund_posts("b")) == 2


def test_given_a_malformed_fault_on_get_when_reading_then_truncated_json(emu: Emulator) -> None:
    emu.add_order(card_order())
    emu.inject(Fault(FaultKind.MALFORMED_JSON, method="GET", apply=True))

    response = get(emu, "card-1")

    assert response.status_code == 200
    with pytest.raises(ValueError):
        wire.loads(response.content)


# -- the emulator object ---------------------------------------------------------------------------


def test_given_an_emulator_when_used_then_state_is_copied_in_and_out(emu: Emulator) -> None:
    order = seed_order()
    emu.add_order(order)
    order["amount"] = 1
    emu.order("seed-1")["amount"] = 2

    assert emu.order("seed-1")["amount"] == SEED_AMOUNT
    with pytest.raises(KeyError):
        emu.order("unknown")


def test_given_a_float_in_an_order_when_added_then_refused_at_once(emu: Emulator) -> None:
    order = card_order()
    order["checkout_options"]["default"]["rate"] = 0.21

    with pytest.raises(TypeError):
        emu.add_order(order)


def test_given_a_stopped_emulator_when_asked_for_its_url_then_runtime_error() -> None:
    emulator = Emulator(KEY)
    with pytest.raises(RuntimeError):
        _ = emulator.base_url
    emulator.start()
    base_url = emulator.base_url
    emulator.stop()
    emulator.stop()  # idempotent

    assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/v1/json/")
    with pytest.raises(requests.ConnectionError):
        requests.get(base_url + "orders/x", timeout=1)


def test_given_an_item_without_id_and_one_with_a_null_id_when_refunding_then_counted_apart(
    emu: Emulator,
) -> None:
    absent = {k: v for k, v in item(quantity=2).items() if k != "merchant_item_id"}
    null = item(quantity=2, merchant_item_id=None, name="Null-id candle")
    emu.add_order(build_order("ids-1", "PAYAFTER", [absent, null]))

    # 3 of the null-id item, of which 2 were bought: the absent-id item's 2 must not count
    response = post(emu, "ids-1", cart_body(dict(null, quantity=-3), cart=[absent, null]))

    assert error_of(response) == (400, 1034)
    assert "cannot refund 3 more, 0 of the 2 bought" in error_info(response)


# -- refunds counted but listed late ---------------------------------------------------------------

CARD_FIXTURE = wire.loads((DATA / "msp-credit-card-order.json").read_bytes())["data"]
CARD_ID = CARD_FIXTURE["order_id"]  # a VISA order of EUR 10.00, related_transactions null


def get_data(emulator: Emulator, order_id: str) -> Dict[str, Any]:
    response = get(emulator, order_id)
    assert response.status_code == 200
    return dict(wire.loads(response.content)["data"])


def refund_id_of(response: requests.Response) -> int:
    assert response.status_code == 200, response.text
    return int(wire.loads(response.content)["data"]["refund_id"])


def test_given_refunds_not_listed_when_the_card_order_is_refunded_then_counted_and_listed_null(
    make_emulator: Callable[..., Emulator],
) -> None:
    emu = make_emulator(lists_refunds=False)
    emu.add_order(CARD_FIXTURE)
    assert get_data(emu, CARD_ID) == CARD_FIXTURE  # the recorded shape, null included

    response = post(emu, CARD_ID, {"amount": 400, "currency": "EUR"})

    refund_id_of(response)
    order = get_data(emu, CARD_ID)
    assert (order["amount_refunded"], order["status"]) == (400, "partial_refunded")
    assert "related_transactions" in order and order["related_transactions"] is None
    assert emu.order(CARD_ID)["related_transactions"] is None


def test_given_an_unlisted_refund_when_list_refunds_then_get_shows_it_with_the_posted_refund_id(
    make_emulator: Callable[..., Emulator],
) -> None:
    emu = make_emulator(lists_refunds=False)
    emu.add_order(CARD_FIXTURE)
    refund_id = refund_id_of(post(emu, CARD_ID, {"amount": 400, "currency": "EUR"}))

    listed = emu.list_refunds(CARD_ID)

    assert listed == [refund_id]
    [refund] = get_data(emu, CARD_ID)["related_transactions"]
    assert refund == {
        "amount": 400,
        "currency": "EUR",
        "description": "",
        "status": "completed",
        "transaction_id": refund_id,
        "type": "refund",
        "created": refund["created"],
    }
    # A later refund still follows the order's setting: counted, not listed.
    later = refund_id_of(post(emu, CARD_ID, {"amount": 300, "currency": "EUR"}))
    order = get_data(emu, CARD_ID)
    assert order["amount_refunded"] == 700
    assert [t["transaction_id"] for t in order["related_transactions"]] == [refund_id]
    assert emu.list_refunds(CARD_ID) == [later]
    assert emu.list_refunds(CARD_ID) == []


def test_given_refunds_not_listed_when_a_cart_refund_is_accepted_then_it_counts_like_any_other(
    make_emulator: Callable[..., Emulator],
) -> None:
    emu = make_emulator(lists_refunds=False)
    emu.add_order(seed_order())

    first = post(emu, "seed-1", SEED_BODY_BYTES)

    refund_id_of(first)
    order = get_data(emu, "seed-1")
    assert (order["amount_refunded"], order["status"]) == (18000, "partial_refunded")
    assert order["related_transactions"] is None
    assert order["shopping_cart"]["items"] == [*SEED_CART, CANDLES_COPY]
    cart = current_cart(emu, "seed-1")
    too_many = post(emu, "seed-1", cart_body(item(quantity="-2"), cart=cart))
    assert error_of(too_many) == (400, 1034)
    assert "2 of the 3 bought are already refunded" in error_info(too_many)


def test_given_one_refund_listed_when_listing_is_switched_off_then_only_the_first_is_listed(
    emu: Emulator,
) -> None:
    emu.add_order(CARD_FIXTURE)
    listed = refund_id_of(post(emu, CARD_ID, {"amount": 100, "currency": "EUR"}))

    emu.set_refund_listing(CARD_ID, False)
    unlisted = refund_id_of(post(emu, CARD_ID, {"amount": 200, "currency": "EUR"}))

    order = get_data(emu, CARD_ID)
    assert order["amount_refunded"] == 300
    assert [(t["transaction_id"], t["amount"]) for t in order["related_transactions"]] == [
        (listed, 100)
    ]
    assert emu.list_refunds(CARD_ID) == [unlisted]
    order = get_data(emu, CARD_ID)
    assert [t["transaction_id"] for t in order["related_transactions"]] == [listed, unlisted]


def test_given_refunds_not_listed_by_default_when_one_order_lists_them_then_its_setting_wins(
    make_emulator: Callable[..., Emulator],
) -> None:
    emu = make_emulator(lists_refunds=False)
    emu.add_order(dict(CARD_FIXTURE, order_id="listed"))
    emu.add_order(dict(CARD_FIXTURE, order_id="default"))
    emu.set_refund_listing("listed", True)

    listed = refund_id_of(post(emu, "listed", {"amount": 100, "currency": "EUR"}))
    refund_id_of(post(emu, "default", {"amount": 100, "currency": "EUR"}))

    assert [t["transaction_id"] for t in get_data(emu, "listed")["related_transactions"]] == [
        listed
    ]
    assert get_data(emu, "default")["related_transactions"] is None


@pytest.mark.parametrize("lists", [True, False])
def test_given_a_listing_setting_when_refunding_in_the_dashboard_then_it_follows_the_setting(
    emu: Emulator, lists: bool
) -> None:
    emu.add_order(CARD_FIXTURE)
    emu.set_refund_listing(CARD_ID, lists)

    refund_id = emu.dashboard_refund(CARD_ID, 250)

    order = get_data(emu, CARD_ID)
    assert (order["amount_refunded"], order["status"]) == (250, "partial_refunded")
    if lists:
        assert [t["transaction_id"] for t in order["related_transactions"]] == [refund_id]
        assert emu.list_refunds(CARD_ID) == []
    else:
        assert order["related_transactions"] is None
        assert emu.list_refunds(CARD_ID) == [refund_id]
        assert [t["amount"] for t in get_data(emu, CARD_ID)["related_transactions"]] == [250]


def test_given_refunds_not_listed_when_a_refund_is_notified_then_the_body_lists_null(
    make_emulator: Callable[..., Emulator],
) -> None:
    emu = make_emulator(lists_refunds=False)
    body = {
        "type": "redirect",
        "order_id": "note-1",
        "gateway": "VISA",
        "currency": "EUR",
        "amount": 1000,
        "payment_options": {
            "notification_url": "https://shop.example/hook",
            "notification_method": "POST",
        },
    }
    created = requests.post(
        emu.base_url + "orders",
        data=wire.dumps(body).encode(),
        headers={"api_key": KEY, "Content-Type": "application/json"},
        timeout=5,
    )
    assert created.status_code == 200, created.text
    assert emu.pay("note-1") == "completed"

    refund_id_of(post(emu, "note-1", {"amount": 400, "currency": "EUR"}))

    paid, refunded = emu.notifications("note-1")
    order = wire.loads(refunded.body)
    assert "related_transactions" in order and order["related_transactions"] is None
    assert (order["amount_refunded"], order["status"]) == (400, "partial_refunded")
    assert order == get_data(emu, "note-1")
    assert wire.loads(paid.body)["related_transactions"] is None


def test_given_an_unlisted_reserved_refund_when_declined_then_it_no_longer_counts(
    make_emulator: Callable[..., Emulator],
) -> None:
    emu = make_emulator(lists_refunds=False, refund_status="reserved")
    emu.add_order(CARD_FIXTURE)
    refund_id = refund_id_of(post(emu, CARD_ID, {"amount": 400, "currency": "EUR"}))
    assert get_data(emu, CARD_ID)["amount_refunded"] == 400

    emu.set_refund_status(CARD_ID, refund_id, "declined")

    order = get_data(emu, CARD_ID)
    assert (order["amount_refunded"], order["status"]) == (0, "completed")
    assert order["related_transactions"] is None
    assert emu.list_refunds(CARD_ID) == [refund_id]
    [refund] = get_data(emu, CARD_ID)["related_transactions"]
    assert (refund["transaction_id"], refund["status"]) == (refund_id, "declined")
    assert get_data(emu, CARD_ID)["amount_refunded"] == 0


# -- the last refund's rounding --------------------------------------------------------------------

# 5 x 54.32 at 9%: 296.044 -> 296.04 paid. Two refunded: 108.64 x 1.09 = 118.4176 -> 118.42;
# the other three: 162.96 x 1.09 = 177.6264 -> 177.63, where only 177.62 remains.
ROUNDED = item(unit_price="54.32", quantity="5", tax_table_selector="BTW9")
ROUNDED_AMOUNT = 29604


def rounded_order(amount: int = ROUNDED_AMOUNT, *extra: Dict[str, Any]) -> Dict[str, Any]:
    return build_order(
        "round-1",
        "PAYAFTER",
        [ROUNDED, *extra],
        tax_rates={"BTW9": "0.09", "none": "0.00"},
        amount=amount,
    )


def refund_two_then_three(emu: Emulator, *extra: Dict[str, Any]) -> requests.Response:
    """Refund 2 of the 5 (accepted), then the other 3 with `extra` copies: the last answer."""
    two = post(
        emu, "round-1", cart_body(dict(ROUNDED, quantity="-2"), cart=current_cart(emu, "round-1"))
    )
    assert two.status_code == 200, two.text
    assert emu.order("round-1")["amount_refunded"] == 11842
    three = dict(ROUNDED, quantity="-3")
    return post(emu, "round-1", cart_body(three, *extra, cart=current_cart(emu, "round-1")))


def test_given_the_strict_default_when_the_last_units_round_a_cent_over_then_1034(
    emu: Emulator,
) -> None:
    emu.add_order(rounded_order())

    response = refund_two_then_three(emu)

    assert error_of(response) == (400, 1034)
    assert "cannot refund 17763: only 17762" in error_info(response)
    order = emu.order("round-1")
    assert (order["amount_refunded"], order["status"]) == (11842, "partial_refunded")


def test_given_last_refund_takes_remainder_when_the_last_units_round_a_cent_over_then_refunded(
    make_emulator: Callable[..., Emulator],
) -> None:
    emu = make_emulator(last_refund_takes_remainder=True)
    emu.add_order(rounded_order())

    response = refund_two_then_three(emu)

    refund_id = refund_id_of(response)
    order = get_data(emu, "round-1")
    assert (order["amount_refunded"], order["status"]) == (ROUNDED_AMOUNT, "refunded")
    last = order["related_transactions"][-1]
    assert (last["transaction_id"], last["amount"]) == (refund_id, 17762)


@pytest.mark.parametrize(
    ("amount", "accepted"),
    [
        pytest.param(29600, True, id="excess-5-for-5-units"),
        pytest.param(29599, False, id="excess-6-for-5-units"),
    ],
)
def test_given_last_refund_takes_remainder_when_the_excess_passes_the_bound_then_1034(
    make_emulator: Callable[..., Emulator], amount: int, accepted: bool
) -> None:
    emu = make_emulator(last_refund_takes_remainder=True)
    emu.add_order(rounded_order(amount))

    response = refund_two_then_three(emu)

    order = emu.order("round-1")
    if accepted:
        refund_id_of(response)
        assert (order["amount_refunded"], order["status"]) == (amount, "refunded")
        assert order["related_transactions"][-1]["amount"] == amount - 11842
    else:
        assert error_of(response) == (400, 1034)
        assert (order["amount_refunded"], order["status"]) == (11842, "partial_refunded")


def test_given_last_refund_takes_remainder_when_a_priced_item_still_remains_then_1034(
    make_emulator: Callable[..., Emulator],
) -> None:
    # A discount of 0.01 (no tax): 296.04 - 0.01 = 296.03 paid; after two, 177.61 remains.
    discount = item(merchant_item_id="discount", unit_price="-0.01", quantity="1")
    emu = make_emulator(last_refund_takes_remainder=True)
    emu.add_order(rounded_order(ROUNDED_AMOUNT - 1, discount))

    # The three candles (177.63) leave the discount unrefunded: not the last refund.
    response = refund_two_then_three(emu)

    assert error_of(response) == (400, 1034)
    assert "cannot refund 17763: only 17761" in error_info(response)
    # With the discount's copy too (177.62), nothing priced remains: the remainder is taken.
    three_and_discount = cart_body(
        dict(ROUNDED, quantity="-3"),
        dict(discount, quantity="-1"),
        cart=current_cart(emu, "round-1"),
    )
    last = post(emu, "round-1", three_and_discount)
    refund_id_of(last)
    order = emu.order("round-1")
    assert (order["amount_refunded"], order["status"]) == (ROUNDED_AMOUNT - 1, "refunded")
    assert order["related_transactions"][-1]["amount"] == 17761
