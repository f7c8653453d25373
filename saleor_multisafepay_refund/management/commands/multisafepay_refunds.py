"""`manage.py multisafepay_refunds`: Saleor, the ledger and MultiSafepay side by side, for one
order or the plugin's payments of a period, with every difference flagged (Saleor glue).

Monitoring runs it and alerts on its exit code (`EXIT_CODES_HELP`). `--mark-refunded ENTRY` /
`--mark-failed ENTRY` decide an open ledger entry that MultiSafepay's order cannot (it counts
more refunded than it lists and the ledger knows): staff check MultiSafepay's dashboard and say,
and refunds of the payment go on."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from datetime import date, datetime, time, timezone
from decimal import Decimal
from typing import Any, Dict, Optional, Union

from django.core.management.base import BaseCommand, CommandError, CommandParser
from saleor.payment import TransactionKind
from saleor.payment.models import Payment
from saleor.plugins.manager import get_plugins_manager

from ...errors import MultiSafepayRefundError, with_where_to_fix
from ...multisafepay import wire
from ...multisafepay.money import at_precision
from ...multisafepay.order import parse_order
from ...plugin.hooks import PLUGIN_ID, MultiSafepayPlugin
from ...plugin.ledger_store import SaleorLedger
from ...plugin.order_history import write_order_note
from ...plugin.records import record_after_commit
from ...refunds.ledger import decide_by_hand
from ...refunds.reconcile import DEFAULT_SINCE_DAYS, Reconciliation, parse_since, reconcile

AGREES, DIFFERENCES, USAGE, UNCHECKED = 0, 1, 2, 3

EXIT_CODES_HELP = f"""exit codes:
  {AGREES}  everything compared agrees (or no payment in the period); a decision recorded
  {DIFFERENCES}  differences found (said per payment)
  {USAGE}  a wrong option, an order without a MultiSafepay payment, an entry that cannot
     be decided: nothing was compared or changed
  {UNCHECKED}  no difference found, but a payment could not be compared (MultiSafepay
     unreachable or refusing, the plugin not configured for its channel): try again

Without --order only the payments of the last {DEFAULT_SINCE_DAYS} days are compared; --since
changes that (--since 2026-01-31, --since 30d, --since all).

--json prints one JSON document: {{"since", "order", "result" (agrees, differences or
unchecked), "exit_code", "differences", "unchecked", "payments": [...]}}; a compared
payment has "checked": true, its refunds and its differences, amounts as strings;
one that could not be compared has "checked": false and "error".

examples:
  python manage.py multisafepay_refunds                 # the last {DEFAULT_SINCE_DAYS} days
  python manage.py multisafepay_refunds --since 30d --json
  python manage.py multisafepay_refunds --order 1042
  python manage.py multisafepay_refunds --order 1042 --mark-failed ENTRY
"""


@dataclass(frozen=True)
class Unchecked:
    """A payment that could not be compared, and why."""

    payment_id: str
    msp_order_id: Optional[str]
    error: str

    def as_json(self) -> Dict[str, object]:
        return {
            "payment_id": self.payment_id,
            "msp_order_id": self.msp_order_id,
            "checked": False,
            "error": self.error,
        }


class Command(BaseCommand):
    help = (
        "Compare refunds in Saleor, in the plugin's ledger and at MultiSafepay; exit 1 on a "
        "difference, 3 when a payment could not be compared."
    )

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.formatter_class = argparse.RawDescriptionHelpFormatter
        parser.epilog = EXIT_CODES_HELP
        return parser

    def add_arguments(self, parser: CommandParser) -> None:
        which = parser.add_argument_group("which payments")
        which.add_argument(
            "--order", help="Saleor order number or id (default: every payment of the period)"
        )
        which.add_argument(
            "--since",
            metavar="DATE|DAYSd|all",
            help=f"payments made since this date (YYYY-MM-DD), this many days back (30d), or "
            f"all of them (default: {DEFAULT_SINCE_DAYS}d, and no bound with --order)",
        )
        decide = parser.add_argument_group(
            "deciding an open refund by hand (with --order)"
        ).add_mutually_exclusive_group()
        decide.add_argument(
            "--mark-refunded",
            metavar="ENTRY",
            help="an open ledger entry whose refund you found in MultiSafepay's dashboard: "
            "recorded in Saleor as refunded",
        )
        decide.add_argument(
            "--mark-failed",
            metavar="ENTRY",
            help="an open ledger entry whose refund is not in MultiSafepay's dashboard: "
            "marked not refunded, so refunds of the payment go on",
        )
        parser.add_argument(
            "--refund-id", help="with --mark-refunded: MultiSafepay's refund id, if it shows one"
        )
        parser.add_argument(
            "--json", action="store_true", help="one JSON document on stdout (see below)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        entry_id = options.get("mark_refunded") or options.get("mark_failed")
        if entry_id:
            self._decide(options, str(entry_id), landed=bool(options.get("mark_refunded")))
            return
        order = options.get("order")
        since = self._since(options.get("since"), order)
        # Refunds belong to orders: a checkout's payment that never became an order (abandoned,
        # or given back) has none to compare.
        payments = _of_order(Payment.objects.filter(gateway=PLUGIN_ID, order__isnull=False), order)
        if since is not None:
            payments = payments.filter(
                created_at__gte=datetime.combine(since, time.min, tzinfo=timezone.utc)
            )
        if order and not payments.exists():
            raise CommandError(
                f"No MultiSafepay payment of order {order}"
                + (f" since {since}." if since else "."),
                returncode=USAGE,
            )
        ledger = SaleorLedger()
        results = [
            self._payment(payment, ledger)
            for payment in payments.select_related("order__channel").order_by("pk")
        ]
        differences = sum(len(r.differences) for r in results if isinstance(r, Reconciliation))
        unchecked = sum(isinstance(r, Unchecked) for r in results)
        code = DIFFERENCES if differences else UNCHECKED if unchecked else AGREES
        if options.get("json"):
            self.stdout.write(
                wire.dumps(
                    {
                        "since": since.isoformat() if since else None,
                        "order": str(order) if order else None,
                        "result": {AGREES: "agrees", DIFFERENCES: "differences"}.get(
                            code, "unchecked"
                        ),
                        "exit_code": code,
                        "differences": differences,
                        "unchecked": unchecked,
                        "payments": [
                            r.as_json() if isinstance(r, Unchecked) else _checked(r)
                            for r in results
                        ],
                    }
                )
            )
        else:
            self.stdout.write(_period(order, since, len(results)))
            for result in results:
                if isinstance(result, Unchecked):
                    where = (
                        f", MultiSafepay order {result.msp_order_id}" if result.msp_order_id else ""
                    )
                    self.stdout.write(
                        f"Payment {result.payment_id}{where}: NOT COMPARED: {result.error}"
                    )
                else:
                    self.stdout.write("\n".join(result.lines()))
            summary = {
                AGREES: "Everything agrees.",
                UNCHECKED: "No difference found.",
            }.get(code, f"{differences} difference(s) found.")
            if unchecked:
                summary += f" {unchecked} payment(s) could not be compared."
            self.stdout.write(summary)
        if code != AGREES:
            # Django's way to a non-zero exit: said on stderr, stdout stays the report.
            what = {DIFFERENCES: f"{differences} difference(s) found"}.get(
                code, f"{unchecked} payment(s) could not be compared"
            )
            raise CommandError(what, returncode=code)

    def _since(self, text: Optional[str], order: Optional[str]) -> Optional[date]:
        """The first day compared (None: no bound): --since, or the default without --order."""
        if text is None:
            text = "all" if order else f"{DEFAULT_SINCE_DAYS}d"
        try:
            return parse_since(text, datetime.now(timezone.utc).date())
        except ValueError as exc:
            raise CommandError(str(exc), returncode=USAGE) from None

    def _decide(self, options: Dict[str, Any], entry_id: str, landed: bool) -> None:
        """The way out of an entry the order cannot decide: staff looked, and say."""
        if not options.get("order"):
            raise CommandError("--mark-refunded and --mark-failed need --order.", returncode=USAGE)
        order = str(options["order"])
        payments = _of_order(Payment.objects.filter(gateway=PLUGIN_ID), order)
        ledger = SaleorLedger()
        for payment in payments.order_by("pk"):
            entries = ledger.entries(str(payment.pk))
            if not any(entry.entry_id == entry_id for entry in entries):
                continue
            try:
                decided = decide_by_hand(entries, entry_id, landed, options.get("refund_id"))
            except ValueError as exc:
                raise CommandError(str(exc), returncode=USAGE) from None
            ledger.save(decided)
            if landed:
                # Outside any transaction: recorded at once, under the entry's reference.
                record_after_commit(
                    payment.pk, [(decided.reference, decided.amount, decided.currency)]
                )
            what = "refunded (recorded in Saleor)" if landed else "not refunded"
            note = (
                f"MultiSafepay refund of {decided.describe()} (ledger entry {entry_id}) marked "
                f"{what} by staff after checking MultiSafepay's dashboard."
            )
            write_order_note(payment.order_id, note, outside=False)
            self.stdout.write(note)
            return
        raise CommandError(
            f"No ledger entry {entry_id} for a MultiSafepay payment of order {order}.",
            returncode=USAGE,
        )

    def _payment(self, payment: Payment, ledger: SaleorLedger) -> Union[Reconciliation, Unchecked]:
        capture = payment.transactions.filter(kind=TransactionKind.CAPTURE, is_success=True).last()
        msp_order_id = (capture.token if capture else None) or payment.psp_reference
        payment_id = str(payment.pk)
        if not msp_order_id:
            return Unchecked(payment_id, None, "no MultiSafepay order id")
        plugin = self._plugin(payment)
        if plugin is None:
            return Unchecked(
                payment_id, msp_order_id, "the plugin is not configured for its channel"
            )
        try:
            client = plugin.config.client()
        except MultiSafepayRefundError as exc:  # one channel's configuration, not the run
            return Unchecked(
                payment_id, msp_order_id, f"the plugin's configuration cannot be used ({exc})"
            )
        try:
            order = parse_order(client.get_order(msp_order_id))
        except MultiSafepayRefundError as exc:
            where = plugin.config.settings_place
            return Unchecked(payment_id, msp_order_id, with_where_to_fix(exc, where))
        finally:
            client.close()
        successful = payment.transactions.filter(is_success=True)
        # A refund MultiSafepay declined is reversed in Saleor: it no longer counts.
        reversed_ids = set(
            successful.filter(kind=TransactionKind.REFUND_REVERSED).values_list("token", flat=True)
        )
        saleor_refunds: Dict[str, Decimal] = {
            str(t.token): at_precision(t.amount, t.currency or payment.currency)
            for t in successful.filter(kind=TransactionKind.REFUND)
            if t.token not in reversed_ids
        }
        return reconcile(payment_id, saleor_refunds, ledger.entries(payment_id), order)

    def _plugin(self, payment: Payment) -> Optional[MultiSafepayPlugin]:
        channel = payment.order.channel.slug if payment.order else None
        plugin = get_plugins_manager(allow_replica=False).get_plugin(PLUGIN_ID, channel)
        return plugin if isinstance(plugin, MultiSafepayPlugin) else None


def _of_order(payments: Any, order: Optional[str]) -> Any:
    """`payments` of one Saleor order, by its number or its id (all of them without one)."""
    if not order:
        return payments
    key = "order__number" if str(order).isdigit() else "order__id"
    return payments.filter(**{key: str(order)})


def _checked(result: Reconciliation) -> Dict[str, object]:
    return {"checked": True, **result.as_json()}


def _period(order: Optional[str], since: Optional[date], count: int) -> str:
    """Which payments were compared, said first: a bound nobody sees hides old differences."""
    if order:
        what = f"Order {order}'s MultiSafepay payments" + (f" since {since}" if since else "")
    elif since is not None:
        what = f"MultiSafepay payments since {since} (--since all for every one)"
    else:
        what = "Every MultiSafepay payment"
    return f"{what}: {count}."
