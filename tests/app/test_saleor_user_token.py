"""The fake Saleor's Dashboard token is the one Saleor 3.23 makes (`saleor/core/jwt.py`
`create_access_token_for_app`), checked as the App must check it: with the keys Saleor
publishes. The App's page tests build on it."""

from __future__ import annotations

import time
from typing import Any, Dict

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa

from .saleor_server import SaleorServer


def published_keys(saleor: SaleorServer) -> jwt.PyJWKSet:
    url = saleor.api_url.replace("/graphql/", "/.well-known/jwks.json")
    return jwt.PyJWKSet.from_dict(requests.get(url, timeout=10).json())


def verify(saleor: SaleorServer, token: str) -> Dict[str, Any]:
    kid = jwt.get_unverified_header(token)["kid"]
    key = next(k for k in published_keys(saleor).keys if k.key_id == kid)
    return dict(jwt.decode(token, key, algorithms=["RS256"], issuer=saleor.api_url))


def test_a_staff_users_token_carries_saleors_claims(saleor: SaleorServer) -> None:
    token = saleor.user_token(["MANAGE_ORDERS", "MANAGE_APPS"])

    claims = verify(saleor, token)

    assert jwt.get_unverified_header(token) == {"alg": "RS256", "kid": saleor.kid, "typ": "JWT"}
    assert claims == {
        "iat": claims["iat"],
        "exp": claims["iat"] + 300,  # JWT_TTL_APP_ACCESS
        "owner": "saleor",
        "iss": saleor.api_url,
        "token": "staff-jwt-token-key",
        "email": "staff@example.com",
        "type": "thirdparty",
        "user_id": "VXNlcjox",
        "is_staff": True,
        "app": saleor.app_id,
        # The App holds HANDLE_PAYMENTS and MANAGE_ORDERS: the token gets what both hold.
        "permissions": ["MANAGE_ORDERS"],
        "user_permissions": ["MANAGE_APPS", "MANAGE_ORDERS"],
    }
    assert abs(claims["iat"] - time.time()) < 60


def test_a_token_for_another_app_or_user_without_permissions(saleor: SaleorServer) -> None:
    claims = verify(saleor, saleor.user_token([], app_id="QXBwOjI=", email="clerk@example.com"))

    assert (claims["app"], claims["email"]) == ("QXBwOjI=", "clerk@example.com")
    assert (claims["permissions"], claims["user_permissions"]) == ([], [])


def test_a_forged_token_does_not_verify(saleor: SaleorServer) -> None:
    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    with pytest.raises(jwt.InvalidSignatureError):
        verify(saleor, saleor.user_token(key=forger))


def test_an_expired_token_does_not_verify(saleor: SaleorServer) -> None:
    with pytest.raises(jwt.ExpiredSignatureError):
        verify(saleor, saleor.user_token(expires_in=-1))
