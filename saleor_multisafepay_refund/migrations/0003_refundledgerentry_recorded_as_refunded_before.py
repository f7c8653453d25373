from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("saleor_multisafepay_refund", "0002_refundledgerentry_refund_status")]

    operations = [
        migrations.AddField(
            model_name="refundledgerentry",
            name="recorded_as",
            field=models.CharField(blank=True, default="", max_length=64),
        ),
        migrations.AddField(
            model_name="refundledgerentry",
            name="refunded_before",
            field=models.BigIntegerField(blank=True, null=True),
        ),
    ]
