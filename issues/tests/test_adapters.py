"""Issue adapters: JSON byte for byte what pydantic writes, fields/extras load only what is asked, query counts
stay flat, streaming equals the whole, the caller's visibility scoping is kept, and the issue page payload
shares the API's user references and datetime text.

Personas: alice is admin of DEMO (project_a) and reports the issues; carol (viewer in DEMO) is assignee of some;
bob is only in OPS (project_b) and sees none of DEMO's issues.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re

import orjson
import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from pydantic import TypeAdapter, ValidationError

from issues.adapters import ISSUE_DETAIL, ISSUE_ROWS, issue_detail_json, iter_issue_row_dicts
from issues.models import Issue, Status
from issues.schemas import IssueOut, IssuePage, IssueRow
from issues.selectors import issue_page_data, issue_with_joins, issues_visible_to
from issues.services import comment_add, issue_update
from worklogs.adapters import WORKLOGS
from worklogs.models import Worklog
from worklogs.services import worklog_add

ROWS_TA = TypeAdapter(list[IssueRow])
# Users are joined into the row query on SQLite and loaded by one batched query on PostgreSQL (cheaper to plan).
USERS_QUERY = 0 if connection.vendor == "sqlite" else 1


@pytest.fixture
def nameless(db):
    """A user with no display name and no first/last name: shown by username."""
    user = get_user_model().objects.create_user("nameless", "n@example.com", "pw-123456789")
    user.profile.display_name = ""
    user.profile.save()
    return user


@pytest.fixture
def issues(project_a, project_b, make_issue, alice, bob, carol, nameless):
    made = []
    for i in range(12):
        made.append(
            make_issue(
                project_a,
                summary=f'Issue {i} «ünïcode» "quoted" \\ \u2028 emoji 🎉',
                description=f"**bold {i}** <script>alert(1)</script>",
                assignee=[None, carol, nameless][i % 3],
                labels=["backend", f"l{i % 3}"],
                original_estimate=3600 * i or None,
                due_date=dt.date(2030, 1, 1 + i) if i % 2 else None,
            )
        )
    done = Status.objects.filter(category="done").first()
    issue_update(issue=made[1], actor=alice, data={"status": done})  # resolved timestamp and resolution set
    make_issue(made[0].project, summary="Sub-task", parent=made[0])
    make_issue(project_b, summary="Ops issue", reporter=bob)
    return made


def page():
    return Issue.objects.filter(project__key="DEMO").order_by("-created", "-id")


def test_json_is_what_pydantic_writes_for_the_schema(issues):
    trusted = ISSUE_ROWS.json(page(), validate=False)
    # Validated by pydantic and dumped again: the same bytes.
    assert ROWS_TA.dump_json(ROWS_TA.validate_json(trusted)) == trusted
    assert ISSUE_ROWS.json(page(), validate=True) == trusted
    data = orjson.loads(trusted)
    assert len(data) == 13
    # Display names: profile name, else full name, else username.
    assert {d["assignee"]["display_name"] for d in data if d["assignee"]} == {"Carol Clark", "nameless"}
    resolved = next(d for d in data if d["key"] == issues[1].key)
    assert resolved["status_category"] == "done" and resolved["resolved"].endswith("Z")


@pytest.mark.parametrize(
    ("fields", "extras"),
    [
        (None, ("subtask_count", "worklog_count")),
        (("key", "assignee", "due_date"), ()),
        (("id",), ("subtask_count",)),
        (("project", "resolved", "updated"), ()),
    ],
)
def test_field_subsets_and_extras_emit_exactly_what_is_asked(issues, fields, extras):
    data = ISSUE_ROWS.dicts(page(), fields=fields, extras=extras, validate=True)
    expected = set(fields or ISSUE_ROWS.default_names) | set(extras)
    assert all(set(row) == expected for row in data)
    if fields is None:
        by_key = {d["key"]: d for d in data}
        assert by_key[issues[0].key]["subtask_count"] == 1 and by_key[issues[1].key]["subtask_count"] == 0


def test_a_page_is_a_fixed_number_of_queries_whatever_its_size(issues, django_assert_num_queries):
    # One for the issues (project, type, status, priority joined), plus one for every user on the page
    # on PostgreSQL.
    with django_assert_num_queries(1 + USERS_QUERY):
        ISSUE_ROWS.json(page()[:50])
    with django_assert_num_queries(1 + USERS_QUERY):
        ISSUE_ROWS.dicts(page()[:5])
    # Instances: the users come from one query whatever the database.
    instances = list(page().select_related("project", "type", "status", "priority"))
    with django_assert_num_queries(1):
        ISSUE_ROWS.dicts(instances)
    # No user field asked for: no user query.
    with django_assert_num_queries(1):
        ISSUE_ROWS.dicts(page(), fields=("key", "status"))
    # Lazy counts: one grouped query each for the whole page.
    with django_assert_num_queries(3 + USERS_QUERY):
        ISSUE_ROWS.json(page(), extras=("subtask_count", "worklog_count"))


def test_fields_load_only_the_needed_columns(issues):
    with CaptureQueriesContext(connection) as ctx:
        data = ISSUE_ROWS.dicts(page(), fields=("key", "summary"))
    (query,) = ctx.captured_queries
    selected = query["sql"].split(" FROM ")[0]
    assert re.findall(r'"(\w+)"\."(\w+)"', selected) == [("issues_issue", "key"), ("issues_issue", "summary")]
    assert "auth_user" not in query["sql"]
    assert data[0] == {"key": "DEMO-13", "summary": "Sub-task"}


def test_unknown_field_names_are_refused(issues):
    with pytest.raises(ValueError, match="unknown field"):
        ISSUE_ROWS.dicts(page(), fields=("key", "password"))


def test_lazy_fields_are_computed_only_when_asked(issues, monkeypatch):
    calls = []
    spec = ISSUE_DETAIL.fields["description_html"]
    counted = dataclasses.replace(spec, make=lambda text: calls.append(text) or spec.make(text))
    monkeypatch.setitem(ISSUE_DETAIL.fields, "description_html", counted)
    ISSUE_DETAIL._plan.cache_clear()  # plans made before the swap hold the real renderer
    try:
        assert "description_html" not in orjson.loads(issue_detail_json(issues[2]))
        assert calls == []
        rich = orjson.loads(issue_detail_json(issues[2], extras=("description_html", "subtask_count")))
        assert len(calls) == 1
    finally:
        monkeypatch.undo()
        ISSUE_DETAIL._plan.cache_clear()
    assert "<strong>bold 2</strong>" in rich["description_html"] and "<script>" not in rich["description_html"]
    assert orjson.loads(issue_detail_json(issues[0], extras=("subtask_count",)))["subtask_count"] == 1


def test_issue_detail_has_labels_and_parent_in_two_queries(issues, django_assert_num_queries):
    sub = Issue.objects.get(summary="Sub-task")
    with django_assert_num_queries(2 + USERS_QUERY):  # the issue, its labels (and its users)
        detail = orjson.loads(issue_detail_json(sub))
    assert IssueOut.model_validate(detail).parent_key == issues[0].key
    with django_assert_num_queries(2 + USERS_QUERY):
        body = issue_detail_json(Issue.objects.filter(pk=issues[4].pk))
    assert orjson.loads(body)["labels"] == ["backend", "l1"]
    with pytest.raises(Issue.DoesNotExist):
        issue_detail_json(Issue.objects.filter(pk=-1))


def test_streaming_equals_the_whole_and_reads_in_chunks(issues):
    whole = ISSUE_ROWS.json(page())
    assert b"".join(ISSUE_ROWS.iter_json(page(), chunk_size=5)) == whole
    lines = b"".join(ISSUE_ROWS.iter_json(page(), chunk_size=4, lines=True)).splitlines()
    assert [orjson.loads(line) for line in lines] == orjson.loads(whole)
    assert list(iter_issue_row_dicts(page(), chunk_size=7)) == ISSUE_ROWS.dicts(page())
    assert b"".join(ISSUE_ROWS.iter_json(Issue.objects.none())) == b"[]"
    assert ISSUE_ROWS.json(Issue.objects.none()) == b"[]"


def test_instances_give_the_same_output_as_querysets(issues):
    qs = page().select_related("project", "type", "status", "priority", "assignee__profile", "reporter__profile")
    assert ISSUE_ROWS.json(list(qs)) == ISSUE_ROWS.json(page())


def test_adapters_keep_the_callers_visibility_scope(issues, alice, bob):
    # bob is only in OPS: through the selector he gets OPS's issue and nothing of DEMO.
    assert [r["key"] for r in ISSUE_ROWS.dicts(issues_visible_to(bob), fields=("key",))] == ["OPS-1"]
    assert len(ISSUE_ROWS.dicts(issues_visible_to(alice))) == 13


def test_validation_reports_bad_rows_with_their_paths(issues):
    broken = list(Issue.objects.select_related("project", "type", "status", "priority").order_by("id")[:3])
    broken[1].summary = None
    broken[2].time_spent = "lots"
    with pytest.raises(ValidationError) as info:
        ISSUE_ROWS.dicts(broken, fields=("id", "summary", "time_spent"))  # the test suite's setting: on
    assert {e["loc"] for e in info.value.errors()} == {(1, "summary"), (2, "time_spent")}
    with pytest.raises(ValidationError):
        ISSUE_ROWS.json(broken, fields=("id", "summary", "time_spent"))


def test_joined_and_batched_user_loading_agree(issues):
    plan_joined = ISSUE_ROWS.plan(joins=True)
    plan_batched = ISSUE_ROWS.plan(joins=False)
    assert "assignee__profile__display_name" in plan_joined.columns
    assert "assignee__profile__display_name" not in plan_batched.columns
    joined = plan_joined.dicts_from_tuples(list(page().values_list(*plan_joined.columns)))
    batched = plan_batched.dicts_from_tuples(list(page().values_list(*plan_batched.columns)))
    assert joined == batched


def test_plans_are_made_once_per_field_set(issues):
    first = ISSUE_ROWS.plan(("key", "id"))
    assert ISSUE_ROWS.plan(["id", "key"]) is first
    assert ISSUE_ROWS.plan() is ISSUE_ROWS.plan(None, ())


# --- the issue page payload ----------------------------------------------------------------------------------


@pytest.fixture
def busy(issues, alice, carol, nameless, project_a):
    """DEMO-1 with a sub-task, two comments, worklogs (one by a deleted user) and history."""
    from issues.models import Membership, Role

    # nameless joins DEMO as a member so the comment service lets them write.
    Membership.objects.create(project=project_a, user=nameless, role=Role.MEMBER)
    issue = issues[0]
    comment_add(issue=issue, author=alice, body="Looks *good*")
    comment_add(issue=issue, author=nameless, body="Second")
    started = dt.datetime(2026, 11, 20, 8, 15, tzinfo=dt.UTC)
    worklog_add(issue=issue, author=alice, time_spent=5400, started=started, comment="pairing", check_permission=False)
    gone = worklog_add(issue=issue, author=carol, time_spent=60, started=started, check_permission=False)
    Worklog.objects.filter(pk=gone.pk).update(author=None)
    issue_update(issue=issue, actor=alice, data={"original_estimate": 7200, "summary": "Renamed"})
    return issue_with_joins(pk=issue.pk)


@override_settings(TASKRA_PAGE_CACHE=False)  # link types read, not kept per process (issues.lookups)
def test_issue_page_is_nine_queries_or_three_round_trips(busy, django_assert_num_queries):
    # Labels, sub-tasks, comments, worklogs, history, attachments, links (both ways, one query), link types (the
    # add-link form), custom-field values: the issue row itself comes joined with the instance; the children's
    # progress comes from the sub-task rows. On PostgreSQL the seven lists are one round trip (a pipeline).
    with django_assert_num_queries(3 if connection.vendor == "postgresql" else 9):
        issue_page_data(issue=busy)


@override_settings(TASKRA_PAGE_CACHE=False)
def test_issue_page_counts_capped_lists(busy, monkeypatch, django_assert_num_queries):
    from issues import selectors

    monkeypatch.setattr(selectors, "PAGE_MAX_COMMENTS", 1)
    # One count query for the list that did not fit.
    with django_assert_num_queries(4 if connection.vendor == "postgresql" else 10):
        data = issue_page_data(issue=busy)
    assert data["comments_total"] == 2
    assert [c["body"] for c in data["comments"]] == ["Second"]  # the latest ones


def test_issue_page_payload_matches_its_schema_and_the_templates(busy, alice):
    data = issue_page_data(issue=busy)
    assert IssuePage.model_validate(data).issue.key == busy.key
    assert orjson.loads(orjson.dumps(data)) == data  # JSON-exact: the page cache stores it as JSON
    issue = data["issue"]
    assert issue["summary"] == "Renamed" and issue["labels"] == ["backend", "l0"]
    assert issue["type"]["name"] == "Task" and issue["type"]["is_subtask"] is False
    assert "<strong>bold 0</strong>" in issue["description_html"] and "<script>" not in issue["description_html"]
    assert [s["summary"] for s in data["subtasks"]] == ["Sub-task"]
    assert [c["body_html"].strip() for c in data["comments"]] == ["<p>Looks <em>good</em></p>", "<p>Second</p>"]
    assert [c["author"]["display_name"] for c in data["comments"]] == ["Alice Adams", "nameless"]
    assert data["comments"][0]["edited"] is False
    assert [(w["time_spent_text"], w["author"]) for w in data["worklogs"]][0][0] == "1h 30m"
    assert None in [w["author"] for w in data["worklogs"]]  # a deleted author
    changes = {h["field"]: (h["from"], h["to"]) for h in data["history"]}
    assert changes["original estimate"] == ("", "2h") and changes["summary"][1] == "Renamed"
    assert data["time"]["original_text"] == "2h" and data["time"]["spent"] == 5460


def test_issue_page_shares_the_apis_user_refs_and_datetime_text(busy):
    data = issue_page_data(issue=busy)
    api = orjson.loads(issue_detail_json(busy))
    for field in ("created", "updated", "reporter", "assignee", "due_date", "resolved"):
        assert data["issue"][field] == api[field], field
    assert data["issue"]["created"].endswith("Z")
    # The worklog export/API shape writes the same text for the same rows.
    exported = orjson.loads(WORKLOGS.json(Worklog.objects.filter(issue=busy).order_by("started", "id")))
    assert [(w["author"], w["started"]) for w in data["worklogs"]] == [(w["author"], w["started"]) for w in exported]
    assert data["worklogs"][0]["started"] == "2026-11-20T08:15:00Z"


def test_a_page_row_that_breaks_the_schema_fails_under_the_test_setting(busy):
    busy.summary = None  # what a broken row would bring
    with pytest.raises(ValidationError, match="issue.summary"):
        issue_page_data(issue=busy)
