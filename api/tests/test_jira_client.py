"""The unmodified `jira` library (pycontribs) against a live Taskra server: only the base URL and a token change.

Personas: alice admin of DEMO, carol viewer of DEMO, bob member of OPS only. atlassian-python-api and the taskra
CLI are tested the same way next to this file (test_atlassian_client.py, test_taskra_cli.py).
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection

from api.services import api_token_create, api_token_revoke
from issues.models import Issue

jira = pytest.importorskip("jira")

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def server(plain_http_server, project_a, project_b, make_issue, monkeypatch):
    # The live server's request threads close their database connection after each request (PostgreSQL keeps
    # connections 60 s otherwise, and an open one keeps the test database from being dropped at the end).
    # The settings dict is shared by every thread's connection.
    monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", 0)
    for n in range(1, 8):
        make_issue(project_a, summary=f"Seeded {n}", labels=["seed"])
    return plain_http_server.url


@pytest.fixture
def client_for():
    """Return a factory of jira.JIRA clients with a new token; each is closed at the end of the test.

    Closing ends the keep-alive connections, so the live server's request threads can end.
    """
    made = []

    def make(url: str, user, identity: str | None = None):
        text = api_token_create(user=user, label="jira library")[1]
        # max_retries=0: an error is the answer under test, not something to retry.
        api = jira.JIRA(server=url, basic_auth=(identity or user.username, text), max_retries=0)
        made.append(api)
        return api, text

    yield make
    for api in made:
        api.close()


def test_jira_library_reads_creates_updates_and_searches(server, alice, client_for):
    api, _token = client_for(server, alice, identity="alice@example.com")
    assert [p.key for p in api.projects()] == ["DEMO"]
    created = api.create_issue(project="DEMO", summary="From the jira library", issuetype={"name": "Bug"},
                               description="Line one\nline two", labels=["api"])  # fmt: skip
    assert created.key == "DEMO-8"
    issue = api.issue(created.key)
    assert issue.fields.summary == "From the jira library"
    assert issue.fields.issuetype.name == "Bug" and issue.fields.status.statusCategory.key == "new"
    assert issue.fields.reporter.displayName == "Alice Adams"
    issue.update(summary="Renamed by the library", fields={"labels": ["api", "lib"]})
    issue.update(update={"labels": [{"remove": "api"}]})
    again = api.issue(created.key)
    assert again.fields.summary == "Renamed by the library" and again.fields.labels == ["lib"]
    page = api.search_issues("project = DEMO ORDER BY key ASC", maxResults=3)
    assert [i.key for i in page] == ["DEMO-1", "DEMO-2", "DEMO-3"] and page.total == 8
    everything = api.search_issues("project = DEMO", maxResults=False)  # pages through all results
    assert len(everything) == 8
    created.delete()
    assert len(api.search_issues("project = DEMO", maxResults=False)) == 7


def test_jira_library_gets_jiras_errors(server, alice, bob, carol, client_for):
    api, token = client_for(server, alice)
    with pytest.raises(jira.JIRAError) as bad_jql:
        api.search_issues("project = DEMO AND nosuchfield = 1")
    assert bad_jql.value.status_code == 400 and "character" in bad_jql.value.text
    viewer, _ = client_for(server, carol)
    issue = viewer.issue("DEMO-1")
    with pytest.raises(jira.JIRAError) as refused:
        issue.update(summary="A viewer's edit")
    assert refused.value.status_code == 403
    outsider, _ = client_for(server, bob)
    with pytest.raises(jira.JIRAError) as hidden:
        outsider.issue("DEMO-1")
    assert hidden.value.status_code == 404
    api_token_revoke(token=alice.api_tokens.get(), actor=alice)
    with pytest.raises(jira.JIRAError) as revoked:
        api.issue("DEMO-1")
    assert revoked.value.status_code == 401
    assert token


def test_jira_library_comments_worklogs_and_transitions(server, alice, carol, client_for):
    api, _token = client_for(server, alice)
    # Comments: add, list, edit, delete.
    comment = api.add_comment("DEMO-1", "First from the library")
    assert comment.body == "First from the library" and comment.author.name == "alice"
    comment.update(body="Edited by the library")
    assert [c.body for c in api.comments("DEMO-1")] == ["Edited by the library"]
    comment.delete()
    assert api.comments("DEMO-1") == []
    # Worklogs with Jira's estimate options.
    Issue.objects.filter(key="DEMO-1").update(original_estimate=36000, remaining_estimate=36000)
    started = dt.datetime(2026, 11, 20, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=3)))
    log = api.add_worklog("DEMO-1", timeSpent="1h 30m", started=started, comment="Pairing")
    assert log.timeSpentSeconds == 5400 and log.started == "2026-11-20T07:00:00.000+0000"
    assert api.issue("DEMO-1").fields.timetracking.remainingEstimateSeconds == 36000 - 5400
    api.add_worklog("DEMO-1", timeSpentSeconds=3600, adjustEstimate="new", newEstimate="2h", started=started)
    assert api.issue("DEMO-1").fields.timeestimate == 7200
    api.add_worklog("DEMO-1", timeSpent="30m", adjustEstimate="manual", reduceBy="1h", started=started)
    assert api.issue("DEMO-1").fields.timeestimate == 3600
    logs = api.worklogs("DEMO-1")
    assert [w.timeSpentSeconds for w in logs] == [5400, 3600, 1800]
    logs[0].delete(adjustEstimate="manual", increaseBy="1h")
    assert api.issue("DEMO-1").fields.timeestimate == 7200
    assert api.issue("DEMO-1").fields.timespent == 5400
    # Transitions: listed by name, moved by name (the library looks the id up) or id, with a resolution.
    names = [t["name"] for t in api.transitions("DEMO-2")]
    assert names == ["In Progress", "In Review", "Done"]
    api.transition_issue("DEMO-2", "In Progress")
    assert api.issue("DEMO-2").fields.status.name == "In Progress"
    done = next(t["id"] for t in api.transitions("DEMO-2") if t["name"] == "Done")
    api.transition_issue("DEMO-2", int(done), fields={"resolution": {"name": "Won't Do"}}, comment="Dropped")
    moved = api.issue("DEMO-2")
    assert moved.fields.status.name == "Done" and moved.fields.resolution.name == "Won't Do"
    assert [c.body for c in api.comments("DEMO-2")] == ["Dropped"]
    # A viewer's comment, worklog and transition are refused with 403.
    viewer, _ = client_for(server, carol)
    for attempt in (
        lambda: viewer.add_comment("DEMO-1", "no"),
        lambda: viewer.add_worklog("DEMO-1", timeSpent="1h", started=started),
        lambda: viewer.transition_issue("DEMO-3", "Done"),
    ):
        with pytest.raises(jira.JIRAError) as refused:
            attempt()
        assert refused.value.status_code == 403
