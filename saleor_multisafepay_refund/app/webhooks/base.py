"""Every Saleor webhook goes through here: trust first, then the event's use case, and an
answer Saleor can record, never a crash.

Saleor retries a sync webhook only after a 5xx (and its circuit breaker may switch an App's
payment webhooks off after repeated errors), so anything the App can explain (not configured,
missing data, MultiSafepay down) is a 200 with a failure result and a message. 401: not proven
to come from an installed Saleor (nothing read further). 503: only when nothing was done and a
retry can help (the App's own database unreachable).
"""

from __future__ import annotations

import logging
from typing import Callable, Mapping, Protocol, TypeVar

from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed

from ...multisafepay import wire
from .. import installations, trust
from ..context import AppContext, app_context
from ..installations import Installed
from .payload import BadPayload

logger = logging.getLogger(__name__)


class Event(Protocol):
    """What every event read from a payload has: the App it is for."""

    @property
    def recipient_id(self) -> str: ...


E = TypeVar("E", bound=Event)


def webhook_view(
    read: Callable[[object], E],
    use_case: Callable[[AppContext, Installed, E], Mapping[str, object]],
    failure: Callable[[E, str], Mapping[str, object]],
) -> Callable[[HttpRequest], HttpResponse]:
    """The Django view of one sync webhook: `read` turns the payload into the event,
    `use_case` answers it, `failure` answers it when the use case stops on an error."""

    def view(request: HttpRequest) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        body = request.body  # the raw bytes the signature covers, before any parsing
        api_url = request.headers.get("Saleor-Api-Url", "")
        try:
            installed = installations.find(api_url) if api_url else None
        except DatabaseError:
            logger.exception("The App's database cannot be read")
            return HttpResponse("The App's database is unavailable.", status=503)
        if installed is None:
            return _refused("the App is not installed in this Saleor")
        try:
            trust.verify_webhook(installed, body, request.headers.get("Saleor-Signature", ""))
        except trust.Untrusted as exc:
            return _refused(str(exc))
        if not body:
            # Saleor (3.20 to main) retries a webhook after a 5xx with an empty, signed body:
            # its payload file was rewritten from an empty column. Nothing says which refund.
            logger.warning("Saleor sent a webhook without its content (a retry after a 5xx)")
            return HttpResponse(
                "MultiSafepay App: Saleor sent this request again without its content (it does "
                "so after an error). Check the order in MultiSafepay's dashboard, then send it "
                "again: a refund is never made twice.",
                status=200,
                content_type="text/plain",
            )
        try:
            event = read(wire.loads(body))
        except (BadPayload, ValueError) as exc:
            # Signed by Saleor, yet not what the subscription asks for: nothing can be done.
            logger.warning("A webhook without the data the App asks for: %s", exc)
            return HttpResponse(f"MultiSafepay App: {exc}", status=200, content_type="text/plain")
        if event.recipient_id != installed.app_id:
            return _refused("the webhook is for another App")
        try:
            answer = use_case(app_context(), installed, event)
        except DatabaseError:
            logger.exception("The App's database failed while answering a webhook")
            return HttpResponse("The App's database is unavailable.", status=503)
        except Exception:
            logger.exception("The App stopped on an unexpected error")
            answer = failure(
                event,
                "The MultiSafepay App stopped on an unexpected error (its log says which): "
                "check the order in MultiSafepay's dashboard before trying again.",
            )
        return HttpResponse(wire.dumps(dict(answer)), content_type="application/json")

    return view


def _refused(reason: str) -> HttpResponse:
    logger.warning("Webhook refused: %s", reason)
    return HttpResponse(f"Unauthorized: {reason}.", status=401, content_type="text/plain")
