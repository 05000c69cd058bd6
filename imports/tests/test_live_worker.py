"""Imports and bulk updates through a real Celery worker process (live_worker fixture).

On embedded defaults: filesystem broker + SQLite file; in CI: Redis broker + PostgreSQL.
alice (admin of DEMO) runs the jobs; bob (OPS only) gets 404 on them.
"""

from __future__ import annotations

import json

import pytest
from django.test import Client

from imports.models import Job, JobState
from imports.tests.conftest import jira_issue, wait_for_job, write_jira_json
from issues.models import Comment, History, Issue
from worklogs.models import Worklog

pytestmark = [pytest.mark.services]


@pytest.fixture
def alice_client(alice) -> Client:
    client = Client()
    client.force_login(alice)
    return client


def upload(client: Client, path, **extra) -> Job:
    with open(path, "rb") as f:
        response = client.post("/imports/", {"files": f, **extra})
    assert response.status_code == 302, response.content.decode()[:2000]
    return Job.objects.get(pk=int(response["Location"].rstrip("/").rsplit("/", 1)[1]))


def test_import_end_to_end_and_twice_gives_identical_counts(live_worker, tmp_path, project_a, alice, bob, alice_client):
    path = write_jira_json(tmp_path / "jira.json", [jira_issue(n) for n in range(1, 121)])
    job = wait_for_job(upload(alice_client, path).pk)
    assert job.state == JobState.SUCCEEDED, job.message
    assert (job.processed, job.created_count, job.failed_count, job.worklogs_count, job.comments_count) == (
        120,
        120,
        0,
        240,
        120,
    )
    state = (Issue.objects.count(), Worklog.objects.count(), Comment.objects.count())
    assert state == (120, 240, 120)
    assert Issue.objects.get(key="DEMO-7").time_spent == 3600
    progress = alice_client.get(f"/imports/{job.pk}/progress.json").json()
    assert progress["percent"] == 100 and progress["created"] == 120 and progress["finished"]
    page = alice_client.get(f"/imports/{job.pk}/")
    assert page.status_code == 200 and b"Succeeded" in page.content
    # bob is not the owner: the job answers 404 like a missing one.
    bob_client = Client()
    bob_client.force_login(bob)
    assert bob_client.get(f"/imports/{job.pk}/").status_code == 404
    assert bob_client.get(f"/imports/{job.pk}/progress.json").status_code == 404

    again = wait_for_job(upload(alice_client, path).pk)
    assert again.state == JobState.SUCCEEDED
    assert (again.created_count, again.updated_count, again.unchanged_count, again.worklogs_count) == (0, 0, 120, 0)
    assert (Issue.objects.count(), Worklog.objects.count(), Comment.objects.count()) == state


def test_malformed_rows_are_reported_and_the_rest_imports(live_worker, tmp_path, project_a, alice_client):
    issues = [jira_issue(n) for n in range(1, 11)]
    issues[3]["fields"]["created"] = "31/02/2024"
    issues[5]["fields"]["worklog"]["worklogs"][0]["timeSpentSeconds"] = -5
    del issues[8]["key"]
    job = wait_for_job(upload(alice_client, write_jira_json(tmp_path / "bad.json", issues)).pk)
    assert job.state == JobState.SUCCEEDED_WITH_ERRORS
    assert (job.created_count, job.failed_count) == (7, 3)
    assert sorted(job.errors.values_list("record", flat=True).distinct()) == [4, 6, 9]
    page = alice_client.get(f"/imports/{job.pk}/")
    assert b"fields.worklog.worklogs.0.timeSpentSeconds" in page.content


def test_truncated_file_fails_the_job_with_a_clear_message(live_worker, tmp_path, project_a, alice_client):
    path = write_jira_json(tmp_path / "t.json", [jira_issue(n) for n in range(1, 41)])
    path.write_bytes(path.read_bytes()[:-300])
    job = wait_for_job(upload(alice_client, path, format="jira_json").pk)
    assert job.state == JobState.FAILED and "truncated" in job.message
    assert Issue.objects.count() == job.created_count == job.processed  # nothing half-written from the broken chunk


def test_unsupported_or_oversized_upload_is_refused_before_queueing(
    live_worker, tmp_path, project_a, alice_client, settings
):
    (tmp_path / "pic.json").write_bytes(b"\x89PNG\r\n\x1a\n")
    with open(tmp_path / "pic.json", "rb") as f:
        response = alice_client.post("/imports/", {"files": f})
    assert response.status_code == 400 and b"is not a Jira JSON export" in response.content
    settings.IMPORT_MAX_UPLOAD_BYTES = 2048
    path = write_jira_json(tmp_path / "big.json", [jira_issue(n) for n in range(1, 30)])
    with open(path, "rb") as f:
        response = alice_client.post("/imports/", {"files": f})
    assert response.status_code == 400 and b"the limit is" in response.content
    assert not Job.objects.exists()


def test_worker_killed_mid_import_resumes_with_exact_counts(live_worker, tmp_path, project_a, alice):
    from imports import services

    n = 1500
    path = write_jira_json(tmp_path / "big.json", [jira_issue(i) for i in range(1, n + 1)])
    # Small chunks and a short lease so the test sees several chunks commit and the restarted worker takes over fast.
    job = services.import_job_create(user=alice, paths=[path], options={"chunk_size": 25, "lease_seconds": 3})
    job = wait_for_job(job.pk, until=lambda j: j.processed >= 100 or j.is_finished)
    assert not job.is_finished, "import finished before the worker could be killed: grow the file"
    live_worker.kill()
    killed_at = Job.objects.get(pk=job.pk)
    assert killed_at.state == JobState.RUNNING and killed_at.processed < n
    live_worker.start()
    job = wait_for_job(job.pk, timeout=180)
    assert job.state == JobState.SUCCEEDED, job.message
    # The chunks the dead worker had not written were run by the restarted one (redelivered, or re-queued when
    # their lease lapsed): the counts are exact, nothing twice and nothing lost.
    assert (job.processed, job.created_count, job.updated_count, job.failed_count) == (n, n, 0, 0)
    assert (Issue.objects.count(), Worklog.objects.count(), Comment.objects.count()) == (n, 2 * n, n)
    assert Issue.objects.filter(time_spent=3600).count() == n


def test_cancel_stops_after_the_current_chunk(live_worker, tmp_path, project_a, alice, alice_client):
    from imports import services

    # 600 chunks of 10: the cancel is posted within a poll (0.1 s) of the first commit, hundreds of chunks before
    # the end (1,500 issues in chunks of 20 once finished first on a fast, idle machine).
    total = 6000
    path = write_jira_json(tmp_path / "big.json", [jira_issue(i, worklogs=1, comments=0) for i in range(1, total + 1)])
    job = services.import_job_create(user=alice, paths=[path], options={"chunk_size": 10})
    wait_for_job(job.pk, until=lambda j: j.processed > 0 or j.is_finished)
    response = alice_client.post(f"/imports/{job.pk}/cancel")
    assert response.status_code == 302
    job = wait_for_job(job.pk)
    assert job.state == JobState.CANCELLED
    assert 0 < job.processed < total
    assert Issue.objects.count() == job.created_count == job.processed


def test_bulk_update_by_jql_refreshes_cached_issue_pages(
    live_worker, project_a, project_b, alice, bob, make_issue, alice_client
):
    issues = [make_issue(project_a, summary=f"Bulk {i}") for i in range(30)]
    untouched = make_issue(project_b, reporter=bob, summary="OPS stays")
    first = alice_client.get(f"/browse/{issues[0].key}")
    assert first.status_code == 200 and b"To Do" in first.content
    alice_client.get(f"/browse/{issues[0].key}")  # served from the page cache now
    response = alice_client.post(
        "/imports/bulk/",
        {
            "jql": "project = DEMO AND summary ~ Bulk",
            "status": "Done",
            "priority": "Highest",
            "add_labels": "bulked",
            "action": "run",
            "confirm": "1",  # as the preview page's Confirm posts it
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    job = wait_for_job(Job.objects.get(kind="bulk_update").pk)
    assert job.state == JobState.SUCCEEDED, job.message
    assert (job.total, job.processed, job.updated_count) == (30, 30, 30)
    page = alice_client.get(f"/browse/{issues[0].key}")
    assert b"Done" in page.content and b"bulked" in page.content and b"Highest" in page.content
    assert History.objects.filter(field="status", to_value="Done").count() == 30
    untouched.refresh_from_db()
    assert untouched.status.name == "To Do"


def test_navigator_checkboxes_post_to_bulk(live_worker, project_a, alice, make_issue, alice_client):
    issues = [make_issue(project_a) for _ in range(3)]
    form = alice_client.post("/imports/bulk/", {"issue": [issues[0].pk, issues[1].pk], "jql": "", "action": "edit"})
    assert form.status_code == 200 and b"2 checked issues" in form.content
    response = alice_client.post(
        "/imports/bulk/",
        {"issue": [issues[0].pk, issues[1].pk], "assignee": "alice", "action": "run", "confirm": "1"},
    )
    job = wait_for_job(int(response["Location"].rstrip("/").rsplit("/", 1)[1]))
    assert job.updated_count == 2
    assert list(Issue.objects.order_by("pk").values_list("assignee__username", flat=True)) == ["alice", "alice", None]


def test_jsonl_roundtrip_through_worker(live_worker, tmp_path, project_a, alice):
    from imports import services

    path = tmp_path / "x.jsonl"
    path.write_text(json.dumps({"key": "DEMO-4", "summary": "x", "created": "2024-01-01T00:00:00Z"}) + "\n")
    job = wait_for_job(services.import_job_create(user=alice, paths=[path]).pk)
    assert job.state == JobState.SUCCEEDED and Issue.objects.filter(key="DEMO-4").exists()
