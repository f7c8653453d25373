"""The demo: the seed page's refund, sent to the embedded emulator, for Pay After Delivery and
for Klarna, with the body MultiSafepay received printed and checked against the seed page.
"""

from __future__ import annotations

import copy
from typing import Any, Callable, Dict, List

from .emulator import Emulator, build_order
from .multisafepay import wire
from .multisafepay.client import MultiSafepayClient
from .multisafepay.money import shown
from .multisafepay.refund_body import RefundRequest
from .refunds.send import RefundStatus, refund_order

# The seed page's shopping cart ("API - Refund with shopping cart"), values as strings exactly
# as printed there.
SEED_CART: List[Dict[str, Any]] = [
    {
        "name": "Geometric Candle Holders",
        "description": "",
        "unit_price": "90",
        "quantity": "3",
        "merchant_item_id": "111111",
        "tax_table_selector": "none",
        "weight": {"unit": "KG", "value": "12"},
    },
    {
        "name": "Nice apple",
        "description": "",
        "unit_price": "35",
        "quantity": "1",
        "merchant_item_id": "666666",
        "tax_table_selector": "none",
        "weight": {"unit": "KG", "value": "20"},
    },
    {
        "name": "Flat Rat - Fixed",
        "description": "Shipping",
        "unit_price": "10",
        "quantity": "1",
        "merchant_item_id": "msp-shipping",
        "tax_table_selector": "none",
        "weight": {"unit": "KG", "value": "0"},
    },
]


def seed_refund_body(unit_price: str = "90", quantity: str = "-2") -> Dict[str, Any]:
    """The seed page's refund body: its cart with a copy refunding 2 candle holders after
    the first line. Pay After Delivery: the defaults; Klarna: unit_price "-90", quantity "2".
    """
    refund_copy = dict(SEED_CART[0], unit_price=unit_price, quantity=quantity)
    items = [SEED_CART[0], refund_copy, *SEED_CART[1:]]
    return {"checkout_data": {"items": copy.deepcopy(items)}}


def run_demo(write: Callable[[str], None] = print) -> bool:
    """Run both refunds against a fresh emulator; True when both bodies equal the seed's."""
    cases = [
        ("PAYAFTER", "Pay After Delivery", seed_refund_body()),
        ("KLARNA", "Klarna", seed_refund_body(unit_price="-90", quantity="2")),
    ]
    all_match = True
    with Emulator(api_key="demo-api-key") as emulator:
        client = MultiSafepayClient("demo-api-key", base_url=emulator.base_url)
        for gateway, label, expected in cases:
            order_id = f"demo-{gateway.lower()}"
            emulator.add_order(build_order(order_id, gateway, copy.deepcopy(SEED_CART)))
            write(f"== {label} ({gateway}): 3 Geometric Candle Holders at 90, 1 Nice apple at 35,")
            write("   shipping 10. Refund 2 candle holders.")
            outcome = refund_order(client, order_id, RefundRequest(items={"111111": 2}))
            posts = emulator.refund_posts(order_id)
            sent = posts[-1].json if posts else None
            write("Body sent to POST /orders/{id}/refunds:")
            write(wire.dumps(sent) if sent is not None else "(nothing was sent)")
            matches = sent is not None and wire.dumps(sent) == wire.dumps(expected)
            all_match = all_match and matches and outcome.status is RefundStatus.REFUNDED
            write(
                f"MultiSafepay answered: {outcome.status.value}"
                + (f", refund id {outcome.refund_id}" if outcome.refund_id else "")
                + (
                    f", {shown(outcome.amount, outcome.currency or '')}"
                    if outcome.amount is not None
                    else ""
                )
                + (f" ({outcome.error})" if outcome.error else "")
            )
            write(
                "Equal to the seed page's example, item for item: " + ("yes" if matches else "NO")
            )
            write("")
    return all_match
