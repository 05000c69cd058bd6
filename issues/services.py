"""Writes to issues: every change goes through here so keys, history and caches stay right."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F, IntegerField, OuterRef, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import display_name
from issues import pagecache
from issues.jql import JQLError, check_values, compile_jql
from issues.models import (
    Comment,
    History,
    Issue,
    IssueType,
    Label,
    Priority,
    Project,
    Resolution,
    Role,
    SavedFilter,
    Status,
    StatusCategory,
)
from issues.permissions import can_edit_in, project_role
from worklogs.models import Worklog

User = get_user_model()

# Fields issue_update may change, with how each is shown in history.
EDITABLE_FIELDS = (
    "summary",
    "description",
    "type",
    "status",
    "priority",
    "resolution",
    "assignee",
    "reporter",
    "parent",
    "due_date",
    "original_estimate",
    "remaining_estimate",
)


def allocate_issue_numbers(*, project_id: int, count: int = 1) -> int:
    """Reserve `count` consecutive issue numbers in a project and return the first.

    The UPDATE takes the project's row lock until the surrounding transaction ends,
    so concurrent creators queue up: no gaps (a rollback returns the numbers) and
    no duplicates. Must run inside a transaction.
    """
    if count < 1:
        raise ValueError("count must be positive")
    updated = Project.objects.filter(pk=project_id).update(issue_counter=F("issue_counter") + count)
    if not updated:
        raise Project.DoesNotExist(f"project {project_id} does not exist")
    last = Project.objects.filter(pk=project_id).values_list("issue_counter", flat=True).get()
    return last - count + 1


def default_type() -> IssueType:
    """Return the type new issues get when none is given (Task)."""
    return IssueType.objects.filter(name="Task").first() or IssueType.objects.filter(is_subtask=False).first()


def default_status() -> Status:
    """Return the first 'to do' status: where new issues start."""
    return Status.objects.filter(category=StatusCategory.TODO).order_by("position").first() or Status.objects.first()


def default_priority() -> Priority:
    """Return Medium, or the middle priority when Medium was renamed."""
    found = Priority.objects.filter(name="Medium").first()
    if found:
        return found
    priorities = list(Priority.objects.order_by("rank"))
    return priorities[len(priorities) // 2]


def labels_get_or_create(names: Iterable[str]) -> list[Label]:
    """Return Label rows for the names, creating missing ones in one statement."""
    wanted = sorted({n.strip() for n in names if n and n.strip()})
    if not wanted:
        return []
    Label.objects.bulk_create([Label(name=n) for n in wanted], ignore_conflicts=True)
    return list(Label.objects.filter(name__in=wanted))


def _check_can_edit(actor: Any, project_id: int) -> None:
    if actor is None:  # system writes (imports, seed) carry no actor
        return
    if not can_edit_in(project_role(actor, project_id)):
        raise PermissionDenied("You may not change issues in this project.")


@transaction.atomic
def issue_create(
    *,
    project: Project,
    reporter: Any | None,
    summary: str,
    description: str = "",
    type: IssueType | None = None,
    status: Status | None = None,
    priority: Priority | None = None,
    assignee: Any | None = None,
    labels: Sequence[str] = (),
    parent: Issue | None = None,
    due_date: dt.date | None = None,
    original_estimate: int | None = None,
    remaining_estimate: int | None = None,
    check_permission: bool = True,
) -> Issue:
    """Create an issue with the next key of its project."""
    if check_permission:
        _check_can_edit(reporter, project.pk)
    if not summary or not summary.strip():
        raise ValidationError({"summary": "Summary is required."})
    if parent is not None and parent.project_id != project.pk:
        raise ValidationError({"parent": "A sub-task must be in its parent's project."})
    number = allocate_issue_numbers(project_id=project.pk)
    now = timezone.now()
    status = status or default_status()
    issue = Issue(
        project=project,
        number=number,
        key=f"{project.key}-{number}",
        summary=summary.strip(),
        description=description,
        type=type or default_type(),
        status=status,
        priority=priority or default_priority(),
        assignee=assignee,
        reporter=reporter,
        parent=parent,
        due_date=due_date,
        original_estimate=original_estimate,
        # Jira starts the remaining estimate at the original one.
        remaining_estimate=remaining_estimate if remaining_estimate is not None else original_estimate,
        created=now,
        updated=now,
    )
    if status.category == StatusCategory.DONE:
        issue.resolution = Resolution.objects.filter(name="Done").first()
        issue.resolved = now
    issue.save(force_insert=True)
    if labels:
        issue.labels.set(labels_get_or_create(labels))
    return issue


def _display(field: str, value: Any) -> str:
    """Return how a field value reads in history."""
    if value is None:
        return ""
    if field in ("assignee", "reporter"):
        return display_name(value)
    if field == "parent":
        return value.key
    if field in ("original_estimate", "remaining_estimate"):
        return str(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def history_record(*, issue: Issue, author: Any | None, changes: list[tuple[str, str, str]], when: dt.datetime) -> None:
    """Write one History row per (field, from, to) change."""
    History.objects.bulk_create(
        [
            History(issue=issue, author=author, created=when, field=field, from_value=old, to_value=new)
            for field, old, new in changes
            if old != new
        ]
    )


@transaction.atomic
def issue_update(*, issue: Issue, actor: Any | None, data: dict[str, Any], check_permission: bool = True) -> list[str]:
    """Apply the given field values, write history for what changed, and return the changed field names.

    `data` holds only the fields to change (a partial update); `labels` is a list of names.
    """
    if check_permission:
        _check_can_edit(actor, issue.project_id)
    unknown = set(data) - set(EDITABLE_FIELDS) - {"labels"}
    if unknown:
        raise ValidationError(f"Unknown fields: {', '.join(sorted(unknown))}")
    if "summary" in data and not (data["summary"] or "").strip():
        raise ValidationError({"summary": "Summary is required."})
    if "parent" in data and data["parent"] is not None:
        parent = data["parent"]
        if parent.pk == issue.pk or parent.parent_id == issue.pk:
            raise ValidationError({"parent": "An issue cannot be its own parent or its sub-task's sub-task."})
        if parent.project_id != issue.project_id:
            raise ValidationError({"parent": "A sub-task must be in its parent's project."})
    now = timezone.now()
    changes: list[tuple[str, str, str]] = []
    changed_fields: list[str] = []
    for field in EDITABLE_FIELDS:
        if field not in data:
            continue
        new = data[field]
        if field == "summary":
            new = new.strip()
        old = getattr(issue, field)
        if old == new:
            continue
        changes.append((field, _display(field, old), _display(field, new)))
        setattr(issue, field, new)
        changed_fields.append(field)
    if "status" in changed_fields:
        # Jira: entering a done status resolves the issue, leaving one reopens it.
        if issue.status.category == StatusCategory.DONE and issue.resolution_id is None and "resolution" not in data:
            resolution = Resolution.objects.filter(name="Done").first()
            if resolution is not None:
                changes.append(("resolution", "", resolution.name))
                issue.resolution = resolution
                changed_fields.append("resolution")
        if (
            issue.status.category != StatusCategory.DONE
            and issue.resolution_id is not None
            and "resolution" not in data
        ):
            changes.append(("resolution", _display("resolution", issue.resolution), ""))
            issue.resolution = None
            changed_fields.append("resolution")
        # Moving between two done statuses keeps the date the issue was resolved.
        if issue.status.category != StatusCategory.DONE:
            issue.resolved = None
        elif issue.resolved is None:
            issue.resolved = now
        changed_fields.append("resolved")
    if "labels" in data:
        old_names = sorted(issue.labels.values_list("name", flat=True))
        new_labels = labels_get_or_create(data["labels"])
        new_names = sorted(label.name for label in new_labels)
        if old_names != new_names:
            issue.labels.set(new_labels)
            changes.append(("labels", " ".join(old_names), " ".join(new_names)))
            changed_fields.append("labels")
    if not changes:
        return []
    issue.updated = now
    model_fields = [f for f in dict.fromkeys(changed_fields) if f != "labels"]
    issue.save(update_fields=[*model_fields, "updated"])
    history_record(issue=issue, author=actor, changes=changes, when=now)
    return [f for f in dict.fromkeys(changed_fields) if f != "resolved"]


@transaction.atomic
def issue_delete(*, issue: Issue, actor: Any | None) -> int:
    """Delete an issue with its sub-tasks, comments, worklogs and history; return how many issues went.

    Project admins only, as Jira's default "Delete Issues" permission: members edit, admins delete.
    """
    if actor is not None and project_role(actor, issue.project_id) != Role.ADMIN:
        raise PermissionDenied("Only project admins may delete issues.")
    _total, per_model = Issue.objects.filter(pk=issue.pk).delete()  # cascades to sub-tasks, comments, worklogs
    # The parent's page lists its sub-tasks; the project bump retires the sub-tasks' own pages (their rows
    # are read at the project's generation) and the result pages.
    # Deletes send no page-cache signals (issues.signals): the one invalidation of this write, at commit.
    pagecache.invalidate_on_commit([issue.pk, issue.parent_id], [issue.project_id])
    return per_model[Issue._meta.label]


def issue_recalculate_time_spent(*, issue_ids: Iterable[int]) -> int:
    """Set time_spent of the issues to the sum of their worklogs in one UPDATE; return rows updated.

    Bulk paths (imports, seed, admin bulk deletes) call this instead of maintaining
    running totals row by row.
    """
    ids = list(issue_ids)
    if not ids:
        return 0
    total = (
        Worklog.objects.filter(issue_id=OuterRef("pk"))
        .order_by()
        .values("issue_id")
        .annotate(total=Sum("time_spent"))
        .values("total")
    )
    updated = 0
    for start in range(0, len(ids), 5000):
        chunk = ids[start : start + 5000]
        updated += Issue.objects.filter(pk__in=chunk).update(
            time_spent=Coalesce(Subquery(total, output_field=IntegerField()), Value(0))
        )
    return updated


@transaction.atomic
def comment_add(*, issue: Issue, author: Any, body: str, check_permission: bool = True) -> Comment:
    """Add a comment to an issue."""
    if check_permission:
        _check_can_edit(author, issue.project_id)
    if not body or not body.strip():
        raise ValidationError({"body": "A comment cannot be empty."})
    now = timezone.now()
    comment = Comment.objects.create(issue=issue, author=author, body=body.strip(), created=now, updated=now)
    Issue.objects.filter(pk=issue.pk).update(updated=now)
    return comment


@transaction.atomic
def comment_update(*, comment: Comment, actor: Any, body: str) -> Comment:
    """Change the body of one's own comment."""
    if actor is not None and comment.author_id != actor.pk:
        raise PermissionDenied("You can only edit your own comments.")
    if not body or not body.strip():
        raise ValidationError({"body": "A comment cannot be empty."})
    comment.body = body.strip()
    comment.updated = timezone.now()
    comment.save(update_fields=["body", "updated"])
    return comment


# ---------------------------------------------------------------------------------------------------------
# Saved filters (issue navigator): private to the owner, or shared with one project the owner belongs to.
# ---------------------------------------------------------------------------------------------------------


def _saved_filter_clean(*, owner: Any, name: str, jql: str, shared_with: Project | None) -> tuple[str, str]:
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": "Give the filter a name."})
    if len(name) > 100:
        raise ValidationError({"name": "A filter name has at most 100 characters."})
    try:
        check_values(compile_jql(jql or "", user=owner), user=owner)
    except JQLError as exc:
        raise ValidationError({"jql": str(exc)}) from None
    if shared_with is not None and project_role(owner, shared_with.pk) is None:
        raise ValidationError({"shared_with": "You can only share a filter with a project you are a member of."})
    return name, (jql or "").strip()


@transaction.atomic
def saved_filter_create(
    *, owner: Any, name: str, jql: str, columns: Sequence[str] = (), shared_with: Project | None = None
) -> SavedFilter:
    """Save a JQL query under a name (unique per owner), private or shared with a project's members."""
    name, jql = _saved_filter_clean(owner=owner, name=name, jql=jql, shared_with=shared_with)
    if SavedFilter.objects.filter(owner=owner, name=name).exists():
        raise ValidationError({"name": f"You already have a filter named '{name}'."})
    return SavedFilter.objects.create(
        owner=owner, name=name, jql=jql, columns=",".join(columns)[:255], shared_with=shared_with
    )


@transaction.atomic
def saved_filter_update(
    *,
    saved_filter: SavedFilter,
    actor: Any,
    name: str,
    jql: str,
    columns: Sequence[str] = (),
    shared_with: Project | None = None,
) -> SavedFilter:
    """Change one's own saved filter (name, query, columns, sharing)."""
    if saved_filter.owner_id != actor.pk:
        raise PermissionDenied("Only the owner can change a saved filter.")
    name, jql = _saved_filter_clean(owner=actor, name=name, jql=jql, shared_with=shared_with)
    if SavedFilter.objects.filter(owner=actor, name=name).exclude(pk=saved_filter.pk).exists():
        raise ValidationError({"name": f"You already have a filter named '{name}'."})
    saved_filter.name, saved_filter.jql = name, jql
    saved_filter.columns = ",".join(columns)[:255]
    saved_filter.shared_with = shared_with
    saved_filter.save(update_fields=["name", "jql", "columns", "shared_with"])
    return saved_filter


@transaction.atomic
def saved_filter_delete(*, saved_filter: SavedFilter, actor: Any) -> None:
    """Delete one's own saved filter."""
    if saved_filter.owner_id != actor.pk:
        raise PermissionDenied("Only the owner can delete a saved filter.")
    saved_filter.delete()
