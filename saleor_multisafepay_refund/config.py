"""The plugin's configuration, read once into a typed object, with a message per bad field.

Pure: Saleor's configuration arrives as a list of {"name", "value"} items; `plugin/hooks.py` turns
the field messages into Django's ValidationError.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum
from typing import TYPE_CHECKING, Dict, Iterable, Iterator, Mapping, Optional, Tuple

from .errors import SETTINGS_PLACE, ConfigurationError
from .multisafepay.client import LIVE_API_URL, TEST_API_URL, MultiSafepayClient, check_api_url
from .multisafepay.methods import GATEWAY_CODE, SignConvention
from .multisafepay.money import parse_decimal
from .multisafepay.refund_body import SHIPPING_ITEM_ID

if TYPE_CHECKING:
    import requests


# How long MultiSafepay may take to show a refund whose answer was lost. Until then, a refund
# not (yet) in the order cannot be called failed.
SETTLE_AFTER_SECONDS = 60.0


class ItemIdSource(str, Enum):
    """Which value of a shop's line is the merchant_item_id in MultiSafepay's cart
    (`payments/item_ids.py`)."""

    SKU = "sku"  # the product SKU, else the product variant's ID
    VARIANT_ID = "variant_id"  # always the product variant's ID


# The largest rounding_tolerance: a refund may differ from Saleor's amount by rounding, no more.
MAX_TOLERANCE = Decimal("1.00")


@dataclass(frozen=True)
class GatewayConfig:
    api_key: str
    test_mode: bool = True
    api_url: str = ""
    merchant_item_id_source: ItemIdSource = ItemIdSource.SKU
    shipping_item_id: str = SHIPPING_ITEM_ID
    sign_conventions: Mapping[str, SignConvention] = field(default_factory=dict)
    refund_description: str = ""
    rounding_tolerance: Decimal = Decimal("0.01")
    # Not configuration fields: how long a refund may take before it is settled by reading
    # the order back, and how long a refund whose answer was lost may take to show up at
    # MultiSafepay before it counts as not made.
    read_timeout: float = 30.0
    settle_after_seconds: float = SETTLE_AFTER_SECONDS
    connect_timeout: float = 5.0
    # How often a GET (reading an order, which changes nothing) is tried on a dropped connection.
    get_attempts: int = 3
    # Where staff change these settings, in the words of the door that built them: said in a
    # refusal caused by them.
    settings_place: str = SETTINGS_PLACE
    # The command staff run to decide a refund the ledger cannot, in the door's words; filled
    # with `saleor_order` (Saleor's order) and `msp_order` (MultiSafepay's order id).
    support_command: str = "python manage.py multisafepay_refunds --order {saleor_order}"

    @property
    def in_flight_seconds(self) -> float:
        """How long a refund may still be on its way: its POST and its read-back, each within
        the client's timeouts. A PENDING entry younger than this is being sent right now."""
        return 2 * (self.connect_timeout + self.read_timeout)

    def __repr__(self) -> str:
        # The dataclass repr would show the key.
        return f"GatewayConfig(base_url={self.base_url!r}, test_mode={self.test_mode})"

    @property
    def base_url(self) -> str:
        if self.api_url:
            return self.api_url
        return TEST_API_URL if self.test_mode else LIVE_API_URL

    @property
    def environment(self) -> str:
        """Which MultiSafepay this configuration talks to, in words."""
        if self.api_url:
            return f"The MultiSafepay API at {self.api_url}"
        return "MultiSafepay's " + ("test" if self.test_mode else "live") + " environment"

    @contextmanager
    def connected(self, session: Optional[requests.Session] = None) -> Iterator[MultiSafepayClient]:
        """`client(session)` for one piece of work, closed afterwards unless the session is
        the caller's (its GETs, PATCHes and POSTs then share one connection)."""
        client = self.client(session)
        try:
            yield client
        finally:
            if session is None:
                client.close()

    def client(self, session: Optional[requests.Session] = None) -> MultiSafepayClient:
        """A client for this configuration; without a session, one of its own."""
        return MultiSafepayClient(
            self.api_key,
            base_url=self.base_url,
            session=session,
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
            get_attempts=self.get_attempts,
        )


@dataclass(frozen=True)
class Setting:
    """One configuration field as staff see it, the same in both doors (the plugin's
    configuration in Saleor's Dashboard, the App's page): its name, label, help and kind."""

    name: str
    label: str
    help_text: str
    kind: str  # "secret", "boolean", "text", "multiline" or "choice"
    default: str = ""  # what an empty field means
    choices: Tuple[str, ...] = ()


SETTINGS: Tuple[Setting, ...] = (
    Setting(
        "api_key",
        "API key",
        "Your MultiSafepay site's API key (MultiSafepay: Settings > Sites).",
        "secret",
    ),
    Setting(
        "test_mode",
        "Test mode",
        "On: MultiSafepay's test API. Off: the live API, real money.",
        "boolean",
        "true",
    ),
    Setting(
        "api_url",
        "API URL (optional)",
        "Replaces the test or live API URL, for a proxy or a local emulator, in "
        "MultiSafepay's form https://host/v1/json/. https is required except for "
        "127.0.0.1 and localhost.",
        "text",
    ),
    Setting(
        "merchant_item_id_source",
        "merchant_item_id of an order line",
        "sku: the product SKU, or the product variant's ID when it has no SKU. "
        "variant_id: always the product variant's ID. It must be the "
        "merchant_item_id the MultiSafepay order was created with.",
        "choice",
        ItemIdSource.SKU.value,
        tuple(choice.value for choice in ItemIdSource),
    ),
    Setting(
        "shipping_item_id",
        "merchant_item_id of the shipping line",
        f"The cart line with the shipping costs (default {SHIPPING_ITEM_ID}).",
        "text",
        SHIPPING_ITEM_ID,
    ),
    Setting(
        "sign_conventions",
        "Sign conventions",
        "Per payment method, how a refunded item is written, one per line, such as "
        "KLARNA=negative_quantity. Default: KLARNA=negative_unit_price, every other "
        "method negative_quantity (MultiSafepay's refund-with-shopping-cart page). "
        "Change a method only when MultiSafepay refuses its refunds with error 1031.",
        "multiline",
    ),
    Setting(
        "refund_description",
        "Refund description",
        "Sent with each refund when not empty.",
        "text",
    ),
    Setting(
        "rounding_tolerance",
        "Rounding tolerance",
        "How far MultiSafepay's refund total (its cart prices with tax) may be from "
        "the amount Saleor refunds, such as 0.01. Beyond it the refund is refused.",
        "text",
        "0.01",
    ),
)


class InvalidConfiguration(ConfigurationError):
    """One message per configuration field that cannot be used."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        self.errors = dict(errors)
        super().__init__(" ".join(f"{name}: {message}" for name, message in self.errors.items()))


def configuration_values(configuration: Iterable[Mapping[str, object]]) -> Dict[str, object]:
    """Saleor's [{"name": ..., "value": ...}, ...] as {name: value}."""
    return {str(item["name"]): item.get("value") for item in configuration if "name" in item}


def parse_configuration(
    values: Mapping[str, object], require_api_key: bool = True
) -> GatewayConfig:
    """A `GatewayConfig` from configuration values, or `InvalidConfiguration`."""
    errors: Dict[str, str] = {}
    api_key = _text(values.get("api_key"))
    if require_api_key and not api_key:
        errors["api_key"] = "Enter the API key of your MultiSafepay site (Settings > Sites)."
    api_url = _text(values.get("api_url"))
    if api_url:
        try:
            api_url = check_api_url(api_url)
        except ConfigurationError as exc:
            errors["api_url"] = str(exc)
    source = _text(values.get("merchant_item_id_source")) or ItemIdSource.SKU.value
    if source not in {choice.value for choice in ItemIdSource}:
        errors["merchant_item_id_source"] = (
            f"Use 'sku' (the SKU, else the variant ID) or 'variant_id', not {source!r}."
        )
    shipping_item_id = _text(values.get("shipping_item_id")) or SHIPPING_ITEM_ID
    conventions: Dict[str, SignConvention] = {}
    try:
        conventions = parse_sign_conventions(_text(values.get("sign_conventions")))
    except ValueError as exc:
        errors["sign_conventions"] = str(exc)
    tolerance = Decimal("0.01")
    tolerance_text = _text(values.get("rounding_tolerance"))
    if tolerance_text:
        try:
            tolerance = parse_decimal(tolerance_text)
            if not Decimal(0) <= tolerance <= MAX_TOLERANCE:
                raise ValueError
        except ValueError:
            # Beyond rounding the amount check means nothing: refunds that differ from what
            # Saleor records would go through.
            errors["rounding_tolerance"] = (
                f"Enter an amount of zero or more, at most {MAX_TOLERANCE}, such as 0.01, not "
                f"{tolerance_text!r}."
            )
    test_mode = _boolean(values.get("test_mode"), default=True)
    if test_mode is None:
        # A typo must not mean the live API, with real money.
        errors["test_mode"] = f"Use true or false, not {values.get('test_mode')!r}."
    if errors:
        raise InvalidConfiguration(errors)
    return GatewayConfig(
        api_key=api_key,
        test_mode=bool(test_mode),
        api_url=api_url,
        merchant_item_id_source=ItemIdSource(source),
        shipping_item_id=shipping_item_id,
        sign_conventions=conventions,
        refund_description=_text(values.get("refund_description")),
        rounding_tolerance=tolerance,
    )


def parse_sign_conventions(text: str) -> Dict[str, SignConvention]:
    """`KLARNA=negative_quantity, AFTERPAY=negative_unit_price` (commas or new lines)."""
    conventions: Dict[str, SignConvention] = {}
    for entry in re.split(r"[,;\n]+", text):
        entry = entry.strip()
        if not entry:
            continue
        code, sep, value = (part.strip() for part in entry.partition("="))
        code = code.upper()
        if not sep or not GATEWAY_CODE.match(code):
            raise ValueError(
                f"Write GATEWAY=negative_quantity or GATEWAY=negative_unit_price, not {entry!r}."
            )
        try:
            conventions[code] = SignConvention(value.lower())
        except ValueError:
            raise ValueError(
                f"{code}: use negative_quantity or negative_unit_price, not {value!r}."
            ) from None
    return conventions


def _text(value: object) -> str:
    return "" if value is None else str(value).strip()


def _boolean(value: object, default: bool) -> Optional[bool]:
    """True or False from the usual spellings; None for anything else."""
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    return None
