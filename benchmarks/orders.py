"""Synthetic MultiSafepay orders for the refund benchmark (standard library only).

Imported both by the package's own Python and by the SDK's virtual environment, so it must
not import the package, the SDK or anything outside the standard library.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Dict, List

SHIPPING_ITEM_ID = "msp-shipping"

# Tax tables as a GET /orders answer spells them: flattened, rates as strings.
_RATES = {"BTW21": Decimal("0.21"), "none": Decimal("0.00")}
_CENT = Decimal("0.01")


def _product(index: int) -> Dict[str, Any]:
    """Cart line `index` (0-based): types vary the way they do in real GET /orders answers."""
    taxed = index % 2 == 0
    quantity = 1 + index % 5
    # Taxed lines cost whole euros, so that price x quantity x 1.21 is exact in cents and the
    # order's `amount` does not depend on whether tax is rounded per line or per order.
    unit_price = f"{5 + index % 40}.00" if taxed else f"{index % 30}.{index * 37 % 100:02d}"
    return {
        "name": f"Product {index}",
        "description": f"Benchmark product number {index}",
        "unit_price": unit_price,
        # Real answers carry quantities as numbers or strings.
        "quantity": quantity if index % 3 else str(quantity),
        "merchant_item_id": f"sku-{index:05d}",
        "tax_table_selector": "BTW21" if taxed else "none",
        "weight": {"unit": "KG", "value": index % 7 if index % 2 else str(index % 7)},
        "currency": "EUR",
        "cashback": "",
        "image": "",
        "options": [],
        "product_url": "",
    }


def _shipping() -> Dict[str, Any]:
    return {
        "name": "Flat rate",
        "description": "Shipping",
        "unit_price": "4.95",
        "quantity": 1,
        "merchant_item_id": SHIPPING_ITEM_ID,
        "tax_table_selector": "none",
        "weight": {"unit": "KG", "value": 0},
        "currency": "EUR",
        "cashback": "",
        "image": "",
        "options": [],
        "product_url": "",
    }


def _total_cents(items: List[Dict[str, Any]]) -> int:
    """The order's `amount`: every line with its tax added on top, in cents."""
    total = Decimal(0)
    for item in items:
        line = Decimal(item["unit_price"]) * int(item["quantity"])
        total += line * (1 + _RATES[item["tax_table_selector"]])
    return int(total.quantize(_CENT, rounding=ROUND_HALF_UP) * 100)


def make_order(n_lines: int) -> Dict[str, Any]:
    """The `data` of GET /orders/{id} for a paid Pay After Delivery order of `n_lines` lines.

    Every line has its own `merchant_item_id`; the last line is the shipping line.
    """
    if n_lines < 1:
        raise ValueError("an order has at least one line (the shipping line)")
    items = [_product(index) for index in range(n_lines - 1)] + [_shipping()]
    return {
        "order_id": f"bench-{n_lines}",
        "transaction_id": 4100000 + n_lines,
        "status": "completed",
        "financial_status": "completed",
        "currency": "EUR",
        "amount": _total_cents(items),
        "amount_refunded": 0,
        "description": f"Benchmark order of {n_lines} lines",
        "created": "2024-05-08T16:12:52",
        "modified": "2024-05-09T10:00:00",
        "payment_details": {
            "type": "PAYAFTER",
            "account_holder_name": None,
            "account_id": None,
            "external_transaction_id": None,
            "recurring_id": None,
            "recurring_model": None,
        },
        "shopping_cart": {"items": items},
        "checkout_options": {
            "default": {"rate": "0.00", "shipping_taxed": True},
            "alternate": [
                {"name": "BTW21", "standalone": "", "rules": [{"rate": "0.21", "country": ""}]},
                {"name": "none", "standalone": "", "rules": [{"rate": "0.00", "country": ""}]},
            ],
        },
        "costs": [],
        "related_transactions": [],
    }


def refund_all(order: Dict[str, Any]) -> Dict[str, int]:
    """Every `merchant_item_id` of the order's cart -> its full quantity."""
    return {
        str(item["merchant_item_id"]): int(item["quantity"])
        for item in order["shopping_cart"]["items"]
    }
