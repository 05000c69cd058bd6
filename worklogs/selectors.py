"""Reads of worklogs, scoped to the projects the user belongs to; day boundaries follow a time zone."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypedDict

from django.contrib.auth import get_user_model
from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import TruncDate

from accounts.models import display_name_of
from issues.jql import JQLError, jql_queryset
from issues.models import Issue, Membership, Project, Status
from issues.permissions import visible_project_ids
from issues.selectors import projects_visible_to
from worklogs.models import Worklog

User = get_user_model()


def day_bounds(start: dt.date, end: dt.date, tz: dt.tzinfo) -> tuple[dt.datetime, dt.datetime]:
    """Return the aware [from, to) instants covering the days start..end inclusive in the zone."""
    lo = dt.datetime.combine(start, dt.time.min, tzinfo=tz)
    hi = dt.datetime.combine(end + dt.timedelta(days=1), dt.time.min, tzinfo=tz)
    return lo, hi


def week_start(day: dt.date) -> dt.date:
    """Return the Monday of the ISO week containing the day."""
    return day - dt.timedelta(days=day.weekday())


def worklogs_visible_to(user: Any) -> QuerySet[Worklog]:
    """Return worklogs on issues of the projects the user is a member of.

    On the worklogs' own copy of their issue's project (Worklog.project): a range of one project's worklogs is
    then a range of the (project, started) index, not a join with every issue of the project.
    """
    return Worklog.objects.filter(project_id__in=visible_project_ids(user))


@dataclass(frozen=True)
class WorklogFilter:
    """What a worklog list or time report covers: a date range in a zone plus optional narrowing."""

    start: dt.date
    end: dt.date
    tz: dt.tzinfo
    author_ids: tuple[int, ...] = ()
    project_ids: tuple[int, ...] = ()
    # Issue ids restriction, usually a JQL queryset's .values("id") subquery.
    issues: QuerySet | None = None


def worklogs_in_range(*, user: Any, flt: WorklogFilter) -> QuerySet[Worklog]:
    """Return the visible worklogs started within the filter's days (range on the started indexes)."""
    lo, hi = day_bounds(flt.start, flt.end, flt.tz)
    qs = worklogs_visible_to(user).filter(started__gte=lo, started__lt=hi)
    if flt.author_ids:
        qs = qs.filter(author_id__in=flt.author_ids)
    if flt.project_ids:
        qs = qs.filter(project_id__in=flt.project_ids)
    if flt.issues is not None:
        qs = qs.filter(issue_id__in=flt.issues)
    return qs


def worklog_list(*, user: Any, flt: WorklogFilter) -> QuerySet[Worklog]:
    """Return the rows of the worklog list, oldest first, with issue and author loaded in the same query."""
    return (
        worklogs_in_range(user=user, flt=flt)
        .select_related("issue", "author__profile")
        .only(
            "id",
            "issue_id",
            "author_id",
            "started",
            "time_spent",
            "comment",
            "created",
            "updated",
            "issue__id",
            "issue__key",
            "issue__summary",
            "issue__project_id",
            "author__id",
            "author__username",
            "author__first_name",
            "author__last_name",
            "author__profile__id",
            "author__profile__display_name",
            "author__profile__time_zone",
        )
        .order_by("started", "id")
    )


def worklog_total(*, user: Any, flt: WorklogFilter) -> tuple[int, int]:
    """Return (number of worklogs, seconds logged) for the filter, summed in the database."""
    agg = worklogs_in_range(user=user, flt=flt).aggregate(n=Count("id"), total=Sum("time_spent"))
    return agg["n"] or 0, agg["total"] or 0


class TimesheetCell(TypedDict):
    """One user's seconds on one issue on one local day, with the issue fields the grid shows."""

    issue_id: int
    issue__key: str
    issue__summary: str
    issue__project_id: int
    issue__original_estimate: int | None
    issue__remaining_estimate: int | None
    day: dt.date  # in the user's time zone
    total: int  # seconds


def timesheet_cells(*, user: Any, start: dt.date, end: dt.date, tz: dt.tzinfo) -> list[TimesheetCell]:
    """Return the user's own seconds per (issue, local day) for the days, one grouped query."""
    flt = WorklogFilter(start=start, end=end, tz=tz, author_ids=(user.pk,))
    return list(
        worklogs_in_range(user=user, flt=flt)
        .annotate(day=TruncDate("started", tzinfo=tz))
        .values(
            "issue_id",
            "issue__key",
            "issue__summary",
            "issue__project_id",
            "issue__original_estimate",
            "issue__remaining_estimate",
            "day",
        )
        .annotate(total=Sum("time_spent"))
        .order_by()
    )


def loggable_issue(*, user: Any, key: str) -> Issue | None:
    """Return the visible issue with this key (the caller checks the log-work role), else None."""
    return (
        Issue.objects.filter(project_id__in=visible_project_ids(user), key=key.strip().upper())
        .only("id", "key", "summary", "project_id", "original_estimate", "remaining_estimate", "time_spent")
        .first()
    )


def visible_projects_by_key(*, user: Any, keys: Iterable[str]) -> tuple[list[Project], list[str]]:
    """Return (visible projects with these keys, keys not matching a visible project).

    A project the user cannot see is reported exactly like a missing one, so the answer leaks nothing.
    """
    wanted = sorted({k.strip().upper() for k in keys if k and k.strip()})
    if not wanted:
        return [], []
    found = list(
        Project.objects.filter(pk__in=visible_project_ids(user), key__in=wanted)
        .only("id", "key", "name")
        .order_by("key")
    )
    known = {p.key for p in found}
    return found, [k for k in wanted if k not in known]


def colleagues_by_username(*, user: Any, usernames: Iterable[str]) -> tuple[list[Any], list[str]]:
    """Return (users sharing a project with the user, or the user, with these usernames; unknown names).

    Users outside the viewer's projects count as unknown: their time is invisible anyway.
    """
    wanted = sorted({u.strip() for u in usernames if u and u.strip()})
    if not wanted:
        return [], []
    found = list(
        User.objects.filter(Q(pk=user.pk) | Q(memberships__project_id__in=visible_project_ids(user)))
        .filter(username__in=wanted)
        .distinct()
        .select_related("profile")
        .order_by("username")
    )
    known = {u.username for u in found}
    return found, [u for u in wanted if u not in known]


def colleagues(*, user: Any) -> QuerySet:
    """Return the users who share a project with the user (for filter pickers), by username.

    A semi-join rather than a join and DISTINCT: the first page of names comes from the username order
    without sorting every membership of every shared project first (thousands at a million issues).
    """
    shared = Membership.objects.filter(project_id__in=visible_project_ids(user)).values("user_id")
    return (
        User.objects.filter(Q(pk=user.pk) | Q(pk__in=shared))
        .select_related("profile")
        .only("id", "username", "first_name", "last_name", "profile__id", "profile__display_name")
        .order_by("username")
    )


# ------------------------------------------------------------------------------------- filter resolution


@dataclass
class ResolvedFilter:
    """A worklog filter form's cleaned data resolved against what the user may see, with inline notices.

    flt is None when the input cannot run (errors says why); users and projects are the named ones found.
    """

    flt: WorklogFilter | None = None
    users: list[Any] = field(default_factory=list)
    projects: list[Project] = field(default_factory=list)
    jql: str = ""
    notices: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def _jql_message(exc: JQLError) -> str:
    where = f" (at column {exc.position})" if exc.position else ""
    hint = f" {exc.hint}" if exc.hint else ""
    return f"JQL: {exc.message}{where}{hint}"


def resolve_worklog_filter(*, user: Any, data: Mapping[str, Any], tz: dt.tzinfo) -> ResolvedFilter:
    """Return the WorklogFilter for a valid WorklogFilterForm's cleaned data (user, project, jql, start, end).

    Names the user may not see count as unknown and are reported as notices; when every named user or
    project is unknown the filter matches nothing rather than everything. Bad JQL is an error.
    """
    res = ResolvedFilter()
    res.users, unknown_users = colleagues_by_username(user=user, usernames=data["user"])
    res.projects, unknown_projects = visible_projects_by_key(user=user, keys=data["project"])
    res.notices += [f"No user '{name}' shares a project with you; left out." for name in unknown_users]
    res.notices += [f"No project '{key}' that you are a member of; it shows nothing." for key in unknown_projects]
    issues: QuerySet | None = None
    if data["jql"].strip():
        try:
            issues = jql_queryset(data["jql"], user=user).order_by().values("id")
        except JQLError as exc:
            res.errors.append(_jql_message(exc))
            return res
        res.jql = data["jql"]
    if (data["project"] and not res.projects) or (data["user"] and not res.users):
        issues = Worklog.objects.none().values("issue_id")
    res.flt = WorklogFilter(
        start=data["start"],
        end=data["end"],
        tz=tz,
        author_ids=tuple(u.pk for u in res.users),
        project_ids=tuple(p.pk for p in res.projects),
        issues=issues,
    )
    return res


# Options a filter picker lists at most; past that it is a text field of names (comma separated).
PICKER_LIMIT = 100


def worklog_filter_choices(*, user: Any, chosen: ResolvedFilter) -> dict[str, Any]:
    """Return the filter pickers' options: (username, name, chosen) per colleague, (key, name, chosen) per project.

    Someone in many large projects shares them with thousands of people: past PICKER_LIMIT options a picker is
    None and the page shows a text field holding the chosen names (user_text, project_text) instead, so the
    page's size and cost do not grow with the organisation.
    """
    chosen_users = {u.username for u in chosen.users}
    chosen_projects = {p.key for p in chosen.projects}
    # Plain tuples: a few hundred model instances with deferred fields cost more than the rest of the page.
    people = list(
        colleagues(user=user).values_list("username", "first_name", "last_name", "profile__display_name")[
            : PICKER_LIMIT + 1
        ]
    )
    projects = list(projects_visible_to(user).order_by("key").values_list("key", "name")[: PICKER_LIMIT + 1])
    return {
        "user_choices": None
        if len(people) > PICKER_LIMIT
        else [
            (
                name,
                display_name_of(username=name, first_name=first, last_name=last, profile_name=shown),
                name in chosen_users,
            )
            for name, first, last, shown in people
        ],
        "user_text": ", ".join(sorted(chosen_users)),
        "project_choices": None
        if len(projects) > PICKER_LIMIT
        else [(key, name, key in chosen_projects) for key, name in projects],
        "project_text": ", ".join(sorted(chosen_projects)),
    }


@dataclass
class TicketFilter:
    """What the tickets report covers: one project's issues, narrowed by dates, statuses and people."""

    project_id: int
    start: dt.date | None
    end: dt.date | None
    tz: dt.tzinfo
    date_field: str = "updated"
    status_ids: tuple[int, ...] = ()
    assignee_ids: tuple[int, ...] = ()
    reporter_ids: tuple[int, ...] = ()
    worklog_author_ids: tuple[int, ...] = ()
    unassigned: bool = False


# Assignee names that mean "nobody", as in JQL's assignee IS EMPTY.
UNASSIGNED_NAMES = ("unassigned", "none")


@dataclass
class ResolvedTickets:
    """The tickets report's project and filter resolved against what the user may see, with notices.

    empty is true when named filters all failed: the report then shows nothing rather than everything.
    """

    projects: list[Project]
    project: Project | None = None
    flt: TicketFilter | None = None
    empty: bool = False
    notices: list[str] = field(default_factory=list)


def resolve_tickets_filter(*, user: Any, data: Mapping[str, Any] | None, tz: dt.tzinfo) -> ResolvedTickets:
    """Return the tickets report's project and TicketFilter for a TicketsForm's cleaned data (None if invalid).

    No project named means the first visible one; a project the user cannot see is reported like a missing one.
    """
    res = ResolvedTickets(projects=list(projects_visible_to(user).order_by("key")))
    if data is None:
        return res
    key = (data["project"] or "").strip().upper()
    if key:
        res.project = next((p for p in res.projects if p.key == key), None)
        if res.project is None:
            res.notices.append(f"No project '{key}' that you are a member of; it shows nothing.")
            return res
    elif res.projects:
        res.project = res.projects[0]
    else:
        return res
    people, unknown = colleagues_by_username(
        user=user, usernames=[*data["assignee"], *data["reporter"], *data["worklog_author"]]
    )
    by_name = {u.username: u.pk for u in people}
    res.notices += [
        f"No user '{name}' shares a project with you; left out."
        for name in unknown
        if name.lower() not in UNASSIGNED_NAMES
    ]
    statuses = {s.name.lower(): s.pk for s in Status.objects.only("id", "name")}
    status_ids = []
    for name in data["status"]:
        if name.lower() in statuses:
            status_ids.append(statuses[name.lower()])
        else:
            res.notices.append(f"No status '{name}'; left out.")
    res.flt = TicketFilter(
        project_id=res.project.pk,
        start=data["start"],
        end=data["end"],
        tz=tz,
        date_field=data["date_field"],
        status_ids=tuple(status_ids),
        assignee_ids=tuple(by_name[n] for n in data["assignee"] if n in by_name),
        reporter_ids=tuple(by_name[n] for n in data["reporter"] if n in by_name),
        worklog_author_ids=tuple(by_name[n] for n in data["worklog_author"] if n in by_name),
        unassigned=any(n.lower() in UNASSIGNED_NAMES for n in data["assignee"]),
    )
    res.empty = bool(data["status"] and not status_ids) or any(
        data[f] and not any(n in by_name for n in data[f]) and not (f == "assignee" and res.flt.unassigned)
        for f in ("assignee", "reporter", "worklog_author")
    )
    return res
