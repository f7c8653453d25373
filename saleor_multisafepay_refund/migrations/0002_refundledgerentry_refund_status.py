from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("saleor_multisafepay_refund", "0001_initial")]

    operations = [
        migrations.AddField(
            model_name="refundledgerentry",
            name="refund_status",
            field=models.CharField(blank=True, default="", max_length=32),
        ),
    ]
