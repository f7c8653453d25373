"""Plain objects shaped like Saleor's, with the attributes the plugin reads (Saleor 3.20-main).

saleor.payment.interface.PaymentData / AddressData / RefundData / TransactionData,
saleor.order.fetch.OrderLineInfo,
saleor.order.models.OrderLine / Fulfillment / FulfillmentLine, FulfillmentLineData.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Dict, List, Optional


@dataclass
class OrderLine:
    product_name: str
    product_sku: Optional[str]
    product_variant_id: Optional[str]
    variant_id: Optional[int] = None
    quantity: int = 1
    unit_price_gross_amount: Decimal = Decimal(0)
    is_gift: bool = False


@dataclass
class OrderLineInfo:
    line: OrderLine
    quantity: int
    variant: object = None
    replace: bool = False


@dataclass
class Fulfillment:
    status: str = "fulfilled"


@dataclass
class FulfillmentLine:
    order_line: OrderLine
    quantity: int
    fulfillment: Fulfillment = field(default_factory=Fulfillment)


@dataclass
class FulfillmentLineData:
    line: FulfillmentLine
    quantity: int
    replace: bool = False


@dataclass
class RefundData:
    order_lines_to_refund: List[OrderLineInfo] = field(default_factory=list)
    fulfillment_lines_to_refund: List[FulfillmentLineData] = field(default_factory=list)
    refund_shipping_costs: bool = False
    refund_amount_is_automatically_calculated: bool = True


@dataclass
class TransactionData:
    token: str
    is_success: bool
    kind: str
    gateway_response: dict = field(default_factory=dict)
    amount: dict = field(default_factory=dict)


@dataclass
class AddressData:
    first_name: str = ""
    last_name: str = ""
    company_name: str = ""
    street_address_1: str = ""
    street_address_2: str = ""
    city: str = ""
    city_area: str = ""
    postal_code: str = ""
    country: str = ""
    country_area: str = ""
    phone: str = ""


@dataclass
class PaymentData:
    amount: Decimal
    currency: str = "EUR"
    token: Optional[str] = None
    psp_reference: Optional[str] = None
    # Saleor passes str(order.pk): the string "None" while the checkout is not completed.
    order_id: Optional[str] = "5a4c1e2e-0000-4000-8000-000000000001"
    gateway: str = "multisafepay"
    refund_data: Optional[RefundData] = None
    payment_id: int = 1
    transactions: List[TransactionData] = field(default_factory=list)
    billing: Optional[AddressData] = None
    shipping: Optional[AddressData] = None
    graphql_payment_id: str = ""
    customer_ip_address: Optional[str] = None
    customer_email: str = ""
    data: Optional[Dict[str, Any]] = None  # the storefront's paymentData, parsed
    checkout_token: Optional[str] = None


CANDLES = OrderLine("Geometric Candle Holders", "111111", "UHJvZHVjdFZhcmlhbnQ6MQ==", 1, 3)
APPLE = OrderLine("Nice apple", "666666", "UHJvZHVjdFZhcmlhbnQ6Mg==", 2, 1)
