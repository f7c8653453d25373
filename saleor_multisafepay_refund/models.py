"""The refund ledger's table (Saleor glue: loaded by Django only, as an installed app)."""

from __future__ import annotations

from django.db import models


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
