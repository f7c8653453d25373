from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = []  # type: ignore[var-annotated]

    operations = [
        migrations.CreateModel(
            name="RefundLedgerEntry",
            fields=[
                ("entry_id", models.CharField(max_length=32, primary_key=True, serialize=False)),
                ("payment_id", models.CharField(db_index=True, max_length=64)),
                ("msp_order_id", models.CharField(db_index=True, max_length=64)),
                ("lines", models.JSONField(blank=True, default=dict)),
                ("amount", models.DecimalField(decimal_places=3, max_digits=20)),
                ("currency", models.CharField(max_length=3)),
                ("body_fingerprint", models.CharField(blank=True, max_length=64)),
                ("state", models.CharField(max_length=16)),
                ("refund_id", models.CharField(blank=True, max_length=64, null=True)),
                ("refunds_before", models.JSONField(blank=True, default=list)),
                ("error", models.TextField(blank=True)),
                ("external", models.BooleanField(default=False)),
                ("created_at", models.FloatField()),
                ("updated_at", models.FloatField()),
            ],
            options={"ordering": ("created_at",)},
        ),
    ]
