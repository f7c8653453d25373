"""The App's only HTTP to Saleor: its GraphQL API (with the App's token) and its public keys.

No redirects (a token never follows one elsewhere), short timeouts, and the token is never in
a message.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Mapping, Optional, Tuple
from urllib.parse import urlsplit

import requests

from ..errors import MultiSafepayRefundError

TIMEOUT = (3.0, 15.0)


class SaleorApiError(MultiSafepayRefundError):
    """Saleor could not be asked, or did not answer as expected."""


def jwks_url(saleor_api_url: str) -> str:
    """Saleor serves its keys at its origin's /.well-known/jwks.json (never with a user or
    password the API URL might carry: the URL goes into messages)."""
    parts = urlsplit(saleor_api_url)
    return f"{parts.scheme}://{_origin(saleor_api_url)}/.well-known/jwks.json"


def fetch_jwks(saleor_api_url: str, timeout: Tuple[float, float] = TIMEOUT) -> Mapping[str, object]:
    url = jwks_url(saleor_api_url)
    try:
        response = requests.get(url, timeout=timeout, allow_redirects=False)
    except requests.RequestException as exc:
        raise SaleorApiError(
            f"Saleor's keys at {url} could not be read ({type(exc).__name__})."
        ) from None
    keys = _json(response, url)
    if not isinstance(keys, dict) or not isinstance(keys.get("keys"), list):
        raise SaleorApiError(
            f"Saleor's keys at {url} are not a JWKS (HTTP {response.status_code})."
        )
    return keys


def graphql(
    saleor_api_url: str,
    token: str,
    query: str,
    variables: Optional[Mapping[str, object]] = None,
) -> Mapping[str, object]:
    """`data` of one GraphQL request as the App; errors raise SaleorApiError."""
    try:
        response = requests.post(
            saleor_api_url,
            json={"query": query, "variables": dict(variables or {})},
            headers={"Authorization": f"Bearer {token}"},
            timeout=TIMEOUT,
            allow_redirects=False,
        )
    except requests.RequestException as exc:
        raise SaleorApiError(
            f"Saleor at {_shown(saleor_api_url)} could not be reached ({type(exc).__name__})."
        ) from None
    body = _json(response, _shown(saleor_api_url))
    if not isinstance(body, dict):
        raise SaleorApiError(f"Saleor answered HTTP {response.status_code} without JSON.")
    errors = body.get("errors")
    if errors:
        messages = [str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in errors]
        raise SaleorApiError("Saleor refused the request: " + "; ".join(messages))
    data = body.get("data")
    if not isinstance(data, dict):
        raise SaleorApiError(f"Saleor answered HTTP {response.status_code} without data.")
    return data


def _origin(url: str) -> str:
    """host[:port] of `url`, without the user and password it may hold."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host  # an IPv6 address
    return f"{host}:{parts.port}" if parts.port else host


def _shown(url: str) -> str:
    """`url` as messages show it: no credentials."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{_origin(url)}{parts.path}"


def _json(response: requests.Response, url: str) -> object:
    try:
        # Amounts exact: Saleor writes money as JSON numbers.
        return json.loads(response.content, parse_float=Decimal) if response.content else None
    except ValueError:
        raise SaleorApiError(f"{url} answered HTTP {response.status_code}, not JSON.") from None
