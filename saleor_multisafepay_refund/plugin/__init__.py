"""Door 1, Saleor's legacy Payments API: the BasePlugin's hooks, Saleor's data turned into our asks
(`asks.py`, no Saleor import) and the Django glue that records what Saleor must know.
"""

from typing import Any


def __getattr__(name: str) -> Any:
    # `saleor_multisafepay_refund.plugin.MultiSafepayPlugin` stays where a shop's settings (or
    # an older entry point) may name it, loaded only then: asks.py must import without Saleor.
    if name in ("MultiSafepayPlugin", "PLUGIN_ID"):
        from . import hooks

        return getattr(hooks, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
