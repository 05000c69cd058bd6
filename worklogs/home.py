"""The home page's reads (/): my open issues, my reported issues that changed, my time this week, my projects.

A fixed number of queries whatever the data (worklogs/tests/test_home.py counts them): each list is one
query with its lookups joined, the week's time one aggregate (worklogs.selectors.worklog_total), the projects one
query with their latest activity as a subquery on the (project, -updated) index.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import F, OuterRef, QuerySet, Subquery

from issues.models import Issue, Project, SavedFilter, StatusCategory
from issues.permissions import visible_project_ids
from issues.selectors import saved_filters_for
from worklogs.selectors import WorklogFilter, week_start, worklog_total

HOME_LIST_SIZE = 10
RECENT_CHANGES = dt.timedelta(days=7)  # "issues I reported that changed": in the last week
ISSUE_ROW = ("id", "key", "summary", "updated", "status__name", "status__category", "priority__name", "project__key")


@dataclass(frozen=True)
class WeekTime:
    """My time this week (Monday to Sunday in my zone) against my target (workday hours x workdays)."""

    start: dt.date
    end: dt.date
    seconds: int
    target: int

    @property
    def percent(self) -> int:
        return min(100, round(100 * self.seconds / self.target)) if self.target else 0


def my_open_issues(*, user: Any) -> QuerySet:
    """Return the issues assigned to me that are not done, most recently updated first."""
    return (
        Issue.objects.filter(project_id__in=visible_project_ids(user), assignee_id=user.pk)
        .exclude(status__category=StatusCategory.DONE)
        .order_by("-updated", "-id")
        .values(*ISSUE_ROW)
    )


def my_reported_changes(*, user: Any, now: dt.datetime) -> QuerySet:
    """Return the issues I reported that changed in the last week (by anyone), most recent first."""
    return (
        Issue.objects.filter(
            project_id__in=visible_project_ids(user), reporter_id=user.pk, updated__gte=now - RECENT_CHANGES
        )
        .order_by("-updated", "-id")
        .values(*ISSUE_ROW)
    )


def my_week_time(*, user: Any, today: dt.date, tz: dt.tzinfo) -> WeekTime:
    """Return the seconds I logged this week (my zone) and my weekly target from the workday settings."""
    start = week_start(today)
    end = start + dt.timedelta(days=6)
    _count, seconds = worklog_total(user=user, flt=WorklogFilter(start=start, end=end, tz=tz, author_ids=(user.pk,)))
    target = settings.TASKRA_HOURS_PER_DAY * settings.TASKRA_DAYS_PER_WEEK * 3600
    return WeekTime(start=start, end=end, seconds=seconds, target=target)


def my_projects(*, user: Any) -> list[dict[str, Any]]:
    """Return my projects, the most recently active first (the latest issue update in each), with board links."""
    latest = Issue.objects.filter(project_id=OuterRef("pk")).order_by("-updated").values("updated")[:1]
    rows = (
        Project.objects.filter(pk__in=visible_project_ids(user))
        .annotate(latest=Subquery(latest))
        .order_by(F("latest").desc(nulls_last=True), "key")
        .values("id", "key", "name", "latest")
    )
    return [dict(row) for row in rows]


def my_filter_boards(*, user: Any) -> list[SavedFilter]:
    """Return my saved filters (own and shared with my projects): each has a board."""
    return list(saved_filters_for(user)[:HOME_LIST_SIZE])


def home_data(*, user: Any, now: dt.datetime, tz: dt.tzinfo) -> dict[str, Any]:
    """Return everything the home page shows."""
    open_issues = list(my_open_issues(user=user)[: HOME_LIST_SIZE + 1])
    projects = my_projects(user=user)
    return {
        "open_issues": open_issues[:HOME_LIST_SIZE],
        "open_more": len(open_issues) > HOME_LIST_SIZE,
        "reported": list(my_reported_changes(user=user, now=now)[:HOME_LIST_SIZE]),
        "week": my_week_time(user=user, today=now.astimezone(tz).date(), tz=tz),
        "projects": projects,
        "filters": my_filter_boards(user=user),
    }
