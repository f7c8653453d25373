"""Pure: the shopping cart and tax tables a MultiSafepay order is created with (for issue 5).

A refund by cart only works when the order's cart says exactly what was bought, with the
`merchant_item_id`s the refund will look for, and adds up to the order's amount to the cent:
MultiSafepay prices each line as unit_price (tax excluded) x quantity x (1 + its tax table's
rate), rounded per line (`money.line_total`). Where Saleor's rounding differs, a balancing line
says so in its name; a difference larger than rounding can explain is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Dict, List, Optional, Sequence, Tuple

from ..errors import MultiSafepayRefundError
from .money import line_total, quantum, shown

BALANCING_ITEM_ID = "msp-rounding"


class CartDoesNotAddUp(MultiSafepayRefundError):
    """The lines do not come to the amount to charge, by more than rounding."""


@dataclass(frozen=True)
class CartLine:
    merchant_item_id: str
    name: str
    unit_price: Decimal  # tax excluded; negative for a discount
    quantity: int
    tax_rate: Decimal  # a fraction: 0.21


@dataclass(frozen=True)
class OrderCart:
    items: Tuple[Dict[str, object], ...]
    checkout_options: Dict[str, object]
    total: Decimal

    def body_fields(self) -> Dict[str, object]:
        """`shopping_cart` and `checkout_options`, for the POST /orders body."""
        return {
            "shopping_cart": {"items": [dict(item) for item in self.items]},
            "checkout_options": self.checkout_options,
        }


def build_order_cart(
    lines: Sequence[CartLine],
    amount: Decimal,
    currency: str,
    max_difference: Optional[Decimal] = None,
) -> OrderCart:
    """The cart for `lines` that comes to `amount` exactly, or CartDoesNotAddUp.

    `max_difference` defaults to one minor unit per line: what per-line rounding can explain.
    """
    if not lines:
        raise CartDoesNotAddUp("An order needs at least one line in its cart.")
    rates = sorted({line.tax_rate for line in lines} | {Decimal(0)})
    items = [_item(line) for line in lines]
    total = sum(
        (line_total(x.unit_price, x.quantity, x.tax_rate, currency) for x in lines), Decimal(0)
    )
    difference = amount - total
    limit = max_difference if max_difference is not None else quantum(currency) * len(lines)
    if abs(difference) > limit:
        raise CartDoesNotAddUp(
            f"The cart comes to {shown(total, currency)}, the order to {shown(amount, currency)}: "
            f"{shown(abs(difference), currency)} apart, more than rounding explains "
            f"({shown(limit, currency)})."
        )
    if difference:
        balancing = CartLine(
            BALANCING_ITEM_ID,
            "Rounding difference (balances the cart to the order total)",
            difference,
            1,
            Decimal(0),
        )
        items.append(_item(balancing))
        total += line_total(difference, 1, Decimal(0), currency)
    return OrderCart(items=tuple(items), checkout_options=_tax_tables(rates), total=total)


def tax_table_name(rate: Decimal) -> str:
    """A stable table name per rate: "rate-0.21", "rate-0"."""
    return f"rate-{rate.normalize():f}"


def _item(line: CartLine) -> Dict[str, object]:
    return {
        "name": line.name,
        "description": "",
        "unit_price": f"{line.unit_price:f}",
        "quantity": line.quantity,
        "merchant_item_id": line.merchant_item_id,
        "tax_table_selector": tax_table_name(line.tax_rate),
    }


def _tax_tables(rates: List[Decimal]) -> Dict[str, object]:
    return {
        "tax_tables": {
            "default": {"shipping_taxed": True, "rate": "0"},
            "alternate": [
                {
                    "name": tax_table_name(rate),
                    "standalone": True,
                    "rules": [{"rate": f"{rate.normalize():f}"}],
                }
                for rate in rates
            ],
        }
    }
