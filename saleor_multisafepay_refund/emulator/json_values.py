"""JSON values compared, counted and shown with their types ("90" != 90 != 90.0, a field absent
apart from null), so that the checks of cart items are exact and a refusal shows what was sent.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any, Mapping, Optional, Tuple

from ..multisafepay import wire

MISSING = object()  # a field absent from an item, distinct from null

_NEGATIVE_WHOLE = re.compile(r"-[1-9][0-9]*\Z")
POSITIVE_WHOLE = re.compile(r"[1-9][0-9]*\Z")


def whole_quantity(value: Any, like: Any) -> Optional[int]:
    """A non-zero whole number written with the JSON type of `like`, or None."""
    if isinstance(like, str):
        if isinstance(value, str) and (_NEGATIVE_WHOLE.match(value) or POSITIVE_WHOLE.match(value)):
            return int(value)
        return None
    if isinstance(like, bool) or not isinstance(like, (int, Decimal)):
        return None
    if type(value) is int and value != 0:
        return value
    if (
        isinstance(like, Decimal)
        and isinstance(value, Decimal)
        and value.is_finite()
        and value == value.to_integral_value()
        and value != 0
    ):
        return int(value)
    return None


def same(a: Any, b: Any) -> bool:
    """JSON equality that also compares types and literals: "90" != 90 != 90.0."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict):
        return (
            isinstance(b, dict)
            and a.keys() == b.keys()
            and all(same(value, b[key]) for key, value in a.items())
        )
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, Decimal):
        return isinstance(b, Decimal) and str(a) == str(b)
    if isinstance(a, int):
        return type(b) is int and a == b
    if isinstance(a, str):
        return isinstance(b, str) and a == b
    if a is None or a is MISSING:
        return b is a
    return type(a) is type(b) and bool(a == b)


def first_difference(
    expected: Mapping[str, Any], actual: Mapping[str, Any], skip: Tuple[str, ...] = ()
) -> Optional[str]:
    for key, value in expected.items():
        if key in skip:
            continue
        if key not in actual:
            return f"field {key!r} is missing"
        if not same(value, actual[key]):
            return (
                f"field {key!r} is {show(value)} in the order but {show(actual[key])} in "
                "the request"
            )
    for key in actual:
        if key not in expected and key not in skip:
            return f"field {key!r} is not in the order's item"
    return None


def show(value: Any) -> str:
    """A JSON value with its type, for messages: "90" (string), 90 (number)."""
    if value is MISSING:
        return "(missing)"
    if isinstance(value, bool) or value is None:
        return wire.dumps(value)
    if isinstance(value, str):
        return f"{wire.dumps(value)} (string)"
    if isinstance(value, (int, Decimal)):
        return f"{wire.dumps(value)} (number)"
    try:
        return wire.dumps(value)
    except (TypeError, ValueError):
        return repr(value)


def item_key(item: Mapping[str, Any]) -> str:
    """An item's merchant_item_id as a dict key: one rule for counting what was bought and
    refunded, and for matching copies, so that an absent id and a null one stay apart."""
    merchant_item_id = item.get("merchant_item_id", MISSING)
    return "(absent)" if merchant_item_id is MISSING else _id_key(merchant_item_id)


def _id_key(merchant_item_id: Any) -> str:
    """merchant_item_id as a dict key that keeps "1" and 1 apart."""
    try:
        return wire.dumps(merchant_item_id)
    except (TypeError, ValueError):
        return repr(merchant_item_id)
