"""Money: Decimal quanta per currency, explicit rounding, minor units.

Every amount that crosses a boundary is rounded here and nowhere else.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation, localcontext
from functools import cache
from typing import List, Sequence, Tuple

# ISO 4217 currencies whose minor unit is not the cent. MultiSafepay's `amount` fields are
# integers in minor units, so 1000 JPY is sent as 1000, not 100000.
_EXPONENTS = {
    "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0,
    "PYG": 0, "RWF": 0, "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0,
    "XPF": 0,
    "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
}  # fmt: skip
_DEFAULT_EXPONENT = 2
# Amounts and numbers read have fewer integer digits than this.
LARGEST_DIGITS = 15
# Arithmetic on money runs in this context: enough digits that no product of what is read is
# rounded before the one rounding to the currency.
_EXACT = Context(prec=4 * LARGEST_DIGITS, rounding=ROUND_HALF_UP)


def exponent(currency: str) -> int:
    """Number of decimals of the currency's minor unit (2 for EUR, 0 for JPY)."""
    return _EXPONENTS.get(currency.upper(), _DEFAULT_EXPONENT)


@cache
def quantum(currency: str) -> Decimal:
    """The smallest amount of the currency, as a Decimal: 0.01 for EUR, 1 for JPY."""
    return Decimal(1).scaleb(-exponent(currency))


def round_money(amount: Decimal, currency: str) -> Decimal:
    """Round to the currency's minor unit, half up (how invoices round a line)."""
    # _EXACT rounds half up; its quantize is the keyword-free (and cheaper) spelling.
    return _EXACT.quantize(amount, quantum(currency))


def line_total(unit_price: Decimal, quantity: int, tax_rate: Decimal, currency: str) -> Decimal:
    """unit_price x quantity x (1 + tax_rate), rounded to the currency: how MultiSafepay
    prices a cart line (tax on top of a tax-exclusive unit price, rounded per line)."""
    return line_totals(((unit_price, quantity, tax_rate),), currency)[0]


def line_totals(lines: Sequence[Tuple[Decimal, int, Decimal]], currency: str) -> List[Decimal]:
    """`line_total` of each (unit_price, quantity, tax_rate) of a cart."""
    cent = quantum(currency)
    # One exact context for every line: operators in it cost a quarter of _EXACT's methods.
    with localcontext(_EXACT):
        # 1 + rate once per rate, not per line: a cart has a few rates and many lines.
        factor = {rate: 1 + rate for rate in {rate for _, _, rate in lines}}
        return [(price * quantity * factor[rate]).quantize(cent) for price, quantity, rate in lines]


def to_minor_units(amount: Decimal, currency: str) -> int:
    """Amount in major units -> integer in minor units; refuses a fraction of a minor unit."""
    if amount.is_finite() and amount and amount.adjusted() >= LARGEST_DIGITS:
        raise ValueError(f"{amount} {currency} is out of range")
    rounded = round_money(amount, currency)
    if rounded != amount:
        raise ValueError(f"{amount} {currency} has more decimals than the currency allows")
    return int(rounded.scaleb(exponent(currency)))


def from_minor_units(amount: int, currency: str) -> Decimal:
    """Integer in minor units -> Decimal in major units, at the currency's quantum."""
    return (Decimal(amount).scaleb(-exponent(currency))).quantize(quantum(currency))


def at_precision(amount: Decimal, currency: str) -> Decimal:
    """`amount` at `currency`'s precision (Saleor keeps 12.300 for USD 12.30), or as it is when
    it has a fraction of a minor unit: a difference is shown, never rounded away."""
    try:
        return from_minor_units(to_minor_units(amount, currency), currency)
    except ValueError:
        return amount


def parse_decimal(value: object) -> Decimal:
    """A finite Decimal from an int, a Decimal or a numeric string; ValueError otherwise.

    Floats are refused: they are already inexact by the time they get here.
    """
    kind = type(value)
    if isinstance(value, str):
        if not value.isascii() or "_" in value:
            # Decimal() also reads "1_000" and other scripts' digits; MultiSafepay sends neither.
            raise ValueError(f"not a number: {value!r}")
        try:
            result = Decimal(value)  # surrounding spaces are allowed
        except InvalidOperation:
            raise ValueError(f"not a number: {value!r}") from None
    elif kind is int or kind is Decimal:
        result = Decimal(value)  # type: ignore[arg-type]
    else:
        # bool and float included: a float is already inexact by the time it gets here.
        raise ValueError(f"not an exact number: {value!r}")
    if not result.is_finite():
        raise ValueError(f"not a finite number: {value!r}")
    # A bound on the magnitude keeps every later computation exact (_EXACT).
    if result and result.adjusted() >= LARGEST_DIGITS:
        raise ValueError(f"number out of range: {value!r}")
    return result


def shown(amount: Decimal, currency: str) -> str:
    """An amount as every message shows it: "EUR 12.50" (the amount as it is: amounts are
    exact to the currency where they come from, and a message must not round one away)."""
    return f"{currency} {amount}"


def shown_minor(amount: int, currency: str) -> str:
    """An amount in minor units (MultiSafepay's integers) as messages show it: "EUR 12.50"."""
    return shown(from_minor_units(amount, currency), currency)
