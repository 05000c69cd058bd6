"""Imports split into chunk tasks that two live Celery workers run side by side (imports.chunks).

The two workers stand in for two machines: each has its own MEDIA_ROOT, and they share only the broker, the
database and the imports storage (a file-system storage in a shared folder). alice (admin of DEMO) imports.
PostgreSQL only: SQLite lets one process write at a time, which is not a setup for several workers.
"""

from __future__ import annotations

import json
import os
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client

from conftest import LiveWorker, database_url_for_subprocess
from imports import services
from imports.models import ChunkState, JobState
from imports.tests.conftest import jira_issue, wait_for_job
from issues.models import Comment, Issue
from worklogs.models import Worklog

pytestmark = [pytest.mark.services]


@pytest.fixture
def worker_pair(transactional_db, tmp_path, settings) -> Iterator[tuple[list[LiveWorker], Path, Path]]:
    """Start two workers on one private queue, each with its own MEDIA_ROOT, sharing one storage folder."""
    if connection.vendor != "postgresql":
        pytest.skip("two workers writing at once need PostgreSQL")
    import importlib

    from django.apps import apps

    from taskra_site.celery import app

    # transactional_db flushed the lookups migration issues/0002 seeded: put them back for the workers.
    importlib.import_module("issues.migrations.0002_jira_defaults").seed(apps, None)
    shared, hold = tmp_path / "shared", tmp_path / "hold"
    shared.mkdir()
    hold.mkdir()
    queue = f"taskra-test-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "DATABASE_URL": database_url_for_subprocess(),
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "TASKRA_PAGE_REFRESH": "0",
        "IMPORTS_STORAGE_ROOT": str(shared),
        "IMPORTS_TEST_HOLD_DIR": str(hold),
    }
    env.pop("TEST_DATABASE_NAME", None)
    # This process is the web server: its uploads go to the shared storage too, and never to a worker's media.
    settings.STORAGES = {
        **settings.STORAGES,
        "imports": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(shared)}},
    }
    settings.MEDIA_ROOT = tmp_path / "web-media"
    old_queue, old_eager = app.conf.task_default_queue, app.conf.task_always_eager
    app.conf.task_default_queue, app.conf.task_always_eager = queue, False
    workers = [LiveWorker(queue, {**env, "MEDIA_ROOT": str(tmp_path / f"media-{i}")}) for i in (1, 2)]
    try:
        for worker in workers:
            worker.start()
        yield workers, shared, hold
    finally:
        (hold / "release").touch()
        for worker in workers:
            worker.stop()
        app.conf.task_default_queue, app.conf.task_always_eager = old_queue, old_eager


def jira_upload(issues: list[dict]) -> SimpleUploadedFile:
    body = json.dumps({"startAt": 0, "total": len(issues), "issues": issues}).encode()
    return SimpleUploadedFile("site.json", body, content_type="application/json")


def test_two_workers_import_one_upload_through_the_shared_storage(worker_pair, tmp_path, project_a, alice):
    workers, shared, _ = worker_pair
    n = 200
    issues = [jira_issue(i) for i in range(1, n + 1)]
    # Sub-tasks whose parents come in later chunks (linked by the final pass, whatever order chunks finish in).
    issues[4] = jira_issue(5, parent={"key": "DEMO-190"})
    issues[10] = jira_issue(11, parent={"key": "DEMO-150"})
    # Chunk 3 (records 41-60) fails validation halfway: two bad records, the other 18 are imported.
    issues[44]["fields"]["worklog"]["worklogs"][0]["timeSpentSeconds"] = -5
    del issues[46]["fields"]["summary"]
    job = services.import_job_create(user=alice, files=[jira_upload(issues)], options={"chunk_size": 20})
    job = wait_for_job(job.pk, timeout=180)
    assert job.state == JobState.SUCCEEDED_WITH_ERRORS, job.message
    assert (job.total, job.processed, job.created_count, job.failed_count) == (n, n, n - 2, 2)
    assert (job.worklogs_count, job.comments_count) == (2 * (n - 2), n - 2)
    assert (Issue.objects.count(), Worklog.objects.count(), Comment.objects.count()) == (n - 2, 2 * (n - 2), n - 2)
    assert sorted(job.errors.values_list("record", "issue_key")) == [(45, "DEMO-45"), (47, "DEMO-47")]
    assert Issue.objects.get(key="DEMO-5").parent.key == "DEMO-190"
    assert Issue.objects.get(key="DEMO-11").parent.key == "DEMO-150"
    assert project_a.__class__.objects.get(pk=project_a.pk).issue_counter == n
    assert job.chunks.count() == 10 and not job.chunks.exclude(state=ChunkState.DONE).exists()
    assert {"plan", "read", "validate", "write"} <= set(job.stage_seconds)
    # The upload and its chunk files lived only in the shared storage (chunk files are deleted once written).
    assert not any((shared / "imports" / "chunks" / str(job.pk)).iterdir())
    assert not (tmp_path / "media-1" / "imports").exists() and not (tmp_path / "media-2" / "imports").exists()
    client = Client()
    client.force_login(alice)
    page = client.get(f"/imports/{job.pk}/")
    assert b'id="stage-validate"' in page.content and b"fields.summary" in page.content


def test_a_worker_killed_inside_a_chunk_leaves_it_to_the_other(worker_pair, project_a, alice):
    workers, _, hold = worker_pair
    n = 160
    (hold / "hold-2").touch()  # the worker that takes chunk 2 waits in it until released: killed there
    job = services.import_job_create(
        user=alice,
        files=[jira_upload([jira_issue(i) for i in range(1, n + 1)])],
        options={"chunk_size": 20, "lease_seconds": 3},
    )
    wait_for_job(job.pk, until=lambda j: (hold / "held-2").exists() and (hold / "held-2").read_text() or j.is_finished)
    pid = int((hold / "held-2").read_text())
    victim = next(w for w in workers if pid in w.pids())
    os.kill(pid, signal.SIGKILL)  # the pool process importing chunk 2 dies mid-chunk
    victim.kill()  # and its worker with it, as a crashed machine
    (hold / "release").touch()
    job = wait_for_job(job.pk, timeout=180)
    assert job.state == JobState.SUCCEEDED, job.message
    assert (job.processed, job.created_count, job.updated_count, job.failed_count) == (n, n, 0, 0)
    assert (Issue.objects.count(), Worklog.objects.count(), Comment.objects.count()) == (n, 2 * n, n)
    assert job.chunks.get(index=2).attempts == 2  # taken over once its lease lapsed
    assert Issue.objects.filter(time_spent=3600).count() == n
