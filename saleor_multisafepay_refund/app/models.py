"""The App's own tables: who installed it, each channel's settings, reports still to make."""

from __future__ import annotations

from django.db import models


class Installation(models.Model):
    """One Saleor that installed the App (a reinstall replaces the row)."""

    saleor_api_url = models.CharField(max_length=512, unique=True)
    app_id = models.CharField(max_length=256)  # the App's ID in that Saleor: webhooks' recipient
    token_encrypted = models.TextField()
    jwks = models.JSONField(default=dict)  # that Saleor's public keys, last fetched
    jwks_fetched_at = models.FloatField(default=0.0)
    installed_at = models.FloatField()

    class Meta:
        app_label = "saleor_multisafepay_refund_app"

    def __str__(self) -> str:
        return str(self.saleor_api_url)


class ChannelSettings(models.Model):
    """The plugin's configuration fields for one channel of one Saleor, the key encrypted.

    Keyed by URL, not by installation: a shop may configure before installing.
    """

    saleor_api_url = models.CharField(max_length=512)
    channel_slug = models.CharField(max_length=256)
    values = models.JSONField(default=dict)  # every field but the API key, as text
    api_key_encrypted = models.TextField(blank=True, default="")
    updated_at = models.FloatField()

    class Meta:
        app_label = "saleor_multisafepay_refund_app"
        unique_together = (("saleor_api_url", "channel_slug"),)

    def __str__(self) -> str:
        return f"{self.saleor_api_url} {self.channel_slug}"


class Report(models.Model):
    """A transactionEventReport still to make (an outbox): Saleor hears of a refund whose
    answer was pending, or one it never recorded, after the webhook was answered."""

    saleor_api_url = models.CharField(max_length=512)
    channel_slug = models.CharField(max_length=256)
    transaction_id = models.CharField(max_length=256)  # Saleor's TransactionItem global ID
    payment_id = models.CharField(max_length=64)  # the ledger's key of that transaction
    psp_reference = models.CharField(max_length=256)
    # "" while the ledger entry below is open; then REFUND_SUCCESS or REFUND_FAILURE.
    event_type = models.CharField(max_length=32, blank=True, default="")
    entry_id = models.CharField(max_length=32, blank=True, default="")
    # The granted refund a pending answer was for ("" for an amount): Saleor's retry of that
    # request gets the same answer, another request waits for it.
    granted_refund_id = models.CharField(max_length=256, blank=True, default="")
    asked = models.DecimalField(max_digits=20, decimal_places=3, null=True)  # Saleor's amount
    amount = models.DecimalField(max_digits=20, decimal_places=3, null=True)
    currency = models.CharField(max_length=3)
    message = models.TextField(blank=True, default="")
    done = models.BooleanField(default=False)
    attempts = models.IntegerField(default=0)
    next_at = models.FloatField(default=0.0)
    last_error = models.TextField(blank=True, default="")
    created_at = models.FloatField()

    class Meta:
        app_label = "saleor_multisafepay_refund_app"
        # One of each kind of report per reference: a payment is authorized, then charged,
        # under the same MultiSafepay order id.
        unique_together = (("saleor_api_url", "transaction_id", "psp_reference", "event_type"),)
        # The worker's question every few seconds: what is due and not done.
        indexes = (models.Index(fields=["done", "next_at"], name="report_due"),)

    def __str__(self) -> str:
        return f"{self.transaction_id} {self.psp_reference} {self.event_type or 'waiting'}"


class TransactionOrder(models.Model):
    """A MultiSafepay order the App created for a Saleor transaction: how MultiSafepay's
    notifications (and the customer's return) find their transaction."""

    msp_order_id = models.CharField(max_length=64, unique=True)
    saleor_api_url = models.CharField(max_length=512)
    channel_slug = models.CharField(max_length=256)
    transaction_id = models.CharField(max_length=256)  # Saleor's TransactionItem global ID
    transaction_token = models.CharField(max_length=64, db_index=True)
    payment_url = models.TextField(blank=True, default="")
    gateway = models.CharField(max_length=32, blank=True, default="")  # "" : the payment page
    # Saleor was told it is authorized: a cancellation or expiry is then a CANCEL_SUCCESS.
    authorized = models.BooleanField(default=False)
    created_at = models.FloatField()

    class Meta:
        app_label = "saleor_multisafepay_refund_app"

    def __str__(self) -> str:
        return str(self.msp_order_id)


class RefundedTransaction(models.Model):
    """Which Saleor transaction a ledger key belongs to, kept at its first refund: the App's
    page shows each Saleor's staff their own refunds, with Saleor's order number."""

    payment_id = models.CharField(max_length=64, unique=True)  # the ledger's key (txn:<token>)
    saleor_api_url = models.CharField(max_length=512, db_index=True)
    channel_slug = models.CharField(max_length=256)
    transaction_id = models.CharField(max_length=256)  # Saleor's TransactionItem global ID
    order_number = models.CharField(max_length=64, blank=True, default="")
    msp_order_id = models.CharField(max_length=64, db_index=True)
    created_at = models.FloatField()

    class Meta:
        app_label = "saleor_multisafepay_refund_app"

    def __str__(self) -> str:
        return f"{self.payment_id} {self.transaction_id}"
