"""The Saleor plugin: configuration and thin hooks. Saleor's data becomes our asks in
`asks.py`; the work is in `refunds/`, `payments/` and `payments/notifications.py`.

Imported by Saleor only (through the `saleor.plugins` entry point): it needs Saleor and Django.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any, Callable, ClassVar, Dict, List, Optional, cast

from django.core.exceptions import ValidationError
from django.http import HttpResponse, HttpResponseNotFound
from saleor.payment.interface import GatewayResponse
from saleor.plugins.base_plugin import BasePlugin, ConfigurationTypeField

from ..answers import ACTION_TO_CONFIRM, CAPTURE, VOID, GatewayAnswer, failure
from ..config import (
    SETTINGS,
    GatewayConfig,
    InvalidConfiguration,
    Setting,
    configuration_values,
    parse_configuration,
)
from ..multisafepay.methods import CART_GATEWAYS
from ..payments import flow as payments
from ..payments.ask import PaymentAsk
from ..payments.notifications import handle_notification
from . import asks, saleor_side
from .kept_sessions import refund_session
from .ledger_store import SaleorLedger
from .order_history import write_order_note
from .records import record_after_commit

PLUGIN_ID = "multisafepay"
NOTIFICATION_URL = "notification_url"
# The fields are the core's (config.SETTINGS, which the App's page shows too); Saleor's
# Dashboard draws a "choice" as text: it checks the value on save.
_FIELD_TYPES = {
    "secret": ConfigurationTypeField.SECRET,
    "boolean": ConfigurationTypeField.BOOLEAN,
    "text": ConfigurationTypeField.STRING,
    "choice": ConfigurationTypeField.STRING,
    "multiline": ConfigurationTypeField.MULTILINE,
}


def _default(setting: Setting) -> object:
    """A field's default as Saleor stores it: no key yet, a boolean as a boolean."""
    if setting.kind == "secret":
        return None
    if setting.kind == "boolean":
        return setting.default == "true"
    return setting.default


logger = logging.getLogger(__name__)


class MultiSafepayPlugin(BasePlugin):
    PLUGIN_ID = PLUGIN_ID
    PLUGIN_NAME = "MultiSafepay"
    PLUGIN_DESCRIPTION = (
        "Payments through MultiSafepay's payment page, with the order's items for Pay After "
        "Delivery, Klarna, in3, Riverty and the other buy-now-pay-later methods; refunds by "
        "product for those methods, by amount for the rest."
    )
    CONFIGURATION_PER_CHANNEL = True
    DEFAULT_ACTIVE = False
    DEFAULT_CONFIGURATION: ClassVar[List[Dict[str, Any]]] = [
        *({"name": setting.name, "value": _default(setting)} for setting in SETTINGS),
        {"name": NOTIFICATION_URL, "value": ""},
    ]
    CONFIG_STRUCTURE: ClassVar[Dict[str, Dict[str, Any]]] = {
        **{
            setting.name: {
                "type": _FIELD_TYPES[setting.kind],
                "label": setting.label,
                "help_text": setting.help_text,
            }
            for setting in SETTINGS
        },
        NOTIFICATION_URL: {
            "type": ConfigurationTypeField.OUTPUT,
            "label": "Notification URL",
            "help_text": (
                "Sent with every payment, so MultiSafepay needs no setting for it: its "
                "notifications of payments, shipments and refunds arrive here."
            ),
        },
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        channel = kwargs.get("channel")
        if channel is not None and "configuration" in kwargs:
            # A read-only field: shown in the Dashboard, never saved (Saleor drops OUTPUT values).
            url = saleor_side.notification_url(PLUGIN_ID, channel.slug)
            kwargs["configuration"] = [
                item for item in kwargs["configuration"] if item.get("name") != NOTIFICATION_URL
            ] + [{"name": NOTIFICATION_URL, "value": url}]
        super().__init__(*args, **kwargs)
        # Built once per plugin instance; Saleor builds instances per request, so keep it cheap.
        self._config: Optional[GatewayConfig] = None

    @property
    def config(self) -> GatewayConfig:
        if self._config is None:
            values = configuration_values(self.configuration)
            self._config = _parsed(values, require_api_key=False)
        return self._config

    @classmethod
    def validate_plugin_configuration(cls, plugin_configuration: Any, **kwargs: Any) -> None:
        values = configuration_values(plugin_configuration.configuration)
        try:
            parse_configuration(values, require_api_key=bool(plugin_configuration.active))
        except InvalidConfiguration as exc:
            raise ValidationError(
                {
                    name: ValidationError(message, code="invalid")
                    for name, message in exc.errors.items()
                }
            ) from None

    def refund_payment(self, payment_information: Any, previous_value: Any) -> Any:
        if not self.active:
            return previous_value
        try:
            config = self.config
            session = refund_session(config.base_url, config.api_key)
            answer = asks.refund_payment(config, payment_information, SaleorLedger(), session)
        except InvalidConfiguration as exc:
            answer = asks.refuse_unconfigured(payment_information, exc)
        _record(payment_information, answer)
        record_after_commit(payment_information.payment_id, answer.unrecorded)
        return _gateway_response(answer)

    # -- payments (Saleor's legacy checkout flow) ----------------------------------------

    def get_supported_currencies(self, previous_value: Any) -> List[str]:
        # Per channel: the channel's currency (MultiSafepay's methods each limit it further).
        return [self.channel.currency_code] if self.channel is not None else []

    def get_payment_config(self, previous_value: Any) -> List[Dict[str, Any]]:
        try:
            test_mode = self.config.test_mode
        except InvalidConfiguration:
            # A bad stored value must not break the channel's list of payment gateways.
            test_mode = True
        return [
            {"field": "test_mode", "value": str(test_mode).lower()},
            {"field": "cart_methods", "value": ",".join(sorted(CART_GATEWAYS))},
        ]

    def token_is_required_as_payment_input(self, previous_value: Any) -> bool:
        return False  # the customer pays on MultiSafepay's page: no token from the storefront

    def process_payment(self, payment_information: Any, previous_value: Any) -> Any:
        if not self.active:
            return previous_value
        slug = self.channel.slug if self.channel is not None else ""
        return self._payment(
            lambda config, ask: payments.process_payment(
                config,
                ask,
                saleor_side.payment_context(payment_information, PLUGIN_ID, slug),
            ),
            payment_information,
            ACTION_TO_CONFIRM,
        )

    def confirm_payment(self, payment_information: Any, previous_value: Any) -> Any:
        if not self.active:
            return previous_value
        return self._payment(
            lambda config, ask: payments.confirm_payment(
                config,
                ask,
                checkout=saleor_side.checkout_totals(payment_information),
            ),
            payment_information,
            ACTION_TO_CONFIRM,
        )

    def capture_payment(self, payment_information: Any, previous_value: Any) -> Any:
        if not self.active:
            return previous_value
        return self._payment(
            payments.capture_payment,
            payment_information,
            CAPTURE,
        )

    def void_payment(self, payment_information: Any, previous_value: Any) -> Any:
        if not self.active:
            return previous_value
        return self._payment(
            payments.void_payment,
            payment_information,
            VOID,
        )

    def order_fulfilled(self, order: Any, previous_value: Any, webhooks: Any = None) -> Any:
        """Ship (capture) a buy-now-pay-later payment once the whole order is fulfilled."""
        if self.active and self.channel is not None:
            try:
                saleor_side.capture_fulfilled(order, self.channel.slug, PLUGIN_ID)
            except Exception:
                logger.exception("MultiSafepay capture on fulfilment stopped on an error")
        return previous_value

    def webhook(self, request: Any, path: str, previous_value: Any) -> HttpResponse:
        """MultiSafepay's notifications: /plugins/channel/<slug>/multisafepay/notification."""
        if not self.active or self.channel is None:
            return cast(HttpResponse, previous_value)
        # Saleor cuts `path` at the first "multisafepay" of the URL, which a channel slug may
        # contain too: the request's own path says where it was sent.
        expected = f"/{PLUGIN_ID}/{saleor_side.NOTIFICATION_PATH}"
        if not request.path.rstrip("/").endswith(expected):
            return HttpResponseNotFound()
        if request.method != "POST":
            return HttpResponse("POST only", status=405, content_type="text/plain")
        try:
            config = self._usable_config()
        except InvalidConfiguration:
            return HttpResponse("Not configured", status=503, content_type="text/plain")
        # No transaction around it: completing a checkout runs Saleor's own transactions (it
        # releases the stock rows before the payment call), and each change Saleor's side
        # makes locks the payment itself and is made once; a notification sent again after a
        # 503 finds what was done and goes on from there.
        answer = handle_notification(
            config,
            request.body,
            request.headers.get("Auth"),
            {key: request.GET.get(key, "") for key in request.GET},
            saleor_side.SaleorPayments(PLUGIN_ID, self.channel.slug),
            SaleorLedger(),
        )
        logger.info("MultiSafepay notification: %s %s", answer.status, ", ".join(answer.actions))
        return HttpResponse(answer.body, status=answer.status, content_type="text/plain")

    def _usable_config(self) -> GatewayConfig:
        values = configuration_values(self.configuration)
        return _parsed(values, require_api_key=True)

    def _payment(
        self,
        flow: Callable[[GatewayConfig, PaymentAsk], GatewayAnswer],
        payment_information: Any,
        kind: str,
    ) -> GatewayResponse:
        try:
            answer = flow(self._usable_config(), asks.payment_ask(payment_information))
        except InvalidConfiguration as exc:
            answer = failure(
                asks.bare_payment_ask(payment_information),
                "",
                f"MultiSafepay cannot be used: the plugin's configuration is incomplete ({exc}).",
                kind,
            )
        except Exception:
            # Saleor turns an exception into an internal error and loses the reason.
            logger.exception("MultiSafepay payment stopped on an unexpected error")
            answer = failure(
                asks.bare_payment_ask(payment_information),
                "",
                "MultiSafepay stopped on an unexpected error: check the order in MultiSafepay's "
                "dashboard before trying again.",
                kind,
            )
        return _gateway_response(answer)


def _parsed(values: Dict[str, object], require_api_key: bool) -> GatewayConfig:
    """The configuration, and where staff change it: said when it stops a refund."""
    config = parse_configuration(values, require_api_key=require_api_key)
    return replace(config, settings_place=asks.SETTINGS_PLACE)


def _record(payment_information: Any, answer: GatewayAnswer) -> None:
    """The answer's note in the order's history."""
    # Saleor passes str(None) for a payment without an order (a failed checkout).
    if payment_information.order_id in (None, "", "None"):
        return
    try:
        # A refusal or failure must outlive Saleor's rollback; a made refund's note commits
        # with Saleor's record of it (cheaper inside the transaction).
        write_order_note(payment_information.order_id, answer.note, outside=not answer.is_success)
    except Exception:
        # The refund's answer matters more than its note: never let the note break it.
        logger.exception("Could not write the MultiSafepay refund note to the order's history")


def _gateway_response(answer: GatewayAnswer) -> GatewayResponse:
    raw: Dict[str, str] = dict(answer.raw_response)
    return GatewayResponse(
        is_success=answer.is_success,
        action_required=answer.action_required,
        action_required_data=dict(answer.action_required_data or {}),
        transaction_already_processed=answer.transaction_already_processed,
        kind=answer.kind,
        amount=answer.amount,
        currency=answer.currency,
        transaction_id=answer.transaction_id,
        error=answer.error,
        raw_response=raw,
        psp_reference=answer.psp_reference,
    )


__all__: List[str] = ["PLUGIN_ID", "MultiSafepayPlugin"]
