"""What a shop asks of a payment, in our own terms: a door builds it from Saleor's data.

The plugin builds it from the legacy Payments API's PaymentData and the checkout; below the
doors a payment is only this.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Optional, Tuple

from ..multisafepay.order_body import Address


@dataclass(frozen=True)
class CheckoutLineTotals:
    """One checkout line as Saleor priced it."""

    product_name: str
    product_sku: Optional[str]
    product_variant_id: str  # the variant's global ID, as Saleor's order line will keep it
    quantity: int
    total_gross: Decimal
    total_net: Decimal
    tax_rate: Optional[Decimal] = None  # a fraction; None: derived from gross and net
    is_gift: bool = False  # a promotion's free gift (its own merchant_item_id)


@dataclass(frozen=True)
class CheckoutTotals:
    lines: Tuple[CheckoutLineTotals, ...]
    shipping_gross: Decimal
    shipping_net: Decimal
    shipping_tax_rate: Optional[Decimal]
    total_gross: Decimal  # after discounts, before gift cards
    voucher_code: str = ""


@dataclass(frozen=True)
class PaymentContext:
    """What the shop knows of a payment beyond the `PaymentAsk`: where MultiSafepay and the
    customer come back to, the checkout, the customer's language."""

    notification_url: str
    return_url: str = ""
    checkout: Optional[CheckoutTotals] = None
    locale: str = ""


@dataclass(frozen=True)
class RecordedPayment:
    """An authorization or capture Saleor already holds for the payment."""

    kind: str  # answers.AUTH or answers.CAPTURE
    reference: str  # the MultiSafepay order id it is recorded under
    amount: Decimal


@dataclass(frozen=True)
class PaymentAsk:
    """One payment, as a payment flow (create, confirm, capture, void) needs it."""

    payment_id: str
    amount: Decimal
    currency: str
    msp_order_id: str = ""  # "" until the MultiSafepay order exists
    token: str = ""  # Saleor's reference of the payment, for an answer without an order id
    method: str = ""  # the storefront's choice, such as "KLARNA", unchecked; "": none
    email: str = ""
    ip_address: str = ""
    billing: Optional[Address] = None
    shipping: Optional[Address] = None
    recorded: Optional[RecordedPayment] = None
    payment_url: str = ""  # the payment page given when the order was created
