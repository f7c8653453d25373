"""Secrets at rest: Saleor's tokens and MultiSafepay API keys, encrypted with APP_SECRET_KEY."""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken

from .environment import AppSetupError


class Sealer:
    """Fernet (AES-128-CBC + HMAC-SHA256) keyed from the App's secret key."""

    def __init__(self, secret_key: str) -> None:
        digest = hashlib.sha256(("saleor-multisafepay-app:" + secret_key).encode()).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(digest))

    def __repr__(self) -> str:
        return "Sealer()"

    def seal(self, text: str) -> str:
        return self._fernet.encrypt(text.encode()).decode("ascii") if text else ""

    def open(self, sealed: str) -> str:
        if not sealed:
            return ""
        try:
            return self._fernet.decrypt(sealed.encode("ascii")).decode()
        except InvalidToken:
            raise AppSetupError(
                "A stored secret cannot be decrypted: APP_SECRET_KEY changed since it was "
                "stored. Restore the old key, or install the App again and reconfigure."
            ) from None
