"""The `merchant_item_id` of a shop's line: the one rule payments and refunds share.

A checkout line becomes a MultiSafepay cart item under this id when the payment is made
(`payments/flow.py`); the order line made of it is refunded under the same id (each door
applies the rule to its own lines), so every refund finds its items again.
"""

from __future__ import annotations

from typing import Optional

from ..config import ItemIdSource
from ..errors import UnknownItem


def merchant_item_id(
    sku: Optional[str], variant_id: str, is_gift: bool, name: str, source: ItemIdSource
) -> str:
    """The line's SKU, else its product variant's ID; UnknownItem when it has neither.

    It must be the id the MultiSafepay order was created with, or the item is not found.
    """
    key = (sku if source is ItemIdSource.SKU else None) or variant_id
    if not key:
        raise UnknownItem.without_id(name)
    # A promotion's free gift can be the very product bought beside it: at another price
    # (zero), so under its own id, or neither line could be refunded by id.
    return f"{key}-gift" if is_gift else key
