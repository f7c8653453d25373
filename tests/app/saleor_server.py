"""A Saleor as the App meets it, on 127.0.0.1: its keys, its GraphQL API, its webhooks.

It signs webhooks as Saleor does (`saleor/core/jwt_manager.py` `jws_encode`: PyJWT, RS256, a
detached unencoded payload, header `kid` and `crit: ["b64"]`) and sends Saleor's headers
(`saleor/webhook/transport/utils.py`); it signs the token the Dashboard hands the App's page as
Saleor does (`user_token`). Its GraphQL endpoint answers `{ app { id } }` for its
App token and records `transactionEventReport` as Saleor does: once per (transaction,
pspReference, type), a repeat `alreadyProcessed`, the same pair with another amount refused.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, Iterable, List, Optional, Tuple

import jwt
import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from saleor_multisafepay_refund.app.manifest import PERMISSIONS
from saleor_multisafepay_refund.multisafepay import wire

APP_TOKEN = "saleor-app-token-0123456789abcdef"  # ends in the suite's secret mark
APP_ID = "QXBwOjE="  # App:1
STAFF_ID = "VXNlcjox"  # User:1


class SaleorServer:
    def __init__(self, with_alg: bool = True) -> None:
        self.with_alg = with_alg  # 3.23 and main publish "alg"; 3.20 does not
        self.app_id = APP_ID
        self.identifier = "saleor.app.multisafepay"  # the manifest's id the App was installed from
        self.token = APP_TOKEN
        # appInstall grants what the installer passes; the Dashboard passes the manifest's.
        self.app_permissions: Tuple[str, ...] = PERMISSIONS
        self.reports: List[Dict[str, Any]] = []
        self.jwks_fetches = 0
        self.jwks_down = False  # answer the keys' URL with 503
        self._lock = threading.Lock()
        self.rotate_key()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                if self.path == "/.well-known/jwks.json":
                    with server._lock:
                        server.jwks_fetches += 1
                    if server.jwks_down:
                        self._answer(503, {"error": "unavailable"})
                    else:
                        self._answer(200, server.jwks())
                else:
                    self._answer(404, {"error": "not found"})

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.path != "/graphql/":
                    self._answer(404, {"error": "not found"})
                    return
                if self.headers.get("Authorization") != f"Bearer {server.token}":
                    self._answer(200, {"errors": [{"message": "Invalid token."}]})
                    return
                self._answer(200, server.graphql(json.loads(body)))

            def _answer(self, status: int, value: object) -> None:
                data = json.dumps(value).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/graphql/"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- keys ---------------------------------------------------------------------------------

    def rotate_key(self) -> None:
        """A new signing key (Saleor's RSA_PRIVATE_KEY changed); the JWKS serves only it."""
        self.private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwk = json.loads(RSAAlgorithm.to_jwk(self.private_key.public_key()))
        self.kid = thumbprint(jwk)
        jwk.update(kid=self.kid, use="sig")
        if self.with_alg:
            jwk["alg"] = "RS256"
        else:
            jwk.pop("alg", None)
        self._jwk = jwk

    def jwks(self) -> Dict[str, object]:
        return {"keys": [self._jwk]}

    def sign(self, body: bytes, key: Any = None, kid: Optional[str] = None) -> str:
        return jwt.api_jws.encode(
            body,
            key or self.private_key,
            algorithm="RS256",
            headers={"kid": kid or self.kid, "crit": ["b64"]},
            is_payload_detached=True,
        )

    def user_token(
        self,
        permissions: Iterable[str] = ("MANAGE_APPS", "MANAGE_ORDERS"),
        *,
        app_id: Optional[str] = None,
        email: str = "staff@example.com",
        expires_in: int = 300,
        key: Any = None,
        kid: Optional[str] = None,
        **claims: Any,
    ) -> str:
        """The token the Dashboard hands the App's page (the handshake's `token`) for a staff
        user holding `permissions`, made as Saleor 3.23 makes it.

        Saleor's `create_access_token_for_app` (`saleor/core/jwt.py`, through
        `_create_access_token_for_third_party_actions`, `jwt_user_payload` and
        `jwt_base_payload`): `iat`, `owner` "saleor", `iss` its API URL (`get_issuer`), the
        user's `token` (`jwt_token_key`), `email`, `type` "thirdparty", `user_id` (a User
        global id), `is_staff`, `exp` (`JWT_TTL_APP_ACCESS`, 5 minutes), `app` (the App's
        global id), `permissions` (the App's that the user also holds) and `user_permissions`
        (the user's). `JWTManager.encode` (`saleor/core/jwt_manager.py`) signs it RS256 with
        header `kid`: this Saleor's current key unless `key`/`kid` forge another; `claims`
        add or replace any claim (`aud`, when the App has an audience; a forged `iss`, ...).
        """
        user_permissions = sorted(set(permissions))
        now = datetime.now(tz=timezone.utc)
        payload: Dict[str, Any] = {
            "iat": now,
            "owner": "saleor",
            "iss": self.api_url,
            "exp": now + timedelta(seconds=expires_in),
            "token": "staff-jwt-token-key",
            "email": email,
            "type": "thirdparty",
            "user_id": STAFF_ID,
            "is_staff": True,
            "app": self.app_id if app_id is None else app_id,
            "permissions": sorted(set(self.app_permissions) & set(user_permissions)),
            "user_permissions": user_permissions,
        }
        payload.update(claims)
        return jwt.encode(
            payload, key or self.private_key, algorithm="RS256", headers={"kid": kid or self.kid}
        )

    # -- the App ------------------------------------------------------------------------------

    def install(
        self, app_url: str, api_url: Optional[str] = None, token: Optional[str] = None
    ) -> requests.Response:
        """What appInstall does once it has the manifest: the token to tokenTargetUrl."""
        return requests.post(
            app_url + "/api/register",
            json={"auth_token": self.token if token is None else token},
            headers=self.headers(api_url, event=None),
            timeout=10,
        )

    def headers(self, api_url: Optional[str] = None, event: Optional[str] = None) -> Dict[str, str]:
        url = api_url or self.api_url
        domain = url.split("/")[2]
        headers = {
            "Content-Type": "application/json",
            "Saleor-Domain": domain,
            "Saleor-Api-Url": url,
            "X-Saleor-Domain": domain,
            "Saleor-Schema-Version": "3.23",
        }
        if event:
            headers.update({"Saleor-Event": event, "X-Saleor-Event": event})
        return headers

    def send(
        self,
        url: str,
        payload: object,
        signature: Optional[str] = None,
        api_url: Optional[str] = None,
        body: Optional[bytes] = None,
    ) -> requests.Response:
        """A sync webhook, as Saleor posts it: the body signed exactly as sent."""
        data = body if body is not None else wire.dumps(payload).encode()
        headers = self.headers(api_url, event="transaction_refund_requested")
        headers["Saleor-Signature"] = self.sign(data) if signature is None else signature
        if signature == "":
            del headers["Saleor-Signature"]
        return requests.post(url, data=data, headers=headers, timeout=30, allow_redirects=False)

    def answer(self, url: str, payload: object) -> Dict[str, Any]:
        """A sync webhook's answer, parsed as Saleor reads it (amounts exact)."""
        response = self.send(url, payload)
        assert response.status_code == 200, response.text
        return dict(json.loads(response.content, parse_float=Decimal))

    # -- GraphQL --------------------------------------------------------------------------------

    def graphql(self, request: Dict[str, Any]) -> Dict[str, Any]:
        query = request.get("query", "")
        variables = request.get("variables") or {}
        if "transactionEventReport" in query:
            return {"data": {"transactionEventReport": self._report(variables)}}
        if "app" in query and "id" in query:
            return {"data": {"app": {"id": self.app_id, "identifier": self.identifier}}}
        return {"errors": [{"message": "unknown query"}]}

    def _report(self, variables: Dict[str, Any]) -> Dict[str, Any]:
        key: Tuple[str, str, str] = (variables["id"], variables["pspReference"], variables["type"])
        amount = variables.get("amount")
        if isinstance(amount, float):
            return {"alreadyProcessed": False, "errors": [{"code": "FLOAT", "message": "float"}]}
        with self._lock:
            for report in self.reports:
                if (report["id"], report["pspReference"], report["type"]) == key:
                    if report.get("amount") != amount:
                        return {
                            "alreadyProcessed": False,
                            "errors": [{"code": "INCORRECT_DETAILS", "message": "amount"}],
                        }
                    return {"alreadyProcessed": True, "errors": []}
            self.reports.append(dict(variables))
        return {"alreadyProcessed": False, "errors": []}


def thumbprint(jwk: Dict[str, Any]) -> str:
    """RFC 7638, as Saleor names its key."""
    canonical = json.dumps({k: jwk[k] for k in ("e", "kty", "n")}, separators=(",", ":"))
    digest = hashlib.sha256(canonical.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
