"""Pure: the `merchant_item_id` of a Saleor line, the one rule payments and refunds share.

A checkout line becomes a MultiSafepay cart item under this id when the payment is made
(`payments.py`); the order line Saleor makes of it is refunded under the same id
(`gateway.py`). Both are read by attribute: `product_sku`, `product_variant_id` (the variant's
global ID, as Saleor's order line keeps it), `variant_id`, `is_gift`, `product_name`.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from ..errors import UnknownItem


class ItemIdSource(str, Enum):
    """Which value of a Saleor order line is the merchant_item_id in MultiSafepay's cart."""

    SKU = "sku"  # the product SKU, else the product variant's ID
    VARIANT_ID = "variant_id"  # always the product variant's ID


def merchant_item_id(line: Any, source: ItemIdSource) -> str:
    """The merchant_item_id of a Saleor order line: its SKU, else its product variant's ID.

    It must be the id the MultiSafepay order was created with, or the item is not found.
    """
    variant = line.product_variant_id or (
        str(line.variant_id) if getattr(line, "variant_id", None) is not None else ""
    )
    sku = line.product_sku if source is ItemIdSource.SKU else None
    key = sku or variant
    if not key:
        raise UnknownItem(
            f"the order line {line.product_name!r} has no SKU and no product variant, so it "
            "cannot be found in MultiSafepay's cart."
        )
    # A promotion's free gift can be the very product bought beside it: at another price
    # (zero), so under its own id, or neither line could be refunded by id.
    return f"{key}-gift" if getattr(line, "is_gift", False) else str(key)
