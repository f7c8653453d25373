"""The command line: `python -m saleor_multisafepay_refund refund|show|demo|app`.

Other tools script against it, so the contract is fixed: exit 0 refunded (or dry run), 2
refused before anything was sent, 1 MultiSafepay refused or could not be reached and nothing
was refunded, 3 outcome unknown; with --json, one JSON object as the last line of stdout.
A request no order could satisfy is refused before MultiSafepay is asked anything.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import textwrap
from dataclasses import replace
from typing import Any, Dict, List, Optional, Sequence

from . import __version__
from .errors import (
    ConfigurationError,
    InvalidOrderData,
    MultiSafepayRefundError,
    RefundRefused,
    with_where_to_fix,
)
from .multisafepay import wire
from .multisafepay.client import LIVE_API_URL, TEST_API_URL, MultiSafepayClient
from .multisafepay.methods import SignConvention, sign_convention
from .multisafepay.money import from_minor_units, parse_decimal, shown, shown_minor
from .multisafepay.order import parse_order
from .multisafepay.refund_body import RefundRequest, check_request, item_balances
from .refunds.send import RefundOutcome, RefundStatus, dashboard_advice, refund_order

PROG = "python -m saleor_multisafepay_refund"
# Where the command line's key and API URL are set: said when MultiSafepay refuses the key.
SETTINGS_PLACE = "MSP_API_KEY or --api-key; --live, --api-url or MSP_API_URL for which API"

# A refund can take MultiSafepay a while; after this the outcome is settled by reading back.
READ_TIMEOUT = 30.0

EXIT_CODES = {
    RefundStatus.REFUNDED: 0,
    RefundStatus.DRY_RUN: 0,
    RefundStatus.FAILED: 1,
    RefundStatus.REFUSED: 2,
    RefundStatus.UNKNOWN: 3,
}


class _UsageError(Exception):
    def __init__(self, message: str, usage: str) -> None:
        super().__init__(message)
        self.usage = usage


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # No abbreviations: `--api=KEY` would otherwise come back in an "ambiguous option"
        # message, and a payments tool should not guess which option was meant.
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> Any:
        raise _UsageError(f"{self.prog}: error: {_without_values(message)}", self.format_usage())


# What looks like a long option's name, shorter than an API key: a key (or a value starting
# with a dash) is never taken for one.
_OPTION_NAME = re.compile(r"--[A-Za-z][A-Za-z0-9_-]{0,29}")


def _without_values(message: str) -> str:
    """argparse's usage error without a value typed on the command line: a mistyped option
    (`--api_key KEY`) is followed by the API key, and usage errors are printed (and logged by
    whatever runs the command). Names of options are kept, every other word typed is left out.
    """
    unrecognized = "unrecognized arguments: "
    if message.startswith(unrecognized):
        names = [
            name
            for name in (token.split("=", 1)[0] for token in message[len(unrecognized) :].split())
            if _OPTION_NAME.fullmatch(name)
        ]
        listed = f": {', '.join(dict.fromkeys(names))}" if names else ""
        return f"unrecognized arguments{listed} (the values typed are not repeated)"
    # "invalid choice: 'X' (choose from ...)", "ignored explicit argument 'X'".
    message = re.sub(r"invalid choice: .*?(?= \(choose from|$)", "invalid choice", message)
    message = re.sub(r"explicit argument .*$", "explicit argument (not repeated)", message)
    return re.sub(r"ambiguous option: (\S*?)=\S*", r"ambiguous option: \1", message)


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["app"]:
        # The Saleor App has its own commands (and needs Django, which nothing else here does).
        from .app.cli import main as app_main

        return app_main(argv[1:])
    try:
        args = _parser().parse_args(argv)
    except _UsageError as exc:
        # Still one JSON object last on stdout for a script that asked for --json.
        if "--json" in argv:
            print(
                wire.dumps(
                    {
                        "status": "refused",
                        "refund_id": None,
                        "amount": None,
                        "currency": None,
                        "request": None,
                        "error": str(exc),
                    }
                )
            )
        print(exc.usage + str(exc), file=sys.stderr)
        return 2
    if args.command == "demo":
        from .demo import run_demo  # the emulator is only loaded for the demo

        return 0 if run_demo() else 1
    request: Optional[RefundRequest] = None
    try:
        if not args.order_id.strip():
            raise ValueError("No MultiSafepay order id given (ORDER_ID).")
        if args.command == "refund":
            # Before any network call: a request no order could satisfy is refused here.
            request = _refund_request(args)
            check_request(request)
        client = _client(args)
    except (ValueError, RefundRefused) as exc:
        if args.command == "show":
            return _show_failed(args, str(exc), 2)
        return _finish(args, RefundOutcome(RefundStatus.REFUSED, args.order_id, error=str(exc)))
    if request is None:
        return _show(args, client)
    outcome = refund_order(
        client, args.order_id, request, dry_run=args.dry_run, settings_place=SETTINGS_PLACE
    )
    return _finish(args, outcome)


ORDER_ID_HELP = (
    "MultiSafepay's order id: the order_id the shop sent when the customer paid; "
    "MultiSafepay's dashboard lists it under Transactions, Saleor shows it as the payment's "
    "(or transaction's) PSP reference"
)

# The same words in the help's epilog, wrapped as the other paragraphs there are.
ORDER_ID_TEXT = textwrap.fill(f"ORDER_ID is {ORDER_ID_HELP}.", width=80) + "\n"

ENVIRONMENT_HELP = """environment:
  MSP_API_KEY  the MultiSafepay site's API key (MultiSafepay: Settings > Sites);
               prefer it to --api-key, which other users see in the process list
  MSP_API_URL  MultiSafepay's API base URL (default: the test API); --live and
               --api-url win over it
  The Saleor App's variables (APP_PUBLIC_URL, APP_DATABASE_URL, APP_SECRET_KEY,
  APP_ALLOWED_SALEOR_URLS) are listed by `app --help`.
"""

EXIT_CODES_HELP = """exit codes:
  0  refunded, dry run checked, or the order shown
  1  MultiSafepay refused or could not be reached: nothing was refunded
  2  refused, nothing was sent: a wrong option, no API key or a request no
     order could satisfy (MultiSafepay is not even asked), or one this order
     cannot (more than remains, an unknown item)
  3  sent, outcome unknown: check the order in MultiSafepay's dashboard before
     trying again
"""

EXAMPLES = """examples:
  export MSP_API_KEY=...         # the test API unless --live
  {prog} show 10423
  {prog} refund 10423 --item SKU-1=2 --dry-run
  {prog} refund 10423 --item SKU-1=2 --shipping
  {prog} refund 10423 --full --live --json
  {prog} refund 10424 --amount 12.50
  {prog} demo
"""


def _epilog(*parts: str) -> str:
    return "\n".join(parts).format(prog=PROG)


def _parser() -> argparse.ArgumentParser:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = _Parser(
        prog=PROG,
        description="Refund MultiSafepay orders by item (shopping cart) or by amount; run the "
        "Saleor App.",
        epilog=_epilog(ORDER_ID_TEXT, ENVIRONMENT_HELP, EXIT_CODES_HELP, EXAMPLES),
        formatter_class=formatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    refund = _order_command(
        commands,
        "refund",
        "refund items, the shipping, everything or an amount",
        "Refund items, the shipping, everything that remains or an amount of\n"
        "one MultiSafepay order. The order is read first; the refund is sent once.",
    )
    what = refund.add_argument_group(
        "what to refund", "items and the shipping, or everything, or an amount"
    )
    what.add_argument(
        "--item",
        action="append",
        default=[],
        metavar="MERCHANT_ITEM_ID=QTY",
        help="refund QTY of this item (repeatable; `show` lists the ids)",
    )
    what.add_argument("--shipping", action="store_true", help="refund the shipping line")
    what.add_argument("--full", action="store_true", help="refund everything that remains")
    what.add_argument(
        "--amount",
        metavar="DECIMAL",
        help="refund this amount in major units, e.g. 12.50 (shopping-cart methods such as "
        "Klarna: only everything that remains)",
    )
    what.add_argument("--description", metavar="TEXT", help="refund description")
    what.add_argument("--dry-run", action="store_true", help="build and check, send nothing")
    _connection_and_output(refund)
    show = _order_command(
        commands,
        "show",
        "items and amounts of an order",
        "An order's items (bought, refunded, remaining), its amounts and how\n"
        "MultiSafepay refunds it. Changes nothing.",
    )
    _connection_and_output(show)
    commands.add_parser(
        "demo",
        help="the seed page's refund against the embedded emulator",
        description="Refund 2 items of the seed page's order, Pay After Delivery and Klarna,\n"
        "against a MultiSafepay emulator on 127.0.0.1: no key or network needed.\n"
        "Exit 0 when both bodies equal the seed page's, 1 otherwise.",
        formatter_class=formatter,
    )
    commands.add_parser(
        "app", help="the Saleor App: serve, configure, migrate, worker, refunds (app --help)"
    )
    return parser


def _order_command(
    commands: argparse._SubParsersAction[_Parser], name: str, summary: str, description: str
) -> argparse.ArgumentParser:
    """A command about one MultiSafepay order: its ORDER_ID, and the help's epilog."""
    command = commands.add_parser(
        name,
        help=summary,
        description=description,
        epilog=_epilog(ORDER_ID_TEXT, ENVIRONMENT_HELP, EXIT_CODES_HELP, EXAMPLES),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    command.add_argument("order_id", metavar="ORDER_ID", help=ORDER_ID_HELP)
    return command


def _connection_and_output(parser: argparse.ArgumentParser) -> None:
    connection = parser.add_argument_group("connection")
    connection.add_argument(
        "--api-url", help=f"API base URL (env MSP_API_URL; default {TEST_API_URL})"
    )
    connection.add_argument(
        "--live", action="store_true", help=f"use the live API ({LIVE_API_URL})"
    )
    connection.add_argument(
        "--api-key",
        default=os.environ.get("MSP_API_KEY"),
        help="the site's API key (env MSP_API_KEY; prefer the variable: arguments show in ps)",
    )
    parser.add_argument_group("output").add_argument(
        "--json", action="store_true", help="one JSON object as stdout's last line"
    )


def _client(args: argparse.Namespace) -> MultiSafepayClient:
    if not args.api_key:
        raise ConfigurationError("No API key: set MSP_API_KEY or pass --api-key.")
    if args.live and args.api_url:
        raise ConfigurationError("Give either --live or --api-url, not both.")
    # What the command line says wins over the environment.
    url = args.api_url or (LIVE_API_URL if args.live else None)
    url = url or os.environ.get("MSP_API_URL") or TEST_API_URL
    return MultiSafepayClient(args.api_key, base_url=url, read_timeout=READ_TIMEOUT)


def _refund_request(args: argparse.Namespace) -> RefundRequest:
    items: Dict[str, int] = {}
    for text in args.item:
        key, sep, quantity = text.rpartition("=")
        if not sep or not key:
            raise ValueError(f"--item needs MERCHANT_ITEM_ID=QTY, not {text!r}.")
        if not (quantity.isascii() and quantity.isdigit()) or int(quantity) == 0:
            raise ValueError(
                f"--item {key}: the quantity must be a whole number above zero, not {quantity!r}."
            )
        items[key] = items.get(key, 0) + int(quantity)
    amount = None
    if args.amount is not None:
        try:
            amount = parse_decimal(args.amount)  # as every amount read: no "1_0", no NaN
        except ValueError as exc:
            raise ValueError(f"--amount needs a decimal number ({exc}).") from None
    return RefundRequest(
        items=items,
        shipping=args.shipping,
        full=args.full,
        amount=amount,
        description=args.description,
    )


def _finish(args: argparse.Namespace, outcome: RefundOutcome) -> int:
    if outcome.status is RefundStatus.UNKNOWN:
        # Nothing keeps track of it after the command: the shop owner must check.
        outcome = replace(outcome, error=(outcome.error or "") + dashboard_advice(outcome.order_id))
    if args.json:
        print(
            wire.dumps(
                {
                    "status": outcome.status.value,
                    "refund_id": outcome.refund_id,
                    "amount": None if outcome.amount is None else str(outcome.amount),
                    "currency": outcome.currency,
                    "request": outcome.request,
                    "error": outcome.error,
                },
            )
        )
    else:
        _print_outcome(outcome)
    return EXIT_CODES[outcome.status]


def _print_outcome(outcome: RefundOutcome) -> None:
    money = shown(outcome.amount, outcome.currency or "") if outcome.amount is not None else ""
    headline = {
        RefundStatus.REFUNDED: f"Refunded {money} of order {outcome.order_id}"
        + (f" (refund id {outcome.refund_id})." if outcome.refund_id else "."),
        RefundStatus.DRY_RUN: f"Dry run: would refund {money} of order {outcome.order_id}.",
        RefundStatus.REFUSED: f"Refused, nothing was sent: {outcome.error}",
        RefundStatus.FAILED: f"Not refunded: {outcome.error}",
        RefundStatus.UNKNOWN: f"Outcome unknown: {outcome.error}",
    }[outcome.status]
    stream = sys.stdout if outcome.succeeded else sys.stderr
    print(headline, file=stream)
    plan = outcome.plan
    if plan is not None and outcome.status is not RefundStatus.REFUSED:
        for line in plan.lines:
            print(
                f"  {line.quantity} x {line.name} ({line.merchant_item_id})  "
                f"{shown(line.total, plan.currency)}",
                file=stream,
            )
        if plan.rounding_taken:
            print(
                f"  the order's last refund takes what is left: {plan.currency} "
                f"{plan.rounding_taken} less than the lines (MultiSafepay's per-line rounding)",
                file=stream,
            )
        if outcome.status is RefundStatus.DRY_RUN:
            print("Request body:", file=stream)
            print(wire.dumps(plan.body), file=stream)


def _show(args: argparse.Namespace, client: MultiSafepayClient) -> int:
    try:
        order = parse_order(client.get_order(args.order_id))
    except MultiSafepayRefundError as exc:
        code = 2 if isinstance(exc, InvalidOrderData) else 1
        return _show_failed(args, with_where_to_fix(exc, SETTINGS_PLACE), code)
    cart_based = order.by_cart
    convention: Optional[SignConvention] = sign_convention(order.gateway) if cart_based else None
    items: List[Dict[str, Any]] = [
        {
            "merchant_item_id": b.merchant_item_id,
            "name": b.template.name,
            "unit_price": str(b.template.unit_price),
            "tax_rate": str(order.tax_rates.rate_for(b.template.tax_table_selector)),
            "bought": b.bought,
            "refunded": b.refunded,
            "remaining": max(b.remaining, 0),
            "problem": b.problem,
        }
        for b in item_balances(order).values()
    ]
    summary = {
        "order_id": order.order_id,
        "status": order.status,
        "gateway": order.gateway,
        "cart_based": cart_based,
        "sign_convention": convention.value if convention else None,
        "currency": order.currency,
        "amount": _major(order.amount, order.currency),
        "amount_refunded": _major(order.amount_refunded, order.currency),
        "remaining": _major(order.remaining, order.currency),
        "items": items,
        "refunds": [
            {
                "refund_id": r.refund_id,
                "status": r.status,
                "amount": None if r.amount is None else _major(r.amount, order.currency),
            }
            for r in order.refunds
        ],
    }
    if args.json:
        print(wire.dumps(summary))
        return 0
    print(f"Order {order.order_id}: {order.gateway}, status {order.status or '?'}")
    print(
        f"Amount {shown_minor(order.amount, order.currency)}, refunded "
        f"{_major(order.amount_refunded, order.currency)}, remaining "
        f"{_major(order.remaining, order.currency)}"
    )
    if cart_based and convention:
        print(f"Refunds by shopping cart, sign convention: {convention.value}")
    elif not cart_based:
        print("Refunds by amount (not a shopping-cart payment method)")
    if items:
        print(
            f"{'merchant_item_id':<20} {'name':<30} {'price':>10} {'bought':>7} "
            f"{'refunded':>9} {'remaining':>10}"
        )
        for item in items:
            print(
                f"{item['merchant_item_id']:<20} {item['name'][:30]:<30} "
                f"{item['unit_price']:>10} {item['bought']:>7} {item['refunded']:>9} "
                f"{item['remaining']:>10}" + (f"  ({item['problem']})" if item["problem"] else "")
            )
    return 0


def _show_failed(args: argparse.Namespace, error: str, code: int) -> int:
    if args.json:
        print(wire.dumps({"order_id": args.order_id, "error": error}))
    else:
        print(f"Could not read order {args.order_id}: {error}", file=sys.stderr)
    return code


def _major(minor: int, currency: str) -> str:
    return str(from_minor_units(minor, currency))
