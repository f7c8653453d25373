"""What a shop asks to refund, in our own terms: a door builds it from Saleor's data.

The plugin builds it from the legacy Payments API's PaymentData and RefundData; the App
from a granted refund of the Transactions API. Below the doors a refund is only this.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import FrozenSet, Tuple


@dataclass(frozen=True)
class AskedItem:
    """A line staff refund: its merchant_item_id ("" when the line has neither SKU nor
    product variant, refused only where items matter), its name for messages, how many."""

    merchant_item_id: str
    name: str
    quantity: int


@dataclass(frozen=True)
class RefundAsk:
    """One refund Saleor asks for, of one payment."""

    payment_id: str  # the ledger's key: Saleor's payment (or transaction)
    msp_order_id: str  # "" when the payment has no MultiSafepay order
    amount: Decimal  # what Saleor will record as refunded
    currency: str
    items: Tuple[AskedItem, ...] = ()  # the lines named, in Saleor's order, not yet merged
    # Saleor named lines (even when all of them were refunded or replaced before): a refund by
    # products, never to be turned into an amount.
    products_named: bool = False
    shipping: bool = False  # the shipping costs come back too
    # The references Saleor recorded the payment's refunds under (`LedgerEntry.reference`).
    recorded: FrozenSet[str] = frozenset()
    saleor_order: str = ""  # Saleor's order, for the support command staff are told to run

    @property
    def token(self) -> str:
        """What an answer without a MultiSafepay order is recorded under: Saleor knows the
        payment by that order id, so there is nothing else."""
        return self.msp_order_id

    @property
    def by_products(self) -> bool:
        """Saleor said what comes back; else it asks for an amount."""
        return self.products_named or self.shipping
