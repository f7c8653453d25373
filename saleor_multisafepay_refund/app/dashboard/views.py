"""The page's routes. `GET /app` is a shell with no data: the Dashboard hands the page its
token by message (App Bridge), and `static/dashboard.js` then asks `/api/dashboard/...` with it
for each part, rendered here as HTML. Every such request proves itself (`staff.py`); the
answers carry no API key and are never cached.
"""

from __future__ import annotations

import logging
from functools import wraps
from pathlib import Path
from typing import Callable, Dict, Mapping

from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
    HttpResponseNotFound,
)
from django.template.loader import render_to_string

from ..context import app_context
from . import channels, refunds
from .staff import CONFIGURE, SEE_REFUNDS, NotAllowed, Staff, staff

logger = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
STATIC_TYPES = {
    "dashboard.js": "text/javascript; charset=utf-8",
    "dashboard.css": "text/css; charset=utf-8",
}
# The page runs only our own script and styles, talks only to the App, and is framed by the
# Dashboard, wherever a shop hosts it (so any ancestor; nothing shows before the handshake).
POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; form-action 'none'; base-uri 'none'; frame-ancestors *"
)

# (request, staff, **the route's parts)
Handler = Callable[..., HttpResponse]


def app_page(request: HttpRequest) -> HttpResponse:
    if request.method != "GET":
        return HttpResponseNotAllowed(["GET"])
    response = HttpResponse(render_to_string("multisafepay/page.html"))
    response["Content-Security-Policy"] = POLICY
    return response


def static_file(request: HttpRequest, name: str) -> HttpResponse:
    content_type = STATIC_TYPES.get(name)
    if content_type is None:
        return HttpResponseNotFound("Not found.")
    response = HttpResponse((STATIC / name).read_bytes(), content_type=content_type)
    response["Cache-Control"] = "no-cache"  # a new version of the App brings new files
    return response


def api(*methods: str) -> Callable[[Handler], Callable[..., HttpResponse]]:
    """A route of the page's API: only `methods`, only for staff of an installed Saleor."""

    def wrap(handler: Handler) -> Callable[..., HttpResponse]:
        @wraps(handler)
        def view(request: HttpRequest, **kwargs: str) -> HttpResponse:
            if request.method not in methods:
                return HttpResponseNotAllowed(list(methods))
            try:
                who = staff(request.headers)
                response = handler(request, who, **kwargs)
            except NotAllowed as refused:
                response = _fragment("refused.html", {"message": str(refused)}, refused.status)
            response["Cache-Control"] = "no-store"
            return response

        return view

    return wrap


@api("GET")
def page(request: HttpRequest, who: Staff) -> HttpResponse:
    """Everything the user may see, at once."""
    context: Dict[str, object] = {
        "who": who,
        "may_configure": who.may(CONFIGURE),
        "may_see_refunds": who.may(SEE_REFUNDS),
        "configure": CONFIGURE,
        "see_refunds": SEE_REFUNDS,
    }
    if not (context["may_configure"] or context["may_see_refunds"]):
        raise NotAllowed(
            403,
            f"Your Saleor account needs {CONFIGURE} (the settings) or {SEE_REFUNDS} (the "
            "refunds) to use this App. Ask a Saleor administrator.",
        )
    sealer = app_context().sealer
    if context["may_configure"]:
        found, notice = channels.saleor_channels(who, sealer)
        context["forms"] = [channels.form(who, channel, sealer) for channel in found]
        context["notice"] = notice
    if context["may_see_refunds"]:
        context.update(_refunds_context(who, ""))
    return _fragment("body.html", context)


@api("POST")
def channel_save(request: HttpRequest, who: Staff, slug: str) -> HttpResponse:
    who.require(CONFIGURE)
    channel = _channel(who, slug)
    sealer = app_context().sealer
    posted = _posted(request)
    errors = channels.save(who, channel.slug, posted, sealer)
    if errors:
        form = channels.form(who, channel, sealer, typed=posted, errors=errors)
        return _fragment("channel.html", {"form": form}, 400)
    logger.info("Channel %s of %s configured on the App's page", slug, who.saleor_api_url)
    return _fragment("channel.html", {"form": channels.form(who, channel, sealer, saved=True)})


@api("POST")
def channel_check(request: HttpRequest, who: Staff, slug: str) -> HttpResponse:
    who.require(CONFIGURE)
    channel = _channel(who, slug)
    result = channels.check(who, channel.slug, _posted(request), app_context().sealer)
    return _fragment("check.html", {"slug": channel.slug, "check": result})


@api("GET")
def refunds_list(request: HttpRequest, who: Staff) -> HttpResponse:
    who.require(SEE_REFUNDS)
    return _fragment("refunds.html", _refunds_context(who, request.GET.get("order", "")))


def _refunds_context(who: Staff, order: str) -> Dict[str, object]:
    order = order.strip()[:64]
    return {
        "order": order,
        "rows": refunds.rows(who, order),
        "comparisons": refunds.compare(who, order, app_context().sealer) if order else [],
        "limit": refunds.LIMIT,
    }


def _channel(who: Staff, slug: str) -> channels.Channel:
    """The channel, as Saleor lists it (or as configured before)."""
    if not channels.SLUG.match(slug):
        raise NotAllowed(404, "No such channel.")
    found, _ = channels.saleor_channels(who, app_context().sealer)
    for channel in found:
        if channel.slug == slug:
            return channel
    raise NotAllowed(404, f"Saleor has no channel {slug}.")


def _posted(request: HttpRequest) -> Mapping[str, str]:
    return {name: request.POST.get(name, "") for name in request.POST}


def _fragment(template: str, context: Mapping[str, object], status: int = 200) -> HttpResponse:
    return HttpResponse(
        render_to_string(f"multisafepay/{template}", dict(context)),
        status=status,
        content_type="text/html; charset=utf-8",
    )
