"""JQL engine: every field, operator and function, error messages, visibility, and a property test.

Personas: alice sees DEMO (admin), bob sees OPS only, carol is a DEMO viewer.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from issues.jql import (
    CompiledJQL,
    JQLError,
    compile_checked,
    compile_jql,
    is_time_relative,
    is_user_relative,
    jql_queryset,
)
from issues.models import Comment, Issue, IssueType, Priority, Resolution, Status
from issues.services import issue_update
from issues.tests.conftest import postgres_only
from worklogs.models import Worklog

NOW = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)


def keys(text: str, user, **kw) -> list[str]:
    return list(jql_queryset(text, user=user, **kw).values_list("key", flat=True))


def keyset(text: str, user) -> set[str]:
    return set(keys(text, user))


@pytest.fixture
def dave(db):
    user = get_user_model().objects.create_user("dave", "dave@example.com", "dave-pass-123")
    user.profile.display_name = "Dave Davis"
    user.profile.save()
    return user


@pytest.fixture
def demo(project_a, project_b, make_issue, alice, bob, carol, dave):
    """Five DEMO issues with varied fields, and one OPS issue alice must never see."""
    from issues.models import Membership, Role

    Membership.objects.create(project=project_a, user=dave, role=Role.MEMBER)
    bug = IssueType.objects.get(name="Bug")
    story = IssueType.objects.get(name="Story")
    high = Priority.objects.get(name="High")
    low = Priority.objects.get(name="Low")
    in_progress = Status.objects.get(name="In Progress")
    done = Status.objects.get(name="Done")
    i1 = make_issue(
        project_a,
        summary="Login page crashes",
        description="Stack trace on submit",
        type=bug,
        priority=high,
        assignee=alice,
        labels=["backend", "urgent"],
        due_date=dt.date(2026, 11, 20),
    )
    i2 = make_issue(project_a, summary="Write onboarding docs", type=story, status=in_progress, assignee=carol)
    i3 = make_issue(project_a, summary="Export is slow", priority=low, status=done, labels=["backend"], parent=None)
    i4 = make_issue(project_a, summary="Sub of login", parent=i1, reporter=carol)
    i5 = make_issue(project_a, summary="Unassigned thing", description="")
    ops = make_issue(project_b, summary="Login page on OPS", reporter=bob, assignee=bob)
    # Spread created dates: i1 oldest (10 days ago) ... i5 today.
    for days, issue in zip([10, 8, 5, 2, 0], [i1, i2, i3, i4, i5], strict=True):
        when = NOW - dt.timedelta(days=days)
        type(issue).objects.filter(pk=issue.pk).update(created=when, updated=when)
    Comment.objects.create(issue=i2, author=carol, body="Needs a screenshot of the wizard", created=NOW, updated=NOW)
    Worklog.objects.create(
        issue=i3, author=dave, started=NOW - dt.timedelta(days=1), time_spent=3600, created=NOW, updated=NOW
    )
    return {"i1": i1, "i2": i2, "i3": i3, "i4": i4, "i5": i5, "ops": ops}


# --------------------------------------------------------------------------- fields


def test_project_by_key_name_and_id_sees_only_visible(demo, alice, bob, project_a):
    assert keyset("project = DEMO", alice) == {"DEMO-1", "DEMO-2", "DEMO-3", "DEMO-4", "DEMO-5"}
    assert keyset('project = "Demo project"', alice) == keyset("project = demo", alice)
    assert keyset(f"project = {project_a.pk}", alice) == keyset("project = DEMO", alice)
    assert keyset("", bob) == {"OPS-1"}
    assert keyset("project != DEMO", alice) == set()
    # bob is not a member of DEMO: for him it does not exist, with the same words as a typo.
    with pytest.raises(JQLError) as hidden:
        keyset("project = DEMO", bob)
    with pytest.raises(JQLError) as missing:
        keyset("project = NOPE", bob)
    assert hidden.value.message == "The value 'DEMO' does not exist for the field 'project' at column 11."
    assert missing.value.message.replace("NOPE", "DEMO") == hidden.value.message
    assert hidden.value.hint == missing.value.hint == "Values: OPS, Operations."
    # The compiled query alone (no value check) still finds nothing of DEMO for bob.
    assert not jql_queryset("", user=bob).filter(compile_jql("project = DEMO", user=bob).q).exists()


def test_unknown_values_are_errors_with_suggestions(demo, alice):
    cases = [
        ("status = Dnoe", "status", "Did you mean 'Done'?"),
        ("priority in (High, Hihg)", "priority", "Did you mean 'High'?"),
        ("type = Bgu", "type", "Did you mean 'Bug'?"),
        ("resolution = Fixd", "resolution", "Did you mean 'Fixed'?"),
        ("project = DEMOO", "project", "Did you mean 'DEMO'?"),
        ("priority > Meduim", "priority", "Did you mean 'Medium'?"),
        ("assignee = nobody", "assignee", "Use a username, an email address, a display name or currentUser()."),
        ("worklogAuthor in (alice, ghost)", "worklogAuthor", "Use a username"),
    ]
    for text, field_name, hint in cases:
        with pytest.raises(JQLError) as exc:
            jql_queryset(text, user=alice)
        assert f"does not exist for the field '{field_name}'" in exc.value.message
        assert exc.value.hint.startswith(hint)
        assert exc.value.position == text.rindex(exc.value.message.split("'")[1]) + 1
    # Known values by name, id, email or display name pass; "Unresolved" is a word, not a resolution.
    status_id = Status.objects.get(name="Done").pk
    assert keyset(f"status = {status_id} and resolution != Unresolved", alice) == {"DEMO-3"}
    assert keyset("assignee in ('alice@example.com', 'Carol Clark')", alice) == {"DEMO-1", "DEMO-2"}


def test_anonymous_sees_nothing(demo):
    assert keyset("", AnonymousUser()) == set()
    assert keyset("assignee = currentUser()", AnonymousUser()) == set()


def test_key_issue_and_id(demo, alice):
    assert keyset("key = DEMO-2", alice) == {"DEMO-2"}
    assert keyset("issue = demo-2", alice) == {"DEMO-2"}
    assert keyset(f"id = {demo['i3'].pk}", alice) == {"DEMO-3"}
    assert keyset("key in (DEMO-1, DEMO-5, OPS-1)", alice) == {"DEMO-1", "DEMO-5"}
    assert keyset("key > DEMO-3", alice) == {"DEMO-4", "DEMO-5"}
    assert keyset("key <= DEMO-2", alice) == {"DEMO-1", "DEMO-2"}
    assert keyset("key != DEMO-1", alice) == {"DEMO-2", "DEMO-3", "DEMO-4", "DEMO-5"}
    assert keyset("key is empty", alice) == set()


def test_summary_description_contains(demo, alice):
    assert keyset("summary ~ login", alice) == {"DEMO-1", "DEMO-4"}
    assert keyset('summary ~ "LOGIN crashes"', alice) == {"DEMO-1"}  # all words, any case
    assert keyset("summary ~ 'log*'", alice) == {"DEMO-1", "DEMO-4"}
    assert keyset('summary ~ "\\"page crashes\\""', alice) == {"DEMO-1"}  # inner quotes: phrase
    assert keyset('summary ~ "\\"crashes page\\""', alice) == set()
    assert keyset("summary !~ login", alice) == {"DEMO-2", "DEMO-3", "DEMO-5"}
    assert keyset("description ~ trace", alice) == {"DEMO-1"}
    assert keyset("description is empty", alice) == {"DEMO-2", "DEMO-3", "DEMO-4", "DEMO-5"}
    assert keyset("description is not empty", alice) == {"DEMO-1"}


def test_text_and_comment(demo, alice):
    assert keyset("text ~ screenshot", alice) == {"DEMO-2"}  # only in a comment
    assert keyset("text ~ trace", alice) == {"DEMO-1"}  # description
    assert keyset("comment ~ wizard", alice) == {"DEMO-2"}
    assert keyset("comment !~ wizard", alice) == {"DEMO-1", "DEMO-3", "DEMO-4", "DEMO-5"}
    assert keyset("comment is empty", alice) == {"DEMO-1", "DEMO-3", "DEMO-4", "DEMO-5"}
    assert keyset("comment is not empty", alice) == {"DEMO-2"}


@pytest.mark.parametrize("text", ["summary = login", "description != x", "text = a", "comment in (a)"])
def test_equals_on_text_field_suggests_contains(text, alice):
    with pytest.raises(JQLError) as exc:
        compile_jql(text, user=alice)
    assert "~" in exc.value.hint
    assert exc.value.position == text.index(text.split()[1]) + 1


def test_status_and_category(demo, alice):
    assert keyset("status = Done", alice) == {"DEMO-3"}
    assert keyset('status = "in progress"', alice) == {"DEMO-2"}
    assert keyset("status in (Done, 'In Progress')", alice) == {"DEMO-2", "DEMO-3"}
    assert keyset("status not in (Done, 'In Progress')", alice) == {"DEMO-1", "DEMO-4", "DEMO-5"}
    assert keyset("status != Done", alice) == {"DEMO-1", "DEMO-2", "DEMO-4", "DEMO-5"}
    assert keyset('statusCategory = "To Do"', alice) == {"DEMO-1", "DEMO-4", "DEMO-5"}
    assert keyset("statuscategory in (done, indeterminate)", alice) == {"DEMO-2", "DEMO-3"}
    assert keyset("statusCategory != Done", alice) == {"DEMO-1", "DEMO-2", "DEMO-4", "DEMO-5"}
    with pytest.raises(JQLError, match="Unknown status category"):
        compile_jql("statusCategory = Doing", user=alice)
    with pytest.raises(JQLError, match="not supported by the field 'status'"):
        compile_jql("status > Done", user=alice)


def test_assignee_reporter_users(demo, alice, carol):
    assert keyset("assignee = alice", alice) == {"DEMO-1"}
    assert keyset("assignee = 'ALICE@example.com'", alice) == {"DEMO-1"}
    assert keyset('assignee = "Carol Clark"', alice) == {"DEMO-2"}
    assert keyset("assignee = currentUser()", alice) == {"DEMO-1"}
    assert keyset("assignee = currentUser()", carol) == {"DEMO-2"}
    assert keyset("assignee is empty", alice) == {"DEMO-3", "DEMO-4", "DEMO-5"}
    assert keyset("assignee = EMPTY", alice) == {"DEMO-3", "DEMO-4", "DEMO-5"}
    assert keyset("assignee is not null", alice) == {"DEMO-1", "DEMO-2"}
    # != never matches unassigned issues (Jira semantics).
    assert keyset("assignee != alice", alice) == {"DEMO-2"}
    assert keyset("assignee in (alice, EMPTY)", alice) == {"DEMO-1", "DEMO-3", "DEMO-4", "DEMO-5"}
    assert keyset("assignee not in (alice)", alice) == {"DEMO-2"}
    assert keyset("reporter = carol", alice) == {"DEMO-4"}
    assert keyset("reporter in (currentUser())", alice) == {"DEMO-1", "DEMO-2", "DEMO-3", "DEMO-5"}


def test_user_lookups_reach_only_people_who_share_a_project(demo, alice, bob, dave):
    # bob (OPS only) shares no project with alice: her username, e-mail and name do not exist for him, in the
    # same words as an address nobody has -- no way to learn who has an account.
    for name in ("alice", "alice@example.com", "Alice Adams"):
        with pytest.raises(JQLError) as hidden:
            keyset(f'assignee = "{name}"', bob)
        with pytest.raises(JQLError) as missing:
            keyset('assignee = "nobody@example.com"', bob)
        assert hidden.value.message.replace(name, "X") == missing.value.message.replace("nobody@example.com", "X")
        assert hidden.value.hint == missing.value.hint
    # Only the check keeps him out: the compiled query alone matches nothing of hers either.
    assert not jql_queryset("", user=bob).filter(compile_jql("reporter = alice", user=bob).q).exists()
    # He finds himself, and alice finds dave, a fellow DEMO member.
    assert keyset("assignee = 'bob@example.com'", bob) == {"OPS-1"}
    assert keyset("assignee = 'dave@example.com'", alice) == set()


def test_a_user_in_no_project_finds_only_themselves(demo):
    loner = get_user_model().objects.create_user("loner", "loner@example.com", "loner-pass-123")
    assert keyset("assignee = loner", loner) == set()
    with pytest.raises(JQLError):
        keyset("assignee = alice", loner)


def test_priority_equality_and_order(demo, alice):
    assert keyset("priority = High", alice) == {"DEMO-1"}
    assert keyset("priority in (high, low)", alice) == {"DEMO-1", "DEMO-3"}
    # Higher priority = lower rank: "> Medium" finds High and Highest.
    assert keyset("priority > Medium", alice) == {"DEMO-1"}
    assert keyset("priority >= Medium", alice) == {"DEMO-1", "DEMO-2", "DEMO-4", "DEMO-5"}
    assert keyset("priority < Medium", alice) == {"DEMO-3"}
    assert keyset("priority <= Low", alice) == {"DEMO-3"}


def test_type_and_issuetype(demo, alice):
    assert keyset("type = Bug", alice) == {"DEMO-1"}
    assert keyset("issuetype in (Bug, Story)", alice) == {"DEMO-1", "DEMO-2"}
    # DEMO-4 was created under DEMO-1 without a type: it is a Sub-task.
    assert keyset("type != Task", alice) == {"DEMO-1", "DEMO-2", "DEMO-4"}


def test_labels_exists_without_duplicates(demo, alice):
    assert keys("labels = backend", alice).count("DEMO-1") == 1
    assert keyset("labels = backend", alice) == {"DEMO-1", "DEMO-3"}
    # An issue with two matching labels still appears once.
    assert sorted(keys("labels in (backend, urgent)", alice)) == ["DEMO-1", "DEMO-3"]
    assert keyset("labels != urgent", alice) == {"DEMO-3"}  # has labels, none is urgent
    assert keyset("labels not in (urgent)", alice) == {"DEMO-3"}
    assert keyset("labels is empty", alice) == {"DEMO-2", "DEMO-4", "DEMO-5"}
    assert keyset("label is not empty", alice) == {"DEMO-1", "DEMO-3"}


def test_parent(demo, alice):
    assert keyset("parent = DEMO-1", alice) == {"DEMO-4"}
    assert keyset(f"parent = {demo['i1'].pk}", alice) == {"DEMO-4"}
    assert keyset("parent is empty", alice) == {"DEMO-1", "DEMO-2", "DEMO-3", "DEMO-5"}
    assert keyset("parent != DEMO-9", alice) == {"DEMO-4"}


def test_created_updated_dates(demo, alice):
    def q(text: str) -> set[str]:
        return set(
            jql_queryset(text, user=alice, now=NOW).filter(pk__in=compile_only(text)).values_list("key", flat=True)
        )

    def compile_only(text: str):
        from issues.models import Issue

        return Issue.objects.filter(compile_jql(text, user=alice, now=NOW).q).values("pk")

    assert q("created >= -3d") == {"DEMO-4", "DEMO-5"}
    assert q("created < -7d") == {"DEMO-1", "DEMO-2"}
    assert q("created > -1w") == {"DEMO-3", "DEMO-4", "DEMO-5"}
    assert q("created >= -2w") == {"DEMO-1", "DEMO-2", "DEMO-3", "DEMO-4", "DEMO-5"}
    assert q("created >= '-1w 2d'") == q("created >= -9d")
    # A date without time matches the whole day in alice's time zone (Europe/Berlin).
    assert q('created = "2026-11-22"') == {"DEMO-3"}
    assert q('created = "2026/11/22"') == {"DEMO-3"}
    assert q('created >= "2026/11/25 00:00"') == {"DEMO-4", "DEMO-5"}
    assert q("created <= now()") == {"DEMO-1", "DEMO-2", "DEMO-3", "DEMO-4", "DEMO-5"}
    assert q("updated >= startOfDay()") == {"DEMO-5"}
    assert q("updated >= startOfDay(-2)") == {"DEMO-4", "DEMO-5"}
    assert q("created in ('2026-11-17', '2026-11-19')") == {"DEMO-1", "DEMO-2"}
    assert q("created is empty") == set()
    assert q("created is not empty") == {"DEMO-1", "DEMO-2", "DEMO-3", "DEMO-4", "DEMO-5"}


def test_duedate_resolved_resolution(demo, alice):
    def q(text: str) -> set[str]:
        from issues.models import Issue

        return set(
            Issue.objects.filter(project__key="DEMO")
            .filter(compile_jql(text, user=alice, now=NOW).q)
            .values_list("key", flat=True)
        )

    assert q('duedate = "2026-11-20"') == {"DEMO-1"}
    assert q("due < now()") == {"DEMO-1"}
    assert q("duedate >= startOfMonth()") == {"DEMO-1"}
    assert q("duedate > endOfMonth(-1)") == {"DEMO-1"}
    assert q("duedate is empty") == {"DEMO-2", "DEMO-3", "DEMO-4", "DEMO-5"}
    assert q("resolution = Done") == {"DEMO-3"}
    assert q("resolution = Unresolved") == {"DEMO-1", "DEMO-2", "DEMO-4", "DEMO-5"}
    assert q("resolution is not empty") == {"DEMO-3"}
    assert q("resolution != Fixed") == {"DEMO-3"}
    assert q("resolved is not empty") == {"DEMO-3"}
    assert Resolution.objects.filter(name="Done").exists()


def test_worklog_author_and_date(demo, alice, dave):
    def q(text: str) -> set[str]:
        from issues.models import Issue

        return set(Issue.objects.filter(compile_jql(text, user=alice, now=NOW).q).values_list("key", flat=True))

    assert q("worklogAuthor = dave") == {"DEMO-3"}
    assert q("worklogAuthor = 'Dave Davis'") == {"DEMO-3"}
    assert q("worklogAuthor = currentUser()") == set()
    assert q("worklogAuthor is empty") == {"DEMO-1", "DEMO-2", "DEMO-4", "DEMO-5", "OPS-1"}
    assert q("worklogDate = '2026-11-26'") == {"DEMO-3"}
    assert q("worklogDate >= -2d") == {"DEMO-3"}
    assert q("worklogDate < -2d") == set()
    # A day field, as in Jira: "<= that day" takes in the whole day, "> that day" starts the day after
    # (what the taskra CLI's `worklogs list` asks: worklogDate >= 'yesterday' AND worklogDate <= 'today').
    assert q("worklogDate >= '2026-11-25' AND worklogDate <= '2026-11-26'") == {"DEMO-3"}
    assert q("worklogDate > '2026-11-26'") == set()
    assert q("worklogDate > '2026-11-25'") == {"DEMO-3"}


# --------------------------------------------------------------------------- operators and logic


def test_and_or_not_parentheses(demo, alice):
    assert keyset("type = Bug or status = Done", alice) == {"DEMO-1", "DEMO-3"}
    assert keyset("labels = backend and not status = Done", alice) == {"DEMO-1"}
    assert keyset("NOT (type = Bug OR status = Done)", alice) == {"DEMO-2", "DEMO-4", "DEMO-5"}
    assert keyset("(type = Bug or type = Story) and assignee = carol", alice) == {"DEMO-2"}
    assert keyset("type = Bug && assignee = alice || key = DEMO-5", alice) == {"DEMO-1", "DEMO-5"}
    # AND binds tighter than OR.
    assert keyset("key = DEMO-5 or type = Bug and assignee = carol", alice) == {"DEMO-5"}


def test_keywords_and_fields_are_case_insensitive(demo, alice):
    assert keyset("PROJECT = demo AnD StAtUs In (done)", alice) == {"DEMO-3"}


def test_order_by(demo, alice):
    assert keys("project = DEMO", alice) == ["DEMO-5", "DEMO-4", "DEMO-3", "DEMO-2", "DEMO-1"]  # created DESC
    assert keys("project = DEMO order by created", alice) == ["DEMO-1", "DEMO-2", "DEMO-3", "DEMO-4", "DEMO-5"]
    assert keys("order by key desc", alice)[:2] == ["DEMO-5", "DEMO-4"]
    assert keys("order by priority desc, key asc", alice)[0] == "DEMO-1"  # High first
    assert keys("order by priority asc, key", alice)[0] == "DEMO-3"  # Low first
    # Empty values sort last both ways.
    assert keys("order by assignee asc", alice)[-1] in {"DEMO-3", "DEMO-4", "DEMO-5"}
    assert keys("order by assignee desc", alice)[-1] in {"DEMO-3", "DEMO-4", "DEMO-5"}
    assert keys("order by duedate desc", alice)[0] == "DEMO-1"
    assert keys("order by status, key", alice)[-1] == "DEMO-3"
    assert compile_jql("order by summary", user=alice).order_by == ["summary", "id"]
    assert compile_jql("", user=alice).order_by == ["-created", "-id"]


def test_order_by_errors(alice):
    with pytest.raises(JQLError) as exc:
        compile_jql("order by sumary", user=alice)
    assert exc.value.hint == "Did you mean 'summary'?"
    assert exc.value.position == 10
    with pytest.raises(JQLError, match="Cannot sort by 'labels'"):
        compile_jql("order by labels", user=alice)


# --------------------------------------------------------------------------- functions and dates


def test_date_functions_in_user_time_zone(alice):
    # alice is in Europe/Berlin (UTC+1 in November): her day starts at 23:00 UTC the day before.
    def lookup(text: str) -> object:
        compiled = compile_jql(text, user=alice, now=NOW)
        return compiled.q.children[0][1]

    assert lookup("created > startOfDay()") == dt.datetime(2026, 11, 26, 23, 0, tzinfo=dt.UTC)
    assert lookup("created > startOfDay(-1)") == dt.datetime(2026, 11, 25, 23, 0, tzinfo=dt.UTC)
    assert lookup("created > startOfWeek()") == dt.datetime(2026, 11, 22, 23, 0, tzinfo=dt.UTC)  # Monday 23rd
    assert lookup("created > startOfMonth()") == dt.datetime(2026, 10, 31, 23, 0, tzinfo=dt.UTC)
    assert lookup("created > startOfMonth(+1)") == dt.datetime(2026, 11, 30, 23, 0, tzinfo=dt.UTC)
    assert lookup("created > startOfYear()") == dt.datetime(2025, 12, 31, 23, 0, tzinfo=dt.UTC)
    assert lookup("created > endOfDay()") == dt.datetime(2026, 11, 27, 22, 59, 59, 999999, tzinfo=dt.UTC)
    assert lookup("created > endOfWeek()") == dt.datetime(2026, 11, 29, 22, 59, 59, 999999, tzinfo=dt.UTC)
    assert lookup("created > endOfMonth()") == dt.datetime(2026, 11, 30, 22, 59, 59, 999999, tzinfo=dt.UTC)
    assert lookup("created > endOfYear(-1)") == dt.datetime(2025, 12, 31, 22, 59, 59, 999999, tzinfo=dt.UTC)
    assert lookup("created > startOfDay('-1w')") == dt.datetime(2026, 11, 19, 23, 0, tzinfo=dt.UTC)
    assert lookup("created > now()") == NOW
    assert lookup("created > -7d") == NOW - dt.timedelta(days=7)
    assert lookup("created > -2w") == NOW - dt.timedelta(weeks=2)
    assert lookup("created > 4h") == NOW + dt.timedelta(hours=4)
    assert lookup("created > '-30m'") == NOW - dt.timedelta(minutes=30)
    assert lookup('created > "2026/11/27 10:00"') == dt.datetime(2026, 11, 27, 9, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("created > startOfDay(1, 2)", "at most one argument"),
        ("created > startOfDay(x)", "not an offset"),
        ("created > now(1)", "takes no arguments"),
        ("created > currentUser()", "cannot be used here"),  # not a date function
        ("assignee = now()", "cannot be used here"),
        ("assignee = currentUsr()", "Unknown function"),
        ("created > tomorrow", "is not a date"),
        ('created > "2026-13-01"', "not a valid date"),
        ("created > '-999999y'", "out of range"),
        ("status = now()", "cannot be used with the field"),
    ],
)
def test_function_and_date_errors(text, fragment, alice):
    with pytest.raises(JQLError) as exc:
        compile_jql(text, user=alice, now=NOW)
    assert fragment in exc.value.message
    assert exc.value.position is not None


def test_unknown_function_suggests_name(alice):
    with pytest.raises(JQLError) as exc:
        compile_jql("assignee = currentUsr()", user=alice)
    assert exc.value.hint == "Did you mean 'currentUser'?"
    assert exc.value.position == 12


# --------------------------------------------------------------------------- errors


def test_unknown_field_names_position_and_fix(alice):
    with pytest.raises(JQLError) as exc:
        compile_jql("type = Bug and stauts = Done", user=alice)
    err = exc.value
    assert err.message == "Unknown field 'stauts' at column 16."
    assert err.position == 16
    assert err.hint == "Did you mean 'status'?"
    assert str(err) == "Unknown field 'stauts' at column 16. Did you mean 'status'?"


@pytest.mark.parametrize(
    ("text", "position", "fragment"),
    [
        ('status = "Done', 10, "Unclosed quote"),
        ("status = ", 10, "ended unexpectedly"),
        ("status Done", 8, "Unexpected 'Done'"),
        ("(status = Done", 15, "ended unexpectedly"),
        ("status = Done)", 14, "Unexpected"),
        ("status = Done Done", 15, "Unexpected 'Done'"),
        ("status was Done", 8, "Unexpected 'was'"),
        ("status in ()", 8, "at least one value"),
        ("status = Done order", 20, "ended unexpectedly"),
        ("a = 1 and", 10, "ended unexpectedly"),
        ("summary ~ ''", 11, "search term"),
        ("assignee > alice", 10, "not supported"),
        ("created ~ today", 9, "not supported"),
        ("key > 12", 7, "not an issue key"),
        ("status = x\x00", 11, "Invalid character"),
    ],
)
def test_syntax_errors_have_positions(text, position, fragment, alice):
    with pytest.raises(JQLError) as exc:
        compile_jql(text, user=alice)
    assert fragment in exc.value.message
    assert exc.value.position == position


def test_error_mentions_was_is_unsupported(alice):
    with pytest.raises(JQLError) as exc:
        compile_jql("status was Done", user=alice)
    assert "not supported" in exc.value.hint


def test_compile_returns_dataclass_without_queries(alice, django_assert_num_queries):
    with django_assert_num_queries(0):
        compiled = compile_jql(
            "project = DEMO and assignee = currentUser() and labels = a and text ~ b order by key", user=alice
        )
    assert isinstance(compiled, CompiledJQL)
    assert compiled.order_by == ["project__key", "number", "id"]


def test_jql_queryset_is_two_queries_and_respects_base(demo, alice, django_assert_num_queries):
    from issues.models import Issue

    # The caller's project ids (written into the search so the planner sees them), then the search.
    with django_assert_num_queries(2):
        found = keys("labels in (backend, urgent) and comment is empty and worklogAuthor is empty", alice)
    assert found == ["DEMO-1"]
    base = Issue.objects.filter(key__in=["DEMO-1", "OPS-1"])
    assert keys("", alice, base=base) == ["DEMO-1"]  # base narrows, visibility still applies
    bob_base = Issue.objects.all()
    assert "DEMO-1" not in keys("", demo["ops"].assignee, base=bob_base)


def test_updates_are_seen(demo, alice):
    issue_update(issue=demo["i5"], actor=alice, data={"assignee": alice})
    assert "DEMO-5" in keyset("assignee = currentUser()", alice)


# --------------------------------------------------------------------------- property tests

JQL_TOKENS = [
    "project", "key", "summary", "description", "text", "comment", "status", "statusCategory", "assignee",
    "reporter", "priority", "type", "labels", "parent", "created", "updated", "duedate", "resolution",
    "worklogAuthor", "worklogDate", "stauts", "=", "!=", ">", ">=", "<", "<=", "~", "!~", "in", "not", "is",
    "empty", "null", "and", "or", "order", "by", "asc", "desc", "(", ")", ",", '"', "'", "DEMO", "DEMO-1",
    "Done", "currentUser()", "now()", "startOfDay(-1)", "endOfMonth(+1M)", "startOfWeek(", "-7d", "4h",
    '"2026-11-27"', '"2026/11/27 10:00"', "'-1w 2d'", "99999999999999999999", "-999999y", "*", "&&", "||", "\\",
    "Unresolved", "High", "0", "x", "cf[10010]", "cf[99999999999999999999]",
]  # fmt: skip

jql_like = st.lists(st.sampled_from(JQL_TOKENS), max_size=14).map(" ".join)
any_text = st.text(max_size=200)


@pytest.mark.django_db  # a name that is no built-in field may be a custom field's: compiling looks it up
@settings(max_examples=600, deadline=None)
@given(st.one_of(any_text, jql_like))
def test_any_input_raises_only_jqlerror(text):
    user = AnonymousUser()
    try:
        compiled = compile_jql(text, user=user, now=NOW)
    except JQLError as err:
        assert err.message
        assert err.position is None or 1 <= err.position <= len(text) + 1
    else:
        assert isinstance(compiled, CompiledJQL)


@pytest.mark.django_db
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.one_of(jql_like, any_text))
def test_any_compiled_query_runs_on_the_database(text, alice):
    """Whatever compiles also executes: no database error leaks out of the engine."""
    try:
        qs = jql_queryset(text, user=alice)
    except JQLError:
        return
    list(qs[:5])


def test_timezone_aware_now_default(alice):
    compiled = compile_jql("created > -1d", user=alice)
    value = compiled.q.children[0][1]
    assert abs((timezone.now() - dt.timedelta(days=1)) - value) < dt.timedelta(minutes=1)


@pytest.mark.parametrize(
    ("jql", "matches"),
    [
        ("project = DEMO", {"DEMO"}),
        ("project = demo AND status = Done ORDER BY created", {"DEMO"}),
        ('project in (DEMO, "ops")', {"DEMO", "OPS"}),
        ("status = Done AND (project = DEMO OR project = OPS)", {"DEMO", "OPS"}),
        ("project = DEMO AND project = OPS", set()),
        ('project = "demo PROJECT"', {"DEMO"}),  # by name, any case, as the query itself matches
        ("project = DEMO OR status = Done", None),  # one OR branch is unbounded
        ("NOT project = DEMO", None),
        ("project != DEMO", None),
        ("project NOT IN (DEMO)", None),
        ("project IS EMPTY", None),
        ("status = Done", None),
        ("", None),
        ("project = (", None),  # does not parse
    ],
)
def test_project_scope_bounds_the_projects_a_query_can_match(demo, jql, matches):
    from issues.jql import project_scope
    from issues.models import Project

    scope = project_scope(jql)
    if matches is None:
        assert scope is None
    else:
        assert set(Project.objects.filter(scope).values_list("key", flat=True)) == matches


@postgres_only("trigram indexes are PostgreSQL's")
def test_text_search_is_answered_from_the_trigram_indexes(demo, alice):
    # The migration's index expression must be exactly what Django compiles icontains to, or PostgreSQL
    # never uses it: with sequential and plain index scans priced out (tiny test tables), the plan of each
    # text condition must name its trigram index.
    from django.db import connection, transaction

    from issues.jql import compile_jql

    cases = {
        "summary ~ login": ["issues_issue_summary_trgm"],
        "comment ~ login": ["issues_comment_body_trgm"],
        "text ~ login": ["issues_issue_summary_trgm", "issues_issue_description_trgm", "issues_comment_body_trgm"],
    }
    for jql, indexes in cases.items():
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off; SET LOCAL enable_indexscan = off")
            plan = Issue.objects.filter(compile_jql(jql, user=alice).q).explain()
        for index in indexes:
            assert index in plan, (jql, plan)


@pytest.mark.parametrize(
    ("text", "clock", "viewer"),
    [
        ("project = DEMO ORDER BY updated DESC", False, False),
        ("created >= -7d", True, False),
        ("updated > startOfDay()", True, False),
        ("due < now()", True, False),
        ("assignee = currentUser()", False, True),
        ('summary ~ "build 7d2"', False, False),
    ],
)
def test_is_time_relative_and_is_user_relative(text, clock, viewer):
    # What the navigator's page cache must know: clock-relative results are never cached, viewer-relative ones
    # are keyed by the viewer.
    assert is_time_relative(text) is clock
    assert is_user_relative(text) is viewer


def test_named_values_compile_to_plain_ids_not_subqueries(demo, alice, dave):
    # The planner sees `assignee_id IN (<id>)`: with a subquery over users it guessed, and walked the whole
    # `updated` index for someone with no issues. Same for projects, statuses and the other lookups.
    qs = jql_queryset('assignee = "Dave Davis" AND project = DEMO AND status != Done', user=alice)
    sql, params = qs.query.sql_with_params()
    assert "auth_user" not in sql and "issues_project" not in sql and "issues_status" not in sql
    assert dave.pk in params
    assert set(qs.values_list("key", flat=True)) == keyset("assignee = dave AND status != Done", alice)


def test_unknown_values_match_nothing_when_not_strict(demo, alice, bob):
    # validateQuery=warn: bob (OPS only) naming alice's project or a stranger gets nothing, not everything.
    for text in ("project = DEMO", "assignee = nobody-at-all", "assignee != nobody-at-all AND project = DEMO"):
        compiled = compile_checked(text, user=bob, strict=False)
        assert not Issue.objects.filter(compiled.q, project__key="DEMO").exists(), text
    # ... while strict compiling says the value does not exist for them, as for a typo.
    with pytest.raises(JQLError, match="does not exist"):
        compile_checked("project = DEMO", user=bob)


def test_common_text_term_walks_the_sort_order_with_the_same_matches(demo, alice, project_a, make_issue):
    # "crash" is in most recent issues: tested issue by issue along the sort order (no UNION of every match);
    # a rare word keeps the trigram UNION. Either way the matches are those of the plain compile.
    for n in range(30):  # "submit" is then in 1 of 36 issues: under the 5% share that makes a term common
        make_issue(project_a, summary=f"Crash number {n}")
    common = compile_checked("text ~ crash", user=alice, now=NOW)
    rare = compile_checked("text ~ submit", user=alice, now=NOW)
    assert common.walk and not rare.walk
    assert "UNION" not in str(jql_queryset("text ~ crash", user=alice).query)
    assert "UNION" in str(jql_queryset("text ~ submit", user=alice).query)
    for text in ("text ~ crash", "text ~ submit", "text ~ crash AND status != Done", "text !~ crash"):
        plain = compile_jql(text, user=alice, now=NOW)
        expected = set(Issue.objects.filter(plain.q, project__key="DEMO").values_list("key", flat=True))
        assert keyset(text, alice) == expected, text
