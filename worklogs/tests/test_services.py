"""Worklog services keep the issue's time_spent equal to the sum of its worklogs, and estimates as Jira does.

Personas: alice is admin of DEMO, carol a viewer in DEMO (may not log work), bob only in OPS.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Sum

from issues.models import History, Issue, Membership, Role
from worklogs.models import Worklog
from worklogs.services import (
    AdjustEstimate,
    WorklogConfirmationRequired,
    issue_recalculate_time_spent,
    worklog_add,
    worklog_delete,
    worklog_delete_many,
    worklog_set_day_total,
    worklog_update,
)

H = 3600


@pytest.fixture
def started():
    # A fixed instant: nothing here depends on when the suite runs.
    return dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def issue(project_a, make_issue):
    return make_issue(project_a, original_estimate=10 * H)


def totals(issue: Issue) -> tuple[int, int | None]:
    """Return (time_spent, remaining_estimate) as stored, after checking time_spent == sum(worklogs)."""
    stored = Issue.objects.get(pk=issue.pk)
    summed = Worklog.objects.filter(issue_id=issue.pk).aggregate(s=Sum("time_spent"))["s"] or 0
    assert stored.time_spent == summed
    return stored.time_spent, stored.remaining_estimate


def test_add_auto_reduces_remaining(issue, alice, started):
    worklog_add(issue=issue, author=alice, time_spent=2 * H, started=started)
    worklog_add(issue=issue, author=alice, time_spent=30 * 60, started=started)
    assert totals(issue) == (2 * H + 1800, 10 * H - 2 * H - 1800)
    # The caller's instance follows too.
    assert issue.time_spent == 2 * H + 1800


def test_add_auto_never_goes_below_zero(issue, alice, started):
    worklog_add(issue=issue, author=alice, time_spent=12 * H, started=started)
    assert totals(issue) == (12 * H, 0)


@pytest.mark.parametrize(
    ("mode", "extra", "remaining"),
    [
        (AdjustEstimate.LEAVE, {}, 10 * H),
        (AdjustEstimate.NEW, {"new_estimate": 3 * H}, 3 * H),
        (AdjustEstimate.MANUAL, {"reduce_by": 4 * H}, 6 * H),
    ],
)
def test_add_adjust_estimate_modes(issue, alice, started, mode, extra, remaining):
    worklog_add(issue=issue, author=alice, time_spent=H, started=started, adjust_estimate=mode, **extra)
    assert totals(issue) == (H, remaining)


def test_add_unestimated_issue_stays_unestimated(project_a, make_issue, alice, started):
    issue = make_issue(project_a)
    worklog_add(issue=issue, author=alice, time_spent=H, started=started)
    assert totals(issue) == (H, None)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"time_spent": 0}, "time_spent"),
        ({"time_spent": 8 * 24 * H}, "time_spent"),
        ({"started": dt.datetime(2026, 1, 1, 9, 0)}, "started"),
        ({"adjust_estimate": "new"}, "new_estimate"),
        ({"adjust_estimate": "manual"}, "reduce_by"),
    ],
)
def test_add_rejects_bad_input_and_changes_nothing(issue, alice, started, kwargs, field):
    args = {"issue": issue, "author": alice, "time_spent": H, "started": started, **kwargs}
    with pytest.raises(ValidationError) as exc:
        worklog_add(**args)
    assert field in exc.value.message_dict
    assert not Worklog.objects.exists()
    assert totals(issue) == (0, 10 * H)


def test_viewer_and_outsider_cannot_log_work(issue, carol, bob, started):
    for person in (carol, bob):
        with pytest.raises(PermissionDenied):
            worklog_add(issue=issue, author=person, time_spent=H, started=started)
    assert totals(issue) == (0, 10 * H)


def test_update_more_and_less_time_auto(issue, alice, started):
    log = worklog_add(issue=issue, author=alice, time_spent=2 * H, started=started)
    worklog_update(worklog=log, actor=alice, time_spent=5 * H)
    assert totals(issue) == (5 * H, 5 * H)
    # Logging less gives the time back to the estimate.
    worklog_update(worklog=log, actor=alice, time_spent=H)
    assert totals(issue) == (H, 9 * H)


def test_update_leave_and_new(issue, alice, started):
    log = worklog_add(issue=issue, author=alice, time_spent=2 * H, started=started)
    worklog_update(worklog=log, actor=alice, time_spent=3 * H, adjust_estimate="leave")
    assert totals(issue) == (3 * H, 8 * H)
    worklog_update(worklog=log, actor=alice, time_spent=4 * H, adjust_estimate="new", new_estimate=H)
    assert totals(issue) == (4 * H, H)


def test_update_comment_only_keeps_totals(issue, alice, started):
    log = worklog_add(issue=issue, author=alice, time_spent=2 * H, started=started)
    worklog_update(worklog=log, actor=alice, comment="reviewed", started=started - dt.timedelta(hours=1))
    log.refresh_from_db()
    assert (log.comment, log.started) == ("reviewed", started - dt.timedelta(hours=1))
    assert totals(issue) == (2 * H, 8 * H)


def test_update_from_a_stale_instance_keeps_the_sum(issue, alice, started):
    log = worklog_add(issue=issue, author=alice, time_spent=H, started=started)
    stale = Worklog.objects.get(pk=log.pk)
    worklog_update(worklog=log, actor=alice, time_spent=2 * H)
    # `stale` still believes 1h: the delta must come from the stored row (2h -> 3h), not the instance.
    worklog_update(worklog=stale, actor=alice, time_spent=3 * H)
    assert totals(issue)[0] == 3 * H


def test_delete_auto_gives_time_back(issue, alice, started):
    keep = worklog_add(issue=issue, author=alice, time_spent=H, started=started)
    gone = worklog_add(issue=issue, author=alice, time_spent=2 * H, started=started)
    worklog_delete(worklog=gone, actor=alice)
    assert totals(issue) == (H, 9 * H)
    assert list(Worklog.objects.values_list("pk", flat=True)) == [keep.pk]


@pytest.mark.parametrize(
    ("mode", "extra", "remaining"),
    [(AdjustEstimate.LEAVE, {}, 8 * H), (AdjustEstimate.NEW, {"new_estimate": 5 * H}, 5 * H)],
)
def test_delete_modes(issue, alice, started, mode, extra, remaining):
    log = worklog_add(issue=issue, author=alice, time_spent=2 * H, started=started)
    worklog_delete(worklog=log, actor=alice, adjust_estimate=mode, **extra)
    assert totals(issue) == (0, remaining)


def test_deleting_twice_does_not_subtract_twice(issue, alice, started):
    worklog_add(issue=issue, author=alice, time_spent=H, started=started)
    log = worklog_add(issue=issue, author=alice, time_spent=2 * H, started=started)
    again = Worklog.objects.get(pk=log.pk)
    worklog_delete(worklog=log, actor=alice)
    with pytest.raises(Worklog.DoesNotExist):
        worklog_delete(worklog=again, actor=alice)
    assert totals(issue)[0] == H


def test_only_owner_or_project_admin_changes_a_worklog(project_a, issue, alice, bob, started):
    # dave is a plain member of DEMO: he may log work, but not edit alice's worklog.
    dave = get_user_model().objects.create_user("dave", "dave@example.com", "dave-pass-123")
    Membership.objects.create(project=project_a, user=dave, role=Role.MEMBER)
    alices = worklog_add(issue=issue, author=alice, time_spent=H, started=started)
    daves = worklog_add(issue=issue, author=dave, time_spent=H, started=started)

    with pytest.raises(PermissionDenied):
        worklog_update(worklog=alices, actor=dave, time_spent=3 * H)
    with pytest.raises(PermissionDenied):
        worklog_delete(worklog=alices, actor=bob)  # bob is not in DEMO at all
    # alice administers DEMO: she may change dave's worklog.
    worklog_update(worklog=daves, actor=alice, time_spent=2 * H)
    assert totals(issue) == (3 * H, 7 * H)


def test_long_sequence_keeps_time_spent_equal_to_sum(issue, alice, started):
    logs = [worklog_add(issue=issue, author=alice, time_spent=(i + 1) * 900, started=started) for i in range(6)]
    worklog_update(worklog=logs[0], actor=alice, time_spent=4 * H)
    worklog_update(worklog=logs[1], actor=alice, time_spent=60, adjust_estimate="leave")
    worklog_delete(worklog=logs[2], actor=alice, adjust_estimate="leave")
    worklog_delete(worklog=logs[3], actor=None)
    worklog_update(worklog=logs[4], actor=None, time_spent=7 * H)
    spent, remaining = totals(issue)
    assert spent == 4 * H + 60 + 7 * H + 6 * 900
    assert remaining is not None and remaining >= 0


def test_demoted_viewer_cannot_change_own_worklog(project_a, issue, carol, started):
    # carol logged work as a member, then was demoted to viewer in DEMO: her worklog is now read-only to her.
    Membership.objects.filter(project=project_a, user=carol).update(role=Role.MEMBER)
    mine = worklog_add(issue=issue, author=carol, time_spent=H, started=started)
    Membership.objects.filter(project=project_a, user=carol).update(role=Role.VIEWER)
    with pytest.raises(PermissionDenied):
        worklog_update(worklog=mine, actor=carol, time_spent=2 * H)
    with pytest.raises(PermissionDenied):
        worklog_delete(worklog=mine, actor=carol)
    assert totals(issue)[0] == H


def test_recalculate_time_spent_sums_worklogs(project_a, make_issue, alice, started):
    # The bulk paths' total (imports, admin bulk deletes): one UPDATE, issues without worklogs back to 0.
    issue, empty = make_issue(project_a), make_issue(project_a)
    for seconds in (600, 1200):
        Worklog.objects.create(
            issue=issue, author=alice, started=started, time_spent=seconds, created=started, updated=started
        )
    Issue.objects.filter(pk__in=[issue.pk, empty.pk]).update(time_spent=99)

    assert issue_recalculate_time_spent(issue_ids=[issue.pk, empty.pk]) == 2
    assert dict(Issue.objects.values_list("pk", "time_spent")) == {issue.pk: 1800, empty.pk: 0}


# --- estimates when time is removed (issue #12) --------------------------------------------------------------


def test_removing_time_never_raises_remaining_above_original(issue, alice, started):
    # Logged 12h on a 10h estimate: remaining stopped at 0. Deleting 2h leaves 10h spent: still 0 left,
    # not the 2h that the clamped log never took from the estimate.
    big = worklog_add(issue=issue, author=alice, time_spent=8 * H, started=started)
    small = worklog_add(issue=issue, author=alice, time_spent=4 * H, started=started)
    assert totals(issue) == (12 * H, 0)
    worklog_delete(worklog=small, actor=alice)
    assert totals(issue) == (8 * H, 2 * H)
    worklog_update(worklog=big, actor=alice, time_spent=H)
    assert totals(issue) == (H, 9 * H)
    worklog_delete(worklog=big, actor=alice)
    assert totals(issue) == (0, 10 * H)  # back to the original estimate, never above it


def test_removing_time_keeps_a_remaining_estimate_set_above_the_original(issue, alice, started):
    # alice re-estimated to 20h while logging: giving the 3h back must not push it to 23h.
    log = worklog_add(
        issue=issue, author=alice, time_spent=3 * H, started=started, adjust_estimate="new", new_estimate=20 * H
    )
    worklog_delete(worklog=log, actor=alice)
    assert totals(issue) == (0, 20 * H)


def test_removing_time_without_original_estimate_keeps_remaining(project_a, make_issue, alice, started):
    # No original estimate to return to: the remaining estimate stays what it was.
    issue = make_issue(project_a, remaining_estimate=5 * H)
    log = worklog_add(issue=issue, author=alice, time_spent=2 * H, started=started)
    assert totals(issue) == (2 * H, 3 * H)
    worklog_delete(worklog=log, actor=alice)
    assert totals(issue) == (0, 3 * H)


# --- history of worklog changes (issue #12) -----------------------------------------------------------------


def history(issue: Issue) -> list[tuple[str, str, str, int | None]]:
    return list(
        History.objects.filter(issue_id=issue.pk)
        .order_by("id")
        .values_list("field", "from_value", "to_value", "author_id")
    )


def test_add_edit_delete_write_issue_history_with_the_author(issue, alice, started):
    log = worklog_add(issue=issue, author=alice, time_spent=2 * H, started=started, comment="draft")
    assert history(issue) == [
        ("worklog", "", "2h", alice.pk),
        ("remaining_estimate", str(10 * H), str(8 * H), alice.pk),
    ]

    History.objects.all().delete()
    later = started + dt.timedelta(hours=1)
    worklog_update(worklog=log, actor=alice, time_spent=H + 1800, comment="final", started=later)
    assert history(issue) == [
        ("worklog", "2h", "1h 30m", alice.pk),
        ("worklog started", started.isoformat(), later.isoformat(), alice.pk),
        ("worklog comment", "draft", "final", alice.pk),
        ("remaining_estimate", str(8 * H), str(8 * H + 1800), alice.pk),
    ]

    History.objects.all().delete()
    worklog_delete(worklog=log, actor=alice, adjust_estimate="leave")
    assert history(issue) == [("worklog", "1h 30m", "", alice.pk)]


def test_admin_changes_record_the_admin_as_author(issue, alice, admin_user, started):
    # The Django admin passes actor=None (model permissions, not project roles) and names itself for history.
    log = worklog_add(issue=issue, author=alice, time_spent=H, started=started, adjust_estimate="leave")
    History.objects.all().delete()
    worklog_update(worklog=log, actor=None, by=admin_user, time_spent=2 * H, adjust_estimate="leave")
    worklog_delete(worklog=log, actor=None, by=admin_user, adjust_estimate="leave")
    assert history(issue) == [("worklog", "1h", "2h", admin_user.pk), ("worklog", "2h", "", admin_user.pk)]


# --- timesheet cells: worklog_set_day_total (issue #12) -----------------------------------------------------

BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
DAY = dt.date(2026, 3, 2)


def at9(hour: int = 9, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(DAY, dt.time(hour, minute), tzinfo=BERLIN)


def day_logs(issue: Issue) -> list[tuple[str, int]]:
    return list(
        Worklog.objects.filter(issue_id=issue.pk).order_by("started", "id").values_list("comment", "time_spent")
    )


def test_raising_a_cell_adds_one_worklog_for_the_difference(issue, alice):
    worklog_add(issue=issue, author=alice, time_spent=H, started=at9(), comment="morning")
    History.objects.all().delete()

    assert worklog_set_day_total(issue=issue, author=alice, day=DAY, tz=BERLIN, total=2 * H + 1800) == H + 1800

    # The existing worklog (its comment, its time) is untouched; the difference is a worklog of its own.
    assert day_logs(issue) == [("morning", H), ("", H + 1800)]
    assert totals(issue) == (2 * H + 1800, 10 * H - 2 * H - 1800)
    assert history(issue)[0] == ("worklog", "", "1h 30m", alice.pk)


def test_lowering_a_cell_that_would_delete_asks_first_and_changes_nothing(issue, alice):
    first = worklog_add(issue=issue, author=alice, time_spent=H, started=at9(), comment="morning")
    second = worklog_add(issue=issue, author=alice, time_spent=1800, started=at9(13), comment="afternoon")
    before = totals(issue)
    History.objects.all().delete()

    with pytest.raises(WorklogConfirmationRequired) as asked:
        worklog_set_day_total(issue=issue, author=alice, day=DAY, tz=BERLIN, total=2700)

    plan = asked.value.plan
    # Latest first: the afternoon worklog would go, the morning one would shrink to 45m.
    assert [(s.worklog_id, s.before, s.after) for s in plan.steps] == [(second.pk, 1800, 0), (first.pk, H, 2700)]
    assert plan.steps[0].describe(BERLIN) == "worklog of 30m started 2026-03-02 13:00 (afternoon) would be deleted"
    assert plan.steps[1].describe(BERLIN) == "worklog of 1h started 2026-03-02 09:00 (morning) would become 45m"
    assert day_logs(issue) == [("morning", H), ("afternoon", 1800)]
    assert totals(issue) == before
    assert history(issue) == []

    # Confirmed with the plan's token: applied, with history for each worklog.
    assert worklog_set_day_total(issue=issue, author=alice, day=DAY, tz=BERLIN, total=2700, confirm=plan.token) == -2700
    assert day_logs(issue) == [("morning", 2700)]
    assert [h[:3] for h in history(issue) if h[0] == "worklog"] == [("worklog", "30m", ""), ("worklog", "1h", "45m")]


def test_a_confirmation_of_another_state_is_asked_again(issue, alice):
    worklog_add(issue=issue, author=alice, time_spent=H, started=at9())
    with pytest.raises(WorklogConfirmationRequired) as asked:
        worklog_set_day_total(issue=issue, author=alice, day=DAY, tz=BERLIN, total=0)
    # Meanwhile another worklog lands on the day (another tab): the old confirmation does not cover it.
    worklog_add(issue=issue, author=alice, time_spent=1800, started=at9(14))
    with pytest.raises(WorklogConfirmationRequired):
        worklog_set_day_total(issue=issue, author=alice, day=DAY, tz=BERLIN, total=0, confirm=asked.value.plan.token)
    assert len(day_logs(issue)) == 2


def test_clearing_the_only_worklog_of_a_cell_asks_first(issue, alice):
    worklog_add(issue=issue, author=alice, time_spent=H, started=at9())
    with pytest.raises(WorklogConfirmationRequired):
        worklog_set_day_total(issue=issue, author=alice, day=DAY, tz=BERLIN, total=0)
    assert day_logs(issue) == [("", H)]


def test_lowering_the_only_worklog_of_a_cell_edits_it_with_history(issue, alice):
    # One worklog and a new total above zero: unambiguous, as editing that worklog on the issue page.
    worklog_add(issue=issue, author=alice, time_spent=2 * H, started=at9(), comment="keep me")
    History.objects.all().delete()
    assert worklog_set_day_total(issue=issue, author=alice, day=DAY, tz=BERLIN, total=H) == -H
    assert day_logs(issue) == [("keep me", H)]
    assert totals(issue) == (H, 9 * H)
    assert history(issue)[0] == ("worklog", "2h", "1h", alice.pk)


def test_bulk_delete_writes_a_history_row_per_worklog(issue, alice, admin_user, started):
    # The admin's bulk delete: one statement, totals recomputed, estimates left, each deletion in history.
    for seconds in (H, 1800):
        worklog_add(issue=issue, author=alice, time_spent=seconds, started=started, adjust_estimate="leave")
    History.objects.all().delete()
    assert worklog_delete_many(queryset=Worklog.objects.filter(issue_id=issue.pk), by=admin_user) == [issue.pk]
    assert totals(issue) == (0, 10 * H)
    assert sorted(history(issue)) == [("worklog", "1h", "", admin_user.pk), ("worklog", "30m", "", admin_user.pk)]


def test_issue_page_reads_worklog_history_as_sentences(client, issue, alice, started):
    log = worklog_add(issue=issue, author=alice, time_spent=2 * H, started=started)
    worklog_update(worklog=log, actor=alice, time_spent=H + 1800)
    worklog_delete(worklog=log, actor=alice)
    client.force_login(alice)  # alice administers DEMO: she sees the issue page
    html = " ".join(client.get(f"/browse/{issue.key}").content.decode().split())
    assert 'logged <span class="value">2h</span>' in html
    assert 'changed <em>worklog</em> from <span class="value">2h</span> to <span class="value">1h 30m</span>' in html
    assert 'deleted <em>worklog</em> of <span class="value">1h 30m</span>' in html
