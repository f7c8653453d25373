"""The page's channel settings: the fields of `config.SETTINGS` as a form per Saleor channel,
saved and checked as `app configure` saves and checks them (`installations.configure`).

The API key is write-only: the form never carries it back, only whether one is stored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Dict, List, Mapping, Optional, Tuple

from ...config import SETTINGS, InvalidConfiguration, Setting
from ...multisafepay.site import SiteCheck, check_site
from .. import installations, saleor_api
from ..sealed import Sealer
from .staff import Staff

CHANNELS_QUERY = "{ channels { slug name currencyCode } }"
# Saleor's slugs; anything else in a URL is refused before the database sees it.
SLUG = re.compile(r"[A-Za-z0-9_-]{1,256}\Z")
# The check is one GET that changes nothing; the page waits for it.
CHECK_TIMEOUTS = (3.0, 10.0)


@dataclass(frozen=True)
class Channel:
    slug: str
    name: str
    currency: str


@dataclass(frozen=True)
class Field:
    setting: Setting
    id: str  # the element's id: unique on the page (one form per channel)
    value: str  # never the key
    error: str = ""


@dataclass(frozen=True)
class ChannelForm:
    channel: Channel
    fields: Tuple[Field, ...]
    configured: bool
    key_stored: bool
    saved: bool = False
    errors: Mapping[str, str] = field(default_factory=dict)


def saleor_channels(staff: Staff, sealer: Sealer) -> Tuple[List[Channel], str]:
    """That Saleor's channels (read with the App's token), and the configured ones it did not
    list; with a notice when Saleor could not be asked."""
    notice = ""
    channels: Dict[str, Channel] = {}
    try:
        data = saleor_api.graphql(
            staff.saleor_api_url, sealer.open(staff.installed.token_sealed), CHANNELS_QUERY
        )
        listed = data.get("channels")
        for item in listed if isinstance(listed, list) else []:
            if isinstance(item, dict) and SLUG.match(str(item.get("slug", ""))):
                slug = str(item["slug"])
                channels[slug] = Channel(
                    slug, str(item.get("name") or slug), str(item.get("currencyCode") or "")
                )
    except saleor_api.SaleorApiError as exc:
        notice = f"Saleor's channels could not be read ({exc}); configured channels are shown."
    for row in installations.configured_channels():
        if row.saleor_api_url == staff.saleor_api_url and row.channel_slug not in channels:
            channels[row.channel_slug] = Channel(row.channel_slug, row.channel_slug, "")
    return list(channels.values()), notice


def form(
    staff: Staff,
    channel: Channel,
    sealer: Sealer,
    typed: Optional[Mapping[str, str]] = None,
    errors: Mapping[str, str] = {},
    saved: bool = False,
) -> ChannelForm:
    """The channel's form: stored values, or what was `typed` when it is shown again with
    `errors` (the key never: it is typed again)."""
    stored = installations.channel_values(staff.saleor_api_url, channel.slug, sealer)
    # What was typed reads as it will be stored: an unticked box is "false", not the default.
    shown = (
        changes_of(typed)[0]
        if typed is not None
        else {k: str(v) for k, v in (stored or {}).items()}
    )
    fields = tuple(
        Field(
            setting,
            f"{channel.slug}-{setting.name}",
            "" if setting.kind == "secret" else str(shown.get(setting.name, "")),
            errors.get(setting.name, ""),
        )
        for setting in SETTINGS
    )
    return ChannelForm(
        channel,
        fields,
        configured=stored is not None,
        key_stored=bool(stored and stored.get("api_key")),
        saved=saved,
        errors=dict(errors),
    )


def changes_of(posted: Mapping[str, str]) -> Tuple[Dict[str, str], Optional[str]]:
    """A posted form as `configure`'s changes, and the key when one was typed. A checkbox that
    is not ticked is not posted at all: test mode is then off."""
    changes: Dict[str, str] = {}
    for setting in SETTINGS:
        if setting.kind == "secret":
            continue
        if setting.kind == "boolean":
            changes[setting.name] = "true" if posted.get(setting.name) else "false"
        else:
            changes[setting.name] = posted.get(setting.name, "").strip()
    key = posted.get("api_key", "").strip()
    return changes, key or None


def save(staff: Staff, slug: str, posted: Mapping[str, str], sealer: Sealer) -> Mapping[str, str]:
    """Store the channel's settings; the messages by field when they cannot be used (then
    nothing is stored)."""
    changes, key = changes_of(posted)
    try:
        installations.configure(staff.saleor_api_url, slug, changes, sealer, api_key=key)
    except InvalidConfiguration as exc:
        return exc.errors
    return {}


def check(staff: Staff, slug: str, posted: Mapping[str, str], sealer: Sealer) -> SiteCheck:
    """Whether MultiSafepay accepts the key, with the form's values as typed (saved or not)."""
    changes, key = changes_of(posted)
    try:
        config = installations.preview(staff.saleor_api_url, slug, changes, sealer, api_key=key)
    except InvalidConfiguration as exc:
        labels = {setting.name: setting.label for setting in SETTINGS}
        wrong = "; ".join(f"{labels.get(name, name)}: {text}" for name, text in exc.errors.items())
        return SiteCheck(False, f"Not checked: {wrong}")
    connect, read = CHECK_TIMEOUTS
    config = replace(config, connect_timeout=connect, read_timeout=read)
    with config.connected() as client:
        return check_site(client, config.environment)
