"""What the emulator answers: MultiSafepay's JSON envelope and error codes, and the refusal that
becomes one; every API route reads its body here, so a body that is no JSON object is refused alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple

from ..multisafepay import wire

# Error codes MultiSafepay documents (docs/msp-api.md, "Errors worth mapping").
INVALID_AMOUNT = 1001
INVALID_CURRENCY = 1002
UNKNOWN_ORDER = 1006
MISSING_DATA = 1016
CART_MISMATCH = 1027
WRONG_ITEM_TAX = 1029
WRONG_ITEM_PRICE = 1031
INVALID_API_KEY = 1032
CANNOT_REFUND = 1034
UNKNOWN_ERROR = 9999

_HTTP_STATUS = {INVALID_API_KEY: 401, UNKNOWN_ORDER: 404}


class Refusal(Exception):
    """A refusal MultiSafepay would answer with an error envelope."""

    def __init__(self, code: int, info: str) -> None:
        super().__init__(info)
        self.code = code
        self.info = info


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: Tuple[Tuple[str, str], ...] = ()


def success(data: Any) -> Answer:
    return Answer(200, wire.dumps({"success": True, "data": data}).encode())


def failure(code: int, info: str, status: Optional[int] = None) -> Answer:
    envelope = {"success": False, "data": {}, "error_code": code, "error_info": info}
    if status is None:
        status = _HTTP_STATUS.get(code, 404 if code == UNKNOWN_ERROR else 400)
    return Answer(status, wire.dumps(envelope).encode())


def parse_body(raw: bytes) -> Dict[str, Any]:
    try:
        body = wire.loads(raw) if raw.strip() else None
    except ValueError:  # includes UnicodeDecodeError
        raise Refusal(MISSING_DATA, "the request body is not JSON") from None
    if not isinstance(body, dict):
        raise Refusal(MISSING_DATA, "the request body must be a JSON object")
    return body
