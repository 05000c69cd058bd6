"""Jira's usual statuses, issue types, priorities and resolutions, re-created after every migrate/flush.

The data migration seeds them once; this post_migrate hook puts back any that are missing (a flush,
as in transactional tests, empties the tables and then emits post_migrate). Rows edited in the admin
are left alone: only missing names are created.
"""

from __future__ import annotations

from typing import Any

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
# Jira's default issue link types: (name, outward description, inward description).
LINK_TYPES = [
    ("Blocks", "blocks", "is blocked by"),
    ("Cloners", "clones", "is cloned by"),
    ("Duplicate", "duplicates", "is duplicated by"),
    ("Relates", "relates to", "relates to"),
]
RESOLUTIONS = ["Done", "Fixed", "Won't Do", "Won't Fix", "Duplicate", "Cannot Reproduce", "Incomplete"]


def ensure_jira_defaults(using: str = "default", **kwargs: Any) -> None:
    """Create whichever default lookup rows are missing (only when a table is empty)."""
    # Imported here: migration 0002 imports this module's lists, and a migration must not load current models.
    from issues.models import IssueLinkType, IssueType, Priority, Resolution, Status

    if not Status.objects.using(using).exists():
        Status.objects.using(using).bulk_create(
            [Status(name=n, category=c, position=p) for n, c, p in STATUSES], ignore_conflicts=True
        )
    if not IssueType.objects.using(using).exists():
        IssueType.objects.using(using).bulk_create(
            [IssueType(name=n, description=d, is_subtask=s, icon=i, position=p) for n, d, s, i, p in TYPES],
            ignore_conflicts=True,
        )
    if not Priority.objects.using(using).exists():
        Priority.objects.using(using).bulk_create(
            [Priority(name=n, rank=r, color=c) for n, r, c in PRIORITIES], ignore_conflicts=True
        )
    if not Resolution.objects.using(using).exists():
        Resolution.objects.using(using).bulk_create(
            [Resolution(name=n, position=p) for p, n in enumerate(RESOLUTIONS, start=1)], ignore_conflicts=True
        )
    if not IssueLinkType.objects.using(using).exists():
        IssueLinkType.objects.using(using).bulk_create(
            [IssueLinkType(name=n, outward=o, inward=i) for n, o, i in LINK_TYPES], ignore_conflicts=True
        )
