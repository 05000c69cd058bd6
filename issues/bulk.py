"""Bulk change: one set of changes (status, priority, assignee, labels) applied to many issues, chunk by chunk.

The issue service behind the navigator's bulk page and the admin's bulk action (both run it in an
imports job, which supplies the chunks, the lease and the progress). The rules are the issue
services': entering a done status resolves (services.resolution_for_status, or its SQL form), history
reads as services.history_text writes it. On PostgreSQL a chunk is one statement; elsewhere the rows
are compared in Python; both give the same rows, history and invalidations (test_bulk).
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import QuerySet
from django.utils import timezone

from issues import events, pagecache
from issues.jql import JQLError, jql_queryset
from issues.models import History, Issue, IssueLink, Label, Membership, Priority, Project, Status, StatusCategory
from issues.permissions import editable_project_ids, known_users_q
from issues.services import (
    HISTORY_RELATIONS,
    done_resolution_id,
    history_labels_text,
    history_record_rows,
    history_text,
    history_texts,
    labels_get_or_create,
    resolution_for_status,
    resolution_for_status_sql,
)
from issues.workflows import workflows_for
from taskra_site import sql

User = get_user_model()

BULK_FIELDS = ("status", "assignee", "priority", "add_labels", "remove_labels")
UNASSIGNED = "__unassigned__"


def bulk_changes_clean(changes: dict[str, Any], *, user: Any | None = None) -> dict[str, Any]:
    """Return the changes with names resolved to ids; raise ValidationError with a message for bad ones.

    The assignee is looked up among the people `user` shares a project with (None: the system, everyone), so
    an account elsewhere answers "Unknown user" exactly like a missing one.
    """
    out: dict[str, Any] = {}
    if changes.get("status"):
        status = Status.objects.filter(name__iexact=str(changes["status"]).strip()).first() or (
            Status.objects.filter(pk=changes["status"]).first() if str(changes["status"]).isdigit() else None
        )
        if status is None:
            raise ValidationError(f"Unknown status '{changes['status']}'.")
        out["status"] = status.pk
    if changes.get("priority"):
        priority = Priority.objects.filter(name__iexact=str(changes["priority"]).strip()).first() or (
            Priority.objects.filter(pk=changes["priority"]).first() if str(changes["priority"]).isdigit() else None
        )
        if priority is None:
            raise ValidationError(f"Unknown priority '{changes['priority']}'.")
        out["priority"] = priority.pk
    if changes.get("assignee"):
        value = str(changes["assignee"]).strip()
        if value in (UNASSIGNED, "-", "none", "unassigned"):
            out["assignee"] = None
        else:
            people = User.objects.filter(known_users_q(user))
            assignee = people.filter(username=value).first() or (
                people.filter(pk=value).first() if value.isdigit() else None
            )
            if assignee is None:
                raise ValidationError(f"Unknown user '{value}'.")
            out["assignee"] = assignee.pk
    for field in ("add_labels", "remove_labels"):
        names = changes.get(field) or []
        if isinstance(names, str):
            names = names.split()
        names = sorted({n.strip() for n in names if n.strip()})
        for name in names:
            if len(name) > 100 or not re.fullmatch(r"\S+", name):
                raise ValidationError(f"'{name}' is not a label (no spaces, at most 100 characters).")
        if names:
            out[field] = names
    if not out:
        raise ValidationError("Choose at least one change: status, assignee, priority or labels.")
    return out


def bulk_jql_check(*, jql: str, user: Any) -> str:
    """Return the stripped JQL of a bulk change; raise ValidationError when it does not compile."""
    try:
        jql_queryset(jql, user=user).query.sql_with_params()  # compiles: syntax and field errors surface now
    except JQLError as exc:
        raise ValidationError(f"JQL: {exc.message}") from exc
    return jql.strip()


def bulk_selection(*, user: Any | None, jql: str | None) -> QuerySet:
    """Return the issues a bulk change by `user` may touch: the JQL's matches (or all) in projects they edit.

    Without JQL the caller narrows the queryset to its checked ids chunk by chunk. `user` None is a
    system change (the benchmark, the command): every issue. A superuser follows the membership rule like
    everyone (issues.permissions).
    """
    qs = jql_queryset(jql, user=user).order_by() if jql else Issue.objects.all()
    if user is not None:
        qs = qs.filter(project_id__in=editable_project_ids(user))
    return qs


# How many of the affected issues the preview lists (Jira shows the first page of them).
BULK_PREVIEW_SIZE = 50

_CHANGE_LABELS = {
    "status": "Status",
    "priority": "Priority",
    "assignee": "Assignee",
    "add_labels": "Add labels",
    "remove_labels": "Remove labels",
}


@dataclass(frozen=True)
class BulkPreview:
    """What a bulk change would do, shown before anything is written: how many issues, which, what changes."""

    count: int
    issues: list[dict[str, Any]]  # the first BULK_PREVIEW_SIZE: {"id", "key", "summary"}, in the job's order
    changes: list[tuple[str, str]]  # (what, new value) in BULK_FIELDS order
    skipped: int  # checked issues left out: gone, or in projects the user may not edit


def bulk_changes_describe(cleaned: dict[str, Any]) -> list[tuple[str, str]]:
    """Return cleaned changes (bulk_changes_clean) as (what, new value) lines, values as history shows them."""
    lines: list[tuple[str, str]] = []
    for field in BULK_FIELDS:
        if field not in cleaned:
            continue
        value = cleaned[field]
        if field in ("add_labels", "remove_labels"):
            text = history_labels_text(value)
        elif value is None:
            text = "Unassigned"
        else:
            text = history_texts(field=f"{field}_id", ids=[value]).get(value, str(value))
        lines.append((_CHANGE_LABELS[field], text))
    return lines


def bulk_preview(
    *, user: Any, changes: dict[str, Any], issue_ids: Sequence[int | str] | None, jql: str | None
) -> BulkPreview:
    """Return the preview of a bulk change by `user`: the count, the first issues and the changes. Writes nothing.

    The same checks and the same selection as the job (bulk_changes_clean, bulk_jql_check, bulk_selection):
    only issues in projects the user may edit are counted and listed. Raise ValidationError with a message for
    bad changes, bad JQL or no selection. Queries: the changes' names, the count and the first page.
    """
    cleaned = bulk_changes_clean(changes, user=user)  # names only people who share a project with `user`
    wanted: set[int] = set()
    if issue_ids:
        try:
            wanted = {int(i) for i in issue_ids}
        except (TypeError, ValueError) as exc:
            raise ValidationError("Issue ids must be numbers.") from exc
        selection = sql.where_in(bulk_selection(user=user, jql=None), "id", sorted(wanted))
    elif jql and jql.strip():
        selection = bulk_selection(user=user, jql=bulk_jql_check(jql=jql, user=user))
    else:
        raise ValidationError("Select some issues (check rows, or give a JQL query).")
    count = selection.order_by().count()
    first = list(selection.order_by("id").values("id", "key", "summary")[:BULK_PREVIEW_SIZE])
    return BulkPreview(
        count=count,
        issues=first,
        changes=bulk_changes_describe(cleaned),
        skipped=len(wanted) - count if wanted else 0,
    )


def bulk_unassignable(*, issue_ids: list[int], changes: dict[str, Any]) -> list[tuple[int, str, str]]:
    """Return (id, key, message) of the issues the change's new assignee may not be given (one query).

    The assignee rule of issues.services.issue_assignee_check, for a chunk: an active member of the issue's
    project may be assigned; the issue's current assignee stays assignable. The job skips these issues and
    reports each, so nobody is silently assigned issues of a project they are not in.
    """
    assignee_id = changes.get("assignee")
    if assignee_id is None:
        return []
    member_of = Membership.objects.filter(user_id=assignee_id, user__is_active=True).values("project_id")
    refused = (
        sql.where_in(Issue.objects.all(), "id", issue_ids)
        .exclude(project_id__in=member_of)
        .exclude(assignee_id=assignee_id)
        .values_list("pk", "key", "project__key")
    )
    name = history_texts(field="assignee_id", ids=[assignee_id]).get(assignee_id, "The assignee")
    return [(pk, key, f"{name} is not a member of {project}: not changed.") for pk, key, project in refused]


def bulk_untransitionable(*, issue_ids: list[int], changes: dict[str, Any]) -> list[tuple[int, str, str]]:
    """Return (id, key, message) of the issues whose project's workflow refuses the change's new status.

    The workflow rule of issues.workflows (Workflow.error), for a chunk: the chunk's projects' workflows are
    loaded once (two queries) and each issue's move is asked of its own project's. The job skips these
    issues and reports each, as it does for bulk_unassignable.
    """
    new_status = changes.get("status")
    if new_status is None:
        return []
    rows = list(
        sql.where_in(Issue.objects.all(), "id", issue_ids)
        .exclude(status_id=new_status)
        .values_list("pk", "key", "project_id", "status_id")
    )
    projects = Project.objects.filter(pk__in={row[2] for row in rows}).only("id", "key")
    workflows = workflows_for(projects)
    refused = []
    for pk, key, project_id, status_id in rows:
        error = workflows[project_id].error(status_id, new_status)
        if error is not None:
            refused.append((pk, key, f"{error} Not changed."))
    return refused


def issue_bulk_change(
    *, issue_ids: list[int], changes: dict[str, Any], actor: Any | None, batch: str | None = None
) -> int:
    """Apply cleaned changes (bulk_changes_clean) to these issues with history rows; return how many changed.

    Runs inside the caller's transaction (one chunk of a job); caches are invalidated when it commits. One
    BULK event names the changed issues; chunks of one job pass the same `batch` (the job), so watchers get
    one notification per job, not one per issue.
    """
    if sql.is_postgresql():
        changed = _change_sql(issue_ids=issue_ids, changes=changes, actor=actor)
    else:
        changed = _change_rows(issue_ids=issue_ids, changes=changes, actor=actor)
    if changed:
        by_project: dict[int, list[int]] = defaultdict(list)
        for pk, project_id in changed:
            by_project[project_id].append(pk)
        # The changed issues by project, so the fan-out needs no query to find them (JSON keys are text).
        data = {
            "changes": bulk_changes_describe(changes),
            "batch": batch,
            "projects": {str(p): ids for p, ids in by_project.items()},
        }
        events.emit(events.IssueEvent(events.BULK, actor.pk if actor is not None else None, (), data))
    return len(changed)


def _invalidate_on_commit(rows: Iterable[tuple[int, int, int | None]]) -> None:
    """Retire the cached pages of changed issues (id, project id, parent id) once the chunk commits."""
    rows = list(rows)
    if not rows:
        return
    # A parent's page lists its sub-tasks' status, assignee and priority, a linked issue's their key, summary and
    # status: they go stale too.
    changed = {pk for pk, _, _ in rows}
    issue_ids = list(changed | {parent for _, _, parent in rows if parent} | IssueLink.other_issue_ids(changed))
    project_ids = {project_id for _, project_id, _ in rows}
    pagecache.invalidate_on_commit(issue_ids, project_ids)


def _texts_param(field: str) -> tuple[list[int], list[str]]:
    """Return the ids and history texts of every row of a small lookup table (statuses...) as two arrays."""
    texts = history_texts(field=field, ids=HISTORY_RELATIONS[field]._default_manager.values_list("pk", flat=True))
    return list(texts), list(texts.values())


def _change_sql(*, issue_ids: list[int], changes: dict[str, Any], actor: Any | None) -> list[tuple[int, int]]:
    """Apply the changes to one chunk in one PostgreSQL statement; return (id, project id) of the changed issues.

    Why one statement: a chunk used to cost a SELECT of the rows, a label query, Python comparing and
    building the history rows, an UPDATE per changed field and a COPY of the history (13.95 s for
    100,000 issues against 5.39 s for one raw UPDATE). Here data-modifying CTEs read the old values,
    rewrite each changed issue row once (all fields and `updated` together: every rewrite costs index
    writes, `updated` is indexed so no update is HOT), move the label links and insert the history rows
    from the same old values, and return the changed rows for the cache invalidation. History texts
    come from services.history_texts, passed in as (id, text) arrays.

    All parts of the statement see the snapshot taken at its start, so `cur` holds the values before the
    change, as the Python path reads them before it updates.
    """
    if not issue_ids:
        return []
    q = connection.ops.quote_name
    t_issue = q(Issue._meta.db_table)
    t_links = q(Issue.labels.through._meta.db_table)
    t_label = q(Label._meta.db_table)
    t_history = q(History._meta.db_table)
    params: dict[str, Any] = {
        "ids": list(issue_ids),
        "now": timezone.now(),
        "author": actor.pk if actor is not None else None,
    }
    ctes: list[str] = []
    flags: dict[str, str] = {}  # field -> SQL that is true when the row's value changes
    sets: list[str] = []
    joins: list[str] = []
    history: list[str] = []  # (order, field, changed?, old text, new text), in the Python path's order
    if "status" in changes:
        status = Status.objects.get(pk=changes["status"])
        params["status"] = status.pk
        params["status_name"] = history_text(status)
        params["status_ids"], params["status_texts"] = _texts_param("status_id")
        params["res_ids"], params["res_texts"] = _texts_param("resolution_id")
        params["done_resolution"] = done_resolution_id()
        flags["st"] = "cur.status_id <> %(status)s"
        done = status.category == StatusCategory.DONE
        res_i, resolved_i = resolution_for_status_sql(done=done, row="i")
        res_ch, _ = resolution_for_status_sql(done=done, row="ch")
        sets += [
            "status_id = CASE WHEN ch.st THEN %(status)s ELSE i.status_id END",
            f"resolution_id = CASE WHEN ch.st THEN {res_i} ELSE i.resolution_id END",
            f"resolved = CASE WHEN ch.st THEN {resolved_i} ELSE i.resolved END",
        ]
        joins += [
            "LEFT JOIN unnest(%(status_ids)s::bigint[], %(status_texts)s::text[]) AS os(id, text) "
            "ON os.id = ch.status_id",
            "LEFT JOIN unnest(%(res_ids)s::bigint[], %(res_texts)s::text[]) AS ores(id, text) "
            "ON ores.id = ch.resolution_id",
            f"LEFT JOIN unnest(%(res_ids)s::bigint[], %(res_texts)s::text[]) AS nres(id, text) ON nres.id = {res_ch}",
        ]
        history += [
            "(1, 'status', ch.st, COALESCE(os.text, ''), %(status_name)s)",
            f"(2, 'resolution', ch.st AND ch.resolution_id IS DISTINCT FROM {res_ch}, "
            "COALESCE(ores.text, ''), COALESCE(nres.text, ''))",
        ]
    if "priority" in changes:
        params["priority"] = changes["priority"]
        params["priority_name"] = history_texts(field="priority_id", ids=[changes["priority"]])[changes["priority"]]
        params["priority_ids"], params["priority_texts"] = _texts_param("priority_id")
        flags["pr"] = "cur.priority_id <> %(priority)s"
        sets.append("priority_id = CASE WHEN ch.pr THEN %(priority)s ELSE i.priority_id END")
        joins.append(
            "LEFT JOIN unnest(%(priority_ids)s::bigint[], %(priority_texts)s::text[]) AS op(id, text) "
            "ON op.id = ch.priority_id"
        )
        history.append("(3, 'priority', ch.pr, COALESCE(op.text, ''), %(priority_name)s)")
    if "assignee" in changes:
        new = changes["assignee"]
        params["assignee"] = new
        # The chunk's current assignees (a few distinct people), named by the one history text.
        old = sql.where_in(Issue.objects.all(), "id", issue_ids).values_list("assignee_id", flat=True).distinct()
        texts = history_texts(field="assignee_id", ids=[*old, new])
        params["assignee_name"] = texts.get(new, "")
        params["assignee_ids"], params["assignee_texts"] = list(texts), list(texts.values())
        flags["asg"] = "cur.assignee_id IS DISTINCT FROM %(assignee)s::bigint"
        sets.append("assignee_id = CASE WHEN ch.asg THEN %(assignee)s::bigint ELSE i.assignee_id END")
        joins.append(
            "LEFT JOIN unnest(%(assignee_ids)s::bigint[], %(assignee_texts)s::text[]) AS oa(id, text) "
            "ON oa.id = ch.assignee_id"
        )
        history.append("(4, 'assignee', ch.asg, COALESCE(oa.text, ''), %(assignee_name)s)")
    labels = "add_labels" in changes or "remove_labels" in changes
    if labels:
        remove = dict(Label.objects.filter(name__in=changes.get("remove_labels", [])).values_list("name", "pk"))
        add = {
            label.name: label.pk
            for label in labels_get_or_create(changes.get("add_labels", []))
            if label.name not in remove  # removing wins, as in the history row's new value
        }
        params.update(
            add_names=list(add), add_ids=list(add.values()), remove_names=list(remove), remove_ids=list(remove.values())
        )
        # The old links as label ids, one index probe per issue (joining the link table to `cur` instead
        # made the planner, which cannot tell how few rows `cur` holds, scan and sort all of it).
        old_labels = (
            f", ARRAY(SELECT il.label_id FROM {t_links} il WHERE il.issue_id = i.id ORDER BY il.label_id) AS old_labels"
        )
        flags["lb"] = "(cur.old_labels && %(remove_ids)s::bigint[] OR NOT cur.old_labels @> %(add_ids)s::bigint[])"
        # The history texts once per distinct old label set (a chunk has few), not once per issue: 60 ms
        # less per chunk of 5,000. services.history_labels_text in SQL: names sorted by code point
        # (COLLATE "C", as Python's sorted()), space-separated.
        label_texts = (
            "texts AS (SELECT s.old_labels, "
            f"(SELECT COALESCE(string_agg(l.name, ' ' ORDER BY l.name COLLATE \"C\"), '') FROM {t_label} l "
            "WHERE l.id = ANY(s.old_labels)) AS old_text, "
            "(SELECT COALESCE(string_agg(n, ' ' ORDER BY n COLLATE \"C\"), '') FROM "
            f"(SELECT l.name FROM {t_label} l WHERE l.id = ANY(s.old_labels) "
            "AND l.id <> ALL(%(remove_ids)s::bigint[]) "
            "UNION SELECT unnest(%(add_names)s::varchar[])) AS x(n)) AS new_text "
            "FROM (SELECT DISTINCT old_labels FROM ch WHERE lb) AS s)"
        )
        joins.append("LEFT JOIN texts ON ch.lb AND texts.old_labels = ch.old_labels")
        history.append("(5, 'labels', ch.lb, texts.old_text, texts.new_text)")
    else:
        old_labels = ""
    if not flags:
        return []
    # MATERIALIZED: the label subquery runs once per issue, not once per mention of old_labels.
    ctes.append(
        "cur AS MATERIALIZED (SELECT i.id, i.project_id, i.parent_id, i.status_id, i.priority_id, i.assignee_id, "
        f"i.resolution_id{old_labels} FROM {t_issue} i WHERE i.id = ANY(%(ids)s::bigint[]))"
    )
    select_flags = ", ".join(f"{expr} AS {name}" for name, expr in flags.items())
    ctes.append(f"ch AS (SELECT * FROM (SELECT cur.*, {select_flags} FROM cur) AS c WHERE {' OR '.join(flags)})")
    if labels:
        ctes.append(label_texts)
    ctes.append(f"upd AS (UPDATE {t_issue} i SET {', '.join([*sets, 'updated = %(now)s'])} FROM ch WHERE i.id = ch.id)")
    if labels:
        ctes.append(
            f"del AS (DELETE FROM {t_links} il USING ch WHERE ch.lb AND il.issue_id = ch.id "
            "AND il.label_id = ANY(%(remove_ids)s::bigint[]))"
        )
        # Only links the issue lacks: re-inserting the rest would cost an index probe each.
        ctes.append(
            f"ins AS (INSERT INTO {t_links} (issue_id, label_id) SELECT ch.id, a.id FROM ch "
            "CROSS JOIN unnest(%(add_ids)s::bigint[]) AS a(id) "
            "WHERE ch.lb AND NOT a.id = ANY(ch.old_labels) ON CONFLICT DO NOTHING)"
        )
    ctes.append(
        f"hist AS (INSERT INTO {t_history} (issue_id, author_id, created, field, from_value, to_value) "
        "SELECT ch.id, %(author)s::bigint, %(now)s, h.field, h.old, h.new FROM ch "
        + " ".join(joins)
        + " CROSS JOIN LATERAL (VALUES "
        + ", ".join(history)
        + ") AS h(ord, field, changed, old, new) WHERE h.changed ORDER BY ch.id, h.ord)"
    )
    rows = sql.execute_without_jit("WITH " + ",\n".join(ctes) + "\nSELECT id, project_id, parent_id FROM ch", params)
    _invalidate_on_commit(rows)
    return [(row[0], row[1]) for row in rows]


def _change_rows(*, issue_ids: list[int], changes: dict[str, Any], actor: Any | None) -> list[tuple[int, int]]:
    """Apply the changes by comparing the rows in Python (databases without data-modifying CTEs); return
    (id, project id) of the changed issues."""
    now = timezone.now()
    columns = ("project_id", "status_id", "priority_id", "assignee_id", "resolution_id", "resolved", "parent_id")
    rows = {
        row[0]: dict(zip(columns, row[1:], strict=True))
        for row in sql.where_in(Issue.objects.all(), "id", issue_ids).values_list("pk", *columns)
    }
    history: list[tuple[int, str, Any, Any]] = []  # (issue id, field, old, new): history_record_rows' input
    stamped: set[int] = set()  # issues whose row was rewritten (with the new `updated`)
    if "status" in changes:
        new_status = changes["status"]
        done = Status.objects.filter(pk=new_status, category=StatusCategory.DONE).exists()
        done_resolution = done_resolution_id()
        by_values: dict[tuple[int | None, dt.datetime | None], list[int]] = defaultdict(list)
        for pk, row in rows.items():
            if row["status_id"] == new_status:
                continue
            resolution, resolved = resolution_for_status(
                done=done,
                resolution_id=row["resolution_id"],
                resolved=row["resolved"],
                done_resolution=done_resolution,
                now=now,
            )
            history.append((pk, "status_id", row["status_id"], new_status))
            history.append((pk, "resolution_id", row["resolution_id"], resolution))
            by_values[(resolution, resolved)].append(pk)
        # One UPDATE per distinct outcome (a chunk has few): every rewrite of a row costs index writes.
        for (resolution, resolved), pks in by_values.items():
            sql.where_in(Issue.objects.all(), "id", pks).update(
                status_id=new_status, resolution_id=resolution, resolved=resolved, updated=now
            )
            stamped.update(pks)
    for field in ("priority", "assignee"):
        if field not in changes:
            continue
        new = changes[field]
        moving = [pk for pk, row in rows.items() if row[f"{field}_id"] != new]
        history += [(pk, f"{field}_id", rows[pk][f"{field}_id"], new) for pk in moving]
        sql.where_in(Issue.objects.all(), "id", moving).update(**{f"{field}_id": new, "updated": now})
        stamped.update(moving)
    if "add_labels" in changes or "remove_labels" in changes:
        through = Issue.labels.through
        add = {label.pk: label.name for label in labels_get_or_create(changes.get("add_labels", []))}
        remove = dict(Label.objects.filter(name__in=changes.get("remove_labels", [])).values_list("pk", "name"))
        current: dict[int, set[str]] = {pk: set() for pk in rows}
        for issue_id, name in sql.where_in(through.objects.all(), "issue_id", rows).values_list(
            "issue_id", "label__name"
        ):
            current[issue_id].add(name)
        new_links: list[tuple[int, int]] = []
        label_moved = []
        for pk, have in current.items():
            want = (have | set(add.values())) - set(remove.values())
            if want != have:
                history.append((pk, "labels", history_labels_text(have), history_labels_text(want)))
                label_moved.append(pk)
                # A label both added and removed stays off, as the history row says.
                new_links.extend((pk, lid) for lid, name in add.items() if name in want and name not in have)
        if remove:
            sql.where_in(through.objects.filter(label_id__in=list(remove)), "issue_id", label_moved).delete()
        sql.insert_links(through, ("issue_id", "label_id"), new_links)
        # Issues whose status, priority or assignee changed above already carry the new `updated`.
        sql.where_in(Issue.objects.all(), "id", [pk for pk in label_moved if pk not in stamped]).update(updated=now)
        stamped.update(label_moved)
    history.sort(key=lambda change: change[0])  # per issue, in field order (a stable sort), as the SQL path
    history_record_rows(changes=history, author_id=actor.pk if actor is not None else None, when=now)
    _invalidate_on_commit((pk, rows[pk]["project_id"], rows[pk]["parent_id"]) for pk in sorted(stamped))
    return [(pk, rows[pk]["project_id"]) for pk in sorted(stamped)]
