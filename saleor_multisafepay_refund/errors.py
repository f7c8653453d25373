"""Every error this package raises, under one base.

    MultiSafepayRefundError
    ├── RefundRefused                 refused here, before anything was sent
    │   ├── UnknownItem               merchant_item_id not in the order's cart
    │   ├── AmbiguousItem             one merchant_item_id on lines with different data
    │   ├── InvalidQuantity           not a positive whole number
    │   ├── QuantityExceedsRemaining  more than bought minus already refunded
    │   ├── EmptyRefund               nothing to refund
    │   ├── ConflictingRequest        items or an amount together with "everything"
    │   ├── RefundsNotShown           earlier refunds the cart does not itemise
    │   ├── InvalidAmount             zero or less (MultiSafepay would refund everything)
    │   ├── AmountExceedsRemaining    more than the order has left to refund
    │   ├── AmountNotAllowed          a free amount on a gateway that refunds items
    │   ├── AmountMismatch            MultiSafepay's total is not the amount Saleor records
    │   ├── ItemsNotSupported         items on a gateway that refunds amounts only
    │   └── CurrencyMismatch          not the order's currency
    ├── ConfigurationError            no API key, an unsafe API URL, no order id
    ├── RefundInProgress              a refund of the payment is being sent right now
    ├── InvalidOrderData              MultiSafepay's order answer cannot be understood
    ├── TransportError                no usable answer from MultiSafepay
    │   ├── ConnectionFailed          the request never reached MultiSafepay
    │   ├── ConnectionDropped         the connection broke after the request was sent
    │   ├── RequestTimeout            no answer in time (the request may have arrived)
    │   └── InvalidResponse           an answer that is not MultiSafepay's JSON envelope
    └── ApiError                      MultiSafepay answered with an error envelope

No message ever contains the API key: messages are built from MultiSafepay's answer and the
request's path, never from headers.
"""

from __future__ import annotations

from typing import Optional


class MultiSafepayRefundError(Exception):
    """Base of every error of this package."""


class RefundRefused(MultiSafepayRefundError):
    """The refund was refused before anything was sent to MultiSafepay."""


class UnknownItem(RefundRefused):
    @classmethod
    def without_id(cls, name: str) -> UnknownItem:
        """A shop's line with neither SKU nor product variant: nothing to find it by."""
        return cls(
            f"the order line {name!r} has no SKU and no product variant, so it cannot be "
            "found in MultiSafepay's cart."
        )


class AmbiguousItem(RefundRefused):
    pass


class InvalidQuantity(RefundRefused):
    pass


class QuantityExceedsRemaining(RefundRefused):
    pass


class EmptyRefund(RefundRefused):
    pass


class ConflictingRequest(RefundRefused):
    pass


class RefundsNotShown(RefundRefused):
    pass


class InvalidAmount(RefundRefused):
    pass


class AmountExceedsRemaining(RefundRefused):
    pass


class AmountNotAllowed(RefundRefused):
    pass


class AmountMismatch(RefundRefused):
    pass


class ItemsNotSupported(RefundRefused):
    pass


class CurrencyMismatch(RefundRefused):
    pass


class ConfigurationError(MultiSafepayRefundError, ValueError):
    """The client cannot be used as configured: nothing was sent."""


class RefundInProgress(MultiSafepayRefundError):
    """A refund of the payment is being sent right now: its own flow records its outcome."""


class InvalidOrderData(MultiSafepayRefundError):
    """MultiSafepay's order answer lacks a field or has a value that cannot be read safely."""


class TransportError(MultiSafepayRefundError):
    """No usable answer. `may_have_arrived` tells whether MultiSafepay may have acted on it."""

    may_have_arrived = True


class ConnectionFailed(TransportError):
    may_have_arrived = False


class ConnectionDropped(TransportError):
    pass


class RequestTimeout(TransportError):
    pass


class InvalidResponse(TransportError):
    def __init__(self, message: str, http_status: Optional[int] = None) -> None:
        super().__init__(message)
        self.http_status = http_status


# MultiSafepay's error codes, as documented, in words a shop owner can act on.
_API_MESSAGES = {
    1001: "MultiSafepay refused the amount.",
    1002: "MultiSafepay refused the currency.",
    1006: "MultiSafepay does not know this order or transaction.",
    1016: "MultiSafepay says data is missing from the request.",
    1027: "MultiSafepay says the shopping cart total does not match the order.",
    1029: "MultiSafepay says an item's tax does not match the order.",
    1030: "MultiSafepay says an item's price does not match the order.",
    1031: "MultiSafepay says an item's price does not match the order.",
    1032: (
        "MultiSafepay refused the API key: a wrong key, or a test key on the live API (or a "
        "live key on the test API)."
    ),
    1033: "MultiSafepay has no refund information for this order yet.",
    1034: (
        "MultiSafepay cannot refund this: it exceeds what remains, the order was already "
        "refunded or cancelled, or the same amount was refunded less than 5 minutes ago."
    ),
    9999: "MultiSafepay reported an unknown error.",
}


class ApiError(MultiSafepayRefundError):
    """MultiSafepay answered `success: false`: it did not do what was asked."""

    def __init__(self, error_code: Optional[int], error_info: str, http_status: int) -> None:
        self.error_code = error_code
        self.error_info = error_info
        self.http_status = http_status
        known = _API_MESSAGES.get(error_code) if error_code is not None else None
        text = known or "MultiSafepay refused the request."
        detail = f" (error {error_code}: {error_info})" if error_info else f" (error {error_code})"
        super().__init__(text + detail)


# MultiSafepay's answer to a missing or wrong API key (or one of the other environment).
INVALID_API_KEY = 1032
# Where the key and the API URL are set, when the door that was used does not say it its own way.
SETTINGS_PLACE = "the MultiSafepay settings"


def with_where_to_fix(error: MultiSafepayRefundError, settings_place: str) -> str:
    """`error` in words, and where to fix it when the settings caused it: `settings_place`
    in the words of the door that was used (the plugin's configuration, the App's settings,
    the command line's options)."""
    if isinstance(error, ApiError) and error.error_code == INVALID_API_KEY:
        return f"{error} Check the key and which MultiSafepay it is for ({settings_place})."
    return str(error)
