"""The issue services' rules, once per rule, run through every entry point that writes issues.

The rules live in issues/services.py (resolution_for_status, project_counters_raise / allocate_issue_numbers);
before, each entry point carried its own copy. Entry points are driven as their users drive them: the
issue form and the JSON API as alice (admin of DEMO), the Django admin as admin_user (superuser), an
upload of a Jira JSON or Jira CSV file on the import page and the bulk-change page as alice. Imports and
bulk changes are jobs: the test runs them eagerly when the page's transaction commits.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from issues.models import Issue, IssueType, Priority, Project, Resolution, Status
from issues.services import (
    resolution_for_status,
    resolution_for_status_sql,
)
from issues.tests.test_admin import issue_form
from issues.workflows import workflow_add_statuses
from taskra_site.celery import app as celery_app

pytestmark = pytest.mark.django_db


@pytest.fixture
def eager_jobs(django_capture_on_commit_callbacks: Any) -> Iterator[None]:
    """Run the jobs a page queues in this process, when its transaction commits."""
    before = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    try:
        yield
    finally:
        celery_app.conf.task_always_eager = before


def _upload(client: Client, name: str, content: str, capture: Any) -> None:
    """Upload a file on the import page as the logged-in user and run the job it queues."""
    path = Path(name)
    with capture(execute=True):
        with open(path, "w") as f:
            f.write(content)
        with open(path, "rb") as f:
            response = client.post("/imports/", {"files": f, "format": "", "project": "", "timezone": "UTC"})
    assert response.status_code == 302, response.content[:1000]
    job = client.get(response["Location"] + "progress.json").json()
    assert job["state"] == "succeeded", job


def _jira_json(issue: Issue, status: Status, resolution: str | None) -> str:
    category = {"todo": "new", "in_progress": "indeterminate", "done": "done"}[status.category]
    fields: dict[str, Any] = {
        "summary": issue.summary,
        "status": {"name": status.name, "statusCategory": {"key": category}},
        "created": "2024-01-15T10:30:00.000+0000",
        "updated": "2024-01-16T10:30:00.000+0000",
        "project": {"key": issue.project.key, "name": issue.project.name},
    }
    if resolution:
        fields["resolution"] = {"name": resolution}
    return json.dumps({"issues": [{"id": str(50000 + issue.number), "key": issue.key, "fields": fields}]})


def _jira_csv(issue: Issue, status: Status, resolution: str | None) -> str:
    return (
        "Summary,Issue key,Issue id,Issue Type,Status,Status Category,Project key,Created,Updated,Resolution\n"
        f"{issue.summary},{issue.key},{50000 + issue.number},Task,{status.name},{status.get_category_display()},"
        f"{issue.project.key},15/Jan/24 10:30 AM,16/Jan/24 10:30 AM,{resolution or ''}\n"
    )


class EntryPoints:
    """Set an issue's status the way each entry point does; `resolution` is what the caller leaves in place.

    The form and the admin post every field, so they send the issue's current resolution back unchanged
    (a browser's pre-filled select); an import file may carry one (here: an export whose To Do issue still
    says "Done", which the rule must clear); the API and bulk change send only the status.
    """

    def __init__(self, client: Client, admin_client: Client, capture: Any, tmp_path: Path) -> None:
        self.client, self.admin_client, self.capture, self.tmp_path = client, admin_client, capture, tmp_path

    def form(self, issue: Issue, status: Status) -> None:
        data = {
            "type": issue.type_id,
            "summary": issue.summary,
            "description": issue.description,
            "status": status.pk,
            "resolution": issue.resolution_id or "",
            "priority": issue.priority_id,
            "assignee": issue.assignee_id or "",
            "labels": "",
            "parent": "",
            "due_date": "",
            "original_estimate": "",
            "remaining_estimate": "",
        }
        response = self.client.post(f"/browse/{issue.key}/edit", data)
        assert response.status_code == 302, response.content[:2000]

    def api(self, issue: Issue, status: Status) -> None:
        body = json.dumps({"transition": {"id": str(status.pk)}})  # the REST API moves issues by transition
        response = self.client.post(f"/rest/api/2/issue/{issue.key}/transitions", body, content_type="application/json")
        assert response.status_code == 204, response.content

    def admin(self, issue: Issue, status: Status) -> None:
        url = reverse("admin:issues_issue_change", args=[issue.pk])
        response = self.admin_client.post(url, issue_form(issue, status=status.pk))
        assert response.status_code == 302, response.content[:2000]

    def import_jira_json(self, issue: Issue, status: Status) -> None:
        content = _jira_json(issue, status, resolution=issue.resolution.name if issue.resolution else None)
        _upload(self.client, str(self.tmp_path / f"{status.category}.json"), content, self.capture)

    def import_jira_csv(self, issue: Issue, status: Status) -> None:
        content = _jira_csv(issue, status, resolution=issue.resolution.name if issue.resolution else None)
        _upload(self.client, str(self.tmp_path / f"{status.category}.csv"), content, self.capture)

    def bulk_change(self, issue: Issue, status: Status) -> None:
        chosen = {"issue": [issue.pk], "status": status.name, "action": "run"}
        preview = self.client.post("/imports/bulk/", chosen)  # first the preview: nothing written yet
        assert preview.status_code == 200 and b"1 issue will change" in preview.content, preview.content[:1000]
        with self.capture(execute=True):
            response = self.client.post("/imports/bulk/", {**chosen, "confirm": "1"})
        assert response.status_code == 302, response.content[:1000]
        job = self.client.get(response["Location"] + "progress.json").json()
        assert job["state"] == "succeeded" and job["updated"] == 1, job


ENTRY_POINTS = ["form", "api", "admin", "import_jira_json", "import_jira_csv", "bulk_change"]


@pytest.fixture
def entry(client, admin_client, alice, eager_jobs, django_capture_on_commit_callbacks, tmp_path) -> EntryPoints:
    client.force_login(alice)  # alice edits DEMO; the admin entry point is admin_user (superuser)
    return EntryPoints(client, admin_client, django_capture_on_commit_callbacks, tmp_path)


def _fresh(issue: Issue) -> Issue:
    return Issue.objects.select_related("status", "resolution", "project").get(pk=issue.pk)


@pytest.mark.parametrize("how", ENTRY_POINTS)
def test_entering_done_resolves_and_leaving_done_clears_the_resolution(entry, how, project_a, make_issue):
    done, todo = Status.objects.get(name="Done"), Status.objects.get(name="To Do")
    issue = _fresh(make_issue(project_a, summary="Rule check"))
    assert issue.resolution is None and issue.resolved is None
    set_status: Callable[[Issue, Status], None] = getattr(entry, how)

    set_status(issue, done)
    issue = _fresh(issue)
    assert issue.status == done
    assert issue.resolution == Resolution.objects.get(name="Done") and issue.resolved is not None

    set_status(issue, todo)
    issue = _fresh(issue)
    assert issue.status == todo
    assert issue.resolution is None and issue.resolved is None


@pytest.mark.parametrize("how", ["form", "api", "admin", "bulk_change"])
def test_moving_between_done_statuses_keeps_the_resolution_and_its_date(entry, how, project_a, make_issue):
    closed = Status.objects.create(name="Closed", category="done", position=9)
    workflow_add_statuses(project=project_a, statuses=[closed])  # a status of project_a's workflow
    wont_fix = Resolution.objects.get(name="Won't Fix")
    issue = make_issue(project_a, status=Status.objects.get(name="Done"))
    resolved = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)
    Issue.objects.filter(pk=issue.pk).update(resolution=wont_fix, resolved=resolved)

    getattr(entry, how)(_fresh(issue), closed)

    issue = _fresh(issue)
    assert (issue.status, issue.resolution, issue.resolved) == (closed, wont_fix, resolved)


# --- the key counter ---------------------------------------------------------------------------------------


def _create(client: Client, project: Project, summary: str) -> str:
    """Create an issue with the browser form; return its key."""
    html = client.get("/issues/new").content.decode()
    token = html.split('name="form_token" value="', 1)[1].split('"', 1)[0]
    data = {
        "form_token": token,
        "project": project.pk,
        "type": IssueType.objects.get(name="Task").pk,
        "summary": summary,
        "status": Status.objects.get(name="To Do").pk,
        "priority": Priority.objects.get(name="Medium").pk,
    }
    response = client.post("/issues/new", data)
    assert response.status_code == 302, response.content[:2000]
    return response["Location"].rstrip("/").rsplit("/", 1)[1]


def test_the_key_counter_never_reuses_a_key_across_create_and_import(entry, project_a):
    # Created keys count up; an import keeps its file's numbers and moves the counter past them, never back;
    # later creates continue after the highest key whoever wrote it.
    first = _create(entry.client, project_a, "Made in the browser")
    assert first == "DEMO-1"
    todo = Status.objects.get(name="To Do")
    high = Issue(project=project_a, number=40, key="DEMO-40", summary="From Jira")
    _upload(entry.client, str(entry.tmp_path / "high.json"), _jira_json(high, todo, None), entry.capture)
    assert _create(entry.client, project_a, "After the import") == "DEMO-41"
    low = Issue(project=project_a, number=7, key="DEMO-7", summary="An older Jira issue")
    _upload(entry.client, str(entry.tmp_path / "low.json"), _jira_json(low, todo, None), entry.capture)
    assert _create(entry.client, project_a, "After the second import") == "DEMO-42"
    project_a.refresh_from_db()
    assert project_a.issue_counter == 42
    keys = list(Issue.objects.filter(project=project_a).values_list("key", flat=True))
    assert len(keys) == len(set(keys)) == 5


# --- the two forms of the resolution rule ------------------------------------------------------------------

NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
EARLIER = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize("done", [True, False])
@pytest.mark.parametrize("resolution_id", [None, 2])
@pytest.mark.parametrize("resolved", [None, EARLIER])
def test_resolution_rule_sql_form_matches_the_python_form(done, resolution_id, resolved):
    # Bulk change applies the rule to a whole chunk in SQL: both forms must give the same values.
    expected = resolution_for_status(
        done=done, resolution_id=resolution_id, resolved=resolved, done_resolution=1, now=NOW
    )
    res_sql, resolved_sql = resolution_for_status_sql(done=done, row="r")
    if connection.vendor != "postgresql":
        res_sql = res_sql.replace("::bigint", "").replace("::timestamptz", "")
        resolved_sql = resolved_sql.replace("::bigint", "").replace("::timestamptz", "")
        stored = resolved.isoformat() if resolved else None
        params = {"done_resolution": 1, "now": NOW.isoformat(), "res": resolution_id, "resolved": stored}
        select = (
            f"SELECT {res_sql}, {resolved_sql} FROM (SELECT %(res)s AS resolution_id, %(resolved)s AS resolved) AS r"
        )
    else:
        params = {"done_resolution": 1, "now": NOW, "res": resolution_id, "resolved": resolved}
        select = (
            f"SELECT {res_sql}, {resolved_sql} FROM "
            "(SELECT %(res)s::bigint AS resolution_id, %(resolved)s::timestamptz AS resolved) AS r"
        )
    with connection.cursor() as cursor:
        cursor.execute(select, params)
        got_res, got_resolved = cursor.fetchone()
    if isinstance(got_resolved, str):
        got_resolved = dt.datetime.fromisoformat(got_resolved)
    assert (got_res, got_resolved) == expected
