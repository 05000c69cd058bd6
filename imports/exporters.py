"""Export issues as Taskra JSON Lines (docs/imports.md): the format imports read back without loss."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, BinaryIO

from django.db.models import Prefetch, QuerySet

from issues.models import Comment, Issue
from taskra_site.adapters import dumps
from worklogs.models import Worklog


def _user(user: Any) -> dict[str, Any] | None:
    if user is None:
        return None
    profile = getattr(user, "profile", None)
    out: dict[str, Any] = {"username": user.username}
    if profile is not None and profile.account_id:
        out["account_id"] = profile.account_id
    if user.email:
        out["email"] = user.email
    if profile is not None and profile.display_name:
        out["display_name"] = profile.display_name
    return out


def issue_lines(issues: QuerySet[Issue], *, batch: int = 500) -> Iterator[bytes]:
    """Yield one JSON line per issue with its worklogs and comments, reading the issues in batches."""
    qs = (
        issues.select_related(
            "project",
            "type",
            "status",
            "priority",
            "resolution",
            "parent",
            "assignee__profile",
            "reporter__profile",
        )
        .prefetch_related(
            "labels",
            Prefetch("worklogs", queryset=Worklog.objects.select_related("author__profile").order_by("started", "pk")),
            Prefetch("comments", queryset=Comment.objects.select_related("author__profile").order_by("created", "pk")),
        )
        .order_by("pk")
    )
    for issue in qs.iterator(chunk_size=batch):
        record = {
            "key": issue.key,
            "external_id": issue.external_id if issue.external_id else str(issue.pk),
            "project_name": issue.project.name,
            "summary": issue.summary,
            "description": issue.description,
            "type": issue.type.name,
            "status": issue.status.name,
            "status_category": issue.status.category,
            "priority": issue.priority.name,
            "resolution": issue.resolution.name if issue.resolution else None,
            "assignee": _user(issue.assignee),
            "reporter": _user(issue.reporter),
            "labels": sorted(label.name for label in issue.labels.all()),
            "parent": issue.parent.key if issue.parent else None,
            "due_date": issue.due_date,
            "original_estimate": issue.original_estimate,
            "remaining_estimate": issue.remaining_estimate,
            "created": issue.created,
            "updated": issue.updated,
            "resolved": issue.resolved,
            "worklogs": [
                {
                    "external_id": w.external_id or f"worklog-{w.pk}",
                    "author": _user(w.author),
                    "started": w.started,
                    "time_spent": w.time_spent,
                    "comment": w.comment,
                    "created": w.created,
                    "updated": w.updated,
                }
                for w in issue.worklogs.all()
            ],
            "comments": [
                {
                    "external_id": c.external_id or f"comment-{c.pk}",
                    "author": _user(c.author),
                    "body": c.body,
                    "created": c.created,
                    "updated": c.updated,
                }
                for c in issue.comments.all()
            ],
        }
        yield dumps(record) + b"\n"


def export_jsonl(*, issues: QuerySet[Issue], out: BinaryIO) -> int:
    """Write the issues to `out` as Taskra JSON Lines; return how many were written."""
    count = 0
    for line in issue_lines(issues):
        out.write(line)
        count += 1
    return count
