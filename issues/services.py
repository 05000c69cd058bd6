"""Writes to issues: every change goes through here so keys, history and caches stay right."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import ImproperlyConfigured, PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F, Model
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
    Membership,
    Priority,
    Project,
    Resolution,
    Role,
    SavedFilter,
    Status,
    StatusCategory,
)
from issues.permissions import can_see_in, project_role, require_admin, require_edit

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


def project_counters_raise(*, highest: dict[int, int]) -> None:
    """Raise each project's key counter to at least the given number (project id -> highest number used).

    For writers that keep numbers from elsewhere (imports keep Jira's keys): the counter never goes down,
    so allocate_issue_numbers never hands out a key that exists. Must run inside the writing transaction.
    """
    for project_id, number in highest.items():
        Project.objects.filter(pk=project_id, issue_counter__lt=number).update(issue_counter=number)


# ---------------------------------------------------------------------------------------------------------
# The resolution rule: one Python form for rows and batches, and its SQL form for set-based batch writers.
# ---------------------------------------------------------------------------------------------------------


def done_resolution_id() -> int | None:
    """Return the id of the resolution an issue gets when it enters a done status without one (Done)."""
    return Resolution.objects.filter(name="Done").values_list("pk", flat=True).first()


def resolution_for_status(
    *,
    done: bool,
    resolution_id: int | None,
    resolved: dt.datetime | None,
    done_resolution: int | None,
    now: dt.datetime,
) -> tuple[int | None, dt.datetime | None]:
    """Return the (resolution id, resolved time) of an issue in a done or a not-done status category.

    Jira's rule: entering a done-category status resolves the issue: it keeps the resolution it has (or
    was given) or gets `done_resolution`, and keeps the time it was resolved (moving between two done
    statuses) or is resolved `now`. A status of any other category clears both.
    """
    if not done:
        return None, None
    return (resolution_id if resolution_id is not None else done_resolution), (resolved or now)


def resolution_for_status_sql(*, done: bool, row: str) -> tuple[str, str]:
    """Return SQL expressions of resolution_for_status for the columns of table alias `row`.

    The same rule for writers that change a whole chunk in one statement (issues.bulk): the statement
    binds `%(done_resolution)s` and `%(now)s`. Returns (resolution_id expression, resolved expression).
    issues/tests/test_services_rules.py checks that both forms give the same values.
    """
    if not done:
        return "NULL::bigint", "NULL::timestamptz"
    return (
        f"COALESCE({row}.resolution_id, %(done_resolution)s::bigint)",
        f"COALESCE({row}.resolved, %(now)s::timestamptz)",
    )


# ---------------------------------------------------------------------------------------------------------
# History text: how values read in the history tab, for single issues and batches.
# ---------------------------------------------------------------------------------------------------------

# Relations whose ids batch writers pass (attname -> model): history shows their names.
HISTORY_RELATIONS: dict[str, type[Model]] = {
    "type_id": IssueType,
    "status_id": Status,
    "priority_id": Priority,
    "resolution_id": Resolution,
    "assignee_id": User,
    "reporter_id": User,
    "parent_id": Issue,
}
HISTORY_SKIPPED = frozenset({"source", "external_id"})  # bookkeeping columns, not shown in history


def history_text(value: Any) -> str:
    """Return how a value reads in history: '' for none, a user's display name, an issue's key, ISO dates."""
    if value is None:
        return ""
    if isinstance(value, AbstractBaseUser):
        return display_name(value)
    if isinstance(value, Issue):
        return value.key
    if isinstance(value, dt.date):  # datetimes too
        return value.isoformat()
    return str(value)


def history_labels_text(names: Iterable[str]) -> str:
    """Return how a set of labels reads in history: the names sorted by code point, space-separated."""
    return " ".join(sorted(names))


def history_texts(*, field: str, ids: Iterable[int]) -> dict[int, str]:
    """Return the history text of each related row of a relation column (e.g. status_id), in one query."""
    model = HISTORY_RELATIONS[field]
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    qs = model._default_manager.filter(pk__in=wanted)
    if model is User:
        qs = qs.select_related("profile")
    return {obj.pk: history_text(obj) for obj in qs}


def history_record_rows(
    *, changes: Iterable[tuple[int, str, Any, Any]], author_id: int | None, when: dt.datetime
) -> int:
    """Write one History row per (issue id, field, old, new) whose texts differ; return how many.

    Values are model instances or plain values, or ids when the field is a relation column in
    HISTORY_RELATIONS (`status_id`: its names are looked up once per field for the whole batch).
    """
    changes = [c for c in changes if c[1] not in HISTORY_SKIPPED]
    texts = {
        field: history_texts(field=field, ids=[v for c in changes if c[1] == field for v in (c[2], c[3])])
        for field in {c[1] for c in changes} & HISTORY_RELATIONS.keys()
    }

    def show(field: str, value: Any) -> str:
        if field in texts and value is not None:
            return texts[field].get(value, str(value))
        return history_text(value)

    rows = []
    for issue_id, field, old, new in changes:
        before, after = show(field, old), show(field, new)
        if before != after:
            name = field.removesuffix("_id") if field in HISTORY_RELATIONS else field
            rows.append(
                History(
                    issue_id=issue_id, author_id=author_id, created=when, field=name, from_value=before, to_value=after
                )
            )
    History.objects.bulk_create(rows, batch_size=1000)
    return len(rows)


def default_type() -> IssueType:
    """Return the type new issues get when none is given (Task)."""
    found = IssueType.objects.filter(name="Task").first() or IssueType.objects.filter(is_subtask=False).first()
    if found is None:
        # Migration 0002 seeds the Jira types; an empty table means someone deleted them all.
        raise ImproperlyConfigured("No issue type to give a new issue: add one in the admin.")
    return found


def default_status() -> Status:
    """Return the first 'to do' status: where new issues start."""
    found = Status.objects.filter(category=StatusCategory.TODO).order_by("position").first() or Status.objects.first()
    if found is None:
        # Migration 0002 seeds the Jira statuses; an empty table means someone deleted them all.
        raise ImproperlyConfigured("No status to give a new issue: add one in the admin.")
    return found


def default_priority() -> Priority:
    """Return Medium, or the middle priority when Medium was renamed."""
    found = Priority.objects.filter(name="Medium").first()
    if found:
        return found
    priorities = list(Priority.objects.order_by("rank"))
    if not priorities:
        # Migration 0002 seeds the Jira priorities; an empty table means someone deleted them all.
        raise ImproperlyConfigured("No priority to give a new issue: add one in the admin.")
    return priorities[len(priorities) // 2]


def labels_get_or_create(names: Iterable[str]) -> list[Label]:
    """Return Label rows for the names, creating missing ones in one statement."""
    wanted = sorted({n.strip() for n in names if n and n.strip()})
    if not wanted:
        return []
    Label.objects.bulk_create([Label(name=n) for n in wanted], ignore_conflicts=True)
    return list(Label.objects.filter(name__in=wanted))


@transaction.atomic
def project_get_or_create(*, key: str, name: str, lead: Any | None) -> Project:
    """Return the project with this key, creating it when missing with `lead` as lead and admin member.

    For system writers (imports): who may create projects is the caller's check.
    """
    project, created = Project.objects.get_or_create(key=key, defaults={"name": name[:200], "lead": lead})
    if created and lead is not None:
        Membership.objects.get_or_create(project=project, user=lead, defaults={"role": Role.ADMIN})
    return project


def _check_can_edit(actor: Any, project_id: int) -> None:
    if actor is not None:  # system writes (imports, seed) carry no actor
        require_edit(actor, project_id)


class ParentLike(Protocol):
    """What the hierarchy rule reads of a parent: an Issue, or a row the import writer loaded in bulk."""

    # Read-only, so that an immutable row (the import writer's NamedTuple) fits as well as an Issue.
    @property
    def pk(self) -> int: ...
    @property
    def key(self) -> str: ...
    @property
    def project_id(self) -> int: ...
    @property
    def parent_id(self) -> int | None: ...


def issue_parent_error(
    *, issue_id: int | None, issue_key: str, has_subtasks: bool, parent: ParentLike, project_id: int
) -> str | None:
    """Return why `parent` may not be the parent of the issue, or None when it may (no queries).

    The hierarchy has two levels, as in Jira: a sub-task's parent is in the same project, is not a sub-task
    itself, and is neither the issue nor one of its sub-tasks; an issue with sub-tasks cannot become one.
    `issue_id` is None for an issue being created. Batch writers (imports) load `has_subtasks` for a whole
    chunk in one query and call this per row; everyone else calls issue_parent_check.
    """
    if parent.project_id != project_id:
        return "A sub-task must be in its parent's project."
    if issue_id is not None and (parent.pk == issue_id or parent.parent_id == issue_id):
        return "An issue cannot be its own parent or its sub-task's sub-task."
    if parent.parent_id is not None:
        return f"{parent.key} is a sub-task itself: sub-tasks cannot have sub-tasks."
    if has_subtasks:
        return f"{issue_key} has sub-tasks: an issue with sub-tasks cannot be a sub-task."
    return None


def issue_parent_check(*, issue: Issue | None, parent: ParentLike | None, project_id: int) -> None:
    """Raise ValidationError({"parent": ...}) unless `parent` may be the parent of `issue` in the project.

    The one home of the hierarchy rule (see issue_parent_error) for forms, the JSON API, the admin and the
    services; `issue` is None for an issue being created. One query when the issue exists (its sub-tasks).
    """
    if parent is None:
        return
    issue_id = issue.pk if issue is not None else None
    error = issue_parent_error(
        issue_id=issue_id,
        issue_key=issue.key if issue is not None else "",
        has_subtasks=issue_id is not None and Issue.objects.filter(parent_id=issue_id).exists(),
        parent=parent,
        project_id=project_id,
    )
    if error is not None:
        raise ValidationError({"parent": error})


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
    issue_parent_check(issue=None, parent=parent, project_id=project.pk)
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
    done = status.category == StatusCategory.DONE
    issue.resolution_id, issue.resolved = resolution_for_status(
        done=done, resolution_id=None, resolved=None, done_resolution=done_resolution_id() if done else None, now=now
    )
    issue.save(force_insert=True)
    if labels:
        issue.labels.set(labels_get_or_create(labels))
    return issue


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
    if "parent" in data and data["parent"] is not None and data["parent"].pk != issue.parent_id:
        issue_parent_check(issue=issue, parent=data["parent"], project_id=issue.project_id)
    now = timezone.now()
    changes: dict[str, tuple[Any, Any]] = {}  # field -> (old, new), in EDITABLE_FIELDS order
    for field in EDITABLE_FIELDS:
        if field not in data:
            continue
        new = data[field]
        if field == "summary":
            new = new.strip()
        old = getattr(issue, field)
        if old == new:
            continue
        changes[field] = (old, new)
        setattr(issue, field, new)
    changed_fields = list(changes)
    if "status" in changes:
        done = issue.status.category == StatusCategory.DONE
        resolution_id, issue.resolved = resolution_for_status(
            done=done,
            resolution_id=issue.resolution_id,
            resolved=issue.resolved,
            done_resolution=done_resolution_id() if done and issue.resolution_id is None else None,
            now=now,
        )
        if resolution_id != issue.resolution_id:
            before = changes["resolution"][0] if "resolution" in changes else issue.resolution
            issue.resolution = Resolution.objects.get(pk=resolution_id) if resolution_id is not None else None
            changes["resolution"] = (before, issue.resolution)
            changed_fields.append("resolution")
        changed_fields.append("resolved")
    if "labels" in data:
        old_names = list(issue.labels.values_list("name", flat=True))
        new_labels = labels_get_or_create(data["labels"])
        new_names = [label.name for label in new_labels]
        if sorted(old_names) != sorted(new_names):
            issue.labels.set(new_labels)
            changes["labels"] = (history_labels_text(old_names), history_labels_text(new_names))
            changed_fields.append("labels")
    if not changes:
        return []
    issue.updated = now
    model_fields = [f for f in dict.fromkeys(changed_fields) if f != "labels"]
    issue.save(update_fields=[*model_fields, "updated"])
    history_record_rows(
        changes=[(issue.pk, field, old, new) for field, (old, new) in changes.items()],
        author_id=actor.pk if actor is not None else None,
        when=now,
    )
    return [f for f in dict.fromkeys(changed_fields) if f != "resolved"]


@transaction.atomic
def issue_delete(*, issue: Issue, actor: Any | None) -> int:
    """Delete an issue with its sub-tasks, comments, worklogs and history; return how many issues went.

    Project admins only, as Jira's default "Delete Issues" permission: members edit, admins delete.
    """
    if actor is not None:
        require_admin(actor, issue.project_id)
    _total, per_model = Issue.objects.filter(pk=issue.pk).delete()  # cascades to sub-tasks, comments, worklogs
    # The parent's page lists its sub-tasks; the project bump retires the sub-tasks' own pages (their rows
    # are read at the project's generation) and the result pages.
    # Deletes send no page-cache signals (issues.signals): the one invalidation of this write, at commit.
    pagecache.invalidate_on_commit([issue.pk, issue.parent_id], [issue.project_id])
    return per_model[Issue._meta.label]


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
    if shared_with is not None and not can_see_in(project_role(owner, shared_with.pk)):
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
