"""The App's routes."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, JsonResponse
from django.urls import path

from . import manifest
from .context import app_context
from .dashboard import views
from .notifications import notification
from .register import register
from .webhooks import fulfilled, refund, sessions
from .webhooks.base import webhook_view
from .webhooks.order_actions import CANCEL, CHARGE
from .webhooks.payload import action_requested
from .webhooks.session_payload import gateway_requested, session_requested
from .webhooks.sessions import NOTIFICATION_PATH


def manifest_view(request: HttpRequest) -> HttpResponse:
    if request.method != "GET":
        return HttpResponseNotAllowed(["GET"])
    return JsonResponse(manifest.manifest(app_context().environment.public_url))


urlpatterns = [
    path("api/manifest", manifest_view),
    path(NOTIFICATION_PATH.lstrip("/"), notification),
    path("api/register", register),
    path("app", views.app_page),
    path("app/static/<str:name>", views.static_file),
    path("api/dashboard/page", views.page),
    path("api/dashboard/channels/<str:slug>", views.channel_save),
    path("api/dashboard/channels/<str:slug>/check", views.channel_check),
    path("api/dashboard/refunds", views.refunds_list),
    path(
        manifest.REFUND_REQUESTED.path.lstrip("/"),
        webhook_view(action_requested, refund.refund_requested, refund.failure),
    ),
    path(
        manifest.CHARGE_REQUESTED.path.lstrip("/"),
        webhook_view(action_requested, CHARGE, CHARGE.failure),
    ),
    path(
        manifest.CANCELATION_REQUESTED.path.lstrip("/"),
        webhook_view(action_requested, CANCEL, CANCEL.failure),
    ),
    path(
        manifest.GATEWAY_INITIALIZE.path.lstrip("/"),
        webhook_view(gateway_requested, sessions.gateway_initialize, sessions.gateway_failure),
    ),
    path(
        manifest.INITIALIZE_SESSION.path.lstrip("/"),
        webhook_view(session_requested, sessions.initialize, sessions.failure),
    ),
    path(
        manifest.PROCESS_SESSION.path.lstrip("/"),
        webhook_view(session_requested, sessions.process, sessions.failure),
    ),
    path(
        manifest.ORDER_FULFILLED.path.lstrip("/"),
        webhook_view(fulfilled.order_fulfilled, fulfilled.ship, fulfilled.failure),
    ),
]
