"""The REST API with a browser session (the old /api/issues/KEY and /api/search are retired; their tests live
here against issue/{key} and search): reads by session, writes by session need the CSRF token, and what
those tests proved about partial updates, bad input, visibility and the JSON error shape.

Personas: alice admin of DEMO, dave member of DEMO, carol viewer of DEMO, bob member of OPS only.
"""

from __future__ import annotations

import json

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from issues.models import History, Issue, Membership, Role
from issues.tests.conftest import reset_all

pytestmark = pytest.mark.django_db

URL = "/rest/api/2/issue/DEMO-1"


@pytest.fixture(autouse=True)
def _fresh_page_cache():
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
    return make_issue(project_a, summary="Fix the login page", description="<script>alert(1)</script> **x**",
                      labels=["frontend"], original_estimate=14400)  # fmt: skip


def put(client, body, url=URL, **extra):
    data = body if isinstance(body, str) else json.dumps(body)
    return client.put(url, data, content_type="application/json", **extra)


def test_session_get_returns_the_jira_issue_for_members_and_viewers(client, alice, carol, issue):
    for user in (alice, carol):
        client.force_login(user)
        response = client.get("/rest/api/2/issue/demo-1?expand=renderedFields")
        assert response.status_code == 200 and response["Content-Type"] == "application/json"
        body = response.json()
        assert body["key"] == "DEMO-1" and body["fields"]["labels"] == ["frontend"]
        assert body["fields"]["timeoriginalestimate"] == 14400
        assert "<script" not in body["renderedFields"]["description"]


def test_anonymous_gets_401_not_a_login_redirect(client, issue):
    for method in ("get", "put"):
        response = getattr(client, method)(URL)
        assert response.status_code == 401 and response["WWW-Authenticate"]


def test_session_put_partial_update(client, alice, dave, issue):
    client.force_login(alice)
    body = {"fields": {"assignee": {"name": "dave"}, "labels": ["a", "b"],
                       "timetracking": {"remainingEstimate": "1h 30m"}}}  # fmt: skip
    assert put(client, body).status_code == 204
    stored = Issue.objects.get(pk=issue.pk)
    assert stored.assignee == dave and stored.remaining_estimate == 5400
    assert sorted(stored.labels.values_list("name", flat=True)) == ["a", "b"]
    assert stored.summary == "Fix the login page"  # not sent, not touched


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"fields": {"labels": ["ok", ""]}}, "labels"),
        ({"fields": {"timeoriginalestimate": "2 parsecs"}}, "timeoriginalestimate"),
        ({"fields": {"summary": None}}, "summary"),
        ({"fields": {"nope": 1}}, "nope"),
        ({"fields": {"status": {"name": "Done"}}}, "status"),
        ({"fields": {"priority": {"name": "Nowhere"}}}, "priority"),
        ({"fields": {"assignee": {"name": "bob"}}}, "assignee"),
        ({"fields": {"parent": {"key": "DEMO-99"}}}, "parent"),
    ],
)
def test_session_put_bad_input_is_400_naming_the_field(client, alice, bob, issue, body, field):
    client.force_login(alice)
    response = put(client, body)
    assert response.status_code == 400
    assert field in response.json()["errors"], response.json()
    stored = Issue.objects.get(pk=issue.pk)
    assert stored.labels.count() == 1 and stored.summary == "Fix the login page"


def test_session_put_not_json_is_400(client, alice, issue):
    client.force_login(alice)
    response = put(client, "{not json")
    assert response.status_code == 400 and set(response.json()) == {"errorMessages", "errors"}


def test_session_put_viewer_403_and_outsider_404(client, carol, bob, issue):
    client.force_login(carol)
    assert put(client, {"fields": {"summary": "x"}}).status_code == 403
    client.force_login(bob)
    response = put(client, {"fields": {"summary": "x"}})
    assert response.status_code == 404
    assert response.json()["errorMessages"] == ["Issue does not exist or you do not have permission to see it."]
    assert client.get(URL).status_code == 404
    assert Issue.objects.get(pk=issue.pk).summary == "Fix the login page"


def test_session_writes_need_the_csrf_token(alice, issue):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    body = {"fields": {"summary": "Via API"}}
    assert put(client, body).status_code == 403
    client.get("/browse/DEMO-1")  # sets the CSRF cookie, as a browser session would have
    token = client.cookies["csrftoken"].value
    assert put(client, body, headers={"X-CSRFToken": token}).status_code == 204
    assert client.get(URL).json()["fields"]["summary"] == "Via API"


GARBAGE = ["\x00", "x" * 70000, "‮évil 🐞", "-1", "9" * 40, "<script>alert(1)</script>", "2026-99-99", " "]


def test_garbage_in_every_api_field_is_never_a_500(client, alice, issue):
    client.force_login(alice)
    for value in GARBAGE:
        for field in ("summary", "description", "labels", "assignee", "parent", "duedate", "timeoriginalestimate",
                      "priority"):  # fmt: skip
            if field == "labels":
                sent = [value]
            elif field in ("assignee",):
                sent = {"name": value}
            elif field in ("parent", "priority"):
                sent = {"key": value, "name": value}
            else:
                sent = value
            response = put(client, {"fields": {field: sent}})
            assert response.status_code in (204, 400), (field, value[:20], response.status_code)
    assert client.get("/browse/DEMO-1").status_code == 200


def test_text_is_stored_with_lf_from_the_api(client, alice, issue):
    client.force_login(alice)
    assert put(client, {"fields": {"description": "x\r\ny", "summary": "s\r\n"}}).status_code == 204
    assert Issue.objects.get(pk=issue.pk).description == "x\ny"


def test_api_keeps_a_non_member_assignee_and_reporter_sent_back_unchanged(client, alice, bob, issue):
    # The JSON a client fetched, sent back with one change: bob (OPS only) stays assignee and reporter.
    Issue.objects.filter(pk=issue.pk).update(assignee=bob, reporter=bob)
    client.force_login(alice)
    body = {"fields": {"summary": "Via API", "assignee": {"name": "bob"}, "reporter": {"accountId": str(bob.pk)}}}
    response = put(client, body)
    assert response.status_code == 204, response.content
    stored = Issue.objects.get(pk=issue.pk)
    assert (stored.summary, stored.assignee, stored.reporter) == ("Via API", bob, bob)
    assert list(History.objects.filter(issue=issue).values_list("field", flat=True)) == ["summary"]
    eve = get_user_model().objects.create_user("eve", "eve@example.com", "eve-pass-123")  # in no project
    assert put(client, {"fields": {"assignee": {"name": eve.username}}}).status_code == 400


def test_session_search_reads_and_bad_jql_is_400(client, alice, issue):
    client.force_login(alice)
    found = client.get("/rest/api/2/search", {"jql": "project = DEMO"}).json()
    assert found["total"] == 1 and found["issues"][0]["key"] == "DEMO-1"
    bad = client.get("/rest/api/2/search", {"jql": "project = = DEMO"})
    assert bad.status_code == 400 and bad.json()["errorMessages"][0].startswith("Error in the JQL Query")


def test_session_search_pages_by_token_and_refuses_bad_input(client, alice, project_a, make_issue):
    # Was the browser's /api/search (cursor pages): search/jql pages with the same keyset cursors.
    for n in range(6):
        make_issue(project_a, summary=f"issue {n}")
    client.force_login(alice)
    url = "/rest/api/2/search/jql"
    first = client.get(url, {"jql": "project = DEMO order by key", "maxResults": "4", "fields": "summary"}).json()
    assert [r["key"] for r in first["issues"]] == ["DEMO-1", "DEMO-2", "DEMO-3", "DEMO-4"]
    assert first["isLast"] is False
    params = {"jql": "project = DEMO order by key", "maxResults": "4", "fields": "summary",
              "nextPageToken": first["nextPageToken"]}  # fmt: skip
    second = client.get(url, params).json()
    assert [r["key"] for r in second["issues"]] == ["DEMO-5", "DEMO-6"] and second["isLast"] is True
    bad = client.get(url, {"jql": "status = "})
    assert bad.status_code == 400 and "character 10" in bad.json()["errorMessages"][0]
    assert client.get(url, {"nextPageToken": "%%%"}).status_code == 400


def test_api_comment_worklog_and_transition_writes_retire_the_cached_issue_page(
    client, alice, issue, as_alice, django_capture_on_commit_callbacks, settings
):
    # alice reads DEMO-1's page (cached), then writes through the REST API: the page shows each write.
    settings.TASKRA_PAGE_CACHE = True  # on in tests too (by default only on a shared cache)
    client.force_login(alice)
    assert "Via the API" not in client.get("/browse/DEMO-1").content.decode()
    base = "/rest/api/2/issue/DEMO-1"
    with django_capture_on_commit_callbacks(execute=True):
        created = client.post(f"{base}/comment", json.dumps({"body": "Via the API"}),
                              content_type="application/json", **as_alice).json()  # fmt: skip
    assert "Via the API" in client.get("/browse/DEMO-1").content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        assert client.delete(f"{base}/comment/{created['id']}", **as_alice).status_code == 204
    assert "Via the API" not in client.get("/browse/DEMO-1").content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        body = json.dumps({"timeSpent": "2h 30m", "started": "2026-11-20T10:00:00.000+0300"})
        assert client.post(f"{base}/worklog", body, content_type="application/json", **as_alice).status_code == 201
    assert '<span data-time="spent">2h 30m</span>' in client.get("/browse/DEMO-1").content.decode()
    done = next(t for t in client.get(f"{base}/transitions", **as_alice).json()["transitions"] if t["name"] == "Done")
    with django_capture_on_commit_callbacks(execute=True):
        body = json.dumps({"transition": {"id": done["id"]}})
        assert client.post(f"{base}/transitions", body, content_type="application/json", **as_alice).status_code == 204
    assert "Unresolved" not in client.get("/browse/DEMO-1").content.decode()
