"""Writes to issues: every change goes through here so keys, history and caches stay right."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Collection, Iterable, Sequence
from typing import Any, Protocol

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import ImproperlyConfigured, PermissionDenied, ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import Storage
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, models, transaction
from django.db.models import F, Model, Sum
from django.template.defaultfilters import filesizeformat
from django.utils import timezone

from accounts.models import display_name
from issues import events, files, pagecache
from issues.custom_fields import value_parts
from issues.jql import JQLError, check_values, compile_jql
from issues.models import (
    Attachment,
    Comment,
    CustomField,
    CustomFieldType,
    CustomFieldValue,
    History,
    Issue,
    IssueKeyAlias,
    IssueLink,
    IssueLinkType,
    IssueType,
    Label,
    Membership,
    NavigatorPreference,
    Priority,
    Project,
    Resolution,
    Role,
    SavedFilter,
    Status,
    StatusCategory,
)
from issues.permissions import (
    can_change_worklog,
    can_edit_in,
    can_see_in,
    project_role,
    require_admin,
    require_comment_delete,
    require_comment_edit,
    require_edit,
)
from issues.rendering import mentioned_usernames, render_markdown
from issues.rollups import issue_children_changing_send
from issues.schemas import MAX_ISSUE_NUMBER, normalize_newlines
from issues.selectors import issue_subtree_ids
from issues.workflows import Workflow, workflow_for

User = get_user_model()
logger = logging.getLogger("taskra.attachments")

# Free text fields: stored with LF line ends (schemas.normalize_newlines), whatever the browser posts.
TEXT_FIELDS = frozenset({"summary", "description"})

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
    # Numbers are int4 in the database: a full counter is a clear error, not an overflow (imports keep Jira's keys).
    updated = Project.objects.filter(pk=project_id, issue_counter__lte=MAX_ISSUE_NUMBER - count).update(
        issue_counter=F("issue_counter") + count
    )
    if not updated:
        key = Project.objects.filter(pk=project_id).values_list("key", flat=True).first()
        if key is None:
            raise Project.DoesNotExist(f"project {project_id} does not exist")
        raise ValidationError(f"Project {key} has used every issue number up to {MAX_ISSUE_NUMBER}.")
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


def workflow_first_status(workflow: Workflow) -> Status:
    """Return where a new issue of the workflow's project starts: its first 'to do' status, else its first."""
    first = next((s for s in workflow.steps if s.category == StatusCategory.TODO), None) or next(
        iter(workflow.steps), None
    )
    if first is None:
        return default_status()
    return Status.objects.get(pk=first.status_id)


def issue_status_check(*, workflow: Workflow, from_status: Status | int | None, to_status: Status | int) -> None:
    """Raise ValidationError({"status": ...}) when the project's workflow refuses the move (issues.workflows)."""
    error = workflow.error(from_status, to_status)
    if error is not None:
        raise ValidationError({"status": error})


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


def custom_field_find(*, field: str) -> CustomField | None:
    """Return the custom field a source names: by Jira id ("customfield_10010"), else by name.

    A name matches a field known by name only, else the one field of that name (a CSV names the fields a
    JSON or backup import brought with their ids).
    """
    if field.startswith("customfield_"):
        return CustomField.objects.filter(jira_id=field).first()
    bare = CustomField.objects.filter(jira_id="", name__iexact=field).first()
    if bare is not None:
        return bare
    named = list(CustomField.objects.filter(name__iexact=field)[:2])
    return named[0] if len(named) == 1 else None


@transaction.atomic
def custom_field_get_or_create(*, field: str, name: str | None, field_type: str | None) -> CustomField:
    """Return the custom field a source names, creating it (text unless the source gives the type).

    A field known by its id without a name (a Jira search page without expand=names) takes the name a later
    source gives; a field known by name takes the Jira id a later source gives it. The type of an existing
    field is kept (an administrator may have changed it). Who may create fields is the caller's check.
    """
    found = custom_field_find(field=field)
    jira_id = field if field.startswith("customfield_") else ""
    if found is None and jira_id and name:
        found = CustomField.objects.filter(jira_id="", name__iexact=name).first()
        if found is not None:
            found.jira_id = jira_id
            found.save(update_fields=["jira_id"])
    if found is None:
        kind = field_type if field_type in CustomFieldType.values else CustomFieldType.TEXT
        found, _ = CustomField.objects.get_or_create(
            jira_id=jira_id, name=(name or field)[:255] if jira_id else field[:255], defaults={"type": kind}
        )
    elif name and found.name == found.jira_id and name != found.name:
        found.name = name[:255]
        found.save(update_fields=["name"])
    return found


@transaction.atomic
def custom_field_update(*, field: CustomField, name: str, field_type: str) -> int:
    """Rename a custom field or change its type; return how many values no longer fit the new type.

    A new type re-reads every value's typed columns from its texts (issues.custom_fields); a value that does
    not fit keeps its text (shown and searched as before) with empty typed columns.
    """
    old_type = CustomField.objects.values_list("type", flat=True).get(pk=field.pk)
    field.name, field.type = name, field_type
    field.save(update_fields=["name", "type"])
    if old_type == field_type:
        return 0
    misfits = 0
    batch: list[CustomFieldValue] = []
    for value in CustomFieldValue.objects.filter(field=field).only("id", "text", "values").iterator(chunk_size=2000):
        try:
            parts = value_parts(field_type, value.values or [value.text])
            value.number, value.date, value.moment = parts.number, parts.date, parts.moment
        except ValueError:
            misfits += 1
            value.number = value.date = value.moment = None
        batch.append(value)
        if len(batch) >= 2000:
            CustomFieldValue.objects.bulk_update(batch, ["number", "date", "moment"])
            batch = []
    if batch:
        CustomFieldValue.objects.bulk_update(batch, ["number", "date", "moment"])
    return misfits


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


class TypeLike(Protocol):
    """What the hierarchy rule reads of an issue type (an IssueType)."""

    @property
    def name(self) -> str: ...
    @property
    def is_subtask(self) -> bool: ...


# The type whose issues parent standard issues (Jira's Epic; issues.defaults seeds it). Types are matched by name:
# IssueType has no hierarchy column, and the name is what Jira exports carry.
EPIC_TYPE_NAME = "Epic"
# How far up a parent chain the rule walks: far beyond any valid hierarchy (three levels), and a bound on bad data.
HIERARCHY_WALK_LIMIT = 100


def is_epic_type(issue_type: TypeLike) -> bool:
    """Return whether issues of this type may parent standard issues (Story, Task, Bug)."""
    return issue_type.name.casefold() == EPIC_TYPE_NAME.casefold()


def issue_parent_error(
    *,
    issue_id: int | None,
    issue_key: str,
    has_subtasks: bool,
    parent: ParentLike | None,
    project_id: int,
    issue_type: TypeLike | None = None,
    parent_type: TypeLike | None = None,
    parent_ancestor_ids: Collection[int] = (),
    child_types: Collection[TypeLike] = (),
) -> str | None:
    """Return why `parent` may not be the parent of the issue, or None when it may (no queries).

    The hierarchy is Jira's: an Epic has no parent; a standard issue (Story, Task, Bug) has none or an Epic;
    a sub-task has a parent that is not a sub-task; parents are in the issue's project; no issue is its own
    ancestor. `issue_id` is None for an issue being created.

    The type rules apply when `issue_type` and `parent_type` are given (issue_parent_check loads them; the
    checks of the issue's own sub-tasks read `child_types`). Without types (the import writer loads
    `has_subtasks` and the parent rows for a whole chunk in one query each and calls this per row) the rule is
    the structural one: a parent that has a parent is a sub-task, and an issue with sub-tasks is no sub-task.
    `parent_ancestor_ids` (the parent's parent, its parent, ...) catches loops through rows written before the
    rules; without it the parent's own parent is checked.
    """
    typed = issue_type is not None
    if typed and child_types:
        assert issue_type is not None  # for mypy: typed
        if issue_type.is_subtask:
            return f"{issue_key} has sub-tasks: an issue with sub-tasks cannot be a sub-task."
        standard = next((t for t in child_types if not t.is_subtask), None)
        if standard is not None and not is_epic_type(issue_type):
            return f"{issue_key} has a {standard.name} under it: only an Epic can be the parent of a {standard.name}."
    if parent is None:
        if typed and issue_type is not None and issue_type.is_subtask:
            return "A sub-task needs a parent issue."
        return None
    if parent.project_id != project_id:
        return "A sub-task must be in its parent's project."
    if issue_id is not None and (parent.pk == issue_id or parent.parent_id == issue_id):
        return "An issue cannot be its own parent or its sub-task's sub-task."
    if issue_id is not None and issue_id in parent_ancestor_ids:
        return f"{parent.key} is below {issue_key}: a parent link cannot make a loop."
    if typed and parent_type is not None:
        assert issue_type is not None  # for mypy: typed
        if is_epic_type(issue_type):
            return "An Epic cannot have a parent."
        if parent_type.is_subtask:
            return f"{parent.key} is a sub-task itself: sub-tasks cannot have sub-tasks."
        if (has_subtasks or child_types) and not is_epic_type(parent_type):
            return f"{issue_key} has sub-tasks: an issue with sub-tasks cannot be a sub-task."
        if not issue_type.is_subtask and not is_epic_type(parent_type):
            return f"{parent.key} is a {parent_type.name}: only an Epic can be the parent of a {issue_type.name}."
        return None
    if parent.parent_id is not None:
        return f"{parent.key} is a sub-task itself: sub-tasks cannot have sub-tasks."
    if has_subtasks:
        return f"{issue_key} has sub-tasks: an issue with sub-tasks cannot be a sub-task."
    return None


def issue_ancestor_rows(*, issue_id: int) -> list[tuple[int, int | None, int]]:
    """Return (id, parent id, type id) of the issue and of each issue above it, nearest first.

    Stops at a row seen before, so a parent loop written before the rules (or straight to the database) ends
    the walk instead of looping; and after HIERARCHY_WALK_LIMIT rows. One query per level (a valid hierarchy
    has at most three).
    """
    rows: list[tuple[int, int | None, int]] = []
    seen: set[int] = set()
    current: int | None = issue_id
    while current is not None and current not in seen and len(rows) < HIERARCHY_WALK_LIMIT:
        seen.add(current)
        row = Issue.objects.filter(pk=current).values_list("pk", "parent_id", "type_id").first()
        if row is None:
            break
        rows.append(row)
        current = row[1]
    return rows


def issue_parent_check(
    *, issue: Issue | None, parent: ParentLike | None, project_id: int, issue_type: IssueType | None = None
) -> None:
    """Raise ValidationError({"parent": ...}) unless `parent` may be the parent of `issue` (of `issue_type`).

    The one home of the hierarchy rule (see issue_parent_error) for forms, the JSON API, the admin and the
    services; `issue` is None for an issue being created, `issue_type` is the type it will have (default: the
    type it has). A parent of None checks that the issue may stand alone (a sub-task may not). Queries: the
    types (one), the parent's chain (one per level) and, for an existing issue, its sub-tasks' types (one).
    """
    if issue_type is None and issue is not None:
        issue_type = issue.type
    if issue is None and parent is None:
        if issue_type is not None and issue_type.is_subtask:  # a new issue on its own: no query
            raise ValidationError({"parent": "A sub-task needs a parent issue."})
        return
    issue_id = issue.pk if issue is not None else None
    types = IssueType.objects.in_bulk()
    child_types = (
        [types[t] for t in Issue.objects.filter(parent_id=issue_id).values_list("type_id", flat=True).distinct()]
        if issue_id is not None
        else []
    )
    chain = issue_ancestor_rows(issue_id=parent.pk) if parent is not None else []
    error = issue_parent_error(
        issue_id=issue_id,
        issue_key=issue.key if issue is not None else "",
        has_subtasks=bool(child_types),
        parent=parent,
        project_id=project_id,
        issue_type=issue_type,
        parent_type=types.get(chain[0][2]) if chain else None,
        parent_ancestor_ids=[pk for pk, _parent, _type in chain[1:]],
        child_types=child_types,
    )
    if error is not None:
        raise ValidationError({"parent": error})


def default_subtask_type() -> IssueType:
    """Return the type a new child of an issue gets when none is given (the first sub-task type)."""
    found = IssueType.objects.filter(is_subtask=True).first()
    if found is None:
        raise ImproperlyConfigured("No sub-task issue type: add one in the admin.")
    return found


def issue_assignee_check(*, project_id: int, assignee: Any | None, current_id: int | None) -> None:
    """Raise ValidationError({"assignee": ...}) unless `assignee` may be given issues of the project.

    An active member may; so may the issue's current assignee, whoever it is (an imported assignee, someone who
    left the project): forms offer them as they are, and sending them back is no change. A new non-member is
    refused. One query.
    """
    if assignee is None or assignee.pk == current_id:
        return
    if not Membership.objects.filter(project_id=project_id, user_id=assignee.pk, user__is_active=True).exists():
        key = Project.objects.filter(pk=project_id).values_list("key", flat=True).first()
        raise ValidationError({"assignee": f"{display_name(assignee)} is not a member of {key}."})


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
    # Without a type, a child of an issue is a sub-task (the "create sub-task" link proposes the same).
    type = type or (default_subtask_type() if parent is not None else default_type())
    issue_parent_check(issue=None, parent=parent, project_id=project.pk, issue_type=type)
    workflow = workflow_for(project)
    if status is None:
        status = workflow_first_status(workflow)
    else:
        issue_status_check(workflow=workflow, from_status=None, to_status=status)
    number = allocate_issue_numbers(project_id=project.pk)
    now = timezone.now()
    issue = Issue(
        project=project,
        number=number,
        key=f"{project.key}-{number}",
        summary=normalize_newlines(summary).strip(),
        description=normalize_newlines(description),
        type=type,
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
    actor_id = reporter.pk if reporter is not None else None
    events.emit(
        events.IssueEvent(
            events.CREATED, actor_id, (issue.pk,), {"assignee_id": assignee.pk if assignee is not None else None}
        )
    )
    _emit_mentions(issue_id=issue.pk, actor_id=actor_id, text=issue.description, before="")
    return issue


def _excerpt(text: str) -> str:
    """Return the start of a text for a notification line: one line, at most 200 characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= 200 else flat[:199] + "…"


def _emit_mentions(*, issue_id: int, actor_id: int | None, text: str, before: str) -> None:
    """Emit a mention event for the @names in `text` that `before` (the previous text) did not have."""
    if "@" not in text:
        return
    names = [
        n
        for n in mentioned_usernames(render_markdown(text))
        if n not in set(mentioned_usernames(render_markdown(before)))
    ]
    if names:
        data = {"usernames": names, "excerpt": _excerpt(text)}
        events.emit(events.IssueEvent(events.MENTIONED, actor_id, (issue_id,), data))


@transaction.atomic
def issue_update(*, issue: Issue, actor: Any | None, data: dict[str, Any], check_permission: bool = True) -> list[str]:
    """Apply the given field values, write history for what changed, and return the changed field names.

    `data` holds only the fields to change (a partial update); `labels` is a list of names. A new parent or
    type is checked against the hierarchy rule (issue_parent_check); text is stored with LF line ends. With
    check_permission (every entry point but the Django admin, which staff permissions govern) a new assignee
    must be a member of the project (issue_assignee_check).
    """
    if check_permission:
        _check_can_edit(actor, issue.project_id)
    unknown = set(data) - set(EDITABLE_FIELDS) - {"labels"}
    if unknown:
        raise ValidationError(f"Unknown fields: {', '.join(sorted(unknown))}")
    if "summary" in data and not (data["summary"] or "").strip():
        raise ValidationError({"summary": "Summary is required."})
    parent_moves = "parent" in data and getattr(data["parent"], "pk", None) != issue.parent_id
    type_changes = data.get("type") is not None and data["type"].pk != issue.type_id
    if parent_moves or type_changes:
        # A new parent or a new type: the hierarchy rule holds for the result (a sub-task turned into a Task
        # keeps its parent only under an Epic). Rows left as they are keep what they have.
        issue_parent_check(
            issue=issue,
            parent=data.get("parent", issue.parent),
            project_id=issue.project_id,
            issue_type=data.get("type") or issue.type,
        )
    if check_permission and "assignee" in data:
        issue_assignee_check(project_id=issue.project_id, assignee=data["assignee"], current_id=issue.assignee_id)
    if data.get("status") is not None and data["status"].pk != issue.status_id:
        # Every entry point, the Django admin included: the workflow is the project's rule, not a permission.
        issue_status_check(workflow=workflow_for(issue.project), from_status=issue.status_id, to_status=data["status"])
    now = timezone.now()
    changes: dict[str, tuple[Any, Any]] = {}  # field -> (old, new), in EDITABLE_FIELDS order
    for field in EDITABLE_FIELDS:
        if field not in data:
            continue
        new = data[field]
        old = getattr(issue, field)
        if field in TEXT_FIELDS:
            # Text is stored with LF line ends; stored CRLF (older saves) is no reason to record a change.
            new = normalize_newlines(new)
            if field == "summary":
                new = new.strip()
            if normalize_newlines(old) == new:
                continue
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
    _emit_update_events(issue=issue, actor_id=actor.pk if actor is not None else None, changes=changes)
    return [f for f in dict.fromkeys(changed_fields) if f != "resolved"]


def _emit_update_events(*, issue: Issue, actor_id: int | None, changes: dict[str, tuple[Any, Any]]) -> None:
    """Emit the events of an issue update: assigned, status changed, new @mentions in the description."""
    if "assignee" in changes:
        new = changes["assignee"][1]
        data = {"assignee_id": new.pk if new is not None else None, "assignee": history_text(new)}
        events.emit(events.IssueEvent(events.ASSIGNED, actor_id, (issue.pk,), data))
    if "status" in changes:
        events.emit(events.IssueEvent(events.STATUS, actor_id, (issue.pk,), {"status": history_text(issue.status)}))
    if "description" in changes:
        old, new = changes["description"]
        _emit_mentions(issue_id=issue.pk, actor_id=actor_id, text=new or "", before=old or "")


@transaction.atomic
def issue_delete(*, issue: Issue, actor: Any | None) -> int:
    """Delete an issue with its sub-tasks, comments, worklogs and history; return how many issues went.

    Project admins only, as Jira's default "Delete Issues" permission: members edit, admins delete.
    """
    if actor is not None:
        require_admin(actor, issue.project_id)
    # Issues linked to the deleted ones (it and its sub-tasks) list them: their pages go too.
    subtree = issue_subtree_ids(issue=issue)
    links = IssueLink.objects.values_list
    linked = [
        *links("inward_issue_id", "inward_issue__project_id").filter(outward_issue_id__in=subtree),
        *links("outward_issue_id", "outward_issue__project_id").filter(inward_issue_id__in=subtree),
    ]
    if linked:
        pagecache.invalidate_on_commit([r[0] for r in linked], [r[1] for r in linked])
    attachment_files_delete_on_commit(Attachment.objects.filter(issue_id__in=subtree))
    rollups_after = issue_children_changing_send(issue_ids=[issue.pk])  # worklog time goes with the issues
    _total, per_model = Issue.objects.filter(pk=issue.pk).delete()  # cascades to sub-tasks, comments, worklogs
    rollups_after()
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
    body = normalize_newlines(body).strip()
    comment = Comment.objects.create(issue=issue, author=author, body=body, created=now, updated=now)
    Issue.objects.filter(pk=issue.pk).update(updated=now)
    author_id = author.pk if author is not None else None
    data = {"comment_id": comment.pk, "excerpt": _excerpt(body)}
    events.emit(events.IssueEvent(events.COMMENTED, author_id, (issue.pk,), data))
    _emit_mentions(issue_id=issue.pk, actor_id=author_id, text=body, before="")
    return comment


@transaction.atomic
def comment_update(*, comment: Comment, actor: Any, body: str) -> Comment:
    """Change the body of one's own comment (actor None: the Django admin)."""
    if actor is not None:
        project_id = Issue.objects.filter(pk=comment.issue_id).values_list("project_id", flat=True).get()
        require_comment_edit(actor, author_id=comment.author_id, project_id=project_id)
    if not body or not body.strip():
        raise ValidationError({"body": "A comment cannot be empty."})
    before = comment.body
    comment.body = normalize_newlines(body).strip()
    comment.updated = timezone.now()
    comment.save(update_fields=["body", "updated"])
    _emit_mentions(issue_id=comment.issue_id, actor_id=comment.author_id, text=comment.body, before=before)
    return comment


@transaction.atomic
def comment_delete(*, comment: Comment, actor: Any) -> None:
    """Delete a comment: one's own, or any as a project admin; the issue's pages are retired at commit."""
    project_id = Issue.objects.filter(pk=comment.issue_id).values_list("project_id", flat=True).get()
    if actor is not None:
        require_comment_delete(actor, author_id=comment.author_id, project_id=project_id)
    issue_id = comment.issue_id
    comment.delete()
    # Jira keeps no trace of a deleted comment; a team wants to know who removed whose: one history row. Not the
    # words: a deleted comment is gone from the page.
    written_by = display_name(comment.author) if comment.author else "a deleted user"
    history_record_rows(
        changes=[(issue_id, "comment", f"Comment by {written_by}", "")],
        author_id=actor.pk if actor is not None else None,
        when=timezone.now(),
    )
    # Deletes send no page-cache signals (issues.signals): the one invalidation of this write, at commit.
    pagecache.invalidate_on_commit([issue_id], [project_id])


# ---------------------------------------------------------------------------------------------------------
# Issue links: "DEMO-1 blocks DEMO-2" is IssueLink(type=Blocks, outward_issue=DEMO-1, inward_issue=DEMO-2).
# ---------------------------------------------------------------------------------------------------------


def issue_not_found_message(key: str) -> str:
    """Return the error for an issue that is missing or that the actor may not see (never told apart)."""
    return f"Issue {key} does not exist or you do not have permission to see it."


def _link_check(*, actor: Any, issues: Sequence[Issue], source: Issue, field: str) -> None:
    """Raise unless the actor sees every issue (else "not found", as for a missing key) and may edit `source`."""
    roles = {issue.project_id: project_role(actor, issue.project_id) for issue in issues}
    for issue in issues:
        if not can_see_in(roles[issue.project_id]):
            raise ValidationError({field: issue_not_found_message(issue.key)})
    if not can_edit_in(roles[source.project_id]):
        raise PermissionDenied(f"You may not link issues of {source.key}.")


def _link_history(*, link: IssueLink, actor: Any | None, removed: bool, when: dt.datetime) -> None:
    """Record the link on both issues, as Jira's changelog does ("Link": "This issue blocks DEMO-2").

    History is shown to everyone who sees the issue, so across projects the other key is left out: the viewers
    of one project need not see the other (the links section shows it to those who may).
    """
    link_type = link.type
    same = link.outward_issue.project_id == link.inward_issue.project_id
    outward_other = link.inward_issue.key if same else "an issue of another project"
    inward_other = link.outward_issue.key if same else "an issue of another project"
    sides = [
        (link.outward_issue_id, f"This issue {link_type.outward} {outward_other}"),
        (link.inward_issue_id, f"This issue {link_type.inward} {inward_other}"),
    ]
    history_record_rows(
        changes=[(issue_id, "link", text if removed else "", "" if removed else text) for issue_id, text in sides],
        author_id=actor.pk if actor is not None else None,
        when=when,
    )


@transaction.atomic
def issue_link_create(
    *,
    actor: Any | None,
    link_type: IssueLinkType,
    outward_issue: Issue,
    inward_issue: Issue,
    source: Issue | None = None,
) -> IssueLink:
    """Link two issues so that `outward_issue` <link_type.outward> `inward_issue` ("DEMO-1 blocks DEMO-2").

    The actor must see both issues (one they may not see is "not found", exactly like a missing key) and
    may edit `source`, the issue the link is made from (default: outward_issue). actor None: a system
    write (imports), unchecked. A link that exists already (for a symmetric type such as "relates to",
    either way round) and a link of an issue to itself are errors. Both issues record it in history;
    both pages are retired at commit (the IssueLink receiver in issues.signals).
    """
    source = source or outward_issue
    if source.pk not in (outward_issue.pk, inward_issue.pk):
        raise ValueError("source must be one of the linked issues")
    if actor is not None:
        _link_check(actor=actor, issues=[outward_issue, inward_issue], source=source, field="issue")
    if outward_issue.pk == inward_issue.pk:
        raise ValidationError({"issue": "An issue cannot be linked to itself."})
    taken = ValidationError({"issue": f"{outward_issue.key} already {link_type.outward} {inward_issue.key}."})
    pairs = [(outward_issue.pk, inward_issue.pk)]
    if link_type.outward == link_type.inward:  # symmetric: "A relates to B" is "B relates to A"
        pairs.append((inward_issue.pk, outward_issue.pk))
    existing = IssueLink.objects.filter(type=link_type, outward_issue_id=pairs[0][0], inward_issue_id=pairs[0][1])
    for out_id, in_id in pairs[1:]:
        existing = existing | IssueLink.objects.filter(type=link_type, outward_issue_id=out_id, inward_issue_id=in_id)
    if existing.exists():
        raise taken
    try:
        with transaction.atomic():  # a concurrent identical link: the unique constraint, as a clear error
            link = IssueLink.objects.create(type=link_type, outward_issue=outward_issue, inward_issue=inward_issue)
    except IntegrityError:
        raise taken from None
    _link_history(link=link, actor=actor, removed=False, when=link.created)
    return link


@transaction.atomic
def issue_link_delete(*, link: IssueLink, actor: Any | None, source: Issue | None = None) -> None:
    """Remove a link: the actor must see both issues and may edit `source` (default: the outward issue).

    Deletes send no page-cache signals (issues.signals): both issues' pages are retired here, at commit.
    """
    link = IssueLink.objects.select_related("type", "outward_issue", "inward_issue").get(pk=link.pk)
    source = source or link.outward_issue
    if source.pk not in (link.outward_issue_id, link.inward_issue_id):
        raise ValueError("source must be one of the linked issues")
    if actor is not None:
        _link_check(actor=actor, issues=[link.outward_issue, link.inward_issue], source=source, field="link")
    link.delete()
    _link_history(link=link, actor=actor, removed=True, when=timezone.now())
    pagecache.invalidate_on_commit(
        [link.outward_issue_id, link.inward_issue_id], [link.outward_issue.project_id, link.inward_issue.project_id]
    )


# ---------------------------------------------------------------------------------------------------------
# Clone and move
# ---------------------------------------------------------------------------------------------------------

CLONE_PREFIX = "CLONE - "


@transaction.atomic
def issue_clone(*, issue: Issue, actor: Any) -> Issue:
    """Create a copy of the issue in its project (new key) linked to it: "NEW clones OLD", as Jira's Clone.

    Copies summary (prefixed "CLONE - "), description, type, priority, labels, parent, due date and estimate;
    the assignee when still an active member. Comments, worklogs, attachments and sub-tasks stay with the original.
    """
    _check_can_edit(actor, issue.project_id)
    assignee = issue.assignee
    if (
        assignee is not None
        and not Membership.objects.filter(
            project_id=issue.project_id, user_id=assignee.pk, user__is_active=True
        ).exists()
    ):
        assignee = None
    clone = issue_create(
        project=issue.project,
        reporter=actor,
        summary=f"{CLONE_PREFIX}{issue.summary}"[:255],
        description=issue.description,
        type=issue.type,
        priority=issue.priority,
        assignee=assignee,
        labels=list(issue.labels.values_list("name", flat=True)),
        parent=issue.parent,
        due_date=issue.due_date,
        original_estimate=issue.original_estimate,
        check_permission=False,  # checked above
    )
    cloners = IssueLinkType.objects.filter(name="Cloners").first()
    if cloners is not None:  # the admin may have removed the type: the copy is still made
        issue_link_create(actor=None, link_type=cloners, outward_issue=clone, inward_issue=issue)
    return clone


@transaction.atomic
def issue_move(*, issue: Issue, actor: Any | None, project: Project) -> Issue:
    """Move an issue (with its sub-tasks) to another project: new keys; the old keys keep resolving (IssueKeyAlias).

    The actor must be able to edit issues in both projects. A sub-task moves with its parent only, and an Epic
    whose issues are in its project must lose them first (parents are in their issue's project). The issue
    leaves its own parent (which stays behind); an assignee who is not a member of the new project is removed.
    Each moved issue records "project" and "key" in its history.
    """
    if actor is not None:
        require_edit(actor, issue.project_id)
        require_edit(actor, project.pk, f"You may not create issues in {project.key}.")
    if project.pk == issue.project_id:
        raise ValidationError({"project": f"{issue.key} is already in {project.key}."})
    if issue.type.is_subtask:
        raise ValidationError({"project": "A sub-task moves with its parent: move the parent instead."})
    subtasks = list(issue.subtasks.select_related("type").order_by("number"))
    if any(not sub.type.is_subtask for sub in subtasks):
        raise ValidationError(
            {"project": f"Remove the issues of {issue.key} from it first: they stay in their project."}
        )
    if Issue.objects.filter(parent__parent=issue).exists():
        raise ValidationError(
            {"project": f"Remove the issues of {issue.key} from it first: they stay in their project."}
        )
    first = allocate_issue_numbers(project_id=project.pk, count=1 + len(subtasks))
    now = timezone.now()
    member_ids = set(Membership.objects.filter(project=project, user__is_active=True).values_list("user_id", flat=True))
    old_project = issue.project
    rollups_after = issue_children_changing_send(issue_ids=[issue.pk])  # worklog time follows the issues
    changes: list[tuple[int, str, Any, Any]] = []
    aliases = []
    for offset, moved in enumerate([issue, *subtasks]):
        old_key = moved.key
        moved.project = project
        moved.number = first + offset
        moved.key = f"{project.key}-{moved.number}"
        moved.updated = now
        fields = ["project", "number", "key", "updated"]
        if moved.assignee_id is not None and moved.assignee_id not in member_ids:
            changes.append((moved.pk, "assignee_id", moved.assignee_id, None))
            moved.assignee = None
            fields.append("assignee")
        if moved is issue and moved.parent_id is not None:
            changes.append((moved.pk, "parent_id", moved.parent_id, None))
            moved.parent = None
            fields.append("parent")
        changes += [(moved.pk, "project", old_project.key, project.key), (moved.pk, "key", old_key, moved.key)]
        aliases.append(IssueKeyAlias(key=old_key, issue=moved))
        # Saved one by one: the receivers retire the old and new projects' pages, and the old parent's.
        moved.save(update_fields=fields)
    # An alias may already name a key involved (an issue moved back and forth): the newest move wins, and a
    # key that is an issue's own again needs no alias.
    new_keys = [moved.key for moved in [issue, *subtasks]]
    IssueKeyAlias.objects.filter(key__in=[a.key for a in aliases] + new_keys).delete()
    IssueKeyAlias.objects.bulk_create(aliases)
    history_record_rows(changes=changes, author_id=actor.pk if actor is not None else None, when=now)
    rollups_after()
    return issue


# ---------------------------------------------------------------------------------------------------------
# Attachments: files on an issue, typed by their bytes, within a size limit and a per-person quota.
# ---------------------------------------------------------------------------------------------------------


def attachment_files_storage() -> Storage:
    """Return the storage attachment files are in: the model field's (settings.STORAGES["attachments"])."""
    field = Attachment._meta.get_field("file")
    assert isinstance(field, models.FileField)
    return field.storage


def attachment_files_delete_on_commit(attachments: Any) -> None:
    """Delete the stored files (and thumbnails) of these attachments once the deleting transaction commits.

    Read before the rows go; a rollback keeps the files. A file that cannot be deleted is logged, never an error:
    the rows are gone already.
    """
    names = [name for pair in attachments.values_list("file", "thumbnail") for name in pair if name]
    if not names:
        return

    def delete_files() -> None:
        storage = attachment_files_storage()
        for name in names:
            try:
                storage.delete(name)
            except OSError as exc:
                logger.warning("could not delete attachment file %s: %s", name, exc)

    transaction.on_commit(delete_files, robust=True)


def attachment_quota_check(*, user: Any, sizes: Sequence[int]) -> None:
    """Raise ValidationError unless each file is within the size limit and the person's total within the quota."""
    limit = settings.TASKRA_ATTACHMENT_MAX_BYTES
    if any(size > limit for size in sizes):
        raise ValidationError(f"A file may be at most {filesizeformat(limit)}.", code="too_big")
    quota = settings.TASKRA_ATTACHMENT_USER_QUOTA_BYTES
    used = Attachment.objects.filter(author_id=user.pk).aggregate(total=Sum("size"))["total"] or 0
    if used + sum(sizes) > quota:
        raise ValidationError(
            f"These files would bring your attachments to {filesizeformat(used + sum(sizes))}: "
            f"your quota is {filesizeformat(quota)}. Delete some attachments first.",
            code="quota",
        )


@transaction.atomic
def attachment_add(*, issue: Issue, author: Any, uploads: Sequence[UploadedFile]) -> list[Attachment]:
    """Attach files to an issue (members and admins); all or none.

    Each file's type is sniffed from its bytes (issues.files.sniff): one named or declared as an image that is
    not one is refused, as is an image over TASKRA_ATTACHMENT_MAX_PIXELS; images get a thumbnail. Sizes are
    checked against TASKRA_ATTACHMENT_MAX_BYTES and the author's quota (TASKRA_ATTACHMENT_USER_QUOTA_BYTES),
    under a lock on the author's row so two uploads cannot both pass the quota. Files written before an error
    are deleted again.
    """
    _check_can_edit(author, issue.project_id)
    if not uploads:
        raise ValidationError({"files": "Choose at least one file."})
    User.objects.select_for_update().filter(pk=author.pk).first()  # the quota: one upload of a person at a time
    sizes = [upload.size or 0 for upload in uploads]
    try:
        attachment_quota_check(user=author, sizes=sizes)
    except ValidationError as exc:
        raise ValidationError({"files": exc.message}) from None
    max_pixels = settings.TASKRA_ATTACHMENT_MAX_PIXELS
    now = timezone.now()
    created: list[Attachment] = []
    stored: list[str] = []
    try:
        for upload, size in zip(uploads, sizes, strict=True):
            name = (upload.name or "file").replace("\\", "/").rsplit("/", 1)[-1][:255] or "file"
            try:
                found = files.sniff(upload, filename=name, claimed=upload.content_type or "", max_pixels=max_pixels)
                thumb = files.thumbnail(upload, max_pixels=max_pixels) if found.width else None
            except ValidationError as exc:
                raise ValidationError({"files": f"{name}: {exc.message}"}) from None
            upload.seek(0)
            attachment = Attachment(
                issue=issue, author=author, filename=name, content_type=found.content_type, size=size,
                width=found.width, height=found.height, created=now,
            )  # fmt: skip
            attachment.file.save(name, upload, save=False)
            stored.append(attachment.file.name or "")
            if thumb is not None:
                attachment.thumbnail.save(f"{name}.png", ContentFile(thumb), save=False)
                stored.append(attachment.thumbnail.name or "")
            attachment.save(force_insert=True)
            created.append(attachment)
    except BaseException:
        storage = attachment_files_storage()
        for stored_name in filter(None, stored):
            storage.delete(stored_name)
        raise
    Issue.objects.filter(pk=issue.pk).update(updated=now)
    history_record_rows(
        changes=[(issue.pk, "attachment", "", a.filename) for a in created], author_id=author.pk, when=now
    )
    return created


@transaction.atomic
def attachment_delete(*, attachment: Attachment, actor: Any | None) -> None:
    """Delete an attachment: one's own as a member, any as a project admin; the file goes after the commit."""
    project_id = Issue.objects.filter(pk=attachment.issue_id).values_list("project_id", flat=True).get()
    if actor is not None:
        role = project_role(actor, project_id)
        if not can_edit_in(role):
            raise PermissionDenied("Viewers cannot delete attachments.")
        if not can_change_worklog(role, author_id=attachment.author_id, user_id=actor.pk):
            raise PermissionDenied("You can only delete your own attachments.")
    attachment_files_delete_on_commit(Attachment.objects.filter(pk=attachment.pk))
    Attachment.objects.filter(pk=attachment.pk).delete()
    history_record_rows(
        changes=[(attachment.issue_id, "attachment", attachment.filename, "")],
        author_id=actor.pk if actor is not None else None,
        when=timezone.now(),
    )
    # Deletes send no page-cache signals (issues.signals): the one invalidation of this write, at commit.
    pagecache.invalidate_on_commit([attachment.issue_id], [project_id])


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
def navigator_preference_save(
    *, user: Any, columns: Sequence[str] | None = None, sort: str | None = None, direction: str | None = None
) -> NavigatorPreference:
    """Remember the navigator columns and/or column sort the user chose (None leaves a part as it was).

    Callers pass values the navigator already validated (navigator_columns, navigator_order); a sort of ""
    forgets the sort. Writes only what changed.
    """
    preference, _created = NavigatorPreference.objects.get_or_create(user_id=user.pk)
    changed: list[str] = []
    if columns is not None and ",".join(columns)[:255] != preference.columns:
        preference.columns = ",".join(columns)[:255]
        changed.append("columns")
    if sort is not None:
        direction = (direction or "asc") if sort else ""
        if (sort, direction) != (preference.sort, preference.direction):
            preference.sort, preference.direction = sort[:40], direction
            changed += ["sort", "direction"]
    if changed:
        preference.save(update_fields=changed)
    return preference


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
