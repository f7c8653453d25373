"""The MultiSafepay order a Saleor order was paid with: the cart MultiSafepay was sent."""

from __future__ import annotations

from typing import Any, Dict, List

from saleor_multisafepay_refund.emulator import build_order

KEY = "saleor-it-key-0123456789abcdef"  # the emulator's API key, and the plugin's


def msp_order_of(order: Any, msp_order_id: str, gateway: str = "PAYAFTER") -> Dict[str, Any]:
    """Net unit prices, one tax table per rate, the shipping as `msp-shipping`."""
    items: List[Dict[str, Any]] = [
        _item(
            line.product_name,
            line.unit_price_net_amount,
            line.quantity,
            line.product_sku,
            line.tax_rate,
        )
        for line in order.lines.all()
    ]
    items.append(
        _item(
            order.shipping_method_name,
            order.shipping_price_net_amount,
            1,
            "msp-shipping",
            order.shipping_tax_rate,
            description="Shipping",
        )
    )
    rates = {item["tax_table_selector"]: item["tax_table_selector"][5:] for item in items}
    return build_order(msp_order_id, gateway, items, currency=order.currency, tax_rates=rates)


def _item(
    name: Any, net: Any, quantity: int, sku: Any, rate: Any, description: str = ""
) -> Dict[str, Any]:
    return {
        "name": name,
        "description": description,
        "unit_price": str(net),
        "quantity": quantity,
        "merchant_item_id": sku,
        "tax_table_selector": f"rate-{rate}",
        "weight": {"unit": "KG", "value": 0},
    }
