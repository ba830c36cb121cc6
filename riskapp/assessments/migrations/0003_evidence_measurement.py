from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("assessments", "0002_evidence_model"),
    ]

    operations = [
        migrations.AddField(
            model_name="evidence",
            name="measurement",
            field=models.JSONField(blank=True, default=dict),
        ),
    ]
