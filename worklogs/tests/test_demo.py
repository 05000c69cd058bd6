"""seed_demo: deterministic, consistent demo data written in bulk."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db.models import Count, F, Max, OuterRef, Subquery, Sum
from django.db.models.functions import Coalesce

from accounts.models import Profile, display_name
from issues.models import Comment, History, Issue, Membership, Project, Role, StatusCategory
from worklogs.demo import seed_demo
from worklogs.models import Worklog

pytestmark = pytest.mark.django_db

User = get_user_model()


def run(*args: str) -> str:
    out = StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


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
    seed_demo(issues=150, seed=11, users=50)
    first = snapshot()
    Project.objects.all().delete()  # cascades to issues, comments, worklogs and history
    seed_demo(issues=150, seed=11, users=50)
    assert snapshot() == first
    Project.objects.all().delete()
    seed_demo(issues=150, seed=12, users=50)
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
        run("--projects", "99")
    with pytest.raises(CommandError, match="--issues"):
        run("--issues", "-1")
    assert not Issue.objects.exists()
