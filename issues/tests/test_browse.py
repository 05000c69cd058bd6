"""Issue pages: /browse/KEY, inline edits, create/edit, comments, worklogs, the JSON API (login: accounts/tests).

Who may see what (personas from conftest.py):
- alice: admin of DEMO -- sees and edits DEMO issues.
- dave (here): member of DEMO -- edits, but changes only his own worklogs and comments.
- carol: viewer in DEMO -- sees DEMO issues, every write answers 403.
- bob: member of OPS only -- every DEMO URL answers 404, exactly like a missing issue.
- anonymous: redirected to the login page.
"""

from __future__ import annotations

import json
import re
from html import unescape

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from issues.models import Comment, History, Issue, IssueType, Membership, Priority, Role, Status
from issues.services import comment_add, issue_delete
from issues.tests.conftest import reset_all
from worklogs.models import Worklog
from worklogs.services import worklog_add


@pytest.fixture(autouse=True)
def _fresh_page_cache():
    # The in-process LRU is keyed by issue key; each test re-creates DEMO-1 with a new id (rolled back rows).
    reset_all()
    yield
    reset_all()


@pytest.fixture
def dave(project_a):
    user = get_user_model().objects.create_user("dave", "dave@example.com", "dave-pass-123")
    Membership.objects.create(project=project_a, user=user, role=Role.MEMBER)
    return user


@pytest.fixture
def issue(project_a, make_issue):
    return make_issue(
        project_a,
        summary="Fix the login page",
        description="# Steps\n\n1. open **login**\n<script>alert('x')</script>\n[bad](javascript:alert(1))",
        original_estimate=4 * 3600,
        labels=["frontend"],
    )


@pytest.fixture
def ops_issue(project_b, make_issue, bob):
    return make_issue(project_b, summary="Rotate keys", reporter=bob)


def _client(client, user):
    client.force_login(user)
    return client


def _token(html: str) -> str:
    return re.search(r'name="form_token" value="([0-9a-f]+)"', html).group(1)


def _urls(issue: Issue, *, comment_id: int = 1, worklog_id: int = 1) -> list[tuple[str, str]]:
    key = issue.key
    return [
        ("get", f"/browse/{key}"),
        ("get", f"/browse/{key}/edit"),
        ("post", f"/browse/{key}/edit"),
        ("post", f"/browse/{key}/set/status"),
        ("post", f"/browse/{key}/comments"),
        ("get", f"/browse/{key}/comments/{comment_id}/edit"),
        ("post", f"/browse/{key}/worklogs"),
        ("get", f"/browse/{key}/worklogs/{worklog_id}/edit"),
        ("post", f"/browse/{key}/worklogs/{worklog_id}/delete"),
        ("get", f"/rest/api/2/issue/{key}"),
        ("put", f"/rest/api/2/issue/{key}"),
    ]


# --- anonymous ---------------------------------------------------------------------------------------------


def test_anonymous_is_redirected_to_login(client, issue):
    for method, url in [*_urls(issue), ("get", "/issues/new")]:
        response = getattr(client, method)(url)
        if url.startswith("/rest/api/"):
            assert response.status_code == 401, url  # the REST API answers clients, not login pages
            continue
        assert response.status_code == 302, url
        assert response["Location"].startswith("/accounts/login/"), url


# --- visibility: bob (other project) gets 404 everywhere, like a missing issue -------------------------------


def test_bob_gets_404_on_every_demo_url_like_a_missing_issue(client, bob, issue, ops_issue, alice):
    comment = comment_add(issue=issue, author=alice, body="hi")

    worklog = worklog_add(issue=issue, author=alice, time_spent=600, started=timezone.now())
    _client(client, bob)
    for method, url in _urls(issue, comment_id=comment.pk, worklog_id=worklog.pk):
        assert getattr(client, method)(url).status_code == 404, url
    missing = Issue(key="DEMO-999", project=issue.project)
    for method, url in _urls(missing):
        assert getattr(client, method)(url).status_code == 404, url
    # ...while his own project's issue is fine, and alice's DEMO membership does not leak OPS to her.
    assert client.get(f"/browse/{ops_issue.key}").status_code == 200
    client.force_login(alice)
    assert client.get(f"/browse/{ops_issue.key}").status_code == 404
    assert client.get(f"/rest/api/2/issue/{ops_issue.key}").status_code == 404


def test_lower_case_key_finds_the_issue(client, alice, issue):
    assert _client(client, alice).get("/browse/demo-1").status_code == 200


# --- the issue page ------------------------------------------------------------------------------------------


def test_issue_page_shows_every_field_and_sanitized_markdown(client, alice, dave, issue, make_issue):
    sub = make_issue(issue.project, summary="Sub one", parent=issue)
    comment_add(issue=issue, author=dave, body="Looks **good**")
    html = _client(client, alice).get("/browse/DEMO-1").content.decode()
    assert "Fix the login page" in html
    assert "<h1>Steps</h1>" in html and "<strong>login</strong>" in html
    assert "<script>alert" not in html, html[html.find("<script>alert") - 300 :][:400]
    assert 'href="javascript' not in html
    assert sub.key in html and "Sub one" in html
    assert "<strong>good</strong>" in html
    for text in ("To Do", "Medium", "Task", "frontend", "Alice Adams", "Unresolved", "4h", "Time tracking"):
        assert text in html, text
    sub_html = client.get(f"/browse/{sub.key}").content.decode()
    assert 'href="/browse/DEMO-1"' in sub_html


def test_carol_viewer_sees_but_gets_no_edit_controls(client, carol, issue):
    html = _client(client, carol).get("/browse/DEMO-1").content.decode()
    assert "Fix the login page" in html
    assert "Read only" in html
    assert "/set/status" not in html and 'id="log-work"' not in html and "Add a comment" not in html


def test_carol_viewer_gets_403_on_every_write(client, carol, alice, issue):
    comment = comment_add(issue=issue, author=alice, body="hi")
    worklog = worklog_add(issue=issue, author=alice, time_spent=600, started=timezone.now())
    _client(client, carol)
    for method, url in _urls(issue, comment_id=comment.pk, worklog_id=worklog.pk):
        if url in ("/browse/DEMO-1", "/rest/api/2/issue/DEMO-1") and method == "get":
            assert client.get(url).status_code == 200
            continue
        assert getattr(client, method)(url).status_code == 403, url
    assert client.get("/issues/new").status_code == 403
    issue.refresh_from_db()
    assert issue.status.name == "To Do"


def test_issue_page_query_count_is_bounded(
    client, settings, alice, dave, issue, make_issue, django_assert_max_num_queries
):
    def add_rows(n: int) -> None:
        for i in range(n):
            make_issue(issue.project, summary=f"sub {i}", parent=issue, assignee=dave)
            comment_add(issue=issue, author=dave if i % 2 else alice, body=f"comment {i}")
            worklog_add(issue=issue, author=dave if i % 2 else alice, time_spent=600, started=timezone.now())

    _client(client, alice)
    add_rows(2)
    # Count what building the page costs (a page-cache hit costs less and is covered by the cache's own tests).
    settings.TASKRA_PAGE_CACHE = False

    with CaptureQueriesContext(connection) as few:
        assert client.get("/browse/DEMO-1").status_code == 200
    add_rows(10)
    with CaptureQueriesContext(connection) as many:
        assert client.get("/browse/DEMO-1").status_code == 200
    # No N+1: twelve sub-tasks, comments and worklogs cost what two did.
    assert len(many) == len(few)
    # 18: the page's reads (issue_page_data, docs/performance.md) plus attachments, links, custom-field values
    # and the workflow's allowed moves; none of them grows with the rows.
    with django_assert_max_num_queries(18):
        client.get("/browse/DEMO-1")


# --- inline edits --------------------------------------------------------------------------------------------


def test_inline_status_change_writes_history_and_resolves(client, alice, issue):
    done = Status.objects.get(name="Done")
    response = _client(client, alice).post("/browse/DEMO-1/set/status", {"status": done.pk})
    assert response.status_code == 302 and response["Location"] == "/browse/DEMO-1"
    issue.refresh_from_db()
    assert issue.status == done and issue.resolution.name == "Done"
    assert History.objects.filter(issue=issue, field="status", from_value="To Do", to_value="Done").exists()
    html = client.get("/browse/DEMO-1").content.decode()
    assert "History" in html and "Done" in html


def test_inline_assignee_priority_and_labels(client, alice, dave, issue):
    _client(client, alice)
    assert client.post("/browse/DEMO-1/set/assignee", {"assignee": dave.pk}).status_code == 302
    high = Priority.objects.get(name="High")
    assert client.post("/browse/DEMO-1/set/priority", {"priority": high.pk}).status_code == 302
    assert client.post("/browse/DEMO-1/set/labels", {"labels": "backend, urgent  backend"}).status_code == 302
    issue.refresh_from_db()
    assert issue.assignee == dave and issue.priority == high
    assert sorted(issue.labels.values_list("name", flat=True)) == ["backend", "urgent"]
    assert client.post("/browse/DEMO-1/set/assignee", {"assignee": ""}).status_code == 302
    issue.refresh_from_db()
    assert issue.assignee is None


def test_inline_assignee_outside_the_project_is_an_inline_error(client, alice, bob, issue):
    response = _client(client, alice).post("/browse/DEMO-1/set/assignee", {"assignee": bob.pk})
    assert response.status_code == 400
    assert b"Select a valid choice" in response.content
    issue.refresh_from_db()
    assert issue.assignee is None


def test_inline_unknown_field_or_bad_value_is_not_a_500(client, alice, issue):
    _client(client, alice)
    # The summary is editable in place (docs/collaboration.md); a field that is not is a 404.
    assert client.post("/browse/DEMO-1/set/reporter", {"reporter": "x"}).status_code == 404
    assert client.post("/browse/DEMO-1/set/nonsense", {"nonsense": "x"}).status_code == 404
    assert client.post("/browse/DEMO-1/set/summary", {"summary": ""}).status_code == 400
    assert client.post("/browse/DEMO-1/set/status", {"status": "abc"}).status_code == 400
    assert client.get("/browse/DEMO-1/set/status").status_code == 405


# --- create and edit -----------------------------------------------------------------------------------------


def test_create_form_offers_only_projects_where_the_user_can_edit(client, alice, project_b, issue):
    html = _client(client, alice).get("/issues/new").content.decode()
    assert "Demo project" in html and "Operations" not in html


def test_create_issue_and_a_double_post_creates_one(client, alice, dave, project_a):
    _client(client, alice)
    token = _token(client.get("/issues/new").content.decode())
    form = {
        "form_token": token,
        "project": project_a.pk,
        "type": 3,
        "summary": "New from the form",
        "description": "Some *text*",
        "priority": Priority.objects.get(name="High").pk,
        "assignee": dave.pk,
        "labels": "a b",
        "due_date": "2026-12-24",
        "original_estimate": "1d 2h",
    }

    form["type"] = IssueType.objects.get(name="Bug").pk
    first = client.post("/issues/new", form)
    assert first.status_code == 302
    second = client.post("/issues/new", form)
    assert second.status_code == 302 and second["Location"] == first["Location"]
    created = Issue.objects.get(summary="New from the form")
    assert Issue.objects.filter(summary="New from the form").count() == 1
    assert first["Location"] == f"/browse/{created.key}"
    assert created.original_estimate == 10 * 3600 and created.remaining_estimate == 10 * 3600
    assert created.assignee == dave and created.reporter == alice and created.type.name == "Bug"
    assert str(created.due_date) == "2026-12-24"


def test_create_with_bad_input_keeps_what_was_typed(client, alice, bob, project_a):
    _client(client, alice)
    token = _token(client.get("/issues/new").content.decode())
    form = {
        "form_token": token,
        "project": project_a.pk,
        "type": 3,
        "summary": "Keep me",
        "priority": 3,
        "original_estimate": "2 parsecs",
        "due_date": "2026-13-45",
        "assignee": bob.pk,
        "parent": "DEMO-77",
    }

    form["type"] = IssueType.objects.get(name="Task").pk
    form["priority"] = Priority.objects.get(name="Low").pk
    response = client.post("/issues/new", form)
    assert response.status_code == 200
    html = response.content.decode()
    assert "unknown unit" in html and 'value="2 parsecs"' in html
    assert "Enter a valid date" in html and 'value="2026-13-45"' in html
    assert 'value="Keep me"' in html
    assert "Select a valid choice" in html  # bob is not offered as a DEMO assignee
    assert "No issue DEMO-77" in html
    assert not Issue.objects.filter(summary="Keep me").exists()
    # The token was not used up: the corrected form goes through.
    form.update(original_estimate="2h", due_date="", assignee="", parent="")
    assert client.post("/issues/new", form).status_code == 302
    assert Issue.objects.filter(summary="Keep me").count() == 1


def test_create_subtask_from_the_parent_link(client, alice, issue):
    _client(client, alice)
    html = client.get("/issues/new?project=DEMO&parent=DEMO-1").content.decode()
    assert 'value="DEMO-1"' in html

    subtask = IssueType.objects.get(name="Sub-task")
    assert f'<option value="{subtask.pk}" selected>' in html

    form = {
        "form_token": _token(html),
        "project": issue.project_id,
        "type": IssueType.objects.get(name="Sub-task").pk,
        "summary": "Child",
        "priority": issue.priority_id,
        "parent": "demo-1",
    }
    assert client.post("/issues/new", form).status_code == 302
    assert Issue.objects.get(summary="Child").parent == issue


def test_edit_issue_form(client, alice, issue):
    _client(client, alice)
    html = client.get("/browse/DEMO-1/edit").content.decode()
    assert 'value="Fix the login page"' in html and 'value="4h"' in html and 'value="frontend"' in html
    form = {
        "type": issue.type_id,
        "summary": "Fixed title",
        "description": "new",
        "status": Status.objects.get(name="In Progress").pk,
        "resolution": "",
        "priority": issue.priority_id,
        "assignee": "",
        "labels": "frontend ux",
        "parent": "",
        "due_date": "",
        "original_estimate": "4h",
        "remaining_estimate": "3h",
    }
    response = client.post("/browse/DEMO-1/edit", form)
    assert response.status_code == 302, re.findall(r'class="errorlist[^>]*>.*?</ul>', response.content.decode())
    issue.refresh_from_db()
    assert issue.summary == "Fixed title" and issue.remaining_estimate == 3 * 3600
    assert issue.status.name == "In Progress"
    assert set(issue.labels.values_list("name", flat=True)) == {"frontend", "ux"}
    fields = set(History.objects.filter(issue=issue).values_list("field", flat=True))
    assert {"summary", "description", "status", "remaining_estimate", "labels"} <= fields


def test_edit_rejects_own_parent_and_blank_summary(client, alice, issue):
    _client(client, alice)
    form = {"type": issue.type_id, "summary": "  ", "status": issue.status_id, "priority": issue.priority_id,
            "parent": "DEMO-1"}  # fmt: skip
    response = client.post("/browse/DEMO-1/edit", form)
    assert response.status_code == 200
    assert b"This field is required" in response.content or b"Summary is required" in response.content
    assert b"cannot be its own parent" in response.content


# --- comments ------------------------------------------------------------------------------------------------


def test_add_comment_once_and_edit_own(client, dave, alice, issue):
    _client(client, dave)
    token = _token(client.get("/browse/DEMO-1").content.decode())
    first = client.post("/browse/DEMO-1/comments", {"form_token": token, "body": "First *comment*"})
    second = client.post("/browse/DEMO-1/comments", {"form_token": token, "body": "First *comment*"})
    assert first.status_code == 302 and second.status_code == 302
    assert Comment.objects.filter(issue=issue).count() == 1
    comment = Comment.objects.get(issue=issue)
    assert first["Location"] == f"/browse/DEMO-1#comment-{comment.pk}"
    assert client.get(f"/browse/DEMO-1/comments/{comment.pk}/edit").status_code == 200
    response = client.post(f"/browse/DEMO-1/comments/{comment.pk}/edit", {"body": "Edited"})
    assert response.status_code == 302
    comment.refresh_from_db()
    assert comment.body == "Edited"
    # alice (even as admin) may not edit dave's words.
    client.force_login(alice)
    assert client.post(f"/browse/DEMO-1/comments/{comment.pk}/edit", {"body": "hacked"}).status_code == 403
    html = client.get("/browse/DEMO-1").content.decode()
    assert f"/comments/{comment.pk}/edit" not in html


def test_empty_comment_is_an_inline_error(client, alice, issue):
    _client(client, alice)
    token = _token(client.get("/browse/DEMO-1").content.decode())
    response = client.post("/browse/DEMO-1/comments", {"form_token": token, "body": "   "})
    assert response.status_code == 400
    assert b"This field is required" in response.content
    assert not Comment.objects.exists()


def test_comment_of_another_issue_is_404(client, alice, issue, make_issue):
    other = make_issue(issue.project, summary="other")
    comment = comment_add(issue=other, author=alice, body="x")
    _client(client, alice)
    assert client.get(f"/browse/DEMO-1/comments/{comment.pk}/edit").status_code == 404


# --- worklogs ------------------------------------------------------------------------------------------------


def _worklog_form(token: str, **kw: str) -> dict[str, str]:
    form = {"form_token": token, "time_spent": "2h 30m", "started_date": "2026-11-20", "started_time": "09:15",
            "comment": "pairing", "adjust_estimate": "auto", "new_estimate": ""}  # fmt: skip
    form.update(kw)
    return form


def test_log_work_updates_totals_once(client, alice, issue, django_capture_on_commit_callbacks):
    _client(client, alice)
    token = _token(client.get("/browse/DEMO-1").content.decode())
    with django_capture_on_commit_callbacks(execute=True):  # the writes commit, so the page cache sees them
        first = client.post("/browse/DEMO-1/worklogs", _worklog_form(token))
        second = client.post("/browse/DEMO-1/worklogs", _worklog_form(token))
    assert first.status_code == 302 and second.status_code == 302
    worklog = Worklog.objects.get(issue=issue)
    assert worklog.time_spent == 9000 and worklog.comment == "pairing"
    # alice's profile is Europe/Berlin: 09:15 there is 08:15 UTC in November.
    assert worklog.started.isoformat() == "2026-11-20T08:15:00+00:00"
    issue.refresh_from_db()
    assert issue.time_spent == 9000 and issue.remaining_estimate == 4 * 3600 - 9000
    html = client.get("/browse/DEMO-1").content.decode()
    assert '<span data-time="spent">2h 30m</span>' in html
    assert '<span data-time="remaining">1h 30m</span>' in html
    assert "20 Nov 2026, 09:15" in html  # shown in her time zone


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("time_spent", "2x", "unknown unit"),
        ("time_spent", "", "This field is required"),
        ("time_spent", "0m", "zero"),
        ("time_spent", "200h", "at most 168h"),
        ("started_date", "2026-02-30", "Enter a valid date"),
        ("started_time", "25:99", "Enter a valid time"),
        ("adjust_estimate", "new", "Give the new remaining estimate"),
    ],
)
def test_log_work_bad_input_shows_inline_error_and_keeps_input(client, alice, issue, field, value, message):
    _client(client, alice)
    token = _token(client.get("/browse/DEMO-1").content.decode())
    response = client.post("/browse/DEMO-1/worklogs", _worklog_form(token, **{field: value}))
    assert response.status_code == 400
    html = response.content.decode()
    assert message in html
    if value and field != "adjust_estimate":
        assert f'value="{value}"' in html
    assert "pairing" in html  # the comment typed is kept too
    assert not Worklog.objects.exists()
    # The same token still works once the input is fixed.
    assert client.post("/browse/DEMO-1/worklogs", _worklog_form(token)).status_code == 302
    assert Worklog.objects.count() == 1


def test_log_work_set_new_estimate(client, alice, issue):
    _client(client, alice)
    token = _token(client.get("/browse/DEMO-1").content.decode())
    form = _worklog_form(token, adjust_estimate="new", new_estimate="1d")
    assert client.post("/browse/DEMO-1/worklogs", form).status_code == 302
    issue.refresh_from_db()
    assert issue.remaining_estimate == 8 * 3600


def test_edit_and_delete_own_worklog(client, dave, issue):
    _client(client, dave)
    token = _token(client.get("/browse/DEMO-1").content.decode())
    client.post("/browse/DEMO-1/worklogs", _worklog_form(token, time_spent="1h"))
    worklog = Worklog.objects.get()
    html = client.get(f"/browse/DEMO-1/worklogs/{worklog.pk}/edit").content.decode()
    assert 'value="1h"' in html
    form = _worklog_form("", time_spent="3h")
    del form["form_token"]
    bad = client.post(f"/browse/DEMO-1/worklogs/{worklog.pk}/edit", {**form, "time_spent": "3 hrs x"})
    assert bad.status_code == 200 and b'value="3 hrs x"' in bad.content
    assert client.post(f"/browse/DEMO-1/worklogs/{worklog.pk}/edit", form).status_code == 302
    issue.refresh_from_db()
    assert issue.time_spent == 3 * 3600 and issue.remaining_estimate == 3600
    assert client.get(f"/browse/DEMO-1/worklogs/{worklog.pk}/delete").status_code == 200
    assert client.post(f"/browse/DEMO-1/worklogs/{worklog.pk}/delete").status_code == 302
    issue.refresh_from_db()
    assert issue.time_spent == 0 and issue.remaining_estimate == 4 * 3600
    # A repeated delete finds nothing: 404, not 500.
    assert client.post(f"/browse/DEMO-1/worklogs/{worklog.pk}/delete").status_code == 404


def test_member_cannot_change_others_worklogs_but_admin_can(client, alice, dave, issue):
    alices = worklog_add(issue=issue, author=alice, time_spent=600, started=timezone.now())
    daves = worklog_add(issue=issue, author=dave, time_spent=600, started=timezone.now())
    _client(client, dave)
    assert client.get(f"/browse/DEMO-1/worklogs/{alices.pk}/edit").status_code == 403
    assert client.post(f"/browse/DEMO-1/worklogs/{alices.pk}/delete").status_code == 403
    client.force_login(alice)
    assert client.post(f"/browse/DEMO-1/worklogs/{daves.pk}/delete").status_code == 302
    assert list(Worklog.objects.values_list("pk", flat=True)) == [alices.pk]


def test_urls_are_named(issue):
    assert reverse("issues:browse", args=["DEMO-1"]) == "/browse/DEMO-1"
    assert reverse("issues:create") == "/issues/new"
    assert reverse("issues:edit", args=["DEMO-1"]) == "/browse/DEMO-1/edit"


# --- bad input never gives a 500 -----------------------------------------------------------------------------

GARBAGE = ["\x00", "x" * 70000, "‮évil 🐞", "-1", "9" * 40, "<script>alert(1)</script>", "2026-99-99", " "]


def test_garbage_in_every_form_field_is_never_a_500(client, alice, dave, issue):
    comment = comment_add(issue=issue, author=alice, body="mine")
    worklog = worklog_add(issue=issue, author=alice, time_spent=600, started=timezone.now())
    _client(client, alice)
    posts = {
        "/issues/new": ["form_token", "project", "type", "summary", "description", "priority", "assignee", "labels",
                        "parent", "due_date", "original_estimate"],
        "/browse/DEMO-1/edit": ["type", "summary", "description", "status", "resolution", "priority", "assignee",
                                "labels", "parent", "due_date", "original_estimate", "remaining_estimate"],
        "/browse/DEMO-1/set/status": ["status"],
        "/browse/DEMO-1/set/assignee": ["assignee"],
        "/browse/DEMO-1/set/priority": ["priority"],
        "/browse/DEMO-1/set/labels": ["labels"],
        "/browse/DEMO-1/comments": ["form_token", "body"],
        f"/browse/DEMO-1/comments/{comment.pk}/edit": ["body"],
        "/browse/DEMO-1/worklogs": ["form_token", "time_spent", "started_date", "started_time", "comment",
                                    "adjust_estimate", "new_estimate"],
        f"/browse/DEMO-1/worklogs/{worklog.pk}/edit": ["time_spent", "started_date", "started_time", "comment",
                                                       "adjust_estimate", "new_estimate"],
    }  # fmt: skip
    for url, fields in posts.items():
        for value in GARBAGE:
            response = client.post(url, {f: value for f in fields})
            assert response.status_code in (200, 302, 400), (url, value[:20], response.status_code)
    # The REST API's fields: api/tests/test_browser_session.py::test_garbage_in_every_api_field_is_never_a_500
    assert client.get("/browse/DEMO-1").status_code == 200


def test_sub_tasks_cannot_have_sub_tasks(client, alice, issue, make_issue):
    sub = make_issue(issue.project, summary="child", parent=issue)
    _client(client, alice)
    html = client.get("/issues/new").content.decode()
    form = {"form_token": _token(html), "project": issue.project_id, "type": issue.type_id, "summary": "grandchild",
            "priority": issue.priority_id, "parent": sub.key}  # fmt: skip
    response = client.post("/issues/new", form)
    assert response.status_code == 200 and b"sub-tasks cannot have sub-tasks" in response.content


# --- deleting an issue: project admins only ----------------------------------------------------------------


def test_admin_deletes_an_issue_with_its_subtasks_after_confirming(
    client, alice, issue, make_issue, project_a, django_capture_on_commit_callbacks
):
    sub = make_issue(project_a, summary="Child", parent=issue, type=IssueType.objects.get(name="Sub-task"))
    comment_add(issue=sub, author=alice, body="gone too")
    _client(client, alice)
    assert b'id="delete-issue"' in client.get(f"/browse/{issue.key}").content  # alice is admin of DEMO
    confirm = client.get(f"/browse/{issue.key}/delete").content.decode()
    assert "1 sub-task, 1 comment" in confirm and Issue.objects.filter(pk=issue.pk).exists()  # GET deletes nothing
    with django_capture_on_commit_callbacks(execute=True):  # the delete commits, so the page cache sees it
        response = client.post(f"/browse/{issue.key}/delete")
    assert response.status_code == 302 and response["Location"].startswith("/issues/?jql=project")
    assert not Issue.objects.filter(pk__in=[issue.pk, sub.pk]).exists()
    assert not Comment.objects.filter(issue_id=sub.pk).exists()
    assert "Deleted DEMO-1 and 1 sub-task." in client.get(response["Location"]).content.decode()
    assert client.get(f"/browse/{issue.key}").status_code == 404
    assert client.get(f"/browse/{sub.key}").status_code == 404


def test_members_and_viewers_cannot_delete_and_see_no_button(client, dave, carol, issue):
    # dave edits DEMO issues but is no admin; carol only reads; neither may delete.
    for user in (dave, carol):
        _client(client, user)
        assert b'id="delete-issue"' not in client.get(f"/browse/{issue.key}").content
        assert client.get(f"/browse/{issue.key}/delete").status_code == 403
        assert client.post(f"/browse/{issue.key}/delete").status_code == 403
    assert Issue.objects.filter(pk=issue.pk).exists()


def test_bob_cannot_even_find_the_delete_page(client, bob, issue):
    # bob is not in DEMO: the delete URL answers 404 like any other DEMO URL.
    _client(client, bob)
    assert client.post(f"/browse/{issue.key}/delete").status_code == 404
    assert Issue.objects.filter(pk=issue.pk).exists()


def test_issue_delete_service_refuses_members(dave, issue):
    with pytest.raises(PermissionDenied):
        issue_delete(issue=issue, actor=dave)


# --- no silent data change on edit ---------------------------------------------------------------------------


def _rendered_edit_form(html: str) -> dict[str, str]:
    """Return the edit form's fields as a browser would post them back untouched (inputs, selects, textareas)."""
    form: dict[str, str] = {}
    form_html = html[html.index('<form method="post" class="card form-grid"') :]
    for name, value in re.findall(r'<input type="(?:text|date|hidden)" name="(\w+)"(?: value="([^"]*)")?', form_html):
        form[name] = unescape(value)
    for name, body in re.findall(r'<select name="(\w+)"[^>]*>(.*?)</select>', form_html, re.S):
        chosen = re.search(r'<option value="([^"]*)" selected>', body)
        form[name] = chosen.group(1) if chosen else ""
    for name, body in re.findall(r'<textarea name="(\w+)"[^>]*>\n?(.*?)</textarea>', form_html, re.S):
        # Browsers read the text with LF and post every line break as CRLF.
        form[name] = unescape(body).replace("\r\n", "\n").replace("\n", "\r\n")
    return form


def test_editing_an_issue_assigned_to_a_non_member_keeps_the_assignee(client, alice, bob, issue):
    # bob is in OPS only (an imported assignee, or someone who left DEMO): alice edits only the summary.
    Issue.objects.filter(pk=issue.pk).update(assignee=bob)
    _client(client, alice)
    html = client.get("/browse/DEMO-1/edit").content.decode()
    assert f'<option value="{bob.pk}" selected>Bob Brown (not a member)</option>' in html
    form = _rendered_edit_form(html)
    form["summary"] = "Renamed"
    response = client.post("/browse/DEMO-1/edit", form)
    assert response.status_code == 302, re.findall(r'class="errorlist[^>]*>.*?</ul>', response.content.decode())
    assert Issue.objects.get(pk=issue.pk).assignee == bob
    assert list(History.objects.filter(issue=issue).values_list("field", flat=True)) == ["summary"]


def test_inline_assignee_editor_offers_the_current_non_member(client, alice, bob, issue):
    Issue.objects.filter(pk=issue.pk).update(assignee=bob)
    _client(client, alice)
    html = client.get("/browse/DEMO-1").content.decode()
    assert f'<option value="{bob.pk}" selected>Bob Brown (not a member)</option>' in html
    # Sending it back unchanged is no change; a new non-member is still refused.
    assert client.post("/browse/DEMO-1/set/assignee", {"assignee": bob.pk}).status_code == 302
    assert Issue.objects.get(pk=issue.pk).assignee == bob and not History.objects.filter(issue=issue).exists()
    other = get_user_model().objects.create_user("eve", "eve@example.com", "eve-pass-123")
    assert client.post("/browse/DEMO-1/set/assignee", {"assignee": other.pk}).status_code == 400
    assert Issue.objects.get(pk=issue.pk).assignee == bob


@pytest.mark.parametrize("stored", ["line one\nline two\n\nend", "line one\r\nline two\r\n\r\nend"])
def test_editing_only_the_summary_records_no_description_change(client, alice, issue, stored):
    # Browsers post textarea text with CRLF; the stored text may have LF (API, import) or CRLF (older saves).
    Issue.objects.filter(pk=issue.pk).update(description=stored)
    _client(client, alice)
    form = _rendered_edit_form(client.get("/browse/DEMO-1/edit").content.decode())
    assert "\r\n" in form["description"]
    form["summary"] = "Only the summary"
    response = client.post("/browse/DEMO-1/edit", form)
    assert response.status_code == 302, re.findall(r'class="errorlist[^>]*>.*?</ul>', response.content.decode())
    assert list(History.objects.filter(issue=issue).values_list("field", flat=True)) == ["summary"]
    assert Issue.objects.get(pk=issue.pk).description == stored  # untouched, not rewritten


def test_text_is_stored_with_lf_from_forms_and_the_api(client, alice, issue):
    _client(client, alice)
    form = _rendered_edit_form(client.get("/browse/DEMO-1/edit").content.decode())
    form["description"] = "a\r\nb\rc"
    assert client.post("/browse/DEMO-1/edit", form).status_code == 302
    assert Issue.objects.get(pk=issue.pk).description == "a\nb\nc"
    body = json.dumps({"fields": {"description": "x\r\ny", "summary": "s\r\n"}})
    assert client.put("/rest/api/2/issue/DEMO-1", body, content_type="application/json").status_code == 204
    assert Issue.objects.get(pk=issue.pk).description == "x\ny"
    html = client.get("/browse/DEMO-1").content.decode()
    client.post("/browse/DEMO-1/comments", {"form_token": _token(html), "body": "c1\r\nc2"})
    assert Comment.objects.get(issue=issue).body == "c1\nc2"


# --- the hierarchy is walked cycle-safely --------------------------------------------------------------------


def test_delete_page_of_an_issue_in_a_parent_cycle_renders(client, alice, issue, make_issue, project_a):
    # A cycle written straight to the database (what imports used to accept): DEMO-1 -> DEMO-2 -> DEMO-3 -> DEMO-1.
    second, third = make_issue(project_a, summary="two"), make_issue(project_a, summary="three")
    Issue.objects.filter(pk=second.pk).update(parent=issue)
    Issue.objects.filter(pk=third.pk).update(parent=second)
    Issue.objects.filter(pk=issue.pk).update(parent=third)
    _client(client, alice)
    queries = {"n": 0}

    def bounded(execute, sql, params, many, context):
        queries["n"] += 1
        if queries["n"] > 200:  # the walk on main never ends: fail instead of hanging
            raise RuntimeError("the delete page does not stop walking the hierarchy")
        return execute(sql, params, many, context)

    with connection.execute_wrapper(bounded):
        response = client.get("/browse/DEMO-1/delete")
    assert response.status_code == 200 and "2 sub-tasks" in response.content.decode()
    with connection.execute_wrapper(bounded):
        queries["n"] = 0
        assert client.post("/browse/DEMO-1/delete").status_code == 302
    assert not Issue.objects.filter(pk__in=[issue.pk, second.pk, third.pk]).exists()
