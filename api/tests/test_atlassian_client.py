"""The unmodified `atlassian-python-api` Jira client (Server flavour) against a live Taskra server.

Only the URL and a token change. Errors reach it as requests.HTTPError (the client's own error type, built
from Jira's errorMessages/errors). Personas: alice admin of DEMO, carol viewer of DEMO, bob member of OPS only.
"""

from __future__ import annotations

import pytest
from django.db import connection

from api.services import api_token_create, api_token_revoke
from issues.models import Issue

atlassian = pytest.importorskip("atlassian")
requests = pytest.importorskip("requests")

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def server(plain_http_server, project_a, project_b, make_issue, monkeypatch):
    monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", 0)  # see test_jira_client.py
    for n in range(1, 8):
        make_issue(project_a, summary=f"Seeded {n}", labels=["seed"])
    return plain_http_server.url


@pytest.fixture
def client_for():
    made = []

    def make(url: str, user):
        text = api_token_create(user=user, label="atlassian-python-api")[1]
        api = atlassian.Jira(url=url, username=user.username, password=text, cloud=False, backoff_and_retry=False)
        made.append(api)
        return api, text

    yield make
    for api in made:
        api.close()


def test_atlassian_client_creates_reads_updates_and_pages(server, alice, client_for):
    api, _ = client_for(server, alice)
    assert api.myself()["name"] == "alice"
    assert [p["key"] for p in api.projects()] == ["DEMO"]
    created = api.create_issue(fields={"project": {"key": "DEMO"}, "summary": "From atlassian-python-api",
                                       "issuetype": {"name": "Task"}, "labels": ["atl"]})  # fmt: skip
    assert created["key"] == "DEMO-8" and created["self"].endswith(f"/issue/{created['id']}")
    api.update_issue_field("DEMO-8", {"summary": "Renamed", "labels": ["atl", "py"]})
    issue = api.issue("DEMO-8")
    assert issue["fields"]["summary"] == "Renamed" and issue["fields"]["labels"] == ["atl", "py"]
    first = api.jql("project = DEMO ORDER BY key ASC", start=0, limit=3)
    assert [i["key"] for i in first["issues"]] == ["DEMO-1", "DEMO-2", "DEMO-3"] and first["total"] == 8
    rest = api.jql("project = DEMO ORDER BY key ASC", start=6, limit=3)
    assert [i["key"] for i in rest["issues"]] == ["DEMO-7", "DEMO-8"]
    counted = api.jql("project = DEMO", limit=0)  # maxResults=0: the total only
    assert counted["total"] == 8 and counted["issues"] == [] and counted["maxResults"] == 0


def test_atlassian_client_comments_worklogs_transitions(server, alice, client_for):
    api, _ = client_for(server, alice)
    added = api.issue_add_comment("DEMO-1", "From atlassian")
    api.issue_edit_comment("DEMO-1", added["id"], "Edited from atlassian")
    assert [c["body"] for c in api.issue_get_comments("DEMO-1")["comments"]] == ["Edited from atlassian"]
    Issue.objects.filter(key="DEMO-1").update(original_estimate=7200, remaining_estimate=7200)
    api.issue_worklog("DEMO-1", "2026-11-20T10:00:00.000+0300", 1800, comment="Half an hour")
    logs = api.issue_get_worklog("DEMO-1")
    assert logs["total"] == 1 and logs["worklogs"][0]["timeSpentSeconds"] == 1800
    assert logs["worklogs"][0]["started"] == "2026-11-20T07:00:00.000+0000"
    assert api.issue("DEMO-1")["fields"]["timeestimate"] == 5400  # auto: the estimate went down
    names = [t["name"] for t in api.get_issue_transitions("DEMO-1")]
    assert names == ["In Progress", "In Review", "Done"]
    api.set_issue_status("DEMO-1", "Done", fields={"resolution": {"name": "Fixed"}})
    fields = api.issue("DEMO-1")["fields"]
    assert fields["status"]["name"] == "Done" and fields["resolution"]["name"] == "Fixed"


def test_atlassian_client_gets_jiras_errors(server, alice, bob, carol, client_for):
    api, token = client_for(server, alice)
    with pytest.raises(requests.HTTPError) as bad_jql:
        api.jql("project = DEMO AND nosuchfield = 1")
    assert bad_jql.value.response.status_code == 400 and "character" in str(bad_jql.value)
    viewer, _ = client_for(server, carol)
    assert viewer.issue("DEMO-1")["key"] == "DEMO-1"
    with pytest.raises(requests.HTTPError) as refused:
        viewer.update_issue_field("DEMO-1", {"summary": "A viewer's edit"})
    assert refused.value.response.status_code == 403
    outsider, _ = client_for(server, bob)
    with pytest.raises(requests.HTTPError) as hidden:
        outsider.issue("DEMO-1")
    assert hidden.value.response.status_code == 404
    api_token_revoke(token=alice.api_tokens.get(), actor=alice)
    with pytest.raises(requests.HTTPError) as revoked:
        api.issue("DEMO-1")
    assert revoked.value.response.status_code == 401
    assert token
