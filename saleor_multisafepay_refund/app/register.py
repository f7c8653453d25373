"""`POST /api/register`: Saleor hands the App its token when `appInstall` runs.

Taken only from a Saleor in APP_ALLOWED_SALEOR_URLS, and only once the token works against
that very Saleor and its keys can be read; then stored, sealed. Every refusal is a JSON error
Saleor shows to whoever installs (Saleor then removes the half-installed App).
"""

from __future__ import annotations

import json
import logging

from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, JsonResponse

from . import installations, saleor_api, trust
from .context import app_context
from .environment import normalized_api_url
from .manifest import APP_ID

logger = logging.getLogger(__name__)

APP_ID_QUERY = "{ app { id identifier } }"


def register(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    context = app_context()
    api_url = request.headers.get("Saleor-Api-Url", "")
    if not api_url:
        return _refused(400, "MISSING_SALEOR_API_URL", "The Saleor-Api-Url header is missing.")
    if normalized_api_url(api_url) not in context.environment.allowed_saleor_urls:
        return _refused(
            403,
            "SALEOR_URL_PROHIBITED",
            f"This App does not accept installations from {_shown(api_url)}: add it to "
            "APP_ALLOWED_SALEOR_URLS where the App runs.",
        )
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        body = None
    token = body.get("auth_token") if isinstance(body, dict) else None
    if not isinstance(token, str) or not token:
        return _refused(400, "MISSING_AUTH_TOKEN", "The request has no auth_token.")
    try:
        data = saleor_api.graphql(api_url, token, APP_ID_QUERY)
        app = data.get("app")
        app_id = app.get("id") if isinstance(app, dict) else None
        if not isinstance(app_id, str) or not app_id:
            raise saleor_api.SaleorApiError("Saleor did not say which App the token is for.")
        identifier = app.get("identifier") if isinstance(app, dict) else None
        if identifier != APP_ID:
            # Another App's token (anyone who can make an App in that Saleor has one): taking
            # it would hand this App's webhooks and refunds to that App.
            return _refused(
                403,
                "NOT_THIS_APP",
                f"The token is for the App {identifier!r}, not {APP_ID!r}: install this App "
                "from its manifest.",
            )
        jwks = saleor_api.fetch_jwks(api_url)
    except saleor_api.SaleorApiError as exc:
        return _refused(
            400, "SALEOR_CHECK_FAILED", f"The App could not confirm its token with Saleor: {exc}"
        )
    try:
        installations.install(api_url, app_id, token, jwks, context.sealer)
    except DatabaseError:
        logger.exception("The installation could not be stored")
        return _refused(503, "STORAGE_FAILED", "The App could not store its installation.")
    trust.forget_keys()
    logger.info("Installed in Saleor %s as App %s", normalized_api_url(api_url), app_id)
    return JsonResponse({"success": True})


def _shown(url: str) -> str:
    """A URL as messages show it: without any user or password it may carry."""
    try:
        return normalized_api_url(url)
    except ValueError:
        return "that URL"


def _refused(status: int, code: str, message: str) -> JsonResponse:
    logger.warning("Installation refused: %s", message)
    return JsonResponse(
        {"success": False, "error": {"code": code, "message": message}}, status=status
    )
