"""The `taskra` command-line client (taskra==0.1.9, unmodified) against a live Taskra server.

It is configured the way its users do: JIRA_BASE_URL, JIRA_EMAIL and JIRA_API_TOKEN (a Taskra API token) in the
environment, HOME pointing at an empty directory so no saved account interferes. It speaks /rest/api/3 (ADF).
Personas: alice admin of DEMO, carol viewer of DEMO, bob member of OPS only.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from django.db import connection

from api.services import api_token_create, api_token_revoke
from worklogs.models import Worklog

pytest.importorskip("taskra")

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def server(plain_http_server, project_a, project_b, make_issue, monkeypatch):
    monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", 0)  # see test_jira_client.py
    for n in range(1, 4):
        make_issue(project_a, summary=f"Seeded {n}", labels=["seed"], original_estimate=36000)
    return plain_http_server.url


@pytest.fixture
def taskra(server, tmp_path):
    """Return a runner of `taskra ARGS` as a user (their e-mail and a new token); returns the completed process."""

    def run(user, *args: str, token: str | None = None) -> subprocess.CompletedProcess:
        secret = token or api_token_create(user=user, label="taskra cli")[1]
        env = {**os.environ, "JIRA_BASE_URL": server, "JIRA_EMAIL": user.email, "JIRA_API_TOKEN": secret,
               "HOME": str(tmp_path), "NO_COLOR": "1", "COLUMNS": "200"}  # fmt: skip
        code = "import sys; from taskra.cmd import cli; sys.argv[0] = 'taskra'; cli()"
        return subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True,
                              timeout=120, cwd=str(tmp_path))  # fmt: skip

    return run


def _json(done: subprocess.CompletedProcess) -> object:
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


def test_taskra_cli_projects_issue_and_tickets(taskra, alice, bob):
    assert [p["key"] for p in _json(taskra(alice, "projects", "-j"))] == ["DEMO"]
    shown = _json(taskra(alice, "issue", "DEMO-1", "-j"))
    assert shown["key"] == "DEMO-1" and shown["fields"]["summary"] == "Seeded 1"
    assert shown["fields"]["status"]["name"] == "To Do"
    # -c -w: the issue with its comments and worklogs (read through issue/{key}/comment and /worklog).
    table = taskra(alice, "issue", "DEMO-1", "-c", "-w", "-a")
    assert table.returncode == 0 and "Seeded 1" in table.stdout, table.stderr[-2000:]
    tickets = taskra(alice, "tickets", "DEMO")
    assert tickets.returncode == 0, tickets.stderr[-2000:]
    assert all(f"DEMO-{n}" in tickets.stdout for n in (1, 2, 3)) and "Total tickets: 3" in tickets.stdout
    # bob (OPS only) sees no DEMO project, and DEMO-1 does not exist for him.
    assert [p["key"] for p in _json(taskra(bob, "projects", "-j"))] == ["OPS"]
    hidden = taskra(bob, "issue", "DEMO-1", "-j")
    assert "404" in hidden.stdout + hidden.stderr and "Seeded 1" not in hidden.stdout


def test_taskra_cli_adds_and_lists_worklogs(taskra, alice):
    token = api_token_create(user=alice, label="taskra cli")[1]
    added = _json(taskra(alice, "worklogs", "add", "DEMO-1", "1h 30m", "-c", "From the CLI", "-j", token=token))
    assert added["timeSpentSeconds"] == 5400
    assert added["comment"]["type"] == "doc"  # v3: the comment is an Atlassian Document
    stored = Worklog.objects.get()
    assert (stored.time_spent, stored.comment, stored.author_id) == (5400, "From the CLI", alice.pk)
    stored.issue.refresh_from_db()
    assert stored.issue.remaining_estimate == 36000 - 5400  # Jira's default adjustEstimate=auto
    # `worklogs list` searches worklogDate >= yesterday AND worklogDate <= today, then reads each issue's worklogs.
    listed = _json(taskra(alice, "worklogs", "list", "-j", "--all", "-r", token=token))
    assert [w["timeSpentSeconds"] for w in listed] == [5400]
    assert listed[0]["issueKey"] == "DEMO-1"
    shown = taskra(alice, "issue", "DEMO-1", "-w", "-a", token=token)
    assert shown.returncode == 0 and "1h 30m" in shown.stdout


def test_taskra_cli_refusals(taskra, alice, carol):
    refused = taskra(carol, "worklogs", "add", "DEMO-1", "1h", "-j")  # carol is a viewer of DEMO
    assert not Worklog.objects.exists()
    assert "403" in refused.stdout + refused.stderr
    bad = taskra(alice, "tickets", "DEMO", "--status", "Nowhere")  # JQL naming a status that does not exist
    assert bad.returncode != 0 and "requests.exceptions.HTTPError: 400 Client Error" in bad.stdout + bad.stderr
    token = api_token_create(user=alice, label="revoked")[1]
    api_token_revoke(token=alice.api_tokens.get(label="revoked"), actor=alice)
    revoked = taskra(alice, "projects", "-j", token=token)
    assert "401" in revoked.stdout + revoked.stderr
