"""Reads of issues, scoped to what the user may see."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from issues.models import Issue, Project
from issues.permissions import visible_project_ids


def projects_visible_to(user: Any) -> QuerySet[Project]:
    """Return the projects the user is a member of."""
    return Project.objects.filter(pk__in=visible_project_ids(user)).only("id", "key", "name")


def issues_visible_to(user: Any) -> QuerySet[Issue]:
    """Return all issues of projects the user is a member of (no joins yet)."""
    return Issue.objects.filter(project_id__in=visible_project_ids(user))


def issue_for_user(*, key: str, user: Any) -> Issue | None:
    """Return the issue with this key if the user may see it, else None (callers answer 404 either way)."""
    return (
        issues_visible_to(user)
        .select_related("project", "type", "status", "priority", "resolution", "assignee__profile",
                        "reporter__profile", "parent")
        .filter(key=key.upper())
        .first()
    )
