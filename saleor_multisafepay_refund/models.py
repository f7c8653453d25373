"""The refund ledger's table, shared by both doors (loaded by Django only, as an installed app:
Saleor's for the plugin, the App's own), and the mapping between its rows and `LedgerEntry`."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Dict

from django.db import models

from .multisafepay.money import round_money
from .refunds.ledger import EntryState, LedgerEntry


class RefundLedgerEntry(models.Model):
    """One refund this plugin sent or saw; see `ledger.py` for the states and their meaning."""

    entry_id = models.CharField(max_length=32, primary_key=True)
    # Saleor's Payment pk, without a foreign key: entries are written while Saleor holds the
    # payment row locked, through another connection that must not wait for that lock.
    payment_id = models.CharField(max_length=64, db_index=True)
    msp_order_id = models.CharField(max_length=64, db_index=True)
    lines = models.JSONField(default=dict, blank=True)
    amount = models.DecimalField(max_digits=20, decimal_places=3)
    currency = models.CharField(max_length=3)
    body_fingerprint = models.CharField(max_length=64, blank=True)
    state = models.CharField(max_length=16)
    refund_id = models.CharField(max_length=64, null=True, blank=True)
    refunds_before = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)
    external = models.BooleanField(default=False)
    created_at = models.FloatField()  # seconds since the epoch
    updated_at = models.FloatField()
    refund_status = models.CharField(max_length=32, blank=True, default="")
    # The id Saleor records the refund under (ledger.LedgerEntry.recorded_as).
    recorded_as = models.CharField(max_length=64, blank=True, default="")
    # MultiSafepay's amount_refunded before the POST, minor units (LedgerEntry.refunded_before).
    refunded_before = models.BigIntegerField(null=True, blank=True)

    class Meta:
        app_label = "saleor_multisafepay_refund"
        ordering = ("created_at",)

    def __str__(self) -> str:
        return f"{self.msp_order_id} {self.state} {self.currency} {self.amount}"


def row_values(entry: LedgerEntry) -> Dict[str, Any]:
    """The row of `entry`, by field (attname)."""
    return dict(
        entry_id=entry.entry_id,
        payment_id=entry.payment_id,
        msp_order_id=entry.msp_order_id,
        lines=dict(entry.lines),
        amount=entry.amount,
        currency=entry.currency,
        body_fingerprint=entry.body_fingerprint,
        state=entry.state.value,
        refund_id=entry.refund_id,
        refunds_before=list(entry.refunds_before),
        error=entry.error,
        external=entry.external,
        created_at=entry.created_at,
        updated_at=entry.updated_at,
        refund_status=entry.refund_status,
        recorded_as=entry.recorded_as,
        refunded_before=entry.refunded_before,
    )


def as_entry(row: RefundLedgerEntry) -> LedgerEntry:
    return LedgerEntry(
        entry_id=row.entry_id,
        payment_id=row.payment_id,
        msp_order_id=row.msp_order_id,
        lines={str(key): int(value) for key, value in (row.lines or {}).items()},
        amount=round_money(Decimal(row.amount), row.currency),
        currency=row.currency,
        body_fingerprint=row.body_fingerprint,
        state=EntryState(row.state),
        created_at=row.created_at,
        updated_at=row.updated_at,
        refunds_before=tuple(str(refund) for refund in row.refunds_before or ()),
        refund_id=row.refund_id,
        error=row.error,
        external=row.external,
        refund_status=row.refund_status,
        recorded_as=row.recorded_as,
        refunded_before=row.refunded_before,
    )
