"""Time reports: each table is one grouped query in the database, never a Python loop over worklogs."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import Count, F, IntegerField, Max, OrderBy, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce, TruncDate

from accounts.models import display_name, display_name_of
from issues.durations import format_duration
from issues.models import Issue, Project
from issues.permissions import visible_project_ids
from worklogs.models import Worklog, WorklogRollup, rollup_aligned
from worklogs.selectors import TicketFilter, WorklogFilter, day_bounds, worklogs_in_range

GROUPS = ("project", "user", "issue", "day")
User = get_user_model()


@dataclass
class ReportRow:
    """One line of a time report: what it is about (key, label) and the seconds logged."""

    key: str
    label: str
    seconds: int
    count: int


@dataclass
class Report:
    """A time report's rows and totals; a page of a long report (issue_report_page) holds its totals over all."""

    group: str
    rows: list[ReportRow]
    total: int = -1
    count: int = -1

    def __post_init__(self) -> None:
        if self.total < 0:
            self.total = sum(r.seconds for r in self.rows)
        if self.count < 0:
            self.count = sum(r.count for r in self.rows)


def _grouped(qs: QuerySet[Any, Any]) -> list[dict[str, Any]]:
    """Return the rows of a values().annotate() query; the stubs cannot see names annotated from a ** dict."""
    return list(qs)


def issue_key_order(key: str) -> tuple[str, int]:
    """Return a sort key putting DEMO-2 before DEMO-10."""
    project, _, number = key.rpartition("-")
    return project, int(number) if number.isdigit() else 0


def _name_of(first: str | None, last: str | None, username: str | None, shown: str | None) -> str:
    # Report rows carry the author's columns as Max() aggregates: the one rule reads them, deleted users get a label.
    return display_name_of(username=username, first_name=first, last_name=last, profile_name=shown) or "(deleted user)"


def rollup_in_range(*, user: Any, flt: WorklogFilter, group: str) -> QuerySet[WorklogRollup] | None:
    """Return the rollup rows that add up to the report exactly, or None when only the worklogs can answer it.

    The rollup (worklogs.models.WorklogRollup) knows projects and quarter hours, not people or issues: it
    answers time by project or by day for a range of projects with no user or JQL restriction, when the
    range's ends (and for "day" every midnight in it) fall on quarter hours in the filter's zone.
    """
    if group not in ("project", "day") or flt.author_ids or flt.issues is not None:
        return None
    lo, hi = day_bounds(flt.start, flt.end, flt.tz)
    edges = [lo, hi]
    if group == "day":
        # Midnights inside the range: a zone may change to an offset off the quarter hours within it.
        edges += [
            dt.datetime.combine(flt.start + dt.timedelta(days=k), dt.time.min, tzinfo=flt.tz)
            for k in range(1, (flt.end - flt.start).days + 1)
        ]
    if not all(rollup_aligned(edge) for edge in edges):
        return None
    qs = WorklogRollup.objects.filter(project_id__in=visible_project_ids(user), bucket__gte=lo, bucket__lt=hi)
    if flt.project_ids:
        qs = qs.filter(project_id__in=flt.project_ids)
    return qs


def time_report(*, user: Any, flt: WorklogFilter, group: str) -> Report:
    """Return the seconds logged per project, user, issue or day (in the filter's zone): one grouped query.

    Time by project and by day read the rollup when it answers exactly (rollup_in_range): a month of a
    project with a third of a million issues is then a few thousand quarter hours, not every worklog. The
    others read the range of the worklogs' (project, started) index; by user names its authors in a second
    query. Every row: the page shows one page of time by issue through issue_report_page.
    """
    if group not in GROUPS:
        raise ValueError(f"unknown report group {group!r}")
    rollup = rollup_in_range(user=user, flt=flt, group=group)
    if rollup is not None:
        return Report(group=group, rows=_rollup_rows(rollup, flt=flt, group=group))
    qs = worklogs_in_range(user=user, flt=flt)
    # Count("*"), not of the id: the (project, started) index holds the other columns, so the scan stays index-only.
    agg = {"seconds": Sum("time_spent"), "n": Count("*")}
    rows: list[ReportRow] = []
    # Group on the narrow foreign key only and carry the labels as Max() of the joined columns: the database
    # hash-aggregates on one integer instead of sorting every row by wide text keys (measured in
    # bench/worklog_reports.py). Rows are then ordered in Python: there are as many as groups, not worklogs.
    if group == "project":
        found = _grouped(
            qs.values("project_id").annotate(**agg, key=Max("project__key"), name=Max("project__name")).order_by()
        )
        rows = sorted((ReportRow(r["key"], r["name"], r["seconds"], r["n"]) for r in found), key=lambda row: row.key)
    elif group == "user":
        # Sum per author on the worklogs alone (at scale an index-only range of worklog_project_started), then
        # name the few hundred authors found: joining users to every worklog cost more than the sums.
        sums = {r["author_id"]: r for r in _grouped(qs.values("author_id").annotate(**agg).order_by())}
        people = {
            u.pk: u for u in User.objects.filter(pk__in=[a for a in sums if a is not None]).select_related("profile")
        }
        rows = []
        for author_id, r in sums.items():
            person = people.get(author_id)
            username = person.get_username() if person is not None else ""
            rows.append(ReportRow(username, display_name(person) if person else "(deleted user)", r["seconds"], r["n"]))
        rows.sort(key=lambda row: (row.label.lower(), row.key))
    elif group == "issue":
        found = _grouped(
            qs.values("issue_id").annotate(**agg, key=Max("issue__key"), summary=Max("issue__summary")).order_by()
        )
        # Links are made by the page for the rows it shows (a month can hold thousands of issues).
        rows = [ReportRow(r["key"], r["summary"], r["seconds"], r["n"]) for r in found]
        rows.sort(key=lambda row: issue_key_order(row.key))
    else:
        found = _grouped(
            qs.annotate(day=TruncDate("started", tzinfo=flt.tz)).values("day").annotate(**agg).order_by("day")
        )
        rows = _every_day(found, flt=flt)
    return Report(group=group, rows=rows)


_ISSUE_PAGE_SQL = "SELECT g.issue_id, g.seconds, g.n FROM ({sums}) g ORDER BY g.pkey, g.issue_id LIMIT %s OFFSET %s"
_ISSUE_TOTALS_SQL = "SELECT COUNT(*), COALESCE(SUM(g.seconds), 0), COALESCE(SUM(g.n), 0) FROM ({sums}) g"


def issue_report_page(*, user: Any, flt: WorklogFilter, page: int, size: int) -> tuple[Report, int, int]:
    """Return one page of time by issue (a report holding its totals over every issue), the issues, the page.

    A month of a large project is a hundred thousand issues: the sums per issue are taken from the worklogs
    alone (an index-only range of worklog_project_started at scale), counted and totalled in the database, and
    only the page's issues (by project key, then issue, as they were created) are read and named. The page is
    clamped to the last one. Exports read every row (time_report).
    """
    # The project's key joins each worklog to its project (a hash of a few hundred rows), so the page is a top-N
    # sort of the sums; Count("*") (not of the id, which the index does not hold) keeps the scan index-only.
    sums = worklogs_in_range(user=user, flt=flt).annotate(pkey=F("project__key")).values("pkey", "issue_id")
    sums = sums.annotate(seconds=Sum("time_spent"), n=Count("*")).order_by()
    try:
        sql, params = sums.query.sql_with_params()
    except EmptyResultSet:  # no project or user named that the viewer may see: nothing to read
        return Report(group="issue", rows=[]), 0, 1
    tables = {"sums": sql}
    with connection.cursor() as cursor:
        cursor.execute(_ISSUE_TOTALS_SQL.format(**tables), params)
        issues, total, count = cursor.fetchone()
        page = max(1, min(page, -(-issues // size)))
        cursor.execute(_ISSUE_PAGE_SQL.format(**tables), [*params, size, (page - 1) * size])
        found = cursor.fetchall()
    named = Issue.objects.only("id", "key", "summary").in_bulk([issue_id for issue_id, _, _ in found])
    rows = [ReportRow(named[i].key, named[i].summary, int(seconds), int(n)) for i, seconds, n in found if i in named]
    return Report(group="issue", rows=rows, total=int(total), count=int(count)), int(issues), page


def _every_day(found: list[dict[str, Any]], *, flt: WorklogFilter) -> list[ReportRow]:
    """Return one row per day of the range from per-day sums, so gaps show as zero bars rather than vanishing."""
    by_day = {r["day"]: r for r in found}
    rows = []
    day = flt.start
    while day <= flt.end:
        r = by_day.get(day)
        rows.append(ReportRow(day.isoformat(), day.strftime("%a %d %b"), r["seconds"] if r else 0, r["n"] if r else 0))
        day += dt.timedelta(days=1)
    return rows


def _rollup_rows(rollup: QuerySet[WorklogRollup], *, flt: WorklogFilter, group: str) -> list[ReportRow]:
    """Return the report rows of time by project or by day from the rollup rows of the range: one grouped query."""
    agg = {"seconds": Sum("seconds"), "n": Sum("count")}
    if group == "project":
        found = _grouped(
            rollup.values("project_id").annotate(**agg, key=Max("project__key"), name=Max("project__name")).order_by()
        )
        return sorted((ReportRow(r["key"], r["name"], r["seconds"], r["n"]) for r in found), key=lambda row: row.key)
    by_day = rollup.annotate(day=TruncDate("bucket", tzinfo=flt.tz)).values("day").annotate(**agg).order_by("day")
    return _every_day(_grouped(by_day), flt=flt)


@dataclass
class CrossProjectReport:
    """Users (rows) by projects (columns) for several projects at once."""

    projects: list[tuple[str, str]]
    rows: list[tuple[str, str, list[int], int]] = field(default_factory=list)
    column_totals: list[int] = field(default_factory=list)
    total: int = 0


def cross_project_report(*, user: Any, flt: WorklogFilter) -> CrossProjectReport:
    """Return seconds per (user, project) for the filter's projects: the sums in one grouped query, pivoted."""
    # Sums per (project, author) on the worklogs alone (index-only at scale), then the projects and people found
    # are named: joining users and projects to every worklog of the month cost more than the sums.
    found = _grouped(
        worklogs_in_range(user=user, flt=flt)
        .values("project_id", "author_id")
        .annotate(seconds=Sum("time_spent"))
        .order_by()
    )
    named = {p.pk: p for p in Project.objects.filter(pk__in={r["project_id"] for r in found}).only("key", "name")}
    authors = {r["author_id"] for r in found if r["author_id"] is not None}
    people_by_id = {u.pk: u for u in User.objects.filter(pk__in=authors).select_related("profile")}
    projects = sorted({(named[r["project_id"]].key, named[r["project_id"]].name) for r in found})
    col = {key: i for i, (key, _name) in enumerate(projects)}
    people: dict[str, tuple[str, list[int]]] = {}
    for r in found:
        person = people_by_id.get(r["author_id"])
        username, label = (person.get_username(), display_name(person)) if person else ("", "(deleted user)")
        cells = people.setdefault(username, (label, [0] * len(projects)))[1]
        cells[col[named[r["project_id"]].key]] += r["seconds"]
    report = CrossProjectReport(projects=projects)
    for username, (label, cells) in sorted(people.items(), key=lambda kv: kv[1][0].lower()):
        report.rows.append((username, label, cells, sum(cells)))
    report.column_totals = [sum(row[2][i] for row in report.rows) for i in range(len(projects))]
    report.total = sum(report.column_totals)
    return report


# ------------------------------------------------------------------------------------------- tickets report

TICKET_SORTS = {
    "created": ("created", "id"),
    "updated": ("updated", "id"),
    "status": ("status__position", "status__name", "id"),
    "assignee": ("assignee__username", "id"),
    "priority": ("priority__rank", "id"),
}
TICKET_GROUPS = ("status", "assignee")
TICKET_DATE_FIELDS = ("created", "updated", "worklog")


def _range(flt: TicketFilter) -> tuple[dt.datetime | None, dt.datetime | None]:
    lo = hi = None
    if flt.start:
        lo = day_bounds(flt.start, flt.start, flt.tz)[0]
    if flt.end:
        hi = day_bounds(flt.end, flt.end, flt.tz)[1]
    return lo, hi


def _worklog_q(flt: TicketFilter) -> Q:
    lo, hi = _range(flt)
    q = Q()
    if lo:
        q &= Q(started__gte=lo)
    if hi:
        q &= Q(started__lt=hi)
    if flt.worklog_author_ids:
        q &= Q(author_id__in=flt.worklog_author_ids)
    return q


def tickets_logged_worklogs(flt: TicketFilter) -> QuerySet[Worklog]:
    """Return the worklogs that count as "logged" in the tickets report (range and authors; no project scope)."""
    return Worklog.objects.filter(_worklog_q(flt))


def tickets_queryset(*, user: Any, flt: TicketFilter) -> QuerySet[Issue]:
    """Return the project's issues matching the filter (empty when the user is not a member)."""
    qs = Issue.objects.filter(project_id=flt.project_id, project_id__in=visible_project_ids(user))
    lo, hi = _range(flt)
    wl_filter = _worklog_q(flt) & Q(issue_id=OuterRef("pk"))
    if flt.date_field in ("created", "updated"):
        if lo:
            qs = qs.filter(**{f"{flt.date_field}__gte": lo})
        if hi:
            qs = qs.filter(**{f"{flt.date_field}__lt": hi})
    if (flt.date_field == "worklog" and (lo or hi)) or flt.worklog_author_ids:
        qs = qs.filter(id__in=Worklog.objects.filter(_worklog_q(flt)).values("issue_id"))
    if flt.status_ids:
        qs = qs.filter(status_id__in=flt.status_ids)
    if flt.assignee_ids or flt.unassigned:
        cond = Q(assignee_id__in=flt.assignee_ids) if flt.assignee_ids else Q(pk__in=[])
        if flt.unassigned:
            cond |= Q(assignee__isnull=True)
        qs = qs.filter(cond)
    if flt.reporter_ids:
        qs = qs.filter(reporter_id__in=flt.reporter_ids)
    # Time logged within the range (and by the chosen authors): a correlated subquery, summed in the database.
    logged = Worklog.objects.filter(wl_filter).order_by().values("issue_id").annotate(s=Sum("time_spent")).values("s")
    return qs.annotate(logged=Coalesce(Subquery(logged, output_field=IntegerField()), Value(0)))


def tickets_rows(*, user: Any, flt: TicketFilter, sort: str, descending: bool, group: str) -> QuerySet[Issue]:
    """Return the tickets report rows, grouped first then sorted by the chosen column."""
    # Empty values (unassigned) sort last either way, as in Jira.
    order = [
        F(name).desc(nulls_last=True) if descending else F(name).asc(nulls_last=True)
        for name in TICKET_SORTS.get(sort, TICKET_SORTS["created"])
    ]
    group_order = (
        ["status__position", "status__name"] if group == "status" else [F("assignee__username").asc(nulls_last=True)]
    )
    return (
        tickets_queryset(user=user, flt=flt)
        .select_related("status", "priority", "assignee__profile", "reporter__profile", "type")
        .order_by(*group_order, *order)
    )


def tickets_groups(*, user: Any, flt: TicketFilter, group: str) -> list[dict[str, Any]]:
    """Return per status/assignee counts, estimates, time spent and logged time: one grouped query."""
    qs = tickets_queryset(user=user, flt=flt)
    values: tuple[str, ...]
    order: tuple[str | OrderBy, ...]
    if group == "status":
        values = ("status_id", "status__name", "status__position")
        order = ("status__position", "status__name")
    else:
        values = (
            "assignee_id",
            "assignee__username",
            "assignee__first_name",
            "assignee__last_name",
            "assignee__profile__display_name",
        )
        order = (F("assignee__username").asc(nulls_last=True),)
    found = (
        qs.values(*values)
        .annotate(
            n=Count("id"),
            original=Coalesce(Sum("original_estimate"), Value(0)),
            remaining=Coalesce(Sum("remaining_estimate"), Value(0)),
            spent=Coalesce(Sum("time_spent"), Value(0)),
            logged_sum=Coalesce(Sum("logged"), Value(0)),
        )
        .order_by(*order)
    )
    groups = []
    for r in found:
        if group == "status":
            key, label = str(r["status_id"]), r["status__name"]
        else:
            key = r["assignee__username"] or ""
            label = (
                _name_of(
                    r["assignee__first_name"],
                    r["assignee__last_name"],
                    r["assignee__username"],
                    r["assignee__profile__display_name"],
                )
                if r["assignee_id"]
                else "Unassigned"
            )
        groups.append(
            {
                "key": key,
                "label": label,
                "count": r["n"],
                "original": r["original"],
                "remaining": r["remaining"],
                "spent": r["spent"],
                "logged": r["logged_sum"],
            }
        )
    return groups


def ticket_group_key(issue: Issue, group: str) -> str:
    """Return the group key of a tickets report row (matches tickets_groups keys)."""
    if group == "status":
        return str(issue.status_id)
    return issue.assignee.username if issue.assignee is not None else ""


def tickets_attach_issues(groups: list[dict[str, Any]], issues: Iterable[Issue], *, group: str) -> None:
    """Put each issue row under its group (the dicts of tickets_groups) and add the groups' hour texts."""
    by_group: dict[str, list[Issue]] = defaultdict(list)
    for issue in issues:
        by_group[ticket_group_key(issue, group)].append(issue)
    for g in groups:
        g["issues"] = by_group.get(g["key"], [])
        for name in ("original", "remaining", "spent", "logged"):
            g[f"{name}_text"] = format_duration(g[name])


def iter_chunks(qs: QuerySet, size: int = 2000) -> Iterator[Any]:
    """Yield rows of a queryset through a server-side cursor, keeping memory flat."""
    yield from qs.iterator(chunk_size=size)


def user_label(user: Any) -> str:
    return display_name(user)
