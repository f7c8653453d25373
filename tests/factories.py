"""Orders in MultiSafepay's GET shape, for tests. Values are strings unless a test says not."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from saleor_multisafepay_refund.emulator import build_order


def item(
    merchant_item_id: str,
    unit_price: Any = "10",
    quantity: Any = "1",
    name: Optional[str] = None,
    tax_table_selector: str = "none",
    **extra: Any,
) -> Dict[str, Any]:
    line = {
        "name": name or f"Item {merchant_item_id}",
        "description": "",
        "unit_price": unit_price,
        "quantity": quantity,
        "merchant_item_id": merchant_item_id,
        "tax_table_selector": tax_table_selector,
        "weight": {"unit": "KG", "value": "1"},
    }
    line.update(extra)
    return line


def order_data(
    items: List[Dict[str, Any]],
    gateway: str = "PAYAFTER",
    amount: int = 0,
    amount_refunded: int = 0,
    currency: str = "EUR",
    tax_rates: Optional[Dict[str, str]] = None,
    order_id: str = "order-1",
    related_transactions: Optional[List[Dict[str, Any]]] = None,
) -> Dict[str, Any]:
    """`amount` in minor units; tests give it explicitly so the arithmetic is visible."""
    data = build_order(
        order_id,
        gateway,
        items,
        currency=currency,
        tax_rates=tax_rates if tax_rates is not None else {"none": "0.00"},
        amount=amount,
        transaction_id=4145725,
    )
    data.update(amount_refunded=amount_refunded, related_transactions=related_transactions)
    return data


SEED_ITEMS = [
    item(
        "111111", "90", "3", name="Geometric Candle Holders", weight={"unit": "KG", "value": "12"}
    ),
    item("666666", "35", "1", name="Nice apple", weight={"unit": "KG", "value": "20"}),
    item(
        "msp-shipping",
        "10",
        "1",
        name="Flat Rat - Fixed",
        description="Shipping",
        weight={"unit": "KG", "value": "0"},
    ),
]


def seed_order(gateway: str = "PAYAFTER", **kwargs: Any) -> Dict[str, Any]:
    """The seed page's order: 3 x 90 + 1 x 35 + shipping 10 = EUR 315.00."""
    return order_data([dict(line) for line in SEED_ITEMS], gateway=gateway, amount=31500, **kwargs)
