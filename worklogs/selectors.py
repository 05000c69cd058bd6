"""Reads of worklogs, scoped to the projects the user belongs to; day boundaries follow a time zone."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet, Sum
from django.db.models.functions import TruncDate

from issues.models import Issue, Project
from issues.permissions import visible_project_ids
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
    """Return worklogs on issues of the projects the user is a member of."""
    return Worklog.objects.filter(issue__project_id__in=visible_project_ids(user))


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
        qs = qs.filter(issue__project_id__in=flt.project_ids)
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
    from django.db.models import Count

    agg = worklogs_in_range(user=user, flt=flt).aggregate(n=Count("id"), total=Sum("time_spent"))
    return agg["n"] or 0, agg["total"] or 0


def timesheet_cells(*, user: Any, start: dt.date, end: dt.date, tz: dt.tzinfo) -> list[dict[str, Any]]:
    """Return the user's own seconds per (issue, local day) for the days, one grouped query.

    Each dict has issue_id, issue__key, issue__summary, issue__project_id, issue__remaining_estimate,
    issue__original_estimate, day (date in tz) and total (seconds).
    """
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
    """Return the users who share a project with the user (for filter pickers)."""
    return (
        User.objects.filter(Q(pk=user.pk) | Q(memberships__project_id__in=visible_project_ids(user)))
        .distinct()
        .select_related("profile")
        .only("id", "username", "first_name", "last_name", "profile__id", "profile__display_name")
        .order_by("username")
    )
