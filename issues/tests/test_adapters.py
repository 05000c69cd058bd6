"""Issue adapters: trusted and validated paths agree byte for byte, fields/extras load only what is asked,
query counts stay flat, streaming equals the whole, and the caller's visibility scoping is kept.

Personas: alice is admin of DEMO (project_a) and reports the issues; carol (viewer in DEMO) is assignee of some;
bob is only in OPS (project_b) and sees none of DEMO's issues.
"""

from __future__ import annotations

import datetime as dt
import re

import orjson
import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from pydantic import TypeAdapter, ValidationError

from issues import adapters
from issues.adapters import (
    ISSUE_ROWS,
    comment_rows,
    comment_rows_json,
    issue_detail,
    issue_detail_json,
    issue_row_dicts,
    issue_rows,
    issue_rows_json,
    iter_issue_row_dicts,
    iter_issue_rows,
    iter_issue_rows_json,
)
from issues.models import Issue, Status
from issues.schemas import CommentOut, IssueOut, IssueRow, ProjectRef, UserRef
from issues.selectors import issues_visible_to
from issues.services import comment_add, issue_update

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


def test_trusted_and_validated_json_are_byte_identical(issues):
    trusted = issue_rows_json(page())
    assert trusted == issue_rows_json(page(), validate=True)
    # ... and identical to pydantic's own serialisation of validated schema objects.
    assert trusted == ROWS_TA.dump_json(issue_rows(page(), validate=True))
    assert trusted == ROWS_TA.dump_json(issue_rows(page()))
    assert len(orjson.loads(trusted)) == 13


@pytest.mark.parametrize(
    ("fields", "extras"),
    [
        (None, ("subtask_count", "worklog_count")),
        (("key", "assignee", "due_date"), ()),
        (("id",), ("subtask_count",)),
        (("project", "resolved", "updated"), ()),
    ],
)
def test_paths_agree_for_field_subsets_and_extras(issues, fields, extras):
    trusted = issue_rows_json(page(), fields=fields, extras=extras)
    assert trusted == issue_rows_json(page(), fields=fields, extras=extras, validate=True)
    rows = issue_rows(page(), fields=fields, extras=extras)
    validated = issue_rows(page(), fields=fields, extras=extras, validate=True)
    assert rows == validated
    assert TypeAdapter(list[type(rows[0])]).dump_json(rows) == trusted
    expected = set(fields or adapters.ISSUE_ROW_FIELDS) | set(extras)
    assert all(set(row) == expected for row in orjson.loads(trusted))


def test_trusted_objects_are_real_schema_objects(issues):
    rows = issue_rows(page())
    assert all(type(r) is IssueRow and type(r.project) is ProjectRef for r in rows)
    assert rows == issue_rows(page(), validate=True)
    assigned = [r for r in rows if r.assignee is not None]
    assert {type(r.assignee) for r in assigned} == {UserRef}
    # Display names: profile name, else full name, else username.
    assert {r.assignee.display_name for r in assigned} == {"Carol Clark", "nameless"}
    assert rows[0].model_dump()["project"] == {"id": issues[0].project_id, "key": "DEMO", "name": "Demo project"}
    resolved = next(r for r in rows if r.key == issues[1].key)
    assert resolved.status_category == "done" and resolved.resolved is not None
    # The objects behave like validated ones: copies, updates, dumps.
    changed = rows[0].model_copy(update={"summary": "x"})
    assert changed.summary == "x" and rows[0].summary != "x"
    assert rows[0].model_fields_set == set(adapters.ISSUE_ROW_FIELDS)


def test_a_page_is_a_fixed_number_of_queries_whatever_its_size(issues, django_assert_num_queries):
    # One for the issues (project, type, status, priority joined), plus one for every user on the page
    # on PostgreSQL.
    with django_assert_num_queries(1 + USERS_QUERY):
        issue_rows_json(page()[:50])
    with django_assert_num_queries(1 + USERS_QUERY):
        issue_rows(page()[:5])
    with django_assert_num_queries(1 + USERS_QUERY):
        issue_row_dicts(page(), validate=True)
    # Instances: the users come from one query whatever the database.
    instances = list(page().select_related("project", "type", "status", "priority"))
    with django_assert_num_queries(1):
        issue_rows(instances)
    # No user field asked for: no user query.
    with django_assert_num_queries(1):
        issue_row_dicts(page(), fields=("key", "status"))
    # Lazy counts: one grouped query each for the whole page.
    with django_assert_num_queries(3 + USERS_QUERY):
        issue_rows_json(page(), extras=("subtask_count", "worklog_count"))


def test_fields_load_only_the_needed_columns(issues):
    with CaptureQueriesContext(connection) as ctx:
        data = issue_row_dicts(page(), fields=("key", "summary"))
    (query,) = ctx.captured_queries
    selected = query["sql"].split(" FROM ")[0]
    assert re.findall(r'"(\w+)"\."(\w+)"', selected) == [("issues_issue", "key"), ("issues_issue", "summary")]
    assert "auth_user" not in query["sql"]
    assert data[0] == {"key": "DEMO-13", "summary": "Sub-task"}


def test_unknown_field_names_are_refused(issues):
    with pytest.raises(ValueError, match="unknown field"):
        issue_rows(page(), fields=("key", "password"))


def test_lazy_fields_are_computed_only_when_asked(issues, monkeypatch):
    calls = []
    from issues import rendering

    real = rendering.render_markdown
    monkeypatch.setattr(rendering, "render_markdown", lambda text: calls.append(text) or real(text))
    plain = issue_detail(issues[2])
    assert plain.description_html is None and calls == []
    assert "description_html" not in orjson.loads(issue_detail_json(issues[2]))
    rich = issue_detail(issues[2], extras=("description_html", "subtask_count"))
    assert len(calls) == 1
    assert "<strong>bold 2</strong>" in rich.description_html and "<script>" not in rich.description_html
    assert issue_detail(issues[0], extras=("subtask_count",)).subtask_count == 1


def test_issue_detail_has_labels_and_parent_in_three_queries(issues, django_assert_num_queries):
    sub = Issue.objects.get(summary="Sub-task")
    with django_assert_num_queries(2 + USERS_QUERY):  # the issue, its labels (and its users)
        detail = issue_detail(sub)
    assert isinstance(detail, IssueOut)
    assert detail.parent_key == issues[0].key
    with django_assert_num_queries(2 + USERS_QUERY):
        body = issue_detail_json(Issue.objects.filter(pk=issues[4].pk))
    assert orjson.loads(body)["labels"] == ["backend", "l1"]
    assert body == issue_detail_json(issues[4], validate=True)
    with pytest.raises(Issue.DoesNotExist):
        issue_detail(Issue.objects.filter(pk=-1))


def test_streaming_equals_the_whole_and_reads_in_chunks(issues):
    whole = issue_rows_json(page())
    assert b"".join(iter_issue_rows_json(page(), chunk_size=5)) == whole
    assert b"".join(iter_issue_rows_json(page(), chunk_size=5, validate=True)) == whole
    lines = b"".join(iter_issue_rows_json(page(), chunk_size=4, lines=True)).splitlines()
    assert [orjson.loads(line) for line in lines] == orjson.loads(whole)
    assert list(iter_issue_rows(page(), chunk_size=5)) == issue_rows(page())
    assert list(iter_issue_row_dicts(page(), chunk_size=7, validate=True)) == issue_row_dicts(page())
    assert b"".join(iter_issue_rows_json(Issue.objects.none())) == b"[]"
    assert issue_rows_json(Issue.objects.none()) == b"[]"


def test_instances_give_the_same_output_as_querysets(issues):
    qs = page().select_related("project", "type", "status", "priority", "assignee__profile", "reporter__profile")
    assert issue_rows_json(list(qs)) == issue_rows_json(page())
    assert issue_rows_json(list(qs), validate=True) == issue_rows_json(page())


def test_adapters_keep_the_callers_visibility_scope(issues, alice, bob):
    # bob is only in OPS: through the selector he gets OPS's issue and nothing of DEMO.
    assert [r["key"] for r in issue_row_dicts(issues_visible_to(bob), fields=("key",))] == ["OPS-1"]
    assert len(issue_rows(issues_visible_to(alice))) == 13


def test_validate_true_reports_bad_rows_with_their_paths(issues):
    broken = list(Issue.objects.select_related("project", "type", "status", "priority").order_by("id")[:3])
    broken[1].summary = None
    broken[2].time_spent = "lots"
    with pytest.raises(ValidationError) as info:
        issue_rows(broken, fields=("id", "summary", "time_spent"), validate=True)
    assert {e["loc"] for e in info.value.errors()} == {(1, "summary"), (2, "time_spent")}
    with pytest.raises(ValidationError):
        issue_rows_json(broken, fields=("id", "summary", "time_spent"), validate=True)


def test_comments_adapter(issues, alice, django_assert_num_queries):
    comment_add(issue=issues[0], author=alice, body="Looks *good*")
    comment_add(issue=issues[0], author=alice, body="Second")
    qs = issues[0].comments.order_by("created")
    with django_assert_num_queries(1 + USERS_QUERY):  # comments (and their authors)
        rows = comment_rows(qs)
    assert [type(r) for r in rows] == [CommentOut, CommentOut]
    assert rows[0].author.display_name == "Alice Adams" and rows[0].body_html is None
    assert comment_rows_json(qs) == comment_rows_json(qs, validate=True)
    html = comment_rows(qs, extras=("body_html",))
    assert html[0].body_html.strip() == "<p>Looks <em>good</em></p>"


def test_joined_and_batched_user_loading_agree(issues):
    plan_joined = ISSUE_ROWS.plan(joins=True)
    plan_batched = ISSUE_ROWS.plan(joins=False)
    assert "assignee__profile__display_name" in plan_joined.columns
    assert "assignee__profile__display_name" not in plan_batched.columns
    joined = plan_joined.dicts_from_tuples(list(page().values_list(*plan_joined.columns)))
    batched = plan_batched.dicts_from_tuples(list(page().values_list(*plan_batched.columns)))
    assert joined == batched


def test_plans_are_compiled_once_per_field_set(issues):
    first = ISSUE_ROWS.plan(("key", "id"))
    assert ISSUE_ROWS.plan(["id", "key"]) is first
    assert ISSUE_ROWS.plan() is ISSUE_ROWS.plan(None, ())
