"""Saleor's TRANSACTION_*_REQUESTED payloads as the App's subscription queries shape them
(`app/manifest.py`), amounts as Saleor writes them: JSON numbers."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any, Dict, List, Optional, Sequence, Tuple

from .saleor_server import APP_ID

CHANNEL = "default-channel"


def transaction(
    msp_order_id: str,
    charged: Decimal,
    currency: str = "EUR",
    token: Optional[str] = None,
    events: Sequence[Dict[str, Any]] = (),
    channel: str = CHANNEL,
) -> Dict[str, Any]:
    token = token or str(uuid.uuid4())
    return {
        "id": f"VHJhbnNhY3Rpb25JdGVtOj{token}",
        "token": token,
        "pspReference": msp_order_id,
        "chargedAmount": {"amount": charged, "currency": currency},
        "authorizedAmount": {"amount": Decimal("0.0"), "currency": currency},
        "refundedAmount": {"amount": Decimal("0.0"), "currency": currency},
        "events": list(events),
        "order": {"id": "T3JkZXI6MQ==", "number": "1001", "channel": {"slug": channel}},
    }


def line(
    sku: str, quantity: int, name: str = "", variant_id: str = "", gift: bool = False
) -> Dict[str, Any]:
    return {
        "id": f"line-{sku}",
        "quantity": quantity,
        "orderLine": {
            "id": f"T3JkZXJMaW5lOj{sku}",
            "productName": name or f"Item {sku}",
            "productSku": sku or None,
            "productVariantId": variant_id or f"UHJvZHVjdFZhcmlhbnQ6{sku}",
            "isGift": gift,
            "quantity": quantity,
        },
    }


def refund_requested(
    txn: Dict[str, Any],
    amount: Decimal,
    lines: Sequence[Tuple[str, int]] = (),
    shipping: bool = False,
    granted: bool = True,
    action: str = "REFUND",
) -> Dict[str, Any]:
    currency = txn["chargedAmount"]["currency"]
    payload: Dict[str, Any] = {
        "__typename": "TransactionRefundRequested",
        "version": "3.23.0",
        "issuedAt": "2026-11-30T12:00:00+00:00",
        "recipient": {"id": APP_ID},
        "action": {"actionType": action, "amount": amount, "currency": currency},
        "transaction": txn,
    }
    if granted:
        granted_lines: List[Dict[str, Any]] = [line(sku, quantity) for sku, quantity in lines]
        payload["grantedRefund"] = {
            "id": "T3JkZXJHcmFudGVkUmVmdW5kOjE=",
            "amount": {"amount": amount, "currency": currency},
            "shippingCostsIncluded": shipping,
            "lines": granted_lines,
        }
    else:
        payload["grantedRefund"] = None
    return payload


def action_requested(txn: Dict[str, Any], amount: Decimal, action: str) -> Dict[str, Any]:
    payload = refund_requested(txn, amount, granted=False, action=action)
    payload.pop("grantedRefund")
    payload["__typename"] = f"Transaction{action.title()}Requested"
    return payload


def address(country: str = "NL") -> Dict[str, Any]:
    return {
        "firstName": "Anna",
        "lastName": "de Vries",
        "companyName": "",
        "streetAddress1": "Kraanspoor 39",
        "streetAddress2": "",
        "postalCode": "1033SC",
        "city": "Amsterdam",
        "country": {"code": country},
        "countryArea": "",
        "phone": "+31208500500",
    }


def checkout_line(
    sku: str, quantity: int, gross: str, net: str, name: str = "", gift: bool = False
) -> Dict[str, Any]:
    return {
        "id": f"Q2hlY2tvdXRMaW5lOj{sku}",
        "quantity": quantity,
        "isGift": gift,
        "variant": {
            "id": f"UHJvZHVjdFZhcmlhbnQ6{sku}",
            "sku": sku,
            "name": "",
            "product": {"name": name or f"Item {sku}"},
        },
        "totalPrice": {"gross": {"amount": Decimal(gross)}, "net": {"amount": Decimal(net)}},
    }


def checkout(
    lines: Sequence[Dict[str, Any]],
    shipping: Tuple[str, str],
    total: str,
    channel: str = CHANNEL,
) -> Dict[str, Any]:
    return {
        "__typename": "Checkout",
        "id": "Q2hlY2tvdXQ6MQ==",
        "email": "anna@example.com",
        "languageCode": "NL_NL",
        "channel": {"slug": channel},
        "voucherCode": None,
        "billingAddress": address(),
        "shippingAddress": address(),
        "lines": list(lines),
        "shippingPrice": {
            "gross": {"amount": Decimal(shipping[0])},
            "net": {"amount": Decimal(shipping[1])},
        },
        "totalPrice": {"gross": {"amount": Decimal(total)}},
    }


def session(
    source: Dict[str, Any],
    amount: str,
    token: str,
    data: Optional[Dict[str, Any]] = None,
    psp_reference: Optional[str] = None,
    action: str = "CHARGE",
) -> Dict[str, Any]:
    """TRANSACTION_INITIALIZE_SESSION / TRANSACTION_PROCESS_SESSION."""
    return {
        "__typename": "TransactionInitializeSession",
        "version": "3.23.0",
        "recipient": {"id": APP_ID},
        "data": data,
        "customerIpAddress": "127.0.0.1",
        "action": {"amount": Decimal(amount), "currency": "EUR", "actionType": action},
        "transaction": {
            "id": f"VHJhbnNhY3Rpb25JdGVtOj{token}",
            "token": token,
            "pspReference": psp_reference,
        },
        "sourceObject": source,
    }


# Two T-shirts and a cap with 21% VAT, shipping 6.05: 36.30.
VAT_CHECKOUT = checkout(
    [
        checkout_line("TSHIRT", 2, gross="24.20", net="20.00"),
        checkout_line("CAP", 1, gross="6.05", net="5.00"),
    ],
    shipping=("6.05", "5.00"),
    total="36.30",
)
