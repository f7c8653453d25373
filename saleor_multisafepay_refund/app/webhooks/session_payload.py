"""Saleor's TRANSACTION_INITIALIZE_SESSION and TRANSACTION_PROCESS_SESSION payloads, read into
the core's payment values: the checkout as Saleor priced it (lines, shipping, total, voucher),
the addresses, the storefront's `data`. Amounts `Decimal`; missing fields raise BadPayload."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Mapping, Optional

from ...multisafepay.order_body import Address
from ...payments.ask import CheckoutLineTotals, CheckoutTotals
from .payload import BadPayload, read_amount, read_channel, read_object, read_recipient, read_text


@dataclass(frozen=True)
class SessionRequested:
    recipient_id: str
    action_type: str  # CHARGE or AUTHORIZATION: what the storefront asked for
    amount: Decimal
    currency: str
    transaction_id: str
    transaction_token: str
    psp_reference: str  # the MultiSafepay order id, once the session made one
    data: object  # the storefront's JSON: {"gateway": "KLARNA", "returnUrl": ...} or null
    channel_slug: str
    email: str
    ip_address: str
    locale: str
    billing: Optional[Address]
    shipping: Optional[Address]
    checkout: Optional[CheckoutTotals]  # None when the source is an order


@dataclass(frozen=True)
class GatewayRequested:
    """PAYMENT_GATEWAY_INITIALIZE_SESSION: the storefront asks what it may offer."""

    recipient_id: str
    channel_slug: str
    amount: Decimal


def gateway_requested(payload: object) -> GatewayRequested:
    event = read_object(payload, "the payload")
    source = read_object(event.get("sourceObject"), "sourceObject")
    amount = event.get("amount")
    return GatewayRequested(
        recipient_id=read_recipient(event),
        channel_slug=read_channel(source),
        amount=Decimal(0) if amount is None else read_amount(amount, "amount"),
    )


def session_requested(payload: object) -> SessionRequested:
    event = read_object(payload, "the payload")
    action = read_object(event.get("action"), "action")
    transaction = read_object(event.get("transaction"), "transaction")
    source = read_object(event.get("sourceObject"), "sourceObject")
    billing = _address(source.get("billingAddress"))
    language = str(source.get("languageCode") or "").split("_")[0].split("-")[0].lower()
    country = billing.country if billing is not None else ""
    is_checkout = source.get("__typename") == "Checkout"
    return SessionRequested(
        recipient_id=read_recipient(event),
        action_type=read_text(action.get("actionType"), "action.actionType"),
        amount=read_amount(action.get("amount"), "action.amount"),
        currency=read_text(action.get("currency"), "action.currency"),
        transaction_id=read_text(transaction.get("id"), "transaction.id"),
        transaction_token=read_text(transaction.get("token"), "transaction.token"),
        psp_reference=str(transaction.get("pspReference") or ""),
        data=event.get("data"),
        channel_slug=read_channel(source),
        email=str(source.get("email") or source.get("userEmail") or ""),
        ip_address=str(event.get("customerIpAddress") or ""),
        locale=f"{language}_{country}" if len(language) == 2 and len(country) == 2 else "",
        billing=billing,
        shipping=_address(source.get("shippingAddress")),
        checkout=_totals(source) if is_checkout else None,
    )


def _totals(source: Mapping[str, object]) -> CheckoutTotals:
    lines = source.get("lines")
    if not isinstance(lines, list):
        raise BadPayload("Saleor's payload has no checkout lines")
    shipping = source.get("shippingPrice")
    total = read_object(source.get("totalPrice"), "checkout.totalPrice")
    return CheckoutTotals(
        lines=tuple(_line(read_object(line, "checkout.lines[]")) for line in lines),
        shipping_gross=_money(shipping, "gross"),
        shipping_net=_money(shipping, "net"),
        shipping_tax_rate=None,
        total_gross=_money(total, "gross"),
        voucher_code=str(source.get("voucherCode") or ""),
    )


def _line(line: Mapping[str, object]) -> CheckoutLineTotals:
    variant = line.get("variant")
    variant_data = variant if isinstance(variant, dict) else {}
    product = variant_data.get("product")
    name = str(product.get("name") or "") if isinstance(product, dict) else ""
    variant_name = str(variant_data.get("name") or "")
    if variant_name:
        # As the plugin names a line: "Product, Variant".
        name = f"{name}, {variant_name}" if name else variant_name
    quantity = line.get("quantity")
    if not isinstance(quantity, int) or isinstance(quantity, bool):
        raise BadPayload("a checkout line has no whole quantity")
    total = line.get("totalPrice")
    return CheckoutLineTotals(
        product_name=name,
        product_sku=str(variant_data.get("sku") or "") or None,
        product_variant_id=str(variant_data.get("id") or ""),
        quantity=quantity,
        total_gross=_money(total, "gross"),
        total_net=_money(total, "net"),
        is_gift=line.get("isGift") is True,
    )


def _money(taxed: object, side: str) -> Decimal:
    if taxed is None:
        return Decimal(0)
    part = read_object(read_object(taxed, "a price").get(side), f"a price's {side}")
    return read_amount(part.get("amount"), f"a price's {side}")


def _address(data: object) -> Optional[Address]:
    if not isinstance(data, dict):
        return None
    country = data.get("country")
    return Address(
        first_name=str(data.get("firstName") or ""),
        last_name=str(data.get("lastName") or ""),
        company_name=str(data.get("companyName") or ""),
        street_address_1=str(data.get("streetAddress1") or ""),
        street_address_2=str(data.get("streetAddress2") or ""),
        postal_code=str(data.get("postalCode") or ""),
        city=str(data.get("city") or ""),
        country=str(country.get("code") or "") if isinstance(country, dict) else "",
        country_area=str(data.get("countryArea") or ""),
        phone=str(data.get("phone") or ""),
    )
