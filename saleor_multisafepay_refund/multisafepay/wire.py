"""JSON as MultiSafepay sends and receives it, with exact decimals.

Numbers with a fraction are read as `Decimal` (never float), and a `Decimal` is written back
as the same number literal, so a value read from an order is sent back exactly as it came.
Output is ASCII, every other character escaped as JSON does: any text read can be written back
(a lone surrogate escape included), and one line of output stays one line (U+2028).
"""

from __future__ import annotations

import json
from decimal import Decimal
from json.encoder import encode_basestring_ascii
from operator import itemgetter
from typing import (
    Any,
    Dict,
    Iterable,
    Iterator,
    List,
    Mapping,
    Optional,
    Sequence,
    Tuple,
    Union,
    cast,
    overload,
)

_ENCODER = json.JSONEncoder(
    ensure_ascii=True, separators=(",", ":"), allow_nan=False, check_circular=False
)
# A Decimal travels through the C encoder as the string "\x00<literal>\x00", which the encoder
# writes as "\u0000<literal>\u0000" and whose quotes and marks are then removed. Used only
# when no real string contains a NUL, so no real string can look like one. A list with copies
# travels as "\x00#\x00" (no literal has a "#") and its own text is put in its place.
_COPIES_MARK = "\x00#\x00"
_COPIES_MARK_TEXT = encode_basestring_ascii(_COPIES_MARK)
# What _scan finds besides plain values.
_DECIMALS = 1
_COPIES = 2


class WithCopies(Sequence[object]):
    """A JSON list: each of `originals`, followed by its copy where `changes` has one, the
    original with the values of a few of its keys changed (`{**original, **changed}`), as a
    refund repeats a cart line with the quantity negated.

    `dumps` writes each copy from its original's text, with the changed values' text put in
    instead of the original's, rather than encoding every value of the copy again: the same
    text, with each line of a cart encoded once instead of twice. The copies themselves are
    made only when the list is read. Read-only, so that what is written stays what it holds.
    """

    __slots__ = ("_items", "changes", "originals")

    def __init__(
        self,
        originals: Sequence[Mapping[str, object]],
        changes: Sequence[Optional[Mapping[str, object]]],
    ) -> None:
        if len(changes) != len(originals):
            raise ValueError("a list with copies needs a change (or None) per original")
        self.originals: Tuple[Mapping[str, object], ...] = tuple(originals)
        self.changes: Tuple[Optional[Mapping[str, object]], ...] = tuple(changes)
        self._items: Optional[List[object]] = None

    def _listed(self) -> List[object]:
        if self._items is None:
            items: List[object] = []
            for original, changed in zip(self.originals, self.changes):
                items.append(original)
                if changed is not None:
                    items.append({**original, **changed})
            self._items = items
        return self._items

    @overload
    def __getitem__(self, index: int) -> object: ...

    @overload
    def __getitem__(self, index: slice) -> List[object]: ...

    def __getitem__(self, index: Union[int, slice]) -> object:
        return self._listed()[index]

    def __len__(self) -> int:
        return len(self._listed())

    def __iter__(self) -> Iterator[object]:
        return iter(self._listed())

    def __eq__(self, other: object) -> bool:
        # Equal to a list of the same items, as the list it stands for would be.
        if isinstance(other, WithCopies):
            other = other._listed()
        return self._listed() == other

    def __repr__(self) -> str:
        return f"WithCopies({self._listed()!r})"


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
    found = _scan(value)
    if not found:
        return _ENCODER.encode(value)
    text, decimals, lists = _encoded(value, found)
    if text.count("\\u0000") != 2 * (decimals + len(lists)):
        # A real string holds a NUL, so a marked literal could be imitated: the plain path.
        return "".join(_encode(value))
    if not lists:
        return _unmarked(text)
    # Each list's text where its mark is, in the order the encoder met them, all joined once:
    # a cart's text is half a megabyte at 1,000 lines, and every copy of it costs.
    pieces = text.split(_COPIES_MARK_TEXT)
    written = [_unmarked(pieces[0])]
    for items, piece in zip(lists, pieces[1:]):
        written += _copies_written(items)
        written.append(_unmarked(piece))
    return "".join(written)


def _encoded(value: object, found: int) -> Tuple[str, int, List[WithCopies]]:
    """The value's text with each Decimal and list with copies still marked (see _ENCODER),
    the number of Decimals, and the lists in the order written."""
    if not found:
        return _ENCODER.encode(value), 0, []
    decimals = 0
    lists: List[WithCopies] = []

    def marked(special: object) -> str:
        nonlocal decimals
        if isinstance(special, Decimal):
            decimals += 1
            return f"\x00{_literal(special)}\x00"
        if isinstance(special, WithCopies):
            lists.append(special)
            return _COPIES_MARK
        raise TypeError(f"cannot send {type(special).__name__} as JSON")

    encoder = json.JSONEncoder(
        ensure_ascii=True,
        separators=(",", ":"),
        allow_nan=False,
        check_circular=False,
        default=marked,
    )
    return encoder.encode(value), decimals, lists


def _unmarked(text: str) -> str:
    # Each Decimal was written as the string "\u0000<literal>\u0000": its quotes and marks go,
    # the literal stays (two replaces in C, not a pattern and a call per number).
    return text.replace('"\\u0000', "").replace('\\u0000"', "")


def _scan(value: object) -> int:
    """Whether the value holds a Decimal (_DECIMALS) or a list with copies (_COPIES) anywhere;
    raises on a float. A list with copies is looked into when it is written (_copies_written)."""
    # Every value of a body is looked at once, so the loop runs over the values of each
    # container, and a container with something in it is added to `pending`, which the outer
    # loop reaches in its turn (a list grows under its own for loop: no pop per container).
    found = 0
    # Any: a container's type is told by `type(item) is ...` for speed, which mypy cannot follow.
    pending: List[Iterable[Any]] = [(value,)]
    for container in pending:
        for item in container:
            kind = type(item)
            if kind is str or kind is int:
                continue
            if kind is dict:
                if item:
                    pending.append(item.values())
            elif kind is list or kind is tuple:
                if item:
                    pending.append(item)
            elif isinstance(item, float):
                raise TypeError("float is never sent to MultiSafepay: use Decimal")
            elif isinstance(item, Decimal):
                found |= _DECIMALS
            elif kind is WithCopies:
                found |= _COPIES
            # Subclasses (an OrderedDict): the encoder writes them as what they extend, so
            # what they hold is looked at too.
            elif isinstance(item, dict):
                pending.append(item.values())
            elif isinstance(item, (list, tuple)):
                pending.append(item)
    return found


def _copies_written(items: WithCopies) -> List[str]:
    """`dumps` of the list `items` stands for, in pieces to join, written from one encoding of
    its originals.

    Each original is encoded once with a hole where its copy differs (a NUL in place of the
    changed value), and the list's text is put together from the pieces between the holes:
    each piece twice, once with the original's value and once with the copy's. Taken when every
    copy changes the same one key of a dict (a refund by negative quantity); otherwise, and
    whenever a marker could be imitated, the list is encoded as it is.
    """
    originals = items.originals
    key = _the_changed_key(items)
    if key is None:
        return [_dumps(list(items))]
    # Every original has a copy, and is a dict (_the_changed_key).
    changes = cast(Tuple[Mapping[str, object], ...], items.changes)
    try:
        new_values = list(map(itemgetter(key), changes))
        old_values = list(map(itemgetter(key), originals))
    except KeyError:
        # Copies that change different keys; or a new key, which goes last in the copy, not
        # in a hole.
        return [_dumps(list(items))]
    # Every value is checked once: each original's, and each changed one. A copy's other
    # values are its original's.
    found = _scan((originals, new_values))
    if found & _COPIES or not set(map(type, old_values + new_values)) <= _SCALARS:
        return [_dumps(list(items))]
    count = len(originals)
    # [<first with a hole>,"\u0000",<second>,...]: a hole and a separator write the same.
    listed: List[object] = [_HOLE] * (2 * count - 1)
    hole = {key: _HOLE}
    # `|` keeps the key where it was.
    listed[0::2] = [original | hole for original in cast(Tuple[Dict[str, object], ...], originals)]
    cart, cart_decimals, _ = _encoded(listed, found)
    pieces = cart.split(_HOLE_TEXT)
    # Both values of each original, the olds first: cut at the commas when there are no
    # others (numbers, and texts without one, as quantities are), else at markers between.
    values_text, value_decimals, _ = _encoded(old_values + new_values, found)
    value_marks = 0
    if values_text.count(",") == 2 * count - 1:
        value_texts = values_text[1:-1].split(",")
    else:
        values: List[object] = [_HOLE] * (4 * count - 1)
        values[0::2] = old_values + new_values
        values_text, value_decimals, _ = _encoded(values, found)
        value_texts = values_text[1:-1].split(f",{_HOLE_TEXT},")
        value_marks = 2 * count - 1
    if (
        len(pieces) != 2 * count
        or len(value_texts) != 2 * count
        or (
            found & _DECIMALS
            and (
                cart.count("\\u0000") != 2 * cart_decimals + 2 * count - 1
                or values_text.count("\\u0000") != 2 * value_decimals + value_marks
            )
        )
    ):
        return ["".join(_encode(items))]  # a real string holds a NUL: the plain path
    # pieces: "[A0", "B0,", ",A1", "B1,", ..., ",An", "Bn]" where original i is Ai<value>Bi,
    # to be written "[" A0 old0 "B0," A0 new0 "B0," A1 ... An oldn "Bn," An newn "Bn]": each
    # tail as it is (but the last original's), each head without its first character.
    heads = list(map(itemgetter(slice(1, None)), pieces[0::2]))
    tails = pieces[1::2]
    written: List[str] = ["["] * (6 * count + 1)
    written[1::6] = written[4::6] = heads
    written[3::6] = written[6::6] = tails
    written[2::6] = value_texts[:count]
    written[5::6] = value_texts[count:]
    written[-4] = f"{tails[-1][:-1]},"
    if found & _DECIMALS:
        return [_unmarked("".join(written))]
    return written


def _the_changed_key(items: WithCopies) -> Optional[str]:
    """The one key every copy changes, when each original is a dict and has a copy."""
    if not items.changes or None in items.changes:
        return None
    changes = cast(Tuple[Mapping[str, object], ...], items.changes)
    if set(map(len, changes)) != {1} or set(map(type, items.originals)) != {dict}:
        return None
    # The first copy's; a copy that changes another one fails _copies_written's itemgetter.
    key = next(iter(changes[0]))
    return key if type(key) is str else None


_HOLE = "\x00"
_HOLE_TEXT = encode_basestring_ascii(_HOLE)
_SCALARS = frozenset((str, int, Decimal))


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
    elif isinstance(value, (list, tuple, WithCopies)):
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
