"""search (startAt pages, total) and search/jql (nextPageToken pages): the navigator's JQL and visibility, Jira's
paging fields, `fields`/`expand`, and JQL errors that name their position.

Personas: alice admin of DEMO (sees DEMO's issues), bob member of OPS only (sees only OPS's).
"""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext, override_settings

from issues.tests.conftest import reset_all

pytestmark = pytest.mark.django_db

LOCMEM = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "api-search-test"}}


@pytest.fixture
def demo_issues(project_a, make_issue):
    return [make_issue(project_a, summary=f"Issue {n}", labels=["x"] if n % 2 else []) for n in range(1, 8)]


def keys(body):
    return [i["key"] for i in body["issues"]]


def test_search_pages_with_start_at_and_total(client, demo_issues, as_alice):
    url = "/rest/api/2/search?jql=project=DEMO ORDER BY key ASC&maxResults=3"
    first = client.get(url, **as_alice).json()
    assert (first["startAt"], first["maxResults"], first["total"]) == (0, 3, 7)
    assert keys(first) == ["DEMO-1", "DEMO-2", "DEMO-3"]
    last = client.get(url + "&startAt=6", **as_alice).json()
    assert keys(last) == ["DEMO-7"] and last["total"] == 7


def test_search_sees_only_visible_projects(client, demo_issues, project_b, make_issue, as_bob):
    make_issue(project_b, summary="Ops work")
    body = client.get("/rest/api/2/search?jql=", **as_bob).json()
    assert keys(body) == ["OPS-1"] and body["total"] == 1
    assert client.get("/rest/api/2/search?jql=project=DEMO", **as_bob).status_code == 400  # unknown to bob


def test_search_caps_max_results_and_reports_the_effective_value(client, demo_issues, as_alice, settings):
    settings.TASKRA_API_MAX_RESULTS = 5
    body = client.get("/rest/api/2/search?maxResults=1000", **as_alice).json()
    assert body["maxResults"] == 5 and len(body["issues"]) == 5 and body["total"] == 7
    zero = client.get("/rest/api/2/search?maxResults=0", **as_alice).json()
    assert zero["maxResults"] == 0 and zero["issues"] == [] and zero["total"] == 7


def test_search_fields_default_navigable_all_and_removal(client, demo_issues, as_alice):
    default = client.get("/rest/api/2/search?maxResults=1", **as_alice).json()["issues"][0]["fields"]
    assert "summary" in default and "comment" not in default and "worklog" not in default
    everything = client.get("/rest/api/2/search?maxResults=1&fields=*all", **as_alice).json()["issues"][0]["fields"]
    assert "comment" in everything and "worklog" in everything
    some = client.get("/rest/api/2/search?maxResults=1&fields=summary&fields=labels", **as_alice).json()
    assert set(some["issues"][0]["fields"]) == {"summary", "labels"}
    minus = client.get("/rest/api/2/search?maxResults=1&fields=*navigable,-description", **as_alice).json()
    assert "description" not in minus["issues"][0]["fields"]


def test_search_expand_names_and_rendered_fields(client, demo_issues, as_alice):
    body = client.get("/rest/api/2/search?maxResults=2&fields=summary&expand=names,renderedFields", **as_alice).json()
    assert body["names"] == {"summary": "Summary"}
    assert all("renderedFields" in i for i in body["issues"])


def test_post_search_takes_a_json_body(client, demo_issues, as_alice):
    body = {"jql": "labels = x ORDER BY key", "startAt": 1, "maxResults": 2, "fields": ["summary"]}
    response = client.post("/rest/api/2/search", json.dumps(body), content_type="application/json", **as_alice)
    assert response.status_code == 200
    assert keys(response.json()) == ["DEMO-3", "DEMO-5"] and response.json()["total"] == 4
    bad = client.post("/rest/api/2/search", '{"startAt": -1}', content_type="application/json", **as_alice)
    assert bad.status_code == 400 and "startAt" in bad.json()["errors"]


def test_bad_jql_is_400_naming_the_position(client, demo_issues, as_alice):
    response = client.get("/rest/api/2/search", {"jql": "project = DEMO AND nosuchfield = 1"}, **as_alice)
    assert response.status_code == 400
    body = response.json()
    assert body["errors"] == {}
    message = body["errorMessages"][0]
    assert message.startswith("Error in the JQL Query:") and "(line 1, character 20)" in message
    multi = client.get("/rest/api/2/search", {"jql": "project = DEMO\nAND status = "}, **as_alice).json()
    assert "line 2" in multi["errorMessages"][0]


def test_validate_query_warn_lets_unknown_values_match_nothing(client, demo_issues, as_alice):
    strict = client.get("/rest/api/2/search", {"jql": "status = Nope"}, **as_alice)
    assert strict.status_code == 400
    warn = client.get("/rest/api/2/search", {"jql": "status = Nope", "validateQuery": "warn"}, **as_alice)
    assert warn.status_code == 200 and warn.json()["total"] == 0
    assert client.get("/rest/api/2/search", {"validateQuery": "maybe"}, **as_alice).status_code == 400


def test_search_page_is_a_fixed_number_of_queries(client, demo_issues, as_alice):
    url, small = "/rest/api/2/search?maxResults=50&fields=*all", "/rest/api/2/search?maxResults=2&fields=*all"
    # Both read once first: with a shared cache (Redis) the ids and totals then come from the page cache for
    # both, and what is left is the issues' JSON, which must not cost a query per issue.
    client.get(url, **as_alice)
    client.get(small, **as_alice)
    with CaptureQueriesContext(connection) as few:
        client.get(small, **as_alice)
    with CaptureQueriesContext(connection) as many:
        client.get(url, **as_alice)
    assert len(many) == len(few)  # no query per issue


def test_search_jql_pages_with_next_page_token(client, demo_issues, as_alice):
    seen = []
    token = None
    for _ in range(5):
        params = {"jql": "project = DEMO ORDER BY key ASC", "maxResults": 3, "fields": "summary"}
        if token:
            params["nextPageToken"] = token
        body = client.get("/rest/api/2/search/jql", params, **as_alice).json()
        assert "total" not in body
        seen += keys(body)
        token = body.get("nextPageToken")
        if body["isLast"]:
            assert token is None
            break
    assert seen == [f"DEMO-{n}" for n in range(1, 8)]


def test_search_jql_returns_ids_only_unless_fields_are_asked(client, demo_issues, as_alice):
    body = client.post(
        "/rest/api/2/search/jql", json.dumps({"jql": "project = DEMO", "maxResults": 2}),
        content_type="application/json", **as_alice,
    ).json()  # fmt: skip
    assert all(set(i) == {"id"} for i in body["issues"]) and len(body["issues"]) == 2
    bad = client.get("/rest/api/2/search/jql", {"nextPageToken": "garbage"}, **as_alice)
    assert bad.status_code == 400 and bad.json()["errorMessages"][0].startswith("Invalid nextPageToken")


def test_search_results_come_from_the_page_cache_until_a_write(
    client, demo_issues, project_a, make_issue, as_alice, as_bob, django_capture_on_commit_callbacks
):
    # The navigator's result cache: a repeated search runs no issue query; a new DEMO issue (a write through
    # the services) retires it; bob (OPS only) is told DEMO does not exist, never served alice's entry.
    params = {"jql": "project = DEMO ORDER BY key ASC", "maxResults": 3, "fields": "summary"}
    with override_settings(CACHES=LOCMEM, TASKRA_PAGE_CACHE=True):
        reset_all()
        first = client.get("/rest/api/2/search", params, **as_alice).json()
        with CaptureQueriesContext(connection) as ctx:
            again = client.get("/rest/api/2/search", params, **as_alice).json()
        assert again == first and first["total"] == 7
        searched = [q["sql"] for q in ctx.captured_queries if "COUNT(" in q["sql"] or "OFFSET" in q["sql"]]
        assert searched == []  # neither the page nor the total was queried again
        assert client.get("/rest/api/2/search", params, **as_bob).status_code == 400
        with django_capture_on_commit_callbacks(execute=True):
            make_issue(project_a, summary="One more")
        assert client.get("/rest/api/2/search", params, **as_alice).json()["total"] == 8
        reset_all()
