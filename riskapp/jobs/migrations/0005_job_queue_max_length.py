from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("jobs", "0004_job_priority"),
    ]

    operations = [
        migrations.AlterField(
            model_name="job",
            name="queue",
            field=models.CharField(max_length=64),
        ),
    ]
