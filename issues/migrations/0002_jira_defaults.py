"""Seed Jira's usual statuses, issue types, priorities and resolutions (admin-editable afterwards)."""

from django.db import migrations

STATUSES = [
    ("To Do", "todo", 1),
    ("In Progress", "in_progress", 2),
    ("In Review", "in_progress", 3),
    ("Done", "done", 4),
]
TYPES = [
    ("Epic", "A big user story that needs to be broken down.", False, "⚡", 1),
    ("Story", "A user story.", False, "📗", 2),
    ("Task", "A task that needs to be done.", False, "☑", 3),
    ("Bug", "A problem which impairs or prevents the functions of the product.", False, "🐞", 4),
    ("Sub-task", "A part of a larger issue.", True, "↳", 5),
]
PRIORITIES = [
    ("Highest", 1, "#d04437"),
    ("High", 2, "#f15c75"),
    ("Medium", 3, "#f79232"),
    ("Low", 4, "#707070"),
    ("Lowest", 5, "#999999"),
]
RESOLUTIONS = ["Done", "Fixed", "Won't Do", "Won't Fix", "Duplicate", "Cannot Reproduce", "Incomplete"]


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
