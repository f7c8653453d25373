"""JSON as MultiSafepay sends and receives it, with exact decimals.

Numbers with a fraction are read as `Decimal` (never float), and a `Decimal` is written back
as the same number literal, so a value read from an order is sent back exactly as it came.
Output is ASCII, every other character escaped as JSON does: any text read can be written back
(a lone surrogate escape included), and one line of output stays one line (U+2028).
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any, Iterable, Iterator, List

_ENCODER = json.JSONEncoder(
    ensure_ascii=True, separators=(",", ":"), allow_nan=False, check_circular=False
)
# A Decimal travels through the C encoder as the string "\x00<literal>\x00", which the encoder
# writes as "\u0000<literal>\u0000" and whose quotes and marks are then removed. Used only
# when no real string contains a NUL, so no real string can look like one.


def loads(text: str | bytes) -> object:
    """Parse JSON, reading every non-integer number as an exact `Decimal`.

    NaN and Infinity are not JSON, and nothing MultiSafepay may be sent back: ValueError.
    """
    return json.loads(text, parse_float=Decimal, parse_constant=_refuse_constant)


def _refuse_constant(name: str) -> object:
    raise ValueError(f"{name} is not a JSON number")


def dumps(value: object) -> str:
    """Serialize to compact ASCII JSON, writing `Decimal` as a plain number literal.

    Floats are refused: anything sent to MultiSafepay is exact.
    """
    return _dumps(value)


def _dumps(value: object) -> str:
    if not _has_decimal(value):
        return _ENCODER.encode(value)
    decimals = 0

    def marked(decimal: object) -> str:
        nonlocal decimals
        if not isinstance(decimal, Decimal):
            raise TypeError(f"cannot send {type(decimal).__name__} as JSON")
        decimals += 1
        return f"\x00{_literal(decimal)}\x00"

    encoder = json.JSONEncoder(
        ensure_ascii=True,
        separators=(",", ":"),
        allow_nan=False,
        check_circular=False,
        default=marked,
    )
    text = encoder.encode(value)
    if text.count("\\u0000") != 2 * decimals:
        # A real string holds a NUL, so a marked literal could be imitated: the plain path.
        return "".join(_encode(value))
    # Each Decimal was written as the string "\u0000<literal>\u0000": its quotes and marks go,
    # the literal stays (two replaces in C, not a pattern and a call per number).
    return text.replace('"\\u0000', "").replace('\\u0000"', "")


def _has_decimal(value: object) -> bool:
    """Whether the value holds a Decimal anywhere; raises on a float."""
    # Every value of a body is looked at once, so the loop runs over the values of each
    # container and only a container with something in it waits in `pending`.
    found = False
    # Any: a container's type is told by `type(item) is ...` for speed, which mypy cannot follow.
    pending: List[Iterable[Any]] = [(value,)]
    while pending:
        for item in pending.pop():
            kind = type(item)
            if kind is str or kind is int:
                continue
            if kind is dict:
                if item:
                    pending.append(item.values())
            elif kind is list or kind is tuple:
                if item:
                    pending.append(item)
            elif kind is float:
                raise TypeError("float is never sent to MultiSafepay: use Decimal")
            elif isinstance(item, Decimal):
                found = True
    return found


def _literal(value: Decimal) -> str:
    if not value.is_finite():
        raise ValueError(f"cannot send {value} as a JSON number")
    return str(value)


def _encode(value: object) -> Iterator[str]:
    # The slow, plain path for the rare value with both a Decimal and a NUL in a string.
    if isinstance(value, dict):
        yield "{"
        for index, (key, item) in enumerate(value.items()):
            if index:
                yield ","
            yield json.dumps(str(key))
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
        yield _literal(value)
    else:
        # str, int, bool and None: the standard encoder is exact for these.
        yield json.dumps(value)
