"""Navigator exports past TASKRA_EXPORT_INLINE_ROWS run as jobs whose file only their owner downloads.

Personas: alice is admin of DEMO, bob member of OPS only. Alice's exports never hold OPS issues, and bob
can neither see nor download her jobs.
"""

from __future__ import annotations

import csv
import datetime as dt
import importlib
import io
import time

import pytest
from django.apps import apps
from django.urls import reverse

from issues.export_jobs import export_files_expire, export_job_run
from issues.models import ExportJob, Membership

pytestmark = pytest.mark.django_db
EXPORT = reverse("issues:export")


@pytest.fixture
def issues(project_a, project_b, make_issue, bob):
    for n in range(3):
        make_issue(project_a, summary=f"Demo work {n}")
    make_issue(project_b, summary="Ops secret", reporter=bob)


@pytest.fixture
def storage(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"  # default_storage follows the setting (setting_changed)
    return settings.MEDIA_ROOT


def _keys(body: bytes) -> list[str]:
    return sorted(row["Key"] for row in csv.DictReader(io.StringIO(body.decode())))


def _stream(response) -> bytes:
    return b"".join(response.streaming_content)


def test_small_exports_stream_and_larger_ones_become_jobs(
    client, alice, issues, settings, django_capture_on_commit_callbacks
):
    client.force_login(alice)
    settings.TASKRA_EXPORT_INLINE_ROWS = 3  # alice sees exactly 3 issues: inline
    response = client.get(EXPORT, {"format": "csv"})
    assert response.status_code == 200 and response.streaming
    assert _keys(_stream(response)) == ["DEMO-1", "DEMO-2", "DEMO-3"]
    assert not ExportJob.objects.exists()

    settings.TASKRA_EXPORT_INLINE_ROWS = 2  # one more than the threshold: a job, queued once committed
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.get(EXPORT, {"format": "json", "jql": "project = DEMO", "sort": "key"})
    job = ExportJob.objects.get()
    assert response.status_code == 303 and response["Location"] == reverse("issues:export_job", args=[job.pk])
    assert len(callbacks) == 1
    assert (job.owner, job.format, job.state) == (alice, "json", ExportJob.State.QUEUED)
    assert job.params == {"jql": "project = DEMO", "sort": "key", "dir": ""}
    page = client.get(response["Location"])
    assert page.status_code == 200 and b"being written in the background" in page.content


def test_job_file_holds_only_the_owners_projects_and_only_the_owner_downloads(
    client, alice, bob, issues, storage, settings
):
    settings.TASKRA_EXPORT_INLINE_ROWS = 1
    client.force_login(alice)
    job_id = int(client.get(EXPORT, {"format": "csv"})["Location"].rstrip("/").split("/")[-1])
    now = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)
    job = export_job_run(job_id=job_id, now=lambda: now)
    assert job is not None and job.state == ExportJob.State.DONE and job.rows == 3
    assert job.expires == now + dt.timedelta(hours=settings.TASKRA_EXPORT_RETENTION_HOURS)
    assert export_job_run(job_id=job_id) is None  # a redelivered task does nothing
    page = client.get(reverse("issues:export_job", args=[job_id]))
    assert b"3 rows" in page.content
    download = client.get(reverse("issues:export_job_download", args=[job_id]))
    assert download.status_code == 200 and "attachment" in download["Content-Disposition"]
    assert _keys(b"".join(download.streaming_content)) == ["DEMO-1", "DEMO-2", "DEMO-3"]  # never OPS-1

    # Bob (OPS only) finds neither the page nor the file of alice's job.
    client.force_login(bob)
    assert client.get(reverse("issues:export_job", args=[job_id])).status_code == 404
    assert client.get(reverse("issues:export_job_download", args=[job_id])).status_code == 404

    # Alice removed from DEMO since the export ran: the file is refused, with the reason.
    client.force_login(alice)
    Membership.objects.filter(user=alice).delete()
    refused = client.get(reverse("issues:export_job_download", args=[job_id]))
    assert refused.status_code == 403 and b"no longer a member" in refused.content


def test_expired_files_are_deleted(client, alice, issues, storage, settings):
    settings.TASKRA_EXPORT_INLINE_ROWS = 1
    client.force_login(alice)
    job_id = int(client.get(EXPORT)["Location"].split("/")[-1])
    now = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)
    job = export_job_run(job_id=job_id, now=lambda: now)
    assert job is not None and (storage / job.file).exists()
    assert export_files_expire(now=now + dt.timedelta(hours=1)) == []
    assert export_files_expire(now=now + dt.timedelta(days=2)) == [job_id]
    assert not (storage / job.file).exists()
    gone = client.get(reverse("issues:export_job_download", args=[job_id]))
    assert gone.status_code == 410 and b"expired" in gone.content


def test_bad_input_is_an_error_never_a_file(client, alice, issues, storage, settings):
    client.force_login(alice)
    assert client.get(EXPORT, {"format": "xml"}).status_code == 400
    bad = client.get(EXPORT, {"jql": "status = "})
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "jql"
    assert client.get(reverse("issues:export_job", args=[999999])).status_code == 404
    # A job whose query no longer runs (here: a sort column that does not exist) fails with its reason.
    job = ExportJob.objects.create(owner=alice, kind="issues", format="csv", params={"sort": "nope"})
    failed = export_job_run(job_id=job.pk)
    assert failed is not None and failed.state == ExportJob.State.FAILED and failed.error
    page = client.get(reverse("issues:export_job", args=[job.pk]))
    assert b"The export failed" in page.content
    assert client.get(reverse("issues:export_job_download", args=[job.pk])).status_code == 409


def test_large_export_through_a_live_worker(
    live_worker, client, alice, project_a, project_b, make_issue, bob, settings
):
    # transactional_db flushed the statuses and types seeded by migration 0002 after earlier tests: put them back.
    importlib.import_module("issues.migrations.0002_jira_defaults").seed(apps, None)
    for n in range(5):
        make_issue(project_a, summary=f"Demo work {n}")
    make_issue(project_b, summary="Ops secret", reporter=bob)
    settings.TASKRA_EXPORT_INLINE_ROWS = 2
    client.force_login(alice)
    location = client.get(EXPORT, {"format": "csv"})["Location"]
    job_id = int(location.split("/")[-1])
    deadline = time.monotonic() + 90
    while ExportJob.objects.get(pk=job_id).state in ("queued", "running"):
        assert time.monotonic() < deadline, "the export job did not finish"
        time.sleep(0.2)
    assert ExportJob.objects.get(pk=job_id).state == ExportJob.State.DONE
    download = client.get(reverse("issues:export_job_download", args=[job_id]))
    assert download.status_code == 200
    assert _keys(b"".join(download.streaming_content)) == [f"DEMO-{n}" for n in range(1, 6)]
