from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = []  # type: ignore[var-annotated]

    operations = [
        migrations.CreateModel(
            name="Installation",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("saleor_api_url", models.CharField(max_length=512, unique=True)),
                ("app_id", models.CharField(max_length=256)),
                ("token_encrypted", models.TextField()),
                ("jwks", models.JSONField(default=dict)),
                ("jwks_fetched_at", models.FloatField(default=0.0)),
                ("installed_at", models.FloatField()),
            ],
        ),
        migrations.CreateModel(
            name="TransactionOrder",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("msp_order_id", models.CharField(max_length=64, unique=True)),
                ("saleor_api_url", models.CharField(max_length=512)),
                ("channel_slug", models.CharField(max_length=256)),
                ("transaction_id", models.CharField(max_length=256)),
                ("transaction_token", models.CharField(db_index=True, max_length=64)),
                ("payment_url", models.TextField(blank=True, default="")),
                ("gateway", models.CharField(blank=True, default="", max_length=32)),
                ("authorized", models.BooleanField(default=False)),
                ("created_at", models.FloatField()),
            ],
        ),
        migrations.CreateModel(
            name="ChannelSettings",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("saleor_api_url", models.CharField(max_length=512)),
                ("channel_slug", models.CharField(max_length=256)),
                ("values", models.JSONField(default=dict)),
                ("api_key_encrypted", models.TextField(blank=True, default="")),
                ("updated_at", models.FloatField()),
            ],
            options={
                "unique_together": {("saleor_api_url", "channel_slug")},
            },
        ),
        migrations.CreateModel(
            name="Report",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("saleor_api_url", models.CharField(max_length=512)),
                ("channel_slug", models.CharField(max_length=256)),
                ("transaction_id", models.CharField(max_length=256)),
                ("payment_id", models.CharField(max_length=64)),
                ("psp_reference", models.CharField(max_length=256)),
                ("event_type", models.CharField(blank=True, default="", max_length=32)),
                ("entry_id", models.CharField(blank=True, default="", max_length=32)),
                ("granted_refund_id", models.CharField(blank=True, default="", max_length=256)),
                ("asked", models.DecimalField(decimal_places=3, max_digits=20, null=True)),
                ("amount", models.DecimalField(decimal_places=3, max_digits=20, null=True)),
                ("currency", models.CharField(max_length=3)),
                ("message", models.TextField(blank=True, default="")),
                ("done", models.BooleanField(default=False)),
                ("attempts", models.IntegerField(default=0)),
                ("next_at", models.FloatField(default=0.0)),
                ("last_error", models.TextField(blank=True, default="")),
                ("created_at", models.FloatField()),
            ],
            options={
                "indexes": [models.Index(fields=["done", "next_at"], name="report_due")],
                "unique_together": {
                    ("saleor_api_url", "transaction_id", "psp_reference", "event_type")
                },
            },
        ),
    ]
