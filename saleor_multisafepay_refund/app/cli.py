"""`python -m saleor_multisafepay_refund app serve|configure|migrate|worker|refunds`.

Exit codes: 0 done, 2 refused (a wrong argument or setting: nothing was changed); `app refunds`
also 1 when a refund it lists has an open outcome (`REFUNDS_HELP`).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from typing import Dict, Sequence

from .. import __version__
from ..config import InvalidConfiguration, parse_sign_conventions
from ..errors import ConfigurationError
from ..multisafepay import wire
from .environment import DEFAULT_HOST, DEFAULT_PORT

ENVIRONMENT_HELP = """environment:
  APP_PUBLIC_URL           how Saleor reaches the App (default http://HOST:PORT)
  APP_DATABASE_URL         sqlite:///PATH (default ./multisafepay-app.sqlite3) or
                           postgres://USER:PASSWORD@HOST:PORT/NAME (several instances)
  APP_SECRET_KEY           encrypts stored tokens and API keys (default: generated into
                           multisafepay-app.key beside the database)
  APP_ALLOWED_SALEOR_URLS  Saleor API URLs that may install the App, comma-separated
                           (default: none)
  MSP_API_KEY              the MultiSafepay API key `app configure` stores (never an argument)
"""


EXIT_CODES_HELP = """exit codes:
  0  done
  2  refused: a wrong option or setting, nothing was changed
  app refunds also exits 1 when a refund it lists has an open outcome (see
  `app refunds --help`)
"""

EXAMPLES = """examples:
  export APP_ALLOWED_SALEOR_URLS=https://shop.example.com/graphql/
  python -m saleor_multisafepay_refund app serve --host 0.0.0.0 --port 8080
  MSP_API_KEY=... python -m saleor_multisafepay_refund app configure \\
      --saleor-api-url https://shop.example.com/graphql/ --channel default-channel
  python -m saleor_multisafepay_refund app refunds --order 10423 --json
"""

REFUNDS_HELP = """The App's refunds as its ledger holds them, newest first (50 at most). An open
one (pending or unknown) is a refund whose outcome MultiSafepay's order cannot
tell yet: the next refund of its transaction settles it, or staff check
MultiSafepay's dashboard and decide it with --mark-refunded or --mark-failed.

exit codes:
  0  listed, none open (or a decision recorded)
  1  a refund listed has an open outcome (a refund being sent at that moment
     is open too, for up to a minute)
  2  refused: a wrong option, --mark-* without --order, no such open entry

--json prints one JSON document: {"order", "open", "exit_code", "entries": [...]},
each entry with "entry_id", "msp_order_id", "state", "open", "refund_id",
"amount" (a string), "currency", "lines", "external", "error", "created_at";
--mark-* with --json prints {"decided": ENTRY}.

examples:
  python -m saleor_multisafepay_refund app refunds --json
  python -m saleor_multisafepay_refund app refunds --order 10423
  python -m saleor_multisafepay_refund app refunds --order 10423 --mark-failed ENTRY
"""


def main(argv: Sequence[str]) -> int:
    args = _parser().parse_args(list(argv))
    # What the App does, on stderr (never a key or a token: nothing here logs them).
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        if args.action == "serve":
            from .serve import serve

            serve(args.host, args.port)
            return 0
        if args.action == "migrate":
            from .serve import setup

            setup(migrate=True)
            print("The App's database is up to date.")
            return 0
        if args.action == "worker":
            import threading

            from .serve import setup, work

            setup()
            with contextlib.suppress(KeyboardInterrupt):
                work(threading.Event())
            return 0
        if args.action == "refunds":
            return _refunds(args)
        return _configure(args)
    except ConfigurationError as exc:
        print(f"app {args.action}: {exc}", file=sys.stderr)
        return 2


def _configure(args: argparse.Namespace) -> int:
    from .serve import setup

    # A shop may configure before the first `app serve`: the database is made here too.
    setup(migrate=True)
    from . import installations
    from .context import app_context

    sealer = app_context().sealer
    if args.list:
        for row in installations.configured_channels():
            values = (
                installations.channel_values(row.saleor_api_url, row.channel_slug, sealer) or {}
            )
            print(f"{row.saleor_api_url} channel {row.channel_slug}:")
            for name in ("api_key", *installations.FIELDS):
                value = values.get(name, "")
                if name == "api_key":
                    value = _masked(str(value))
                print(f"  {name} = {value if value != '' else '(default)'}")
        return 0
    if not args.saleor_api_url or not args.channel:
        print("app configure: give --saleor-api-url and --channel (or --list).", file=sys.stderr)
        return 2
    changes: Dict[str, str] = {}
    if args.live:
        changes.update(test_mode="false", api_url="")
    if args.test:
        changes.update(test_mode="true", api_url="")
    if args.api_url is not None:
        changes.update(api_url=args.api_url)
    if args.sign_convention is not None:
        text = ", ".join(args.sign_convention)
        try:
            parse_sign_conventions(text)
        except ValueError as exc:
            print(f"app configure: --sign-convention: {exc}", file=sys.stderr)
            return 2
        changes["sign_conventions"] = text
    for name in (
        "shipping_item_id",
        "merchant_item_id_source",
        "refund_description",
        "rounding_tolerance",
    ):
        value = getattr(args, name)
        if value is not None:
            changes[name] = value
    api_key = os.environ.get("MSP_API_KEY") or None
    try:
        config = installations.configure(
            args.saleor_api_url, args.channel, changes, sealer, api_key=api_key
        )
    except InvalidConfiguration as exc:
        for name, message in exc.errors.items():
            hint = " (set MSP_API_KEY)" if name == "api_key" else ""
            print(f"app configure: {name}: {message}{hint}", file=sys.stderr)
        print("Nothing was changed.", file=sys.stderr)
        return 2
    print(
        f"Channel {args.channel} of {args.saleor_api_url}: MultiSafepay at {config.base_url}"
        + (", API key stored" if api_key else "")
        + ". In effect for the next webhook, no restart needed."
    )
    return 0


def _refunds(args: argparse.Namespace) -> int:
    from .serve import setup

    setup()
    from . import support

    entry_id = args.mark_refunded or args.mark_failed
    if entry_id:
        if not args.order:
            print("app refunds: --mark-refunded and --mark-failed need --order.", file=sys.stderr)
            return 2
        try:
            decided = support.decide(
                args.order, entry_id, bool(args.mark_refunded), args.refund_id or None
            )
        except ValueError as exc:
            print(f"app refunds: {exc}", file=sys.stderr)
            return 2
        if args.json:
            print(wire.dumps({"decided": support.entry_json(decided)}))
            return 0
        print(
            f"Ledger entry {entry_id} ({decided.describe()}) marked {decided.state.value}; "
            "Saleor hears of it from the App's worker."
        )
        return 0
    listed = support.entries(args.order)
    still_open = sum(entry.is_open for entry in listed)
    code = 1 if still_open else 0
    if args.json:
        document = {
            "order": args.order,
            "open": still_open,
            "exit_code": code,
            "entries": [support.entry_json(entry) for entry in listed],
        }
        print(wire.dumps(document))
        return code
    for entry in listed:
        refund = f" refund {entry.refund_id}" if entry.refund_id else ""
        print(
            f"{entry.entry_id}  order {entry.msp_order_id}  {entry.state.value}{refund}  "
            f"{entry.describe()}" + (f"  {entry.error}" if entry.error else "")
        )
    if still_open:
        print(
            f"{still_open} refund(s) with an open outcome: check MultiSafepay's dashboard, then "
            "--order MSP_ORDER_ID --mark-refunded or --mark-failed ENTRY.",
            file=sys.stderr,
        )
    return code


def _masked(key: str) -> str:
    return f"****{key[-4:]}" if len(key) > 8 else ("****" if key else "(not set)")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m saleor_multisafepay_refund app",
        description="The MultiSafepay Saleor App (Transactions API).",
        epilog="\n".join((ENVIRONMENT_HELP, EXIT_CODES_HELP, EXAMPLES)),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    actions = parser.add_subparsers(dest="action", required=True)
    serve = actions.add_parser(
        "serve",
        help="run the App (makes or upgrades its database first)",
        epilog=ENVIRONMENT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.add_argument("--host", default=DEFAULT_HOST)
    serve.add_argument("--port", type=int, default=DEFAULT_PORT)
    actions.add_parser("migrate", help="make or upgrade the App's database (production)")
    actions.add_parser(
        "worker", help="send the App's reports to Saleor (production, one per deployment)"
    )
    refunds = actions.add_parser(
        "refunds",
        help="the App's refunds as its ledger holds them; decide one it cannot",
        description=REFUNDS_HELP.split("\n\n", 1)[0],
        epilog=REFUNDS_HELP.split("\n\n", 1)[1] + "\n" + ENVIRONMENT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    refunds.add_argument(
        "--order",
        metavar="MSP_ORDER_ID",
        help="MultiSafepay's order id (the transaction's PSP reference in Saleor; "
        "MultiSafepay's dashboard: Transactions)",
    )
    refunds.add_argument("--json", action="store_true", help="one JSON document on stdout")
    decide = refunds.add_mutually_exclusive_group()
    decide.add_argument(
        "--mark-refunded",
        metavar="ENTRY",
        help="an open entry whose refund you found in MultiSafepay's dashboard",
    )
    decide.add_argument(
        "--mark-failed",
        metavar="ENTRY",
        help="an open entry whose refund is not in MultiSafepay's dashboard",
    )
    refunds.add_argument("--refund-id", help="with --mark-refunded: MultiSafepay's refund id")
    configure = actions.add_parser(
        "configure",
        help="a channel's MultiSafepay settings (the API key from MSP_API_KEY)",
        epilog=ENVIRONMENT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    configure.add_argument(
        "--list", action="store_true", help="show every channel's settings, key masked"
    )
    configure.add_argument(
        "--saleor-api-url", metavar="URL", help="your Saleor's API URL, as installed"
    )
    configure.add_argument("--channel", metavar="SLUG", help="the Saleor channel's slug")
    where = configure.add_mutually_exclusive_group()
    where.add_argument(
        "--api-url", metavar="URL", help="MultiSafepay's API base URL (an emulator, a proxy)"
    )
    where.add_argument("--live", action="store_true", help="MultiSafepay's live API: real money")
    where.add_argument("--test", action="store_true", help="MultiSafepay's test API (the default)")
    configure.add_argument(
        "--sign-convention",
        action="append",
        metavar="METHOD=CONVENTION",
        help="negative_quantity or negative_unit_price for a method's refund copies (repeatable)",
    )
    configure.add_argument(
        "--shipping-item-id", metavar="ID", help="the shipping line's merchant_item_id"
    )
    configure.add_argument(
        "--merchant-item-id-source",
        choices=["sku", "variant_id"],
        help="which value of a line is its merchant_item_id (default sku)",
    )
    configure.add_argument("--refund-description", metavar="TEXT")
    configure.add_argument("--rounding-tolerance", metavar="DECIMAL")
    return parser
