"""The time reports' rollup (worklogs.models.WorklogRollup): every kind of write keeps it equal to the worklogs.

After each write the rollup is compared bucket by bucket with the worklogs summed afresh (rollup_differences),
and the project totals it gives are checked against sums of the worklogs made here. Runs on SQLite and on
PostgreSQL (DATABASE_URL).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
from django.contrib.admin.sites import site
from django.core.management import call_command
from django.db import connection
from django.db.models import Sum
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext

from imports import services as import_services
from imports.tests.conftest import jira_issue, write_jira_json
from issues.models import Issue, IssueType, Membership, Role
from issues.services import issue_delete, issue_move
from worklogs.models import Worklog, WorklogRollup, rollup_bucket
from worklogs.reports import rollup_in_range, time_report
from worklogs.selectors import WorklogFilter
from worklogs.services import (
    rollup_differences,
    worklog_delete,
    worklog_delete_many,
    worklog_rollup_rebuild,
    worklog_set_day_total,
    worklog_update,
)
from worklogs.tests.conftest import BERLIN, MON, at

pytestmark = pytest.mark.django_db


def rollup_total(project) -> int:
    return WorklogRollup.objects.filter(project=project).aggregate(s=Sum("seconds"))["s"] or 0


def worklog_total(project) -> int:
    return Worklog.objects.filter(issue__project=project).aggregate(s=Sum("time_spent"))["s"] or 0


def agrees() -> None:
    assert rollup_differences() == []


@pytest.fixture
def logged(alice, dave, demo_issue, demo_issue2, ops_issue, log_work):
    """Worklogs in two projects, two sharing a quarter hour, one in the next."""
    return [
        log_work(demo_issue, alice, at(MON, 9), 3600),
        log_work(demo_issue2, alice, at(MON, 9, 5), 600),  # same quarter hour as the first
        log_work(demo_issue, dave, at(MON, 9, 20), 900),
        log_work(ops_issue, dave, at(MON, 9), 1800),
    ]


def test_bucket_is_the_quarter_hour_in_utc():
    assert rollup_bucket(dt.datetime(2026, 3, 2, 9, 14, 59, tzinfo=BERLIN)) == dt.datetime(
        2026, 3, 2, 8, 0, tzinfo=dt.UTC
    )
    assert rollup_bucket(dt.datetime(2026, 3, 2, 9, 15, tzinfo=BERLIN)) == dt.datetime(2026, 3, 2, 8, 15, tzinfo=dt.UTC)


def test_add_fills_the_rollup(logged, project_a, project_b):
    agrees()
    assert rollup_total(project_a) == 3600 + 600 + 900 and rollup_total(project_b) == 1800
    first = WorklogRollup.objects.get(project=project_a, bucket=dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.UTC))
    assert (first.seconds, first.count) == (4200, 2)


def test_update_of_time_and_start_moves_between_buckets(logged, alice, project_a):
    worklog_update(worklog=logged[0], actor=alice, time_spent=1200)
    agrees()
    worklog_update(worklog=logged[0], actor=alice, started=at(MON + dt.timedelta(days=3), 16))
    agrees()
    assert rollup_total(project_a) == 1200 + 600 + 900
    worklog_update(worklog=logged[0], actor=alice, comment="only the comment")
    agrees()


def test_delete_and_delete_many(logged, alice, dave, project_a, project_b):
    worklog_delete(worklog=logged[1], actor=alice)  # its bucket keeps the first worklog
    agrees()
    worklog_delete(worklog=logged[3], actor=dave)  # the last of its bucket: the row goes
    agrees()
    assert not WorklogRollup.objects.filter(project=project_b).exists()
    worklog_delete_many(queryset=Worklog.objects.filter(pk__in=[logged[2].pk]), by=alice)
    agrees()
    assert rollup_total(project_a) == 3600 and rollup_total(project_b) == 0


def test_timesheet_cells_add_lower_and_clear(logged, alice, demo_issue, project_a):
    day = MON + dt.timedelta(days=1)
    worklog_set_day_total(issue=demo_issue, author=alice, day=day, tz=BERLIN, total=7200)
    agrees()
    worklog_set_day_total(issue=demo_issue, author=alice, day=day, tz=BERLIN, total=3600)  # one worklog: edited
    agrees()
    worklog_set_day_total(issue=demo_issue, author=alice, day=MON, tz=BERLIN, add=900)
    agrees()
    assert rollup_total(project_a) == worklog_total(project_a)


def test_issue_move_carries_its_and_its_subtasks_time(alice, bob, project_a, project_b, make_issue, log_work):
    Membership.objects.create(project=project_b, user=alice, role=Role.ADMIN)
    parent = make_issue(project_a, summary="Parent")
    sub = make_issue(project_a, summary="Sub", parent=parent, type=IssueType.objects.filter(is_subtask=True).first())
    stays = make_issue(project_a, summary="Stays")
    log_work(parent, alice, at(MON, 9), 3600)
    log_work(sub, alice, at(MON, 9, 10), 600)  # same bucket as the parent's
    log_work(stays, alice, at(MON, 9), 300)  # and one that stays behind in it
    issue_move(issue=Issue.objects.get(pk=parent.pk), actor=alice, project=project_b)
    agrees()
    assert rollup_total(project_a) == 300 and rollup_total(project_b) == 4200


def test_issue_delete_and_admin_bulk_delete(alice, project_a, make_issue, log_work):
    parent = make_issue(project_a, summary="Parent")
    sub = make_issue(project_a, summary="Sub", parent=parent, type=IssueType.objects.filter(is_subtask=True).first())
    other = make_issue(project_a, summary="Other")
    third = make_issue(project_a, summary="Third")
    for issue, seconds in ((parent, 3600), (sub, 600), (other, 1200), (third, 60)):
        log_work(issue, alice, at(MON, 9), seconds)
    issue_delete(issue=Issue.objects.get(pk=parent.pk), actor=alice)
    agrees()
    assert rollup_total(project_a) == 1260
    request = RequestFactory().post("/admin/")
    request.user = alice
    site._registry[Issue].delete_queryset(request, Issue.objects.filter(pk=other.pk))
    agrees()
    assert rollup_total(project_a) == 60


def test_import_of_new_and_changed_worklogs(tmp_path, project_a, alice):
    path = write_jira_json(tmp_path / "a.json", [jira_issue(n) for n in (1, 2)])
    job = import_services.import_job_create(user=alice, paths=[path], enqueue=False)
    import_services.job_run(job_id=job.pk)
    agrees()
    assert rollup_total(project_a) == 4 * 1800
    # The same worklogs again, one a day later and twice as long: it leaves its bucket for another.
    changed = jira_issue(1)
    changed["fields"]["worklog"]["worklogs"][0].update(started="2024-01-16T08:00:00.000+0000", timeSpentSeconds=3600)
    path = write_jira_json(tmp_path / "b.json", [changed, jira_issue(2)])
    job = import_services.import_job_create(user=alice, paths=[path], enqueue=False)
    import_services.job_run(job_id=job.pk)
    agrees()
    assert rollup_total(project_a) == 3 * 1800 + 3600 == worklog_total(project_a)


def test_rebuild_and_the_check_command(logged, project_a, capsys):
    Worklog.objects.filter(pk=logged[0].pk).update(time_spent=60)  # a raw write the rollup cannot know of
    assert len(rollup_differences()) == 1
    with pytest.raises(Exception, match="differs"):
        call_command("worklog_rollup", "--check")
    assert worklog_rollup_rebuild() > 0
    agrees()
    call_command("worklog_rollup", "--check")
    assert "agrees" in capsys.readouterr().out


def test_worklogs_carry_their_issues_project_through_every_write(
    alice, bob, project_a, project_b, make_issue, log_work
):
    # The reports read Worklog.project (their issue's project, copied): added, moved with the issue, filled for
    # raw writers (seed_demo's COPY) by the rebuild, and any that disagree reported by the check.
    issue = make_issue(project_a, summary="Moves")
    logged = log_work(issue, alice, at(MON, 9), 600)
    assert Worklog.objects.get(pk=logged.pk).project_id == project_a.pk
    Membership.objects.create(project=project_b, user=alice, role=Role.ADMIN)
    issue_move(issue=Issue.objects.get(pk=issue.pk), project=project_b, actor=alice)
    assert Worklog.objects.get(pk=logged.pk).project_id == project_b.pk
    raw = Worklog.objects.create(issue=issue, author=alice, started=at(MON, 11), time_spent=60, created=at(MON, 11),
                                 updated=at(MON, 11))  # fmt: skip
    assert any(f"worklog {raw.pk}: project None" in line for line in rollup_differences())
    worklog_rollup_rebuild()
    assert Worklog.objects.get(pk=raw.pk).project_id == project_b.pk
    agrees()


def test_project_and_day_reports_read_the_rollup_and_match_the_worklogs(logged, dave, project_a, project_b):
    flt = WorklogFilter(start=MON, end=MON + dt.timedelta(days=6), tz=BERLIN)
    with CaptureQueriesContext(connection) as ctx:
        by_project = time_report(user=dave, flt=flt, group="project")
        by_day = time_report(user=dave, flt=flt, group="day")
    sql = " ".join(q["sql"] for q in ctx.captured_queries)
    assert "worklogs_worklogrollup" in sql and 'worklogs_worklog"' not in sql.replace("worklogs_worklogrollup", "")
    assert {r.key: (r.seconds, r.count) for r in by_project.rows} == {"DEMO": (5100, 3), "OPS": (1800, 1)}
    assert by_day.rows[0].seconds == 6900 and by_day.total == 6900
    # Restricted to people, or in a zone whose midnight is off the quarter hours, only the worklogs answer.
    assert (
        rollup_in_range(user=dave, flt=WorklogFilter(MON, MON, BERLIN, author_ids=(dave.pk,)), group="project") is None
    )
    assert rollup_in_range(user=dave, flt=flt, group="user") is None
    amsterdam_1930 = WorklogFilter(dt.date(1930, 3, 2), dt.date(1930, 3, 8), zoneinfo.ZoneInfo("Europe/Amsterdam"))
    assert rollup_in_range(user=dave, flt=amsterdam_1930, group="project") is None
    kathmandu = WorklogFilter(MON, MON, zoneinfo.ZoneInfo("Asia/Kathmandu"))  # +05:45: on a quarter hour
    assert rollup_in_range(user=dave, flt=kathmandu, group="day") is not None


def test_rollup_report_keeps_to_the_viewers_projects(logged, bob, project_a):
    # bob is in OPS only: naming DEMO shows nothing of it.
    flt = WorklogFilter(start=MON, end=MON + dt.timedelta(days=6), tz=BERLIN, project_ids=(project_a.pk,))
    assert time_report(user=bob, flt=flt, group="project").rows == []
    everything = WorklogFilter(start=MON, end=MON + dt.timedelta(days=6), tz=BERLIN)
    assert [r.key for r in time_report(user=bob, flt=everything, group="project").rows] == ["OPS"]
