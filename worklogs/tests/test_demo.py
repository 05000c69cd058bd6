"""seed_demo: deterministic, consistent demo data written in bulk."""

from __future__ import annotations

import datetime as dt
import re
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db.models import Count, F, Max, OuterRef, Subquery, Sum
from django.db.models.functions import Coalesce, TruncDate

from accounts.models import Profile, display_name
from issues.models import PROJECT_KEY_RE, Comment, History, Issue, Membership, Project, Role, StatusCategory
from worklogs.demo import (
    DAY_LIMIT,
    _project_sizes,
    default_people,
    default_projects,
    project_specs,
    seed_demo,
)
from worklogs.models import Worklog

pytestmark = pytest.mark.django_db

User = get_user_model()
# Every seed here is anchored to this instant (a Wednesday afternoon), never to today's date.
NOW = dt.datetime(2026, 11, 25, 16, 30, tzinfo=dt.UTC)


def run(*args: str) -> str:
    out = StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


@pytest.fixture(autouse=True)
def _pinned_now(monkeypatch):
    """Pin the command's clock: seed_demo reads timezone.now() when no `now` is passed."""
    monkeypatch.setattr("worklogs.demo.timezone.now", lambda: NOW)


def snapshot() -> list[tuple]:
    return list(
        Issue.objects.order_by("key").values_list(
            "key", "summary", "type__name", "status__name", "priority__name", "parent__key", "time_spent"
        )
    )


def test_seed_demo_writes_consistent_data():
    output = run("--issues", "300", "--seed", "7", "--users", "55")

    assert Issue.objects.count() == 300
    assert set(Project.objects.values_list("key", flat=True)) == {"DEMO", "OPS", "WEB", "MOB"}
    # 55 demo people with profiles and varied time zones, plus the demo login.
    assert User.objects.count() == 56
    assert Profile.objects.count() == 56
    assert Profile.objects.values("time_zone").distinct().count() >= 5
    # Counters match the keys handed out: no gaps, no duplicates.
    for project in Project.objects.annotate(n=Count("issues"), top=Max("issues__number")):
        assert project.issue_counter == project.n == project.top
        numbers = sorted(project.issues.values_list("number", flat=True))
        assert numbers == list(range(1, project.n + 1))
    # time_spent is the sum of each issue's worklogs, for every issue.
    summed = Worklog.objects.filter(issue=OuterRef("pk")).order_by().values("issue").annotate(s=Sum("time_spent"))
    mismatched = Issue.objects.annotate(s=Coalesce(Subquery(summed.values("s")), 0)).exclude(time_spent=F("s"))
    assert not mismatched.exists()
    assert Worklog.objects.count() > 100 and Comment.objects.count() > 100 and History.objects.count() > 100
    # Status categories agree with resolution and resolved.
    done = Issue.objects.filter(status__category=StatusCategory.DONE)
    assert done.exists()
    assert not done.filter(resolution__isnull=True).exists() and not done.filter(resolved__isnull=True).exists()
    not_done = Issue.objects.exclude(status__category=StatusCategory.DONE)
    assert (
        not not_done.filter(resolution__isnull=False).exists() and not not_done.filter(resolved__isnull=False).exists()
    )
    # History names people as every other write does (the one display-name rule) and records each resolution.
    names = {display_name(u) for u in User.objects.select_related("profile")}
    assignee_rows = History.objects.filter(field="assignee").values_list("to_value", flat=True)
    assert assignee_rows and set(assignee_rows) <= names
    assert History.objects.filter(field="resolution").count() == done.count()
    # Sub-tasks have a sub-task type and a parent in their own project that is not a sub-task.
    subtasks = Issue.objects.filter(parent__isnull=False)
    assert subtasks.exists()
    assert not subtasks.exclude(type__is_subtask=True).exists()
    assert not subtasks.exclude(parent__project=F("project")).exists()
    assert not subtasks.filter(parent__type__is_subtask=True).exists()
    assert not Issue.objects.filter(type__is_subtask=True, parent__isnull=True).exists()
    # Every field gets used somewhere.
    for field in ("assignee", "reporter", "due_date", "original_estimate", "remaining_estimate", "labels"):
        assert Issue.objects.filter(**{f"{field}__isnull": False}).exists(), field
    # Worklogs are aware, inside the last ~3 months, and never before their issue was created.
    assert not Worklog.objects.filter(started__lt=F("issue__created")).exists()
    assert not Issue.objects.filter(updated__lt=F("created")).exists()
    assert "Rate:" in output and "issues/s" in output and "rows/s" in output
    assert "demo / demo-pass-123" in output and "/admin/" in output


def test_reporters_and_assignees_are_members_who_may_edit():
    seed_demo(issues=120, seed=3, users=50)
    editors = set(Membership.objects.exclude(role=Role.VIEWER).values_list("project_id", "user_id"))
    for project_id, reporter_id, assignee_id in Issue.objects.values_list("project_id", "reporter_id", "assignee_id"):
        assert (project_id, reporter_id) in editors
        assert assignee_id is None or (project_id, assignee_id) in editors


def test_same_seed_gives_same_data():
    seed_demo(issues=150, seed=11, users=50, now=NOW)
    first = snapshot()
    Project.objects.all().delete()  # cascades to issues, comments, worklogs and history
    seed_demo(issues=150, seed=11, users=50, now=NOW)
    assert snapshot() == first
    Project.objects.all().delete()
    seed_demo(issues=150, seed=12, users=50, now=NOW)
    assert snapshot() != first


def test_demo_login_is_a_member_of_every_project_and_superuser():
    output = run("--issues", "20", "--projects", "3", "--password", "another-pass-456")
    demo = User.objects.get(username="demo")
    assert demo.is_superuser and demo.is_staff
    assert demo.check_password("another-pass-456")
    assert set(Membership.objects.filter(user=demo).values_list("project__key", flat=True)) == {"DEMO", "OPS", "WEB"}
    assert "another-pass-456" in output
    # A second run keeps the existing password and does not print a wrong one.
    output = run("--issues", "10", "--password", "changed-pass-789")
    demo.refresh_from_db()
    assert demo.check_password("another-pass-456")
    assert "changed-pass-789" not in output


def test_second_run_continues_numbering():
    seed_demo(issues=40, seed=1, users=50)
    seed_demo(issues=40, seed=2, users=50)
    assert Issue.objects.count() == 80
    assert Issue.objects.values("key").distinct().count() == 80
    for project in Project.objects.annotate(n=Count("issues")):
        assert project.issue_counter == project.n


def test_if_empty_does_nothing_when_issues_exist():
    run("--issues", "5")
    output = run("--if-empty", "--issues", "500")
    assert Issue.objects.count() == 5
    assert "nothing seeded" in output


def test_bad_options_are_errors():
    with pytest.raises(CommandError, match="--projects"):
        run("--projects", "0")
    with pytest.raises(CommandError, match="--projects"):
        run("--projects", "100000")
    with pytest.raises(CommandError, match="--users"):
        run("--users", "0")
    with pytest.raises(CommandError, match="--issues"):
        run("--issues", "-1")
    assert not Issue.objects.exists()


def test_organisation_scales_with_the_issue_count():
    # About one person per 250 issues (at least 12); four projects plus one per 7,500 issues.
    assert default_people(2000) == 12
    assert default_people(1_000_000) == 4000
    assert default_projects(5000) == 4
    assert default_projects(1_000_000) == 137
    # Keys stay valid and unique past the named projects; the first project holds a third of the issues.
    specs = project_specs(137)
    assert len({key for key, _, _ in specs}) == 137
    assert all(re.match(PROJECT_KEY_RE, key) for key, _, _ in specs)
    sizes = _project_sizes(1_000_000, 137)
    assert sum(sizes) == 1_000_000 and sizes[0] == 333_333
    assert sorted(sizes[1:], reverse=True) == sizes[1:] and sizes[-1] >= 1000  # a long tail, no empty project
    assert _project_sizes(9, 4) == [3, 2, 2, 2]


def test_defaults_size_people_and_teams_and_cap_each_persons_day():
    output = run("--issues", "4000")
    # 16 people (4000 / 250) plus the demo login; every project has a team of at least 8 and the demo admin.
    assert User.objects.count() == 17
    assert "of 16 people" in output
    for project in Project.objects.annotate(n=Count("memberships")):
        assert project.n >= 9
    # Nobody logs more than 10 h on a day, and worklogs fall on working days.
    days = (
        Worklog.objects.annotate(day=TruncDate("started"))
        .values("author", "day")
        .annotate(total=Sum("time_spent"))
        .values_list("day", "total")
    )
    assert days and max(total for _, total in days) <= DAY_LIMIT
    assert all(day.weekday() < 5 for day, _ in days)
    assert not Worklog.objects.filter(started__gt=NOW).exists()


def test_demo_login_has_open_issues_reports_and_worklogs_this_week():
    seed_demo(issues=400, seed=5, now=NOW)
    demo = User.objects.get(username="demo")
    assigned = Issue.objects.filter(assignee=demo).exclude(status__category=StatusCategory.DONE)
    assert assigned.count() == 12
    assert Issue.objects.filter(reporter=demo).count() == 8
    # Its week (Monday 23 November, UTC profile) up to now: 6 h on each day Monday to Wednesday, none later.
    monday = dt.datetime(2026, 11, 23, tzinfo=dt.UTC)
    mine = Worklog.objects.filter(author=demo)
    assert mine.exists() and not mine.filter(started__lt=monday).exists()
    per_day = dict(
        mine.annotate(day=TruncDate("started")).values("day").annotate(s=Sum("time_spent")).values_list("day", "s")
    )
    assert per_day == {dt.date(2026, 11, d): 6 * 3600 for d in (23, 24, 25)}
    assert not mine.exclude(issue__in=assigned).exists()
    assert not mine.filter(started__lt=F("issue__created")).exists()


def test_large_loads_rebuild_the_indexes_and_foreign_keys_they_drop(monkeypatch):
    # PostgreSQL's bulk path (from BULK_INDEX_THRESHOLD issues, lowered here): indexes and foreign keys are
    # dropped for the load and come back exactly as they were, and the data is the same as without it.
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("the bulk path is PostgreSQL's")

    def schema() -> set[tuple]:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT tablename, indexdef FROM pg_indexes WHERE tablename IN "
                "('issues_issue', 'issues_comment', 'issues_history', 'worklogs_worklog', 'issues_issue_labels')"
            )
            found = set(cursor.fetchall())
            cursor.execute(
                "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE contype = 'f'"
            )
            return found | set(cursor.fetchall())

    before = schema()
    seed_demo(issues=150, seed=11, users=50, now=NOW)
    expected = snapshot()
    Project.objects.all().delete()
    monkeypatch.setattr("worklogs.demo.BULK_INDEX_THRESHOLD", 1)
    seed_demo(issues=150, seed=11, users=50, now=NOW)
    assert schema() == before
    assert snapshot() == expected
