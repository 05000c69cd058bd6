"""Reads of issues, scoped to what the user may see."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import BooleanField, Count, ExpressionWrapper, Q, QuerySet, Sum, Value
from django.http import Http404

from accounts.adapters import load_user_refs, user_from_columns
from accounts.models import display_name_of
from issues import pagecache
from issues.adapters import (
    ISSUE_DETAIL,
    PAGE_ATTACHMENTS,
    PAGE_COMMENTS,
    PAGE_HISTORY,
    PAGE_SUBTASKS,
    PAGE_WORKLOGS,
    issue_page_payload,
)
from issues.durations import format_duration
from issues.fields import (
    FIELDS_BY_NAME,
    NAVIGATOR_COLUMNS,
    NAVIGATOR_DEFAULT_COLUMNS,
    NAVIGATOR_ROW_FIELDS,
    SORT_FIELDS,
)
from issues.jql import (
    ALIASES,
    compile_jql,
    is_time_relative,
    is_user_relative,
    jql_search,
    order_expressions,
    project_scope,
)
from issues.keyset import CursorError, keyset_page
from issues.lookups import LOOKUP_FIELDS, attach_lookups, link_types, lookup_rows, project_members, project_workflow
from issues.models import (
    Attachment,
    Comment,
    CustomFieldValue,
    Issue,
    IssueLink,
    IssueLinkType,
    NavigatorPreference,
    Priority,
    Project,
    SavedFilter,
    Status,
    StatusCategory,
)
from issues.permissions import visible_project_ids
from taskra_site.sql import fetch_pipelined


def projects_visible_to(user: Any) -> QuerySet[Project]:
    """Return the projects the user is a member of."""
    return Project.objects.filter(pk__in=visible_project_ids(user)).only("id", "key", "name")


def issues_visible_to(user: Any) -> QuerySet[Issue]:
    """Return all issues of projects the user is a member of (no joins yet)."""
    return Issue.objects.filter(project_id__in=visible_project_ids(user))


# What the issue page, its inline edits and the JSON API read with an issue.
ISSUE_JOINS = (
    "project",
    "type",
    "status",
    "priority",
    "resolution",
    "assignee__profile",
    "reporter__profile",
    "parent",
)
# ISSUE_JOINS without the lookup tables issues.lookups keeps per process.
ISSUE_PERSON_JOINS = tuple(j for j in ISSUE_JOINS if j not in LOOKUP_FIELDS)


def issue_with_joins(*, pk: int | None = None, key: str | None = None, user: Any | None = None) -> Issue | None:
    """Return the issue by pk or key with its lookups joined, or None; given a user, only one they may see.

    Without a user there is no permission check: callers (the issue-page cache) check the viewer's role.
    """
    queryset = Issue.objects.all() if user is None else issues_visible_to(user)
    lookup = {"pk": pk} if pk is not None else {"key": (key or "").upper()}
    rows = lookup_rows()
    if rows is not None:
        # Types, statuses, priorities and resolutions from the per-process rows: a 7-table join instead of 12.
        issue = queryset.select_related(*ISSUE_PERSON_JOINS).filter(**lookup).first()
        if issue is None or attach_lookups(issue, rows):
            return issue
    return queryset.select_related(*ISSUE_JOINS).filter(**lookup).first()


def issue_ids_by_key(*, key: str) -> tuple[int, int, int | None] | None:
    """Return (id, project_id, parent_id) of the issue with this key, or None (no permission check)."""
    return Issue.objects.filter(key=key.upper()).values_list("id", "project_id", "parent_id").first()


def issue_key_alias_for_user(*, key: str, user: Any) -> str | None:
    """Return the current key of the issue that had this key before a move, if the user may see it; else None."""
    return (
        issues_visible_to(user).filter(key_aliases__key=(key or "").upper()[:32]).values_list("key", flat=True).first()
    )


def issue_for_user(*, key: str, user: Any) -> Issue | None:
    """Return the issue with this key if the user may see it, else None (callers answer 404 either way)."""
    return issue_with_joins(key=key, user=user)


# ---------------------------------------------------------------------------------------------------------
# Issue page (/browse/KEY): one payload, the same for every viewer, so the page cache can store it.
# ---------------------------------------------------------------------------------------------------------

# Long-lived issues can collect thousands of rows; the page shows the latest ones and says how many exist.
PAGE_MAX_SUBTASKS = 500
PAGE_MAX_COMMENTS = 200
PAGE_MAX_WORKLOGS = 200
PAGE_MAX_HISTORY = 200
PAGE_MAX_ATTACHMENTS = 500


class PrebuiltQuery:
    """A query of one issue's rows compiled once per process: on PostgreSQL only the issue id changes per call.

    Building and compiling a queryset costs the issue page about a millisecond of Python per list; the SQL
    of these lists never changes but for the issue id. The first call compiles `make(SENTINEL)` and keeps its
    SQL, parameters and the fields' database converters (a JSONField's decoding); later calls execute them with
    the issue id in place of the sentinel and return the tuples values_list() would. Other databases run the
    queryset as usual.
    """

    SENTINEL = -7_340_271  # never an issue id: ids are positive

    def __init__(self, make: Callable[[int], QuerySet]) -> None:
        self.make = make
        self.compiled: tuple[str, tuple[Any, ...]] | None = None
        self.compiler: Any = None
        self.converters: dict[int, Any] = {}

    def rows(self, issue_id: int) -> list[tuple[Any, ...]]:
        """Return the rows (as values_list() tuples) of the query for this issue."""
        return prebuilt_rows([self], issue_id)[0]

    def statement(self, issue_id: int) -> tuple[str, tuple[Any, ...]]:
        """Return the SQL and parameters of the query for this issue (PostgreSQL)."""
        if self.compiled is None:
            compiler = self.make(self.SENTINEL).query.get_compiler(DEFAULT_DB_ALIAS)
            sql, params = compiler.as_sql()
            self.converters = compiler.get_converters([s[0] for s in compiler.select[0 : compiler.col_count]])
            self.compiler, self.compiled = compiler, (sql, tuple(params))
        sql, params = self.compiled
        return sql, tuple(issue_id if p == self.SENTINEL else p for p in params)

    def converted(self, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        """Return the rows with the fields' database converters applied, as values_list() does."""
        if not self.converters:
            return rows
        return [tuple(row) for row in self.compiler.apply_converters(rows, self.converters)]


def prebuilt_rows(queries: Sequence[PrebuiltQuery], issue_id: int) -> list[list[tuple[Any, ...]]]:
    """Return the rows of each prebuilt query for this issue: on PostgreSQL in one round trip (sql.fetch_pipelined)."""
    if connections[DEFAULT_DB_ALIAS].vendor != "postgresql":
        return [list(query.make(issue_id)) for query in queries]
    found = fetch_pipelined([query.statement(issue_id) for query in queries])
    return [query.converted(rows) for query, rows in zip(queries, found, strict=True)]


def _page_list(adapter: Any, relation: str, order: tuple[str, ...], limit: int) -> PrebuiltQuery:
    """Return the prebuilt query of an issue's list (a reverse relation) in the adapter's columns, `limit` rows."""
    columns = adapter.plan(joins=True).columns
    return PrebuiltQuery(
        lambda issue_id: getattr(Issue(pk=issue_id), relation).order_by(*order).values_list(*columns)[:limit]
    )


# Newest first, one more than shown: latest_page_rows counts them all only when more exist.
_COMMENTS = _page_list(PAGE_COMMENTS, "comments", ("-created", "-id"), PAGE_MAX_COMMENTS + 1)
_WORKLOGS = _page_list(PAGE_WORKLOGS, "worklogs", ("-started", "-id"), PAGE_MAX_WORKLOGS + 1)
_HISTORY = _page_list(PAGE_HISTORY, "history", ("-created", "-id"), PAGE_MAX_HISTORY + 1)
_ATTACHMENTS = _page_list(PAGE_ATTACHMENTS, "attachments", ("created", "id"), PAGE_MAX_ATTACHMENTS)
_SUBTASKS = _page_list(PAGE_SUBTASKS, "subtasks", ("number",), PAGE_MAX_SUBTASKS)


def latest_page_rows(
    adapter: Any, found: list[tuple[Any, ...]], limit: int, total: Callable[[], int]
) -> tuple[list[dict[str, Any]], int]:
    """Return up to `limit` of the rows read (newest first, one more than shown) in chronological order, and how
    many exist (`total()` only when more than fit)."""
    rows = adapter.plan(joins=True).dicts_from_tuples(found)
    if len(rows) > limit:
        rows, count = rows[:limit], total()
    else:
        count = len(rows)
    rows.reverse()
    return rows, count


def issue_page_data(*, issue: Issue) -> dict[str, Any]:
    """Return everything the issue page shows about one issue as JSON data (schema IssuePage, no per-user parts).

    `issue` must come with its related rows joined (issue_with_joins). Datetimes are the API's ISO text and
    Markdown is rendered and sanitised here, so a cached payload renders without touching the database.
    Queries: labels, then sub-tasks, comments, worklogs, history, attachments, links and custom fields in one
    round trip on PostgreSQL (prebuilt_rows; seven queries elsewhere), plus a count per capped list.
    """
    pk = issue.pk
    subtasks, comments, worklogs, history, attachments, links, custom_fields = prebuilt_rows(
        [_SUBTASKS, _COMMENTS, _WORKLOGS, _HISTORY, _ATTACHMENTS, _LINKS, _CUSTOM_FIELDS], pk
    )
    subtask_rows = PAGE_SUBTASKS.plan(joins=True).dicts_from_tuples(subtasks)
    return issue_page_payload(
        issue=issue,
        subtasks=subtask_rows,
        comments=latest_page_rows(PAGE_COMMENTS, comments, PAGE_MAX_COMMENTS, issue.comments.count),
        worklogs=latest_page_rows(PAGE_WORKLOGS, worklogs, PAGE_MAX_WORKLOGS, issue.worklogs.count),
        history=latest_page_rows(PAGE_HISTORY, history, PAGE_MAX_HISTORY, issue.history.count),
        attachments=PAGE_ATTACHMENTS.plan(joins=True).dicts_from_tuples(attachments),
        links=issue_link_rows(issue_id=pk, found=links),
        link_types=link_type_options(),
        progress=lambda rows: children_progress(issue_id=pk, rows=rows, capped=len(rows) >= PAGE_MAX_SUBTASKS),
        custom_fields=_custom_field_dicts(custom_fields).get(pk, []),
    )


_CUSTOM_FIELD_COLUMNS = (
    "issue_id", "field_id", "field__jira_id", "field__name", "field__type",
    "text", "values", "number", "date", "moment",
)  # fmt: skip


def _custom_field_values(issue_ids: list[int]) -> QuerySet:
    return (
        CustomFieldValue.objects.filter(issue_id__in=issue_ids)
        .order_by("issue_id", "field__name", "field_id")
        .values_list(*_CUSTOM_FIELD_COLUMNS)
    )


_CUSTOM_FIELDS = PrebuiltQuery(lambda issue_id: _custom_field_values([issue_id]))


def _custom_field_dicts(values: Iterable[tuple[Any, ...]]) -> dict[int, list[dict[str, Any]]]:
    rows: dict[int, list[dict[str, Any]]] = {}
    for issue_id, field_id, jira_id, name, kind, text, items, number, day, moment in values:
        rows.setdefault(issue_id, []).append(
            {
                "id": field_id,
                "jira_id": jira_id,
                "name": name,
                "type": kind,
                "text": text,
                "values": items,
                "number": number,
                "date": day,
                "moment": moment,
            }
        )
    return rows


def issue_custom_field_rows(*, issue_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """Return the issues' custom-field values (schema PageCustomField) by issue id, by field name: one query.

    No permission filter: callers pass issues the viewer may see (the issue page, the API's issue rows).
    """
    return _custom_field_dicts(_custom_field_values(issue_ids))


_LINK_COLUMNS = (
    "id", "type_id", "outward_issue_id", "inward_issue_id",
    "outward_issue__key", "outward_issue__summary", "outward_issue__status_id", "outward_issue__project_id",
    "inward_issue__key", "inward_issue__summary", "inward_issue__status_id", "inward_issue__project_id",
)  # fmt: skip
_LINKS = PrebuiltQuery(
    lambda issue_id: (
        IssueLink.objects.filter(Q(outward_issue_id=issue_id) | Q(inward_issue_id=issue_id))
        .order_by("id")
        .values_list(*_LINK_COLUMNS)
    )
)


def issue_link_rows(*, issue_id: int, found: list[tuple[Any, ...]] | None = None) -> list[dict[str, Any]]:
    """Return every link of the issue as read from it (schema PageLink), grouped by phrase then key: one query.

    No permission filter: the page filters per viewer (issuepage.links), the API per caller. Link types and
    statuses come from the rows kept per process (issues.lookups): the query joins the two issues only.
    `found`: the rows of that query when the caller read them already (issue_page_data, in one round trip).
    """
    if found is None:
        found = _LINKS.rows(issue_id)
    if not found:
        return []
    types: dict[int, Any] = {t.pk: t for t in link_types()}
    kept = lookup_rows()
    statuses: dict[int, Any] = kept["status"] if kept else {}
    if any(r[1] not in types or r[6] not in statuses or r[10] not in statuses for r in found):
        # Not kept (no shared cache), or added since the rows were: read them the usual way.
        types = {t.pk: t for t in IssueLinkType.objects.all()}
        statuses = {s.pk: s for s in Status.objects.all()}
    rows: list[dict[str, Any]] = []
    for pk, type_id, outward_id, inward_id, *ends in sorted(found, key=lambda r: (types[r[1]].name, r[0])):
        outward = outward_id == issue_id
        other_id = inward_id if outward else outward_id
        key, summary, status_id, project_id = ends[4:] if outward else ends[:4]
        link_type, status = types[type_id], statuses[status_id]
        rows.append(
            {
                "id": pk,
                "type": link_type.name,
                "direction": "outward" if outward else "inward",
                "phrase": link_type.outward if outward else link_type.inward,
                "issue": {
                    "id": other_id,
                    "key": key,
                    "summary": summary,
                    "status": status.name,
                    "status_category": status.category,
                    "project_id": project_id,
                },
            }
        )
    rows.sort(key=lambda r: (r["phrase"], r["issue"]["project_id"], r["issue"]["id"]))
    return rows


def link_type_options() -> list[dict[str, str]]:
    """Return the add-link form's choices: each type once per direction ("blocks", "is blocked by").

    The types are kept per process (issues.lookups): no query while the global generation stands.
    """
    options = []
    for link_type in link_types():
        options.append({"value": f"{link_type.pk}:outward", "label": link_type.outward})
        if link_type.inward != link_type.outward:  # "relates to" reads the same both ways
            options.append({"value": f"{link_type.pk}:inward", "label": link_type.inward})
    return options


def children_progress(*, issue_id: int, rows: list[dict[str, Any]], capped: bool) -> dict[str, Any] | None:
    """Return the progress of the issue's children (an Epic's issues, sub-tasks), or None without any.

    Done and in progress count children by the status category; time spent is the children's own. Counted from
    the page's sub-task rows when they are all there (no query), else with one aggregate query.
    """
    if not rows:
        return None
    if capped:
        found = Issue.objects.filter(parent_id=issue_id).aggregate(
            total=Count("id"),
            done=Count("id", filter=Q(status__category=StatusCategory.DONE)),
            in_progress=Count("id", filter=Q(status__category=StatusCategory.IN_PROGRESS)),
            time_spent=Sum("time_spent"),
        )
    else:
        found = {
            "total": len(rows),
            "done": sum(1 for r in rows if r["status_category"] == StatusCategory.DONE),
            "in_progress": sum(1 for r in rows if r["status_category"] == StatusCategory.IN_PROGRESS),
            "time_spent": sum(r["time_spent"] for r in rows),
        }
    spent = found["time_spent"] or 0
    return {
        "total": found["total"],
        "done": found["done"],
        "in_progress": found["in_progress"],
        "done_pct": round(100 * found["done"] / found["total"], 1),
        "time_spent": spent,
        "time_spent_text": format_duration(spent) if spent else "None",
    }


def attachment_for_user(*, pk: int, user: Any) -> Attachment:
    """Return the attachment (with its issue) if the user may see its issue; else Http404, as for a missing one."""
    found = (
        Attachment.objects.select_related("issue")
        .filter(pk=pk, issue__project_id__in=visible_project_ids(user))
        .first()
    )
    if found is None:
        raise Http404("No such attachment.")
    return found


def issue_edit_choices(*, project: Project, status_id: int) -> dict[str, list[Any]]:
    """Return the options of the issue page's inline editors: statuses, priorities and the project's members.

    The statuses are the current one and those the project's workflow allows moving to, in workflow order.
    The workflow, the members and the lookup rows are kept per process (issues.lookups): no query while the
    project's configuration and the global generations stand.
    """
    workflow = project_workflow(project)
    allowed = [status_id, *(step.status_id for step, _name in workflow.transitions_from(status_id))]
    order = {pk: i for i, pk in enumerate(workflow.status_ids)}
    users = project_members(project.pk)
    # The assignee editor offers active members; a current assignee who is not one stays offered, labelled
    # (inactive) or (not a member), so that submitting the editor never unassigns silently.
    rows = lookup_rows()  # in their model's order, as the queries below return them
    return {
        # The current status and those the workflow allows next, in workflow order (lookup rows cached per process).
        "statuses": sorted(
            (
                s
                for s in (rows["status"].values() if rows else Status.objects.only("id", "name", "category"))
                if s.pk in allowed
            ),
            key=lambda s: order.get(s.pk, -1),
        ),  # fmt: skip
        "priorities": list(rows["priority"].values()) if rows else list(Priority.objects.only("id", "name", "color")),
        "members": [u for u in users if u.is_active],
        "member_ids": [u.pk for u in users if u.is_active],
        "inactive_member_ids": [u.pk for u in users if not u.is_active],
    }


# ---------------------------------------------------------------------------------------------------------
# Issue navigator (/issues/) and exports: JQL search, keyset pages, group counts, saved filters.
# ---------------------------------------------------------------------------------------------------------

NAVIGATOR_PAGE_SIZE = 50
NAVIGATOR_MAX_PAGE_SIZE = 200
# Counting stops here: "More than 1,000 issues" costs the same at a million matches (a common `text ~` word
# is counted by testing issues one by one, so the cap bounds that work too).
NAVIGATOR_COUNT_CAP = 1_000

# Group by a column: rows sort by the field's first sort path (issues.fields), groups follow.
NAVIGATOR_GROUPS = {name: FIELDS_BY_NAME[name].sort[0][0] for name in ("status", "assignee")}


class NavigatorError(ValueError):
    """Bad navigator input other than JQL (sort column, columns, grouping, cursor); the message is fit to show."""


@dataclass
class NavigatorResult:
    rows: list[dict[str, Any]]
    next_cursor: str | None
    prev_cursor: str | None
    count: int
    count_capped: bool
    groups: list[dict[str, Any]]
    order_by: list[str]
    sort: str | None
    direction: str
    # 0-based rank of the first row (None when unknown: the last page of an uncounted result) and the page
    # size, for "51-100 of 5,000". Defaults keep entries cached before these fields readable.
    start: int | None = 0
    size: int = NAVIGATOR_PAGE_SIZE

    @property
    def range_text(self) -> str:
        """Return "51-100 of 5,000" (or "of more than 10,000", or "Last 50 of more than 10,000")."""
        total = f"more than {self.count:,}" if self.count_capped else f"{self.count:,}"
        if not self.rows:
            return ""
        if self.start is None:
            return f"Last {len(self.rows):,} of {total}"
        return f"{self.start + 1:,}\u2013{self.start + len(self.rows):,} of {total}"

    @property
    def page_text(self) -> str:
        """Return "Page 2 of 100" (without the page count when the count is capped)."""
        if self.start is None or not self.rows:
            return ""
        number = self.start // max(self.size, 1) + 1
        if self.count_capped:
            return f"Page {number:,}"
        pages = max((self.count + self.size - 1) // max(self.size, 1), 1)
        return f"Page {number:,} of {pages:,}"


def navigator_columns(raw: str | list[str] | None) -> list[str]:
    """Return the column ids asked for ("key,summary" or a list), the defaults when none; raise NavigatorError."""
    if not raw:
        return list(NAVIGATOR_DEFAULT_COLUMNS)
    names = raw.split(",") if isinstance(raw, str) else [n for part in raw for n in part.split(",")]
    columns = [n.strip().lower() for n in names if n.strip()]
    unknown = [c for c in columns if c not in NAVIGATOR_COLUMNS]
    if unknown:
        raise NavigatorError(f"Unknown column '{unknown[0][:40]}'. Columns: {', '.join(NAVIGATOR_COLUMNS)}.")
    columns = list(dict.fromkeys(columns))
    if "key" not in columns:
        columns.insert(0, "key")  # every row links to its issue through the key
    return columns or list(NAVIGATOR_DEFAULT_COLUMNS)


def navigator_order(
    *, compiled_order: list[str], sort: str | None, direction: str | None, group_by: str | None
) -> list[str]:
    """Return order_by() strings: a column sort (if given) replaces the JQL ORDER BY; grouping sorts first."""

    order = compiled_order
    if direction not in (None, "", "asc", "desc"):
        raise NavigatorError("The sort direction must be 'asc' or 'desc'.")
    if sort:
        name = sort.strip().lower()
        name = ALIASES.get(name, name)
        if name not in SORT_FIELDS:
            raise NavigatorError(f"Unknown sort column '{sort[:40]}'. Sortable: {', '.join(sorted(SORT_FIELDS))}.")
        order = compile_jql(f"ORDER BY {name} {direction or 'asc'}", user=None).order_by
    if group_by:
        if group_by not in NAVIGATOR_GROUPS:
            raise NavigatorError(f"Cannot group by '{group_by[:40]}'. Group by status or assignee.")
        path = NAVIGATOR_GROUPS[group_by]
        order = [path, *[o for o in order if o.lstrip("-") != path]]
    return order


def navigator_search(
    *,
    user: Any,
    jql: str,
    sort: str | None = None,
    direction: str | None = None,
    group_by: str | None = None,
    project_ids: Sequence[int] | None = None,
) -> tuple[QuerySet[Issue], list[str]]:
    """Return (the visible issues matching the JQL, their order_by strings); raise JQLError or NavigatorError."""

    queryset, compiled_order = jql_search(jql, user=user, project_ids=project_ids)
    order = navigator_order(compiled_order=compiled_order, sort=sort, direction=direction, group_by=group_by)
    return queryset, order


# What a navigator row reads from the issue and its project; types, statuses, priorities and resolutions come
# from the rows kept per process (issues.lookups), people from one query by id.
_ROW_COLUMNS = (
    "id", "key", "summary", "project_id", "project__key", "project__name", "type_id", "status_id", "priority_id",
    "resolution_id", "assignee_id", "reporter_id", "due_date", "time_spent", "created", "updated", "resolved",
)  # fmt: skip


def lookup_tables() -> dict[str, dict[int, Any]]:
    """Return the types, statuses, priorities and resolutions by id: kept per process, or read (four small queries).

    Without a shared cache to say when they change they are read per call; four tiny queries still plan faster
    than joining them into an issue list.
    """
    return lookup_rows() or {
        field: {r.pk: r for r in model._default_manager.all()} for field, model in LOOKUP_FIELDS.items()
    }


def navigator_rows(
    pks: list[int], *, columns: list[str], lookups: dict[str, dict[int, Any]] | None = None
) -> list[dict[str, Any]]:
    """Return adapter row dicts (ISSUE_DETAIL's fields) for the issues with these ids, in the given order.

    Queries: the issues joined to their projects, their people (+1 for labels). The adapter's query joined five
    tables, and PostgreSQL spent 7 ms planning it for 0.7 ms of execution (50 ids); the lookup names come from
    the per-process rows instead (lookup_tables, or `lookups` when the caller has them).
    """

    if not pks:
        return []
    lookups = lookups or lookup_tables()
    found = list(Issue.objects.filter(pk__in=pks).values_list(*_ROW_COLUMNS))
    if not all(_lookups_known(row, lookups) for row in found):  # a lookup row added since they were read
        fields = (*NAVIGATOR_ROW_FIELDS, "labels") if "labels" in columns else NAVIGATOR_ROW_FIELDS
        by_id = {row["id"]: row for row in ISSUE_DETAIL.dicts(Issue.objects.filter(pk__in=pks), fields=fields)}
        return [by_id[pk] for pk in pks if pk in by_id]
    people = load_user_refs(sorted({pk for row in found for pk in (row[10], row[11]) if pk is not None}))
    labels: dict[int, list[str]] = {}
    if "labels" in columns:
        through = Issue.labels.through.objects.filter(issue_id__in=pks).order_by("label__name")
        for issue_id, name in through.values_list("issue_id", "label__name"):
            labels.setdefault(issue_id, []).append(name)
    by_id = {}
    for pk, key, summary, project_id, project_key, project_name, type_id, status_id, priority_id, resolution_id, \
            assignee_id, reporter_id, due_date, time_spent, created, updated, resolved in found:  # fmt: skip
        status = lookups["status"][status_id]
        row = {
            "id": pk, "key": key, "summary": summary,
            "project": {"id": project_id, "key": project_key, "name": project_name},
            "type": lookups["type"][type_id].name, "status": status.name, "status_category": status.category,
            "priority": lookups["priority"][priority_id].name,
            "assignee": _person(people, assignee_id), "reporter": _person(people, reporter_id),
            "due_date": due_date, "time_spent": time_spent, "created": created, "updated": updated,
            "resolved": resolved,
            "resolution": lookups["resolution"][resolution_id].name if resolution_id is not None else None,
        }  # fmt: skip
        if "labels" in columns:
            row["labels"] = labels.get(pk, [])
        by_id[pk] = row
    return [by_id[pk] for pk in pks if pk in by_id]


def _lookups_known(row: tuple[Any, ...], lookups: dict[str, dict[int, Any]]) -> bool:
    """Return whether the per-process rows hold the row's type, status, priority and resolution."""
    return (
        row[6] in lookups["type"]
        and row[7] in lookups["status"]
        and row[8] in lookups["priority"]
        and (row[9] is None or row[9] in lookups["resolution"])
    )


def _person(people: dict[Any, tuple[Any, ...]], pk: int | None) -> dict[str, Any] | None:
    found = people.get(pk) if pk is not None else None
    return None if found is None else user_from_columns(*found)


def navigator_group_counts(queryset: QuerySet[Issue], group_by: str) -> list[dict[str, Any]]:
    """Return [{value, label, count}] for the groups of the matching issues, in display order (one query)."""

    base = queryset.order_by()
    if group_by == "status":
        status_rows = (
            base.values("status_id", "status__name", "status__position")
            .annotate(n=Count("pk"))
            .order_by("status__position", "status__name")
        )
        return [{"value": r["status__name"], "label": r["status__name"], "count": r["n"]} for r in status_rows]
    assignee_rows = base.values(
        "assignee_id",
        "assignee__username",
        "assignee__first_name",
        "assignee__last_name",
        "assignee__profile__display_name",
    ).annotate(n=Count("pk"))
    groups = [
        {
            "value": r["assignee__username"] or "",
            "label": display_name_of(
                username=r["assignee__username"],
                first_name=r["assignee__first_name"],
                last_name=r["assignee__last_name"],
                profile_name=r["assignee__profile__display_name"],
            )
            if r["assignee_id"]
            else "Unassigned",
            "sort": r["assignee__profile__display_name"],
            "count": r["n"],
        }
        for r in assignee_rows
    ]
    # Same order as the rows: by display name, unassigned last.
    groups.sort(key=lambda g: (g["sort"] is None, g["sort"] or ""))
    return groups


def navigator_page(
    *,
    user: Any,
    jql: str,
    sort: str | None = None,
    direction: str | None = None,
    group_by: str | None = None,
    cursor: str | None = None,
    columns: list[str] | None = None,
    size: int = NAVIGATOR_PAGE_SIZE,
    project_ids: Sequence[int] | None = None,
    lookups: dict[str, dict[int, Any]] | None = None,
) -> NavigatorResult:
    """Return one navigator page: rows (adapter dicts), cursors, a capped count and group counts.

    Queries: the page's ids and sort values (keyset, bounded at any depth), the rows by id, the capped
    count, and one aggregate when grouping (+1 for labels). Raise JQLError or NavigatorError (bad cursor too).
    project_ids: the user's project ids when the caller has read them (navigator_projects); lookups: lookup_tables().
    """

    columns = columns or list(NAVIGATOR_DEFAULT_COLUMNS)
    size = max(1, min(int(size), NAVIGATOR_MAX_PAGE_SIZE))
    queryset, order = navigator_search(
        user=user, jql=jql, sort=sort, direction=direction, group_by=group_by, project_ids=project_ids
    )
    count = queryset.order_by()[: NAVIGATOR_COUNT_CAP + 1].count()
    try:
        # The last page lines up with pages counted from the start only when the count is exact.
        total = count if count <= NAVIGATOR_COUNT_CAP else None
        # More matches than the cap: sorting them all by a lookup's rank would cost a sort of every match.
        page = keyset_page(
            queryset.only("id"), order, cursor=cursor, size=size, total=total, walk_lookups=total is None
        )
    except CursorError as exc:
        raise NavigatorError(str(exc)) from None
    rows = navigator_rows([row.pk for row in page.rows], columns=columns, lookups=lookups)
    groups = navigator_group_counts(queryset, group_by) if group_by else []
    if group_by:
        _mark_group_starts(rows, group_by)
    first = order[0] if not group_by else (order[1] if len(order) > 1 else order[0])
    return NavigatorResult(
        rows=rows,
        next_cursor=page.next_cursor,
        prev_cursor=page.prev_cursor,
        count=min(count, NAVIGATOR_COUNT_CAP),
        count_capped=count > NAVIGATOR_COUNT_CAP,
        start=page.start,
        size=size,
        groups=groups,
        order_by=order,
        sort=_sort_name(sort),
        direction=(direction or "asc") if sort else ("desc" if first.startswith("-") else "asc"),
    )


def _sort_name(sort: str | None) -> str | None:

    if not sort:
        return None
    name = sort.strip().lower()
    return ALIASES.get(name, name)


def _mark_group_starts(rows: list[dict[str, Any]], group_by: str) -> None:
    """Set row["group"] to the group label on the first row of each group (for header rows)."""
    previous: object = object()
    for row in rows:
        if group_by == "status":
            value = row["status"]
        else:
            value = row["assignee"]["display_name"] if row["assignee"] else "Unassigned"
        row["group"] = value if value != previous else None
        previous = value


def navigator_export_queryset(
    *, user: Any, jql: str, sort: str | None = None, direction: str | None = None
) -> QuerySet[Issue]:
    """Return the ordered visible issues matching the JQL, for streaming through the adapters' iter_* functions."""

    queryset, order = navigator_search(user=user, jql=jql, sort=sort, direction=direction)
    return queryset.order_by(*order_expressions(order))


def navigator_preference_for(user: Any) -> NavigatorPreference | None:
    """Return the user's remembered navigator columns and sort (None for anonymous users or none saved)."""

    if not user.is_authenticated:
        return None
    return NavigatorPreference.objects.filter(user_id=user.pk).first()


def saved_filters_for(user: Any) -> QuerySet:
    """Return the saved filters the user may use: their own, and those shared with their projects."""

    if not user.is_authenticated:
        return SavedFilter.objects.none()
    return (
        SavedFilter.objects.filter(Q(owner_id=user.pk) | Q(shared_with_id__in=visible_project_ids(user)))
        .select_related("owner__profile", "shared_with")
        .only(
            "id", "name", "jql", "columns", "shared_with__id", "shared_with__key", "owner__id", "owner__username",
            "owner__first_name", "owner__last_name", "owner__profile__display_name",
        )
        .order_by("name", "id")
    )  # fmt: skip


def saved_filter_for_user(*, user: Any, pk: Any):
    """Return the saved filter with this id if the user may use it, else None."""
    try:
        pk = int(pk)
    except (TypeError, ValueError):
        return None
    if not 0 < pk < 2**63:
        return None
    return saved_filters_for(user).filter(pk=pk).first()


def members_of(project_ids: Any) -> QuerySet:
    """Return active users who are members of the given projects (a subquery or a list of ids)."""

    return (
        get_user_model()
        .objects.filter(memberships__project_id__in=project_ids, is_active=True)
        .select_related("profile")
        .distinct()
        .order_by("profile__display_name", "username")
    )


def issue_delete_counts(*, issue: Issue) -> dict[str, int]:
    """Return what deleting the issue takes with it, by noun: sub-tasks (any depth), comments and worklogs."""

    ids = issue_subtree_ids(issue=issue)
    return {
        "sub-task": len(ids) - 1,
        "comment": Comment.objects.filter(issue_id__in=ids).count(),
        # Through the reverse relation: worklogs sit above issues and point at them.
        "worklog": Issue.objects.filter(pk__in=ids).aggregate(n=Count("worklogs"))["n"],
    }


def issue_subtree_ids(*, issue: Issue) -> list[int]:
    """Return the ids of the issue and of all issues below it, at any depth, each once.

    Cycle-safe: an issue already seen is not walked again, so a parent loop written before the hierarchy
    rules (or straight to the database) ends the walk. One query per level.
    """
    ids, seen, frontier = [issue.pk], {issue.pk}, [issue.pk]
    while frontier:
        below = Issue.objects.filter(parent_id__in=frontier).values_list("pk", flat=True)
        frontier = [pk for pk in below if pk not in seen]
        seen.update(frontier)
        ids += frontier
    return ids


@dataclass(frozen=True)
class NavigatorProjects:
    """The projects a search runs over, read once per request: what the user may see, and what the JQL can match."""

    rows: list[tuple[int, str, str]]  # (id, key, name) of every project the user is a member of, by key
    scoped: list[int]  # ids of those the JQL can match (all of them when the JQL names no fixed projects)

    @property
    def visible(self) -> list[int]:
        return sorted(pk for pk, _key, _name in self.rows)


def navigator_projects(*, user: Any, jql: str) -> NavigatorProjects:
    """Return the projects the user may see (id, key, name) and which of them the JQL can match: one query.

    The navigator reads them once for the page cache's key, the search's visibility filter and the project
    filter's choices (three queries before).
    """
    scope = project_scope(jql)
    in_scope = Value(True) if scope is None else ExpressionWrapper(scope, output_field=BooleanField())
    rows = list(
        Project.objects.filter(pk__in=visible_project_ids(user))
        .annotate(in_scope=in_scope)
        .order_by("key")
        .values_list("pk", "key", "name", "in_scope")
    )
    return NavigatorProjects(
        rows=[(pk, key, name) for pk, key, name, _ in rows], scoped=sorted(pk for pk, *_rest, scoped in rows if scoped)
    )


def cached_result_page(
    *,
    user: Any,
    query: dict[str, Any],
    builder: Callable[[], dict[str, Any]],
    variant: Sequence[str] = (),
    projects: NavigatorProjects | None = None,
) -> dict[str, Any]:
    """Return a result page (navigator or API search) from the shared page cache, saying what the query depends on.

    JQL relative to the clock (now(), startOfDay(), -7d) is never cached, since its results change without
    any write; JQL using currentUser() adds the user to the key; only the projects the query can match
    decide when the page goes stale. `projects` passes navigator_projects() when the caller has read them.
    """
    jql = str(query.get("jql") or "")
    if is_time_relative(jql) or not pagecache.page_cache_reads_enabled("navigator"):
        return builder()
    projects = projects or navigator_projects(user=user, jql=jql)
    return pagecache.get_or_build_results(
        visible_project_ids=projects.visible,
        scoped_project_ids=projects.scoped,
        viewer_id=user.pk if is_user_relative(jql) else None,
        query=query,
        builder=builder,
        variant=variant,
        # The user query said whether a bump waited in the outbox: no second look (one query) when none did.
        outbox_checked=pagecache.outbox_seen_empty(user),
    )
