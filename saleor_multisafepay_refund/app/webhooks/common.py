"""What the transaction webhooks share: the channel's configuration, the failure answer."""

from __future__ import annotations

from decimal import Decimal
from typing import Dict, Union

from ...config import GatewayConfig, InvalidConfiguration
from .. import installations
from ..context import AppContext
from ..installations import Installed
from .payload import ActionRequested


def failure(result: str, amount: Decimal, message: str) -> Dict[str, object]:
    """A failure `result` with the message staff read (Saleor keeps 512 characters); Saleor 3.20
    refuses a result without an amount: the amount asked."""
    return {"result": result, "amount": amount, "message": message[:512]}


def channel_config(
    context: AppContext, installed: Installed, event: ActionRequested, what: str
) -> Union[GatewayConfig, str]:
    """The channel's configuration, or why `what` cannot be done (the message)."""
    transaction = event.transaction
    if not transaction.psp_reference:
        return (
            f"MultiSafepay {what} not sent: this transaction has no pspReference (the "
            "MultiSafepay order id): it was not paid through this App's MultiSafepay."
        )
    return settings_of(context, installed, transaction.channel_slug, what)


def settings_of(
    context: AppContext, installed: Installed, channel: str, what: str
) -> Union[GatewayConfig, str]:
    """The configuration of `channel`, or why `what` cannot be done (the message)."""
    if not channel:
        return (
            f"MultiSafepay {what} not sent: the transaction has neither an order nor a checkout "
            "to tell its channel, whose settings the App needs."
        )
    try:
        config = installations.channel_config(installed.saleor_api_url, channel, context.sealer)
    except InvalidConfiguration as exc:
        return (
            f"MultiSafepay {what} not sent: the settings of channel {channel!r} cannot be used "
            f"({exc}). Fix them in {installations.SETTINGS_PLACE}."
        )
    if config is None:
        return (
            f"MultiSafepay {what} not sent: channel {channel!r} is not configured. Set its "
            f"MultiSafepay API key in {installations.SETTINGS_PLACE}."
        )
    return config
