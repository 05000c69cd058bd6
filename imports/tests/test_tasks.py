"""Retention of stored uploads: a periodic Celery task (beat) deletes import files older than the retention.

Personas (conftest.py): alice uploaded files for DEMO; the clock is pinned, nothing depends on today's date.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from django.test import Client

from imports import tasks
from imports.models import Job, JobState
from imports.services import import_files_expire
from taskra_site.celery import app

NOW = dt.datetime(2026, 6, 30, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def media(settings, tmp_path) -> Path:
    settings.MEDIA_ROOT = tmp_path
    settings.IMPORT_RETENTION_DAYS = 30
    return tmp_path


def uploaded(user, media: Path, *, age_days: float, state: str = JobState.SUCCEEDED, name: str = "a") -> Job:
    directory = media / "imports" / name
    directory.mkdir(parents=True)
    (directory / "issues.jsonl").write_bytes(b"{}\n")
    job = Job.objects.create(
        user=user,
        source="upload",
        state=state,
        file_path=f"imports/{name}/issues.jsonl",
        file_size=3,
        options={"files": [f"imports/{name}/issues.jsonl"]},
    )
    Job.objects.filter(pk=job.pk).update(created=NOW - dt.timedelta(days=age_days))
    return job


def test_files_past_the_retention_are_deleted_and_the_job_marked(alice, project_a, media):
    old = uploaded(alice, media, age_days=30.5, name="old")
    young = uploaded(alice, media, age_days=29, name="young")
    running = uploaded(alice, media, age_days=45, state=JobState.RUNNING, name="running")
    assert import_files_expire(now=NOW) == [old.pk]
    assert not (media / "imports" / "old").exists()
    assert (media / "imports" / "young" / "issues.jsonl").exists()
    # A job still running keeps its file whatever its age: it is being read.
    assert (media / "imports" / "running" / "issues.jsonl").exists()
    old.refresh_from_db()
    assert old.files_expired and old.state == JobState.SUCCEEDED
    young.refresh_from_db()
    assert not young.files_expired and not Job.objects.get(pk=running.pk).files_expired
    # Running it again finds nothing more to do.
    assert import_files_expire(now=NOW) == []


def test_files_of_commands_are_never_deleted(alice, media, tmp_path):
    own = tmp_path / "mine.jsonl"
    own.write_bytes(b"{}\n")
    job = Job.objects.create(user=None, source="command", state=JobState.SUCCEEDED, file_path=str(own), file_size=3)
    Job.objects.filter(pk=job.pk).update(created=NOW - dt.timedelta(days=400))
    assert import_files_expire(now=NOW) == []
    assert own.exists()


def test_the_job_page_says_the_file_expired(alice, project_a, media):
    job = uploaded(alice, media, age_days=31)
    import_files_expire(now=NOW)
    client = Client()
    client.force_login(alice)
    assert b"deleted after 30 days" in client.get(f"/imports/{job.pk}/").content


def test_the_task_is_scheduled_by_celery_beat(alice, media, monkeypatch):
    entries = [e for e in app.conf.beat_schedule.values() if e["task"] == "imports.tasks.expire_import_files"]
    assert len(entries) == 1
    job = uploaded(alice, media, age_days=60)
    monkeypatch.setattr(tasks.timezone, "now", lambda: NOW)
    assert tasks.expire_import_files.apply().get() == [job.pk]


def test_stale_jobs_are_looked_for_every_minute_by_celery_beat():
    # A chunk task lost with its worker leaves its job's lease to lapse: beat's recover_jobs resumes the job.
    entry = app.conf.beat_schedule["recover-import-jobs"]
    assert (entry["task"], entry["schedule"], entry["args"]) == ("imports.tasks.recover_jobs", 60.0, (0,))
