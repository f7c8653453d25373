"""The App's Django application: its own tables and migrations (the ledger's are the root
package's)."""

from django.apps import AppConfig


class MultiSafepayAppConfig(AppConfig):
    name = "saleor_multisafepay_refund.app"
    label = "saleor_multisafepay_refund_app"
    verbose_name = "MultiSafepay Saleor App"
    default_auto_field = "django.db.models.BigAutoField"
