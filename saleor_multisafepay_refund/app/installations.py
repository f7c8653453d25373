"""The Saleors that installed the App, and the settings of their channels (the App's storage)."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Dict, List, Mapping, Optional, Tuple

from django.db import transaction

from ..config import GatewayConfig, parse_configuration
from .environment import normalized_api_url
from .models import ChannelSettings, Installation
from .sealed import Sealer

# Where staff change the App's settings, said in a refusal caused by them.
SETTINGS_PLACE = "the App's settings (`python -m saleor_multisafepay_refund app configure`)"
# What staff run to decide a refund the ledger cannot (`app refunds`, cli.py).
SUPPORT_COMMAND = "python -m saleor_multisafepay_refund app refunds --order {msp_order}"
# Saleor waits 18 s for a sync webhook's answer. A refund makes at most three calls to
# MultiSafepay (GET the order, POST the refund, GET it back when the answer is lost), each tried
# once and within these: 3 x 5 s, plus at most 1.5 s for the transaction's lock (locks.py). A
# refund MultiSafepay is slower to answer is answered pending and reported once it shows.
CONNECT_TIMEOUT = 2.0
READ_TIMEOUT = 3.0
GET_ATTEMPTS = 1
# The plugin's configuration fields the App stores as text (the API key apart, sealed).
FIELDS = (
    "test_mode",
    "api_url",
    "merchant_item_id_source",
    "shipping_item_id",
    "sign_conventions",
    "refund_description",
    "rounding_tolerance",
)


@dataclass(frozen=True)
class Installed:
    """One Saleor the App is installed in."""

    saleor_api_url: str
    app_id: str
    token_sealed: str
    jwks: Mapping[str, object]
    jwks_fetched_at: float

    def __repr__(self) -> str:
        return f"Installed({self.saleor_api_url!r}, app_id={self.app_id!r})"


def find(saleor_api_url: str) -> Optional[Installed]:
    row = Installation.objects.filter(saleor_api_url=normalized_api_url(saleor_api_url)).first()
    if row is None:
        return None
    return Installed(
        row.saleor_api_url, row.app_id, row.token_encrypted, row.jwks, row.jwks_fetched_at
    )


def install(
    saleor_api_url: str, app_id: str, token: str, jwks: Mapping[str, object], sealer: Sealer
) -> None:
    """Store (or, for a reinstall, replace) the installation of one Saleor."""
    now = time.time()
    Installation.objects.update_or_create(
        saleor_api_url=normalized_api_url(saleor_api_url),
        defaults={
            "app_id": app_id,
            "token_encrypted": sealer.seal(token),
            "jwks": dict(jwks),
            "jwks_fetched_at": now,
            "installed_at": now,
        },
    )


def keep_jwks(saleor_api_url: str, jwks: Mapping[str, object]) -> None:
    Installation.objects.filter(saleor_api_url=normalized_api_url(saleor_api_url)).update(
        jwks=dict(jwks), jwks_fetched_at=time.time()
    )


def channel_values(
    saleor_api_url: str, channel_slug: str, sealer: Sealer
) -> Optional[Dict[str, object]]:
    """The channel's configuration values, key opened; None when it was never configured."""
    row = _settings(saleor_api_url, channel_slug)
    if row is None:
        return None
    values: Dict[str, object] = {name: row.values.get(name, "") for name in FIELDS}
    values["api_key"] = sealer.open(row.api_key_encrypted)
    return values


def channel_config(
    saleor_api_url: str, channel_slug: str, sealer: Sealer
) -> Optional[GatewayConfig]:
    """The channel's GatewayConfig, read per request (a change needs no restart); None when not
    configured; InvalidConfiguration when it cannot be used."""
    values = channel_values(saleor_api_url, channel_slug, sealer)
    if values is None:
        return None
    config = parse_configuration(values)
    return replace(
        config,
        settings_place=SETTINGS_PLACE,
        support_command=SUPPORT_COMMAND,
        connect_timeout=CONNECT_TIMEOUT,
        read_timeout=READ_TIMEOUT,
        get_attempts=GET_ATTEMPTS,
    )


def configure(
    saleor_api_url: str,
    channel_slug: str,
    changes: Mapping[str, str],
    sealer: Sealer,
    api_key: Optional[str] = None,
) -> GatewayConfig:
    """Apply `changes` (field -> text; "" resets to the default) and, when given, the key;
    checked as the plugin checks its configuration before anything is stored."""
    with transaction.atomic():
        row = _settings(saleor_api_url, channel_slug, for_update=True)
        values, key = _merged(row, changes, sealer, api_key)
        config = parse_configuration({**values, "api_key": key})
        ChannelSettings.objects.update_or_create(
            saleor_api_url=normalized_api_url(saleor_api_url),
            channel_slug=channel_slug,
            defaults={
                "values": values,
                "api_key_encrypted": sealer.seal(api_key)
                if api_key is not None
                else (row.api_key_encrypted if row is not None else ""),
                "updated_at": time.time(),
            },
        )
    return config


def preview(
    saleor_api_url: str,
    channel_slug: str,
    changes: Mapping[str, str],
    sealer: Sealer,
    api_key: Optional[str] = None,
) -> GatewayConfig:
    """What `configure` would put in effect, nothing stored (to try a key before saving it)."""
    values, key = _merged(_settings(saleor_api_url, channel_slug), changes, sealer, api_key)
    return parse_configuration({**values, "api_key": key})


def _settings(
    saleor_api_url: str, channel_slug: str, for_update: bool = False
) -> Optional[ChannelSettings]:
    rows = ChannelSettings.objects.filter(
        saleor_api_url=normalized_api_url(saleor_api_url), channel_slug=channel_slug
    )
    row: Optional[ChannelSettings] = (rows.select_for_update() if for_update else rows).first()
    return row


def _merged(
    row: Optional[ChannelSettings],
    changes: Mapping[str, str],
    sealer: Sealer,
    api_key: Optional[str],
) -> Tuple[Dict[str, object], str]:
    """The stored values with `changes` applied, and the key (the stored one unless given)."""
    values: Dict[str, object] = dict(row.values) if row is not None else {}
    values.update({name: value for name, value in changes.items() if name in FIELDS})
    if api_key is not None:
        return values, api_key
    return values, sealer.open(row.api_key_encrypted) if row is not None else ""


def configured_channels() -> List[ChannelSettings]:
    return list(ChannelSettings.objects.order_by("saleor_api_url", "channel_slug"))
