"""A refund copy checked against the item bought: the same item again, with the sign that the
gateway's convention gives it (the unit_price negated, or the quantity).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Dict, List, Mapping, Optional

from ..multisafepay.methods import SignConvention
from .envelope import CART_MISMATCH, WRONG_ITEM_PRICE, WRONG_ITEM_TAX, Refusal
from .json_values import MISSING, first_difference, item_key, same, show, whole_quantity


@dataclass
class Copy:
    """A refund copy accepted in a request: where it is, which original, how many."""

    index: int
    item: Dict[str, Any]
    original: Dict[str, Any]
    quantity: int


def check_copy(
    index: int,
    item: Dict[str, Any],
    originals: Mapping[str, List[Dict[str, Any]]],
    convention: SignConvention,
    gateway: str,
) -> Copy:
    """Check a request item outside the cart: a refund copy of an item bought."""
    merchant_item_id = item.get("merchant_item_id", MISSING)
    candidates = [
        original
        for original in originals.get(item_key(item), ())
        if same(original.get("merchant_item_id", MISSING), merchant_item_id)
    ]
    if not candidates:
        shown = (
            "no merchant_item_id"
            if merchant_item_id is MISSING
            else f"merchant_item_id {show(merchant_item_id)}"
        )
        raise Refusal(
            CART_MISMATCH,
            f"checkout_data.items[{index}] is not in the order's cart and not a refund copy of "
            f"an item bought: {shown} matches no item of the order",
        )
    for original in candidates:
        try:
            return _match_copy(index, item, original, convention, gateway)
        except Refusal:
            pass
    # None fits: explain against the closest original.
    closest = min(candidates, key=lambda original: _distance(item, original))
    return _match_copy(index, item, closest, convention, gateway)


def earlier_copy_of(
    item: Dict[str, Any], originals: List[Any], convention: SignConvention
) -> Optional[Copy]:
    """The item read as a refund copy of one of `originals`, or None (for add_order)."""
    for original in originals:
        if isinstance(original, dict) and same(
            original.get("merchant_item_id", MISSING), item.get("merchant_item_id", MISSING)
        ):
            try:
                return _match_copy(-1, item, original, convention, "")
            except Refusal:
                pass
    return None


def _match_copy(
    index: int,
    item: Dict[str, Any],
    original: Dict[str, Any],
    convention: SignConvention,
    gateway: str,
) -> Copy:
    # The words of a refusal, made only when refusing: most copies are accepted.
    def where() -> str:
        return (
            f"checkout_data.items[{index}] (refund copy of merchant_item_id "
            f"{show(original.get('merchant_item_id'))})"
        )

    def rule() -> str:
        return _convention_rule(gateway, convention, original)

    selector = item.get("tax_table_selector", MISSING)
    if not same(selector, original.get("tax_table_selector", MISSING)):
        raise Refusal(
            WRONG_ITEM_TAX,
            f"{where()}: tax_table_selector is {show(selector)} but the item bought has "
            f"{show(original.get('tax_table_selector', MISSING))}: a refund copy keeps the "
            "original's tax table",
        )
    price = item.get("unit_price", MISSING)
    bought_price = original.get("unit_price", MISSING)
    negative_quantity = convention is SignConvention.NEGATIVE_QUANTITY
    wanted_price = bought_price if negative_quantity else _negated(bought_price)
    if not same(price, wanted_price):
        raise Refusal(
            WRONG_ITEM_PRICE,
            f"{where()}: unit_price is {show(price)}, expected {show(wanted_price)}: {rule()}",
        )
    difference = first_difference(original, item, skip=("unit_price", "quantity"))
    if difference is not None:
        raise Refusal(
            CART_MISMATCH,
            f"{where()}: {difference}: a refund copy repeats the item bought exactly, except "
            f"for the sign ({rule()})",
        )
    quantity = whole_quantity(item.get("quantity", MISSING), original.get("quantity"))
    if quantity is None or (quantity < 0) != negative_quantity:
        raise Refusal(
            CART_MISMATCH,
            f"{where()}: quantity {show(item.get('quantity', MISSING))} is not "
            f"{'a negative' if negative_quantity else 'a positive'} whole number written like "
            f"the original's ({show(original.get('quantity', MISSING))}): {rule()}",
        )
    return Copy(index=index, item=item, original=original, quantity=abs(quantity))


def _convention_rule(gateway: str, convention: SignConvention, original: Mapping[str, Any]) -> str:
    name = gateway or "this payment method"
    price = show(original.get("unit_price", MISSING))
    if convention is SignConvention.NEGATIVE_QUANTITY:
        return (
            f"{name} refunds by negative quantity: a refund copy keeps unit_price {price} "
            "and sets quantity to minus the quantity refunded"
        )
    return (
        f"{name} refunds by negative unit price: a refund copy sets unit_price to "
        f"{show(_negated(original.get('unit_price', MISSING)))} (the original {price} "
        "negated) and quantity to the quantity refunded, positive"
    )


def _negated(value: Any) -> Any:
    """The value with its sign flipped, written the same way ("90" -> "-90")."""
    if isinstance(value, str):
        return value[1:] if value.startswith("-") else "-" + value
    if isinstance(value, bool):
        return MISSING
    if isinstance(value, int):
        return -value
    if isinstance(value, Decimal):
        return value.copy_negate()
    return MISSING


def _distance(item: Mapping[str, Any], original: Mapping[str, Any]) -> int:
    keys = set(item) | set(original)
    return sum(
        1
        for key in keys - {"quantity"}
        if not same(item.get(key, MISSING), original.get(key, MISSING))
    )
