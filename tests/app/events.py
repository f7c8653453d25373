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
