"""Seed Jira's usual statuses, issue types, priorities and resolutions (admin-editable afterwards)."""

from django.db import migrations

# One list of defaults for this migration and the post_migrate hook that re-creates them after a flush.
from issues.defaults import PRIORITIES, RESOLUTIONS, STATUSES, TYPES

def seed(apps, schema_editor):
    Status = apps.get_model("issues", "Status")
    IssueType = apps.get_model("issues", "IssueType")
    Priority = apps.get_model("issues", "Priority")
    Resolution = apps.get_model("issues", "Resolution")
    for name, category, position in STATUSES:
        Status.objects.get_or_create(name=name, defaults={"category": category, "position": position})
    for name, description, is_subtask, icon, position in TYPES:
        IssueType.objects.get_or_create(
            name=name, defaults={"description": description, "is_subtask": is_subtask, "icon": icon, "position": position}
        )
    for name, rank, color in PRIORITIES:
        Priority.objects.get_or_create(name=name, defaults={"rank": rank, "color": color})
    for position, name in enumerate(RESOLUTIONS, start=1):
        Resolution.objects.get_or_create(name=name, defaults={"position": position})


class Migration(migrations.Migration):
    dependencies = [("issues", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
