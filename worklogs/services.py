"""Writes to worklogs: each keeps the issue's time spent and remaining estimate right."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from enum import StrEnum
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import IntegerField, OuterRef, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from issues.models import Issue
from issues.permissions import may_edit, require_worklog_change
from worklogs.models import Worklog

MAX_WORKLOG_SECONDS = 7 * 24 * 3600  # one worklog never covers more than a week


class AdjustEstimate(StrEnum):
    """Jira's adjustEstimate: what logging work does to the remaining estimate."""

    AUTO = "auto"  # reduce by the time logged (never below zero)
    LEAVE = "leave"  # keep as is
    NEW = "new"  # set to a new value
    MANUAL = "manual"  # reduce by a given amount


def _check_time(time_spent: int) -> None:
    if not isinstance(time_spent, int) or time_spent <= 0:
        raise ValidationError({"time_spent": "Time spent must be more than zero."})
    if time_spent > MAX_WORKLOG_SECONDS:
        raise ValidationError({"time_spent": "One worklog cannot exceed a week (168h)."})


def _check_started(started: dt.datetime) -> None:
    if timezone.is_naive(started):
        raise ValidationError({"started": "Start time needs a time zone."})


def _locked_issue(issue_id: int) -> Issue:
    # Row lock so concurrent worklogs on one issue serialise their estimate arithmetic.
    return (
        Issue.objects.select_for_update().only("id", "project_id", "time_spent", "remaining_estimate").get(pk=issue_id)
    )


def _adjust_remaining(
    remaining: int | None, *, delta: int, mode: AdjustEstimate, new_estimate: int | None, reduce_by: int | None
) -> int | None:
    if mode == AdjustEstimate.LEAVE:
        return remaining
    if mode == AdjustEstimate.NEW:
        if new_estimate is None or new_estimate < 0:
            raise ValidationError({"new_estimate": "Give the new remaining estimate."})
        return new_estimate
    if mode == AdjustEstimate.MANUAL:
        if reduce_by is None or reduce_by < 0:
            raise ValidationError({"reduce_by": "Give the amount to reduce the estimate by."})
        return None if remaining is None else max(remaining - reduce_by, 0)
    # auto: Jira leaves an unestimated issue unestimated
    return None if remaining is None else max(remaining - delta, 0)


def _apply_to_issue(issue: Issue, *, delta: int, remaining: int | None) -> None:
    issue.time_spent = max(issue.time_spent + delta, 0)
    issue.remaining_estimate = remaining
    issue.updated = timezone.now()
    issue.save(update_fields=["time_spent", "remaining_estimate", "updated"])  # the page cache: issues.signals


@transaction.atomic
def worklog_add(
    *,
    issue: Issue,
    author: Any,
    time_spent: int,
    started: dt.datetime,
    comment: str = "",
    adjust_estimate: AdjustEstimate | str = AdjustEstimate.AUTO,
    new_estimate: int | None = None,
    reduce_by: int | None = None,
    check_permission: bool = True,
) -> Worklog:
    """Log work on an issue and update its time spent and remaining estimate."""
    if check_permission and not may_edit(author, issue.project_id):
        raise PermissionDenied("You may not log work in this project.")
    _check_time(time_spent)
    _check_started(started)
    mode = AdjustEstimate(adjust_estimate)
    locked = _locked_issue(issue.pk)
    remaining = _adjust_remaining(
        locked.remaining_estimate, delta=time_spent, mode=mode, new_estimate=new_estimate, reduce_by=reduce_by
    )
    now = timezone.now()
    worklog = Worklog.objects.create(
        issue=locked, author=author, started=started, time_spent=time_spent, comment=comment, created=now, updated=now
    )
    _apply_to_issue(locked, delta=time_spent, remaining=remaining)
    issue.time_spent, issue.remaining_estimate = locked.time_spent, locked.remaining_estimate
    return worklog


def _refresh_stored(worklog: Worklog) -> None:
    # Under the issue's row lock, read what is stored: deltas computed from a stale (or form-modified)
    # instance would drift time_spent away from the sum of worklogs. Raises DoesNotExist if already deleted.
    stored = Worklog.objects.filter(pk=worklog.pk).values("author_id", "time_spent", "started", "comment").get()
    for name, value in stored.items():
        setattr(worklog, name, value)


def _check_owner(worklog: Worklog, actor: Any, project_id: int) -> None:
    if actor is None:
        return
    require_worklog_change(actor, author_id=worklog.author_id, project_id=project_id)


@transaction.atomic
def worklog_update(
    *,
    worklog: Worklog,
    actor: Any,
    time_spent: int | None = None,
    started: dt.datetime | None = None,
    comment: str | None = None,
    adjust_estimate: AdjustEstimate | str = AdjustEstimate.AUTO,
    new_estimate: int | None = None,
) -> Worklog:
    """Edit a worklog (own, or any as project admin); the issue's totals follow."""
    locked = _locked_issue(worklog.issue_id)
    _refresh_stored(worklog)
    _check_owner(worklog, actor, locked.project_id)
    fields: list[str] = []
    delta = 0
    if time_spent is not None and time_spent != worklog.time_spent:
        _check_time(time_spent)
        delta = time_spent - worklog.time_spent
        worklog.time_spent = time_spent
        fields.append("time_spent")
    if started is not None and started != worklog.started:
        _check_started(started)
        worklog.started = started
        fields.append("started")
    if comment is not None and comment != worklog.comment:
        worklog.comment = comment
        fields.append("comment")
    if not fields:
        return worklog
    worklog.updated = timezone.now()
    worklog.save(update_fields=[*fields, "updated"])
    mode = AdjustEstimate(adjust_estimate)
    remaining = _adjust_remaining(
        locked.remaining_estimate, delta=delta, mode=mode, new_estimate=new_estimate, reduce_by=None
    )
    if mode == AdjustEstimate.AUTO and locked.remaining_estimate is not None and delta < 0:
        remaining = locked.remaining_estimate - delta  # logging less gives the time back
    _apply_to_issue(locked, delta=delta, remaining=remaining)
    return worklog


@transaction.atomic
def worklog_delete(
    *,
    worklog: Worklog,
    actor: Any,
    adjust_estimate: AdjustEstimate | str = AdjustEstimate.AUTO,
    new_estimate: int | None = None,
) -> None:
    """Delete a worklog (own, or any as project admin); auto gives its time back to the estimate."""
    locked = _locked_issue(worklog.issue_id)
    _refresh_stored(worklog)
    _check_owner(worklog, actor, locked.project_id)
    mode = AdjustEstimate(adjust_estimate)
    remaining = locked.remaining_estimate
    if mode == AdjustEstimate.AUTO and remaining is not None:
        remaining = remaining + worklog.time_spent
    elif mode == AdjustEstimate.NEW:
        remaining = _adjust_remaining(remaining, delta=0, mode=mode, new_estimate=new_estimate, reduce_by=None)
    spent = worklog.time_spent
    worklog.delete()
    _apply_to_issue(locked, delta=-spent, remaining=remaining)


@transaction.atomic
def worklog_set_day_total(
    *,
    issue: Issue,
    author: Any,
    day: dt.date,
    tz: dt.tzinfo,
    total: int | None = None,
    add: int | None = None,
    comment: str = "",
    adjust_estimate: AdjustEstimate | str = AdjustEstimate.AUTO,
    new_estimate: int | None = None,
    reduce_by: int | None = None,
) -> int:
    """Make the author's time on the issue for one local day add up to `total` seconds; return the change.

    A timesheet cell edit: more time is added to the day's only worklog or as a new worklog after the
    last one (09:00 local when the day is empty); less time shrinks and then deletes the latest worklogs.
    Estimates follow adjust_estimate; "manual" (reduce by) applies to added time only, as in Jira.
    Give `add` instead of `total` to add that much to whatever the day already holds.
    """
    if not may_edit(author, issue.project_id):
        raise PermissionDenied("You may not log work in this project.")
    if (total is None) == (add is None):
        raise ValueError("give exactly one of total and add")
    if add is not None and (not isinstance(add, int) or add <= 0):
        raise ValidationError({"time_spent": "Time spent must be more than zero."})
    mode = AdjustEstimate(adjust_estimate)
    # Lock the issue first so two saves of the same cell cannot both compute from the same old total.
    _locked_issue(issue.pk)
    lo = dt.datetime.combine(day, dt.time.min, tzinfo=tz)
    hi = dt.datetime.combine(day + dt.timedelta(days=1), dt.time.min, tzinfo=tz)
    logs = list(
        Worklog.objects.select_for_update()
        .filter(issue_id=issue.pk, author_id=author.pk, started__gte=lo, started__lt=hi)
        .order_by("started", "id")
    )
    current = sum(w.time_spent for w in logs)
    if add is not None:
        total = current + add
    if not isinstance(total, int) or total < 0:
        raise ValidationError({"time_spent": "Time must not be negative."})
    if total > 24 * 3600:
        raise ValidationError({"time_spent": "One day holds at most 24h."})
    delta = total - current
    if delta == 0:
        return 0
    if delta > 0:
        if len(logs) == 1 and mode != AdjustEstimate.MANUAL and add is None:
            worklog_update(
                worklog=logs[0], actor=author, time_spent=total, adjust_estimate=mode, new_estimate=new_estimate
            )
        else:
            if logs:
                last = logs[-1]
                started = min(last.started + dt.timedelta(seconds=last.time_spent), hi - dt.timedelta(seconds=delta))
                started = max(started, lo)
            else:
                started = dt.datetime.combine(day, dt.time(9, 0), tzinfo=tz)
            worklog_add(
                issue=issue,
                author=author,
                time_spent=delta,
                started=started,
                comment=comment,
                adjust_estimate=mode,
                new_estimate=new_estimate,
                reduce_by=reduce_by,
                check_permission=False,
            )
        return delta
    # Less time: shrink from the latest worklog backwards.
    shrink_mode = AdjustEstimate.LEAVE if mode == AdjustEstimate.MANUAL else mode
    to_remove = -delta
    for log in reversed(logs):
        if to_remove <= 0:
            break
        if log.time_spent <= to_remove:
            to_remove -= log.time_spent
            worklog_delete(worklog=log, actor=author, adjust_estimate=shrink_mode, new_estimate=new_estimate)
        else:
            worklog_update(
                worklog=log,
                actor=author,
                time_spent=log.time_spent - to_remove,
                adjust_estimate=shrink_mode,
                new_estimate=new_estimate,
            )
            to_remove = 0
    return delta


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
