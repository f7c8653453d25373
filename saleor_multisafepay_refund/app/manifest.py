"""The App's manifest (`GET /api/manifest`): what Saleor installs, and the webhooks it sends.

Each webhook's subscription query asks exactly what its handler reads (`webhooks/payload.py`);
the queries are valid in Saleor 3.20, 3.23 and main (a test checks them against each schema).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List

from .. import __version__

APP_ID = "saleor.app.multisafepay"
# HANDLE_PAYMENTS: the transaction and session events need it, and reading a transaction's
# order lines through them needs nothing more (proved inside Saleor 3.20, 3.23 and main).
# MANAGE_ORDERS: ORDER_FULFILLED needs it, the only way the App hears that an order shipped.
PERMISSIONS = ("HANDLE_PAYMENTS", "MANAGE_ORDERS")
REQUIRED_SALEOR_VERSION = ">=3.20 <4"

_TRANSACTION = """
    version issuedAt recipient { id }
    action { actionType amount currency }
    transaction { id token pspReference
      events { id type pspReference amount { amount currency } createdAt }
      order { id number channel { slug } }
      checkout { id channel { slug } } }"""


@dataclass(frozen=True)
class Webhook:
    """One webhook: the event, the App's path for it, the subscription query."""

    event: str
    path: str
    query: str
    asynchronous: bool = False  # Saleor does not wait for its answer

    def manifest(self, public_url: str) -> Dict[str, object]:
        return {
            "name": f"MultiSafepay {self.event.lower().replace('_', ' ')}",
            "isActive": True,
            "targetUrl": public_url + self.path,
            "asyncEvents" if self.asynchronous else "syncEvents": [self.event],
            "query": self.query,
        }


REFUND_REQUESTED = Webhook(
    "TRANSACTION_REFUND_REQUESTED",
    "/api/webhooks/saleor/transaction-refund-requested",
    "subscription TransactionRefundRequested { event { __typename "
    "... on TransactionRefundRequested {"
    + _TRANSACTION
    + """
    grantedRefund { id amount { amount currency } shippingCostsIncluded
      lines { id quantity orderLine { id productName productSku productVariantId isGift
                                       quantity } } } } } }""",
)
CHARGE_REQUESTED = Webhook(
    "TRANSACTION_CHARGE_REQUESTED",
    "/api/webhooks/saleor/transaction-charge-requested",
    "subscription TransactionChargeRequested { event { __typename "
    "... on TransactionChargeRequested {" + _TRANSACTION + " } } }",
)
CANCELATION_REQUESTED = Webhook(
    "TRANSACTION_CANCELATION_REQUESTED",
    "/api/webhooks/saleor/transaction-cancelation-requested",
    "subscription TransactionCancelationRequested { event { __typename "
    "... on TransactionCancelationRequested {" + _TRANSACTION + " } } }",
)
_ADDRESS = (
    "firstName lastName companyName streetAddress1 streetAddress2 postalCode city "
    "country { code } countryArea phone"
)
# The checkout as Saleor priced it: the MultiSafepay order's cart is made of it, with the
# plugin's rules (payments/flow.py), and checked against it again when the customer is back.
_SOURCE = f"""
    sourceObject {{ __typename
      ... on Checkout {{ id email languageCode channel {{ slug }} voucherCode
        billingAddress {{ {_ADDRESS} }} shippingAddress {{ {_ADDRESS} }}
        lines {{ id quantity isGift variant {{ id sku name product {{ name }} }}
                 totalPrice {{ gross {{ amount }} net {{ amount }} }} }}
        shippingPrice {{ gross {{ amount }} net {{ amount }} }}
        totalPrice {{ gross {{ amount }} }} }}
      ... on Order {{ id userEmail channel {{ slug }}
        billingAddress {{ {_ADDRESS} }} shippingAddress {{ {_ADDRESS} }} }} }}"""
_SESSION = (
    "version recipient { id } data customerIpAddress "
    "action { amount currency actionType } transaction { id token pspReference }" + _SOURCE
)
GATEWAY_INITIALIZE = Webhook(
    "PAYMENT_GATEWAY_INITIALIZE_SESSION",
    "/api/webhooks/saleor/payment-gateway-initialize-session",
    "subscription PaymentGatewayInitializeSession { event { __typename "
    "... on PaymentGatewayInitializeSession { version recipient { id } data amount"
    + _SOURCE
    + " } } }",
)
INITIALIZE_SESSION = Webhook(
    "TRANSACTION_INITIALIZE_SESSION",
    "/api/webhooks/saleor/transaction-initialize-session",
    "subscription TransactionInitializeSession { event { __typename "
    "... on TransactionInitializeSession { " + _SESSION + " } } }",
)
PROCESS_SESSION = Webhook(
    "TRANSACTION_PROCESS_SESSION",
    "/api/webhooks/saleor/transaction-process-session",
    "subscription TransactionProcessSession { event { __typename "
    "... on TransactionProcessSession { " + _SESSION + " } } }",
)
# Capture is shipping: when an order is fully fulfilled, its MultiSafepay orders are shipped.
ORDER_FULFILLED = Webhook(
    "ORDER_FULFILLED",
    "/api/webhooks/saleor/order-fulfilled",
    "subscription OrderFulfilled { event { __typename ... on OrderFulfilled { version "
    "recipient { id } order { id number channel { slug } transactions { id token pspReference "
    "authorizedAmount { amount currency } chargedAmount { amount currency } } } } } }",
    asynchronous=True,
)
WEBHOOKS = (
    REFUND_REQUESTED,
    CHARGE_REQUESTED,
    CANCELATION_REQUESTED,
    GATEWAY_INITIALIZE,
    INITIALIZE_SESSION,
    PROCESS_SESSION,
    ORDER_FULFILLED,
)


def manifest(public_url: str) -> Dict[str, object]:
    hooks: List[Dict[str, object]] = [webhook.manifest(public_url) for webhook in WEBHOOKS]
    return {
        "id": APP_ID,
        "name": "MultiSafepay",
        "version": __version__,
        "about": (
            "MultiSafepay payments for Saleor's Transactions API, with refunds by line item "
            "for Klarna, Pay After Delivery, in3, Riverty and other buy-now-pay-later methods."
        ),
        "author": "saleor-multisafepay-refund",
        "requiredSaleorVersion": REQUIRED_SALEOR_VERSION,
        "permissions": list(PERMISSIONS),
        "appUrl": public_url + "/app",
        "tokenTargetUrl": public_url + "/api/register",
        "webhooks": hooks,
    }
