"""Index (project, status, priority, id): the navigator reads a project's issues of one status one priority at a
time in id order (issues.keyset.LOOKUP_RANKS) instead of sorting every match by the priority's rank."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("issues", "0008_merge_integ"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="issue",
            index=models.Index(fields=["project", "status", "priority", "id"], name="issue_project_status_priority"),
        ),
    ]
