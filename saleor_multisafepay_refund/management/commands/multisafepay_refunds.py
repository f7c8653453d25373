"""`manage.py multisafepay_refunds`: Saleor, the ledger and MultiSafepay side by side, for one
order or every payment of the plugin, with every difference flagged (Saleor glue).

`--mark-refunded ENTRY` / `--mark-failed ENTRY` decide an open ledger entry that MultiSafepay's
order cannot (it counts more refunded than it lists and the ledger knows): staff check
MultiSafepay's dashboard and say, and refunds of the payment go on."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Dict, Optional

from django.core.management.base import BaseCommand, CommandError, CommandParser
from saleor.payment import TransactionKind
from saleor.payment.models import Payment
from saleor.plugins.manager import get_plugins_manager

from ...errors import MultiSafepayRefundError
from ...multisafepay.order import parse_order
from ...plugin.hooks import PLUGIN_ID, MultiSafepayPlugin
from ...plugin.ledger_store import SaleorLedger
from ...plugin.order_history import write_order_note
from ...plugin.records import record_after_commit
from ...refunds.ledger import decide_by_hand
from ...refunds.reconcile import reconcile


class Command(BaseCommand):
    help = "Compare refunds in Saleor, in the plugin's ledger and at MultiSafepay."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--order", help="Saleor order number or id (default: every payment)")
        decide = parser.add_mutually_exclusive_group()
        decide.add_argument(
            "--mark-refunded",
            metavar="ENTRY",
            help="an open ledger entry whose refund you found in MultiSafepay's dashboard: "
            "recorded in Saleor as refunded (with --order)",
        )
        decide.add_argument(
            "--mark-failed",
            metavar="ENTRY",
            help="an open ledger entry whose refund is not in MultiSafepay's dashboard: "
            "marked not refunded, so refunds of the payment go on (with --order)",
        )
        parser.add_argument(
            "--refund-id", help="with --mark-refunded: MultiSafepay's refund id, if it shows one"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        entry_id = options.get("mark_refunded") or options.get("mark_failed")
        if entry_id:
            self._decide(options, str(entry_id), landed=bool(options.get("mark_refunded")))
            return
        # Refunds belong to orders: a checkout's payment that never became an order (abandoned,
        # or given back) has none to compare.
        payments = _of_order(
            Payment.objects.filter(gateway=PLUGIN_ID, order__isnull=False), options.get("order")
        ).select_related("order__channel")
        if not payments.exists():
            raise CommandError("No MultiSafepay payment found.")
        ledger = SaleorLedger()
        differences = 0
        for payment in payments.order_by("pk"):
            text = self._payment(payment, ledger)
            differences += text.count("DIFFERENCE")
            self.stdout.write(text)
        self.stdout.write(
            "Everything agrees." if not differences else f"{differences} difference(s) found."
        )

    def _decide(self, options: Dict[str, Any], entry_id: str, landed: bool) -> None:
        """The way out of an entry the order cannot decide: staff looked, and say."""
        if not options.get("order"):
            raise CommandError("--mark-refunded and --mark-failed need --order.")
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
                raise CommandError(str(exc)) from None
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
            f"No ledger entry {entry_id} for a MultiSafepay payment of order {order}."
        )

    def _payment(self, payment: Payment, ledger: SaleorLedger) -> str:
        capture = payment.transactions.filter(kind=TransactionKind.CAPTURE, is_success=True).last()
        msp_order_id = (capture.token if capture else None) or payment.psp_reference
        if not msp_order_id:
            return f"Payment {payment.pk}: no MultiSafepay order id."
        plugin = self._plugin(payment)
        if plugin is None:
            return f"Payment {payment.pk}: the plugin is not configured for its channel."
        try:
            client = plugin.config.client()
        except MultiSafepayRefundError as exc:  # one channel's configuration, not the run
            return f"Payment {payment.pk}: the plugin's configuration cannot be used ({exc})."
        try:
            order = parse_order(client.get_order(msp_order_id))
        except MultiSafepayRefundError as exc:
            return f"Payment {payment.pk}, MultiSafepay order {msp_order_id}: {exc}"
        finally:
            client.close()
        successful = payment.transactions.filter(is_success=True)
        # A refund MultiSafepay declined is reversed in Saleor: it no longer counts.
        reversed_ids = set(
            successful.filter(kind=TransactionKind.REFUND_REVERSED).values_list("token", flat=True)
        )
        saleor_refunds: Dict[str, Decimal] = {
            str(t.token): t.amount
            for t in successful.filter(kind=TransactionKind.REFUND)
            if t.token not in reversed_ids
        }
        result = reconcile(str(payment.pk), saleor_refunds, ledger.entries(str(payment.pk)), order)
        return "\n".join(result.lines())

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
