import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("imports", "0003_job_files_expired"),
    ]

    operations = [
        migrations.AddField(
            model_name="job",
            name="stage_seconds",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.CreateModel(
            name="ImportChunk",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("index", models.PositiveIntegerField()),
                ("name", models.CharField(max_length=500)),
                ("file_index", models.PositiveSmallIntegerField(default=0)),
                ("byte_start", models.PositiveBigIntegerField(default=0)),
                ("byte_end", models.PositiveBigIntegerField(default=0)),
                ("first_record", models.PositiveBigIntegerField()),
                ("count", models.PositiveIntegerField()),
                ("first_line", models.PositiveBigIntegerField(blank=True, null=True)),
                ("lines", models.JSONField(blank=True, null=True)),
                (
                    "state",
                    models.CharField(
                        choices=[("pending", "Pending"), ("running", "Running"), ("done", "Done")],
                        default="pending",
                        max_length=8,
                    ),
                ),
                ("lease_owner", models.CharField(blank=True, default="", max_length=64)),
                ("lease_until", models.DateTimeField(blank=True, null=True)),
                ("attempts", models.PositiveSmallIntegerField(default=0)),
                ("pending_parents", models.JSONField(blank=True, default=list)),
                (
                    "job",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="chunks", to="imports.job"
                    ),
                ),
            ],
            options={
                "ordering": ["job", "index"],
                "indexes": [models.Index(fields=["job", "state"], name="importchunk_job_state")],
                "constraints": [models.UniqueConstraint(fields=("job", "index"), name="importchunk_job_index")],
            },
        ),
    ]
