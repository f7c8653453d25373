from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("saleor_multisafepay_refund_app", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="RefundedTransaction",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("payment_id", models.CharField(max_length=64, unique=True)),
                ("saleor_api_url", models.CharField(db_index=True, max_length=512)),
                ("channel_slug", models.CharField(max_length=256)),
                ("transaction_id", models.CharField(max_length=256)),
                ("order_number", models.CharField(blank=True, default="", max_length=64)),
                ("msp_order_id", models.CharField(db_index=True, max_length=64)),
                ("created_at", models.FloatField()),
            ],
        ),
    ]
