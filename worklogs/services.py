"""Writes to worklogs: each keeps the issue's time spent and remaining estimate right."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.models import IntegerField, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from issues import events, pagecache
from issues.durations import format_duration
from issues.models import Issue
from issues.permissions import may_edit, require_worklog_change
from issues.services import history_record_rows
from worklogs.models import ROLLUP_BUCKET_SECONDS, Worklog, WorklogRollup, rollup_bucket

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
        Issue.objects.select_for_update()
        .only("id", "project_id", "time_spent", "original_estimate", "remaining_estimate")
        .get(pk=issue_id)
    )


def remaining_after(
    issue: Issue,
    *,
    delta: int,
    mode: AdjustEstimate,
    new_estimate: int | None = None,
    reduce_by: int | None = None,
    increase_by: int | None = None,
) -> int | None:
    """Return the issue's remaining estimate after its time spent changes by `delta` seconds.

    The one estimate rule of every worklog write (add, edit, delete, timesheet cells). Logging time
    ("auto") takes it off the remaining estimate, never below zero. Removing time gives it back, but
    never above the larger of what the estimate is now and what the original estimate leaves after
    the new time spent: time that was logged past zero (or under an estimate set by hand) did not
    use the estimate up, so removing it does not grow it. Without an original estimate the remaining
    estimate stays as it is when time is removed. An unestimated issue stays unestimated.
    """
    remaining = issue.remaining_estimate
    if mode == AdjustEstimate.LEAVE:
        return remaining
    if mode == AdjustEstimate.NEW:
        if new_estimate is None or new_estimate < 0:
            raise ValidationError({"new_estimate": "Give the new remaining estimate."})
        return new_estimate
    if mode == AdjustEstimate.MANUAL and increase_by is not None:
        # Removing time with Jira's "manual": the estimate grows by the amount given (from zero if unset).
        if increase_by < 0:
            raise ValidationError({"increase_by": "Give the amount to increase the estimate by."})
        return (remaining or 0) + increase_by
    if mode == AdjustEstimate.MANUAL:
        if reduce_by is None or reduce_by < 0:
            raise ValidationError({"reduce_by": "Give the amount to reduce the estimate by."})
        return None if remaining is None else max(remaining - reduce_by, 0)
    if remaining is None:
        return None
    if delta >= 0:
        return max(remaining - delta, 0)
    original = issue.original_estimate
    if original is None:
        return remaining
    spent_after = max(issue.time_spent + delta, 0)
    return min(remaining - delta, max(remaining, original - spent_after))


def _apply_to_issue(issue: Issue, *, delta: int, remaining: int | None) -> None:
    issue.time_spent = max(issue.time_spent + delta, 0)
    issue.remaining_estimate = remaining
    issue.updated = timezone.now()
    issue.save(update_fields=["time_spent", "remaining_estimate", "updated"])  # the page cache: issues.signals


def _duration_text(seconds: int) -> str:
    return format_duration(seconds) if seconds else ""


def _record_history(
    issue: Issue, *, by: Any, when: dt.datetime, remaining_before: int | None, changes: list[tuple[str, Any, Any]]
) -> None:
    """Write the issue history of one worklog change: (field, old, new) rows, then the remaining estimate.

    "worklog" rows hold durations ("" before an add, "" after a delete): the issue page reads them as
    "logged 2h", "changed worklog from 2h to 1h 30m", "deleted worklog of 1h".
    """
    rows = [(issue.pk, field, old, new) for field, old, new in changes]
    rows.append((issue.pk, "remaining_estimate", remaining_before, issue.remaining_estimate))
    history_record_rows(changes=rows, author_id=getattr(by, "pk", None), when=when)


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
    by: Any | None = None,
) -> Worklog:
    """Log work on an issue, update its time spent and remaining estimate, and write history.

    `by` is who is recorded in history when it is not the author (the Django admin logging for someone).
    """
    if check_permission and not may_edit(author, issue.project_id):
        raise PermissionDenied("You may not log work in this project.")
    _check_time(time_spent)
    _check_started(started)
    mode = AdjustEstimate(adjust_estimate)
    locked = _locked_issue(issue.pk)
    remaining = remaining_after(locked, delta=time_spent, mode=mode, new_estimate=new_estimate, reduce_by=reduce_by)
    now = timezone.now()
    worklog = Worklog.objects.create(
        issue=locked,
        project_id=locked.project_id,
        author=author,
        started=started,
        time_spent=time_spent,
        comment=comment,
        created=now,
        updated=now,
    )
    before = locked.remaining_estimate
    _apply_to_issue(locked, delta=time_spent, remaining=remaining)
    _record_history(
        locked,
        by=by or author,
        when=now,
        remaining_before=before,
        changes=[("worklog", "", _duration_text(time_spent))],
    )
    issue.time_spent, issue.remaining_estimate = locked.time_spent, locked.remaining_estimate
    _rollup_add([(locked.project_id, started, time_spent, 1)])
    # Watchers hear of it: the reporter and the assignee watch their issues ("worklog on my issue").
    data = {"worklog_id": worklog.pk, "time": _duration_text(time_spent)}
    events.emit(events.IssueEvent(events.WORKLOG, getattr(by or author, "pk", None), (issue.pk,), data))
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
    by: Any | None = None,
) -> Worklog:
    """Edit a worklog (own, or any as project admin); the issue's totals follow and history records it.

    `by` is who is recorded in history when `actor` is None (the Django admin, which checks model permissions).
    """
    locked = _locked_issue(worklog.issue_id)
    _refresh_stored(worklog)
    _check_owner(worklog, actor, locked.project_id)
    stored_started, stored_spent = worklog.started, worklog.time_spent
    fields: list[str] = []
    changes: list[tuple[str, Any, Any]] = []
    delta = 0
    if time_spent is not None and time_spent != worklog.time_spent:
        _check_time(time_spent)
        delta = time_spent - worklog.time_spent
        changes.append(("worklog", _duration_text(worklog.time_spent), _duration_text(time_spent)))
        worklog.time_spent = time_spent
        fields.append("time_spent")
    if started is not None and started != worklog.started:
        _check_started(started)
        changes.append(("worklog started", worklog.started, started))
        worklog.started = started
        fields.append("started")
    if comment is not None and comment != worklog.comment:
        changes.append(("worklog comment", worklog.comment, comment))
        worklog.comment = comment
        fields.append("comment")
    if not fields:
        return worklog
    mode = AdjustEstimate(adjust_estimate)
    remaining = remaining_after(locked, delta=delta, mode=mode, new_estimate=new_estimate)
    deltas = [
        (locked.project_id, stored_started, -stored_spent, -1),
        (locked.project_id, worklog.started, worklog.time_spent, 1),
    ]
    worklog.updated = timezone.now()
    worklog.save(update_fields=[*fields, "updated"])
    before = locked.remaining_estimate
    _apply_to_issue(locked, delta=delta, remaining=remaining)
    _record_history(locked, by=by or actor, when=worklog.updated, remaining_before=before, changes=changes)
    if "started" in fields or "time_spent" in fields:
        _rollup_add(deltas)
    return worklog


@transaction.atomic
def worklog_delete(
    *,
    worklog: Worklog,
    actor: Any,
    adjust_estimate: AdjustEstimate | str = AdjustEstimate.AUTO,
    new_estimate: int | None = None,
    increase_by: int | None = None,
    by: Any | None = None,
) -> None:
    """Delete a worklog (own, or any as project admin); auto gives its time back (remaining_after), history records it.

    "manual" with `increase_by` grows the remaining estimate by that amount (Jira's DELETE worklog); without
    it "manual" leaves the estimate as it is.

    `by` is who is recorded in history when `actor` is None (the Django admin).
    """
    locked = _locked_issue(worklog.issue_id)
    _refresh_stored(worklog)
    _check_owner(worklog, actor, locked.project_id)
    mode = AdjustEstimate(adjust_estimate)
    if mode == AdjustEstimate.MANUAL and increase_by is None:
        mode = AdjustEstimate.LEAVE  # "reduce by" is about logging more; removing time leaves the estimate
    spent = worklog.time_spent
    remaining = remaining_after(locked, delta=-spent, mode=mode, new_estimate=new_estimate, increase_by=increase_by)
    worklog.delete()
    before = locked.remaining_estimate
    _apply_to_issue(locked, delta=-spent, remaining=remaining)
    _record_history(
        locked,
        by=by or actor,
        when=locked.updated,
        remaining_before=before,
        changes=[("worklog", _duration_text(spent), "")],
    )
    _rollup_add([(locked.project_id, worklog.started, -spent, -1)])


@dataclass(frozen=True)
class DayStep:
    """One worklog a lowered timesheet cell would change: `after` 0 means it would be deleted."""

    worklog_id: int
    started: dt.datetime
    comment: str
    before: int
    after: int

    def describe(self, tz: dt.tzinfo) -> str:
        """Return e.g. "worklog of 1h started 2026-03-02 09:00 (review) would become 45m", in `tz`."""
        what = f"worklog of {format_duration(self.before)} started {self.started.astimezone(tz):%Y-%m-%d %H:%M}"
        if self.comment:
            what += f" ({self.comment[:60]})"
        if self.after == 0:
            return f"{what} would be deleted"
        return f"{what} would become {format_duration(self.after)}"


@dataclass(frozen=True)
class DayPlan:
    """What lowering one cell (issue, author, local day) to `total` would do, latest worklog first.

    `token` names the day's worklogs as they were planned on: a confirmation only applies to that state.
    """

    issue_key: str
    day: dt.date
    current: int
    total: int
    steps: tuple[DayStep, ...]
    token: str


class WorklogConfirmationRequired(Exception):
    """Lowering a timesheet cell would delete worklogs or shrink one of several: confirm `plan.token` first."""

    def __init__(self, plan: DayPlan) -> None:
        super().__init__(
            f"Lowering {plan.issue_key} on {plan.day:%a %d %b} from {format_duration(plan.current)} to "
            f"{format_duration(plan.total)} changes {len(plan.steps)} worklog(s): confirm, or edit them one by one."
        )
        self.plan = plan


def _day_plan(issue: Issue, logs: list[Worklog], *, day: dt.date, current: int, total: int) -> DayPlan:
    steps: list[DayStep] = []
    to_remove = current - total
    for log in reversed(logs):  # latest first
        if to_remove <= 0:
            break
        after = max(log.time_spent - to_remove, 0)
        to_remove -= log.time_spent - after
        steps.append(DayStep(log.pk, log.started, log.comment, log.time_spent, after))
    state = ",".join(f"{w.pk}:{w.time_spent}" for w in logs)
    return DayPlan(issue.key, day, current, total, tuple(steps), f"{day.isoformat()}/{total}/{state}")


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
    confirm: str = "",
) -> int:
    """Make the author's time on the issue for one local day add up to `total` seconds; return the change.

    A timesheet cell edit, as in Jira's timesheets:
    - more time is one new worklog for the difference, after the day's last worklog (09:00 local when the
      day is empty); the worklogs already there stay as they are;
    - less time, when the day holds exactly one worklog and the new total is above zero, edits that worklog
      (the same as editing it on the issue page);
    - any other lowering (it would delete a worklog, or pick which of several worklogs to shrink) changes
      nothing and raises WorklogConfirmationRequired with the plan (latest worklogs shrink or go first);
      called again with `confirm=plan.token` for the same worklogs, it applies that plan.
    Every worklog change writes issue history. Estimates follow adjust_estimate (remaining_after);
    "manual" (reduce by) applies to added time only, as in Jira.
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
    plan = _day_plan(issue, logs, day=day, current=current, total=total)
    unambiguous = len(logs) == 1 and total > 0
    if not unambiguous and confirm != plan.token:
        raise WorklogConfirmationRequired(plan)
    shrink_mode = AdjustEstimate.LEAVE if mode == AdjustEstimate.MANUAL else mode
    by_id = {w.pk: w for w in logs}
    for step in plan.steps:
        log = by_id[step.worklog_id]
        if step.after == 0:
            worklog_delete(worklog=log, actor=author, adjust_estimate=shrink_mode, new_estimate=new_estimate)
        else:
            worklog_update(
                worklog=log, actor=author, time_spent=step.after, adjust_estimate=shrink_mode, new_estimate=new_estimate
            )
    return delta


@transaction.atomic
def worklog_delete_many(*, queryset: QuerySet[Worklog], by: Any | None) -> list[int]:
    """Delete many worklogs in one statement (the admin's bulk delete); return the affected issue ids.

    Time spent is recomputed (issue_recalculate_time_spent); remaining estimates are left as they are:
    a bulk clean-up is not "logging less work". Each deleted worklog gets its "deleted worklog of 1h"
    history row, by `by`, in one batch; the issues' pages are invalidated on commit (no signals here).
    """
    gone = list(queryset.order_by().values_list("issue_id", "issue__project_id", "time_spent", "started"))
    queryset.delete()
    worklog_rollup_refresh(keys=[(project_id, started) for _, project_id, _, started in gone])
    issue_ids = sorted({issue_id for issue_id, _, _, _ in gone})
    issue_recalculate_time_spent(issue_ids=issue_ids)
    history_record_rows(
        changes=[(issue_id, "worklog", _duration_text(spent), "") for issue_id, _, spent, _ in gone],
        author_id=getattr(by, "pk", None),
        when=timezone.now(),
    )
    pagecache.invalidate_on_commit(issue_ids, {project_id for _, project_id, _, _ in gone})
    return issue_ids


def issue_recalculate_time_spent(*, issue_ids: Iterable[int]) -> int:
    """Set time_spent of the issues to the sum of their worklogs in one UPDATE; return rows updated.

    Bulk paths (imports, seed, admin bulk deletes) call this instead of maintaining
    running totals row by row. It never touches remaining estimates: a bulk path is not "logging
    less work", so no estimate grows here (the estimate rule of single writes is remaining_after).
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


# ------------------------------------------------------------------------------------------------ the rollup

# pg_advisory_xact_lock keys of the rollup: one per (project, UTC day), in a namespace of their own.
_ROLLUP_LOCK_BASE = 0x7A11 << 48
_REFRESH_RANGES = 200  # bucket ranges per query (OR of started ranges)

RollupKey = tuple[int, dt.datetime]  # (project id, any instant in the bucket)


def _lock_rollup(keys: list[tuple[int, dt.datetime]]) -> None:
    """Serialise the refreshes of these buckets: each waits for the transactions that refreshed them before.

    A refresh sums the worklogs after taking the lock, in a new statement, so it sees every worklog of the
    writers that held the lock before it; a writer whose worklog it could not see yet refreshes after it. Locks
    are per (project, day), taken in one statement in sorted order and held to the end of the transaction:
    a single write locks one or two days of one project; PostgreSQL's deadlock check ends a transaction that
    would wait on another holding locks it wants (two bulk writers taking overlapping days in several calls).
    """
    if connection.vendor != "postgresql":
        return  # SQLite serialises every write transaction already
    locks = sorted({_ROLLUP_LOCK_BASE + (pid << 20) + int(b.timestamp()) // 86400 for pid, b in keys})
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(pg_advisory_xact_lock(k)) FROM unnest(%s::bigint[]) AS k", [locks])


def _rollup_add(deltas: list[tuple[int, dt.datetime, int, int]]) -> None:
    """Add (project id, started, seconds, worklogs) changes to the rollup: the single-worklog writes.

    An upsert per bucket, O(1) whatever the bucket holds (a refresh re-reads the bucket's worklogs of every
    project). Under the same lock as worklog_rollup_refresh, so a refresh running alongside either sees this
    writer's worklog (it committed first) or is followed by this addition (it did not).
    """
    merged: dict[tuple[int, dt.datetime], list[int]] = {}
    for pid, started, seconds, count in deltas:
        cell = merged.setdefault((pid, rollup_bucket(started)), [0, 0])
        cell[0] += seconds
        cell[1] += count
    changes = [(pid, bucket, s, n) for (pid, bucket), (s, n) in sorted(merged.items()) if s or n]
    if not changes:
        return
    _lock_rollup([(pid, bucket) for pid, bucket, _, _ in changes])
    quote = connection.ops.quote_name
    table, seconds_col, count_col = quote(WorklogRollup._meta.db_table), quote("seconds"), quote("count")
    upsert = (
        f"INSERT INTO {table} (project_id, bucket, {seconds_col}, {count_col}) VALUES (%s, %s, %s, %s) "
        f"ON CONFLICT (project_id, bucket) DO UPDATE SET {seconds_col} = {table}.{seconds_col} + "
        f"excluded.{seconds_col}, {count_col} = {table}.{count_col} + excluded.{count_col}"
    )
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # One statement whatever the number of buckets (a chunk of imported worklogs touches hundreds).
            cursor.execute(
                f"INSERT INTO {table} (project_id, bucket, {seconds_col}, {count_col}) "
                "SELECT * FROM unnest(%s::bigint[], %s::timestamptz[], %s::bigint[], %s::int[]) "
                f"ON CONFLICT (project_id, bucket) DO UPDATE SET {seconds_col} = {table}.{seconds_col} + "
                f"excluded.{seconds_col}, {count_col} = {table}.{count_col} + excluded.{count_col}",
                [[c[0] for c in changes], [c[1] for c in changes], [c[2] for c in changes], [c[3] for c in changes]],
            )
        else:
            for pid, bucket, seconds, count in changes:
                cursor.execute(upsert, [pid, connection.ops.adapt_datetimefield_value(bucket), seconds, count])
    emptied = Q()
    for pid, bucket, _, count in changes:
        if count < 0:
            emptied |= Q(project_id=pid, bucket=bucket)
    if emptied:
        WorklogRollup.objects.filter(emptied, count__lte=0).delete()


def worklog_rollup_add(*, deltas: Iterable[tuple[int, dt.datetime, int, int]]) -> None:
    """Add (project id, started, seconds, worklogs) changes to the rollup: for writers that know them exactly.

    The bulk writers (imports) that add or change worklogs without moving issues between projects: each new
    worklog adds its time and one to its bucket, a changed one takes its old values away from its old bucket
    and adds the new. O(buckets touched), where worklog_rollup_refresh re-reads every worklog of each bucket
    (an import whose worklogs fall in the same buckets chunk after chunk re-read all it had written).
    """
    _rollup_add(list(deltas))


def _ranges(buckets: list[dt.datetime]) -> list[tuple[dt.datetime, dt.datetime]]:
    """Return [lo, hi) ranges covering the sorted buckets, adjacent ones merged."""
    step = dt.timedelta(seconds=ROLLUP_BUCKET_SECONDS)
    out: list[tuple[dt.datetime, dt.datetime]] = []
    for b in buckets:
        if out and out[-1][1] == b:
            out[-1] = (out[-1][0], b + step)
        else:
            out.append((b, b + step))
    return out


@transaction.atomic
def worklog_rollup_refresh(*, keys: Iterable[RollupKey]) -> int:
    """Recompute the rollup rows of these (project, bucket) pairs from the worklogs; return the rows written.

    Every path that adds, changes or deletes worklogs, or moves issues between projects, calls this in its
    transaction after its write, with the buckets before and after it (worklog_rollup_keys_of_issues helps).
    """
    wanted = sorted({(pid, rollup_bucket(at)) for pid, at in keys if pid is not None})
    if not wanted:
        return 0
    _lock_rollup(wanted)
    by_project: dict[int, list[dt.datetime]] = {}
    for pid, bucket in wanted:
        by_project.setdefault(pid, []).append(bucket)
    written = 0
    for pid, buckets in by_project.items():
        sums: dict[dt.datetime, list[int]] = {}
        ranges = _ranges(buckets)
        for start in range(0, len(ranges), _REFRESH_RANGES):
            where = Q()
            for lo, hi in ranges[start : start + _REFRESH_RANGES]:
                where |= Q(started__gte=lo, started__lt=hi)
            for started, seconds in (
                Worklog.objects.filter(where, issue__project_id=pid).order_by().values_list("started", "time_spent")
            ):
                cell = sums.setdefault(rollup_bucket(started), [0, 0])
                cell[0] += seconds
                cell[1] += 1
        for start in range(0, len(buckets), 1000):
            WorklogRollup.objects.filter(project_id=pid, bucket__in=buckets[start : start + 1000]).delete()
        rows = [WorklogRollup(project_id=pid, bucket=b, seconds=s, count=n) for b, (s, n) in sums.items()]
        WorklogRollup.objects.bulk_create(rows, batch_size=1000)
        written += len(rows)
    return written


def worklog_rollup_keys_of_issues(*, issue_ids: Iterable[int]) -> set[RollupKey]:
    """Return the (project, bucket) pairs the worklogs of these issues and of their sub-tasks count in, now."""
    ids = list(issue_ids)
    keys: set[RollupKey] = set()
    for start in range(0, len(ids), 5000):
        chunk = ids[start : start + 5000]
        found = (
            Worklog.objects.filter(Q(issue_id__in=chunk) | Q(issue__parent_id__in=chunk))
            .order_by()
            .values_list("issue__project_id", "started")
        )
        keys |= {(pid, rollup_bucket(started)) for pid, started in found}
    return keys


def worklog_projects_fill(*, issue_ids: Iterable[int] | None) -> int:
    """Copy their issue's project onto the worklogs of these issues (and of their sub-tasks) where it differs.

    None means every worklog (seeding, repair). Bulk writers and issue moves reach it through the rollup hooks
    below; worklog_add sets the project itself. Returns the worklogs changed.
    """
    project_of_issue = Subquery(Issue.objects.filter(pk=OuterRef("issue_id")).values("project_id")[:1])
    if issue_ids is None:
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(_PROJECTS_FILL_SQL.format(**_tables()))
                return cursor.rowcount
        return Worklog.objects.exclude(project_id=project_of_issue).update(project_id=project_of_issue)
    ids = list(issue_ids)
    changed = 0
    for start in range(0, len(ids), 5000):
        chunk = ids[start : start + 5000]
        stale = Worklog.objects.filter(Q(issue_id__in=chunk) | Q(issue__parent_id__in=chunk))
        # exclude() keeps the worklogs with no project yet (NULL = x is not true).
        changed += stale.exclude(project_id=project_of_issue).update(project_id=project_of_issue)
    return changed


def worklog_rollup_refresh_issues(*, issue_ids: Iterable[int], also: Iterable[RollupKey] = ()) -> int:
    """Refresh the buckets of these issues' worklogs as they are now, and the `also` buckets they were in before.

    For bulk writers (imports): `also` holds (project id, started) of the worklogs as they were before the write.
    The worklogs written get their issue's project (worklog_projects_fill) first.
    """
    ids = list(issue_ids)
    worklog_projects_fill(issue_ids=ids)
    return worklog_rollup_refresh(keys=worklog_rollup_keys_of_issues(issue_ids=ids) | set(also))


def worklog_rollup_issues_changing(*, issue_ids: Iterable[int], **_signal: Any) -> Callable[[], None]:
    """Note the buckets of these issues' worklogs before a move or delete; return what refreshes them after it.

    Connected to issues.rollups.issue_children_changing (issues cannot import worklogs): issue_move and the
    issue deletes call it around their write.
    """
    ids = list(issue_ids)
    before = worklog_rollup_keys_of_issues(issue_ids=ids)

    def after() -> None:
        worklog_projects_fill(issue_ids=ids)  # moved issues take their worklogs along (deleted ones: none left)
        worklog_rollup_refresh(keys=before | worklog_rollup_keys_of_issues(issue_ids=ids))

    return after


def worklog_rollup_rebuild() -> int:
    """Rebuild the whole rollup from the worklogs (migration, seeding, repair); return the rows written.

    Run it with writers stopped, or rely on the per-write refreshes to correct what a concurrent write changed.
    """
    with transaction.atomic():
        worklog_projects_fill(issue_ids=None)  # raw writers (seed_demo's COPY) leave the worklogs' project empty
        WorklogRollup.objects.all().delete()
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(_REBUILD_SQL.format(**_tables()))
                return cursor.rowcount
        rows = [WorklogRollup(project_id=p, bucket=b, seconds=s, count=n) for (p, b), (s, n) in rollup_sums().items()]
        WorklogRollup.objects.bulk_create(rows, batch_size=2000)
        return len(rows)


def _tables() -> dict[str, str]:
    quote = connection.ops.quote_name
    return {
        "rollup": quote(WorklogRollup._meta.db_table),
        "worklog": quote(Worklog._meta.db_table),
        "issue": quote(Issue._meta.db_table),
    }


_REBUILD_SQL = f"""
INSERT INTO {{rollup}} (project_id, bucket, seconds, count)
SELECT i.project_id,
       to_timestamp(floor(extract(epoch FROM w.started) / {ROLLUP_BUCKET_SECONDS}) * {ROLLUP_BUCKET_SECONDS}),
       sum(w.time_spent), count(*)
FROM {{worklog}} w JOIN {{issue}} i ON i.id = w.issue_id
GROUP BY 1, 2
"""


_PROJECTS_FILL_SQL = """
UPDATE {worklog} w SET project_id = i.project_id FROM {issue} i
WHERE i.id = w.issue_id AND w.project_id IS DISTINCT FROM i.project_id
"""


def rollup_sums() -> dict[tuple[int, dt.datetime], tuple[int, int]]:
    """Return (seconds, worklogs) per (project, bucket) summed from the worklogs themselves (rebuilds, checks)."""
    sums: dict[tuple[int, dt.datetime], list[int]] = {}
    for pid, started, seconds in (
        Worklog.objects.order_by().values_list("issue__project_id", "started", "time_spent").iterator(chunk_size=20000)
    ):
        cell = sums.setdefault((pid, rollup_bucket(started)), [0, 0])
        cell[0] += seconds
        cell[1] += 1
    return {key: (s, n) for key, (s, n) in sums.items()}


def rollup_differences() -> list[str]:
    """Return how the rollup differs from the worklogs (empty when it agrees): one line per wrong bucket."""
    want = rollup_sums()
    have = {
        (p, b): (s, n) for p, b, s, n in WorklogRollup.objects.values_list("project_id", "bucket", "seconds", "count")
    }
    out = []
    for key in sorted(want.keys() | have.keys()):
        if want.get(key) != have.get(key):
            out.append(f"project {key[0]} at {key[1]:%Y-%m-%d %H:%M}: rollup {have.get(key)}, worklogs {want.get(key)}")
    # The reports also read the worklogs' own copy of their issue's project.
    astray = Worklog.objects.exclude(
        project_id=Subquery(Issue.objects.filter(pk=OuterRef("issue_id")).values("project_id")[:1])
    )
    out += [
        f"worklog {pk}: project {pid}, its issue's is another"
        for pk, pid in astray.values_list("pk", "project_id")[:100]
    ]
    return out
