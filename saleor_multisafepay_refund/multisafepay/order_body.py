"""Pure: the POST /orders body of a payment: amount, cart, customer, addresses, where to return.

The cart comes from `order_cart.py`; this module adds what MultiSafepay needs around it. The
buy-now-pay-later methods check the customer's name and address against the invoice, so the
street and the house number are sent apart, as MultiSafepay's API asks (`address1`,
`house_number`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Dict, Optional, Tuple

from .money import to_minor_units
from .order_cart import OrderCart

# "Kraanspoor 39C", "Damrak 1-3", "Hoofdstraat 12 bis": the street, then the number and
# its addition. A street that starts with its number ("10 Downing Street") is left whole.
_HOUSE_NUMBER = re.compile(r"^(?P<street>.*?\D)\s+(?P<number>\d+(?:\s*[-/]?\s*\w{1,4})?)\s*$")


@dataclass(frozen=True)
class Address:
    first_name: str = ""
    last_name: str = ""
    company_name: str = ""
    street_address_1: str = ""
    street_address_2: str = ""
    postal_code: str = ""
    city: str = ""
    country: str = ""  # ISO 3166-1 alpha-2
    country_area: str = ""
    phone: str = ""


@dataclass(frozen=True)
class PaymentOrder:
    """What a MultiSafepay order for one Saleor payment is created with."""

    order_id: str
    amount: Decimal
    currency: str
    description: str
    gateway: str  # empty: the customer chooses on MultiSafepay's payment page
    cart: Optional[OrderCart]
    notification_url: str
    redirect_url: str
    cancel_url: str
    email: str = ""
    ip_address: str = ""
    locale: str = ""
    billing: Optional[Address] = None
    shipping: Optional[Address] = None


def split_street(street: str) -> Tuple[str, str]:
    """(address1, house_number) of one street line; ("whole line", "") when it has none."""
    text = " ".join(street.split())
    match = _HOUSE_NUMBER.match(text)
    if not match:
        return text, ""
    return match.group("street").strip(), match.group("number").replace(" ", "")


def order_body(order: PaymentOrder) -> Dict[str, object]:
    """The JSON body of POST /orders for `order` (a redirect: MultiSafepay's payment page)."""
    options: Dict[str, object] = {
        "notification_url": order.notification_url,
        "notification_method": "POST",
        "close_window": False,
    }
    # Without a return URL (the storefront gave none) MultiSafepay shows its own end page.
    for name, url in (("redirect_url", order.redirect_url), ("cancel_url", order.cancel_url)):
        if url:
            options[name] = url
    body: Dict[str, object] = {
        "type": "redirect",
        "order_id": order.order_id,
        "currency": order.currency,
        "amount": to_minor_units(order.amount, order.currency),
        "description": order.description,
        "payment_options": options,
    }
    if order.gateway:
        body["gateway"] = order.gateway
    customer = _person(order.billing, order.email, order.ip_address, order.locale)
    if customer:
        body["customer"] = customer
    delivery = _person(order.shipping, order.email, "", "")
    if delivery and order.shipping is not None:
        body["delivery"] = delivery
    if order.cart is not None:
        body.update(order.cart.body_fields())
    return body


def _person(
    address: Optional[Address], email: str, ip_address: str, locale: str
) -> Dict[str, object]:
    fields: Dict[str, object] = {"locale": locale, "ip_address": ip_address, "email": email}
    if address is not None:
        address1, house_number = split_street(address.street_address_1)
        fields.update(
            first_name=address.first_name,
            last_name=address.last_name,
            company_name=address.company_name,
            address1=address1,
            house_number=house_number,
            address2=address.street_address_2,
            zip_code=address.postal_code,
            city=address.city,
            state=address.country_area,
            country=address.country.upper(),
            phone=address.phone,
        )
    # MultiSafepay validates the fields that are present: an empty one is left out.
    return {name: value for name, value in fields.items() if value}
