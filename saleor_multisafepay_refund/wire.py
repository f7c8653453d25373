"""JSON as MultiSafepay sends and receives it, with exact decimals.

Numbers with a fraction are read as `Decimal` (never float), and a `Decimal` is written back
as the same number literal, so a value read from an order is sent back exactly as it came.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any


def loads(text: str | bytes) -> Any:
    """Parse JSON, reading every non-integer number as an exact `Decimal`."""
    return json.loads(text, parse_float=Decimal)


def dumps(value: Any) -> str:
    """Serialize to compact JSON, writing `Decimal` as a plain number literal."""
    return "".join(_encode(value))


def _encode(value: Any) -> Any:
    # json.dumps cannot write a Decimal as a number without going through float, so the few
    # JSON types MultiSafepay uses are written here.
    if isinstance(value, dict):
        yield "{"
        for index, (key, item) in enumerate(value.items()):
            if index:
                yield ","
            yield json.dumps(str(key), ensure_ascii=False)
            yield ":"
            yield from _encode(item)
        yield "}"
    elif isinstance(value, (list, tuple)):
        yield "["
        for index, item in enumerate(value):
            if index:
                yield ","
            yield from _encode(item)
        yield "]"
    elif isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"cannot send {value} as a JSON number")
        yield str(value)
    elif isinstance(value, float):
        raise TypeError("float is never sent to MultiSafepay: use Decimal")
    else:
        # str, int, bool and None: the standard encoder is exact for these.
        yield json.dumps(value, ensure_ascii=False)
