"""Celery metrics: task latency from the signals, jobs by state and queue length at scrape time.

Personas: admin (staff) reads /metrics; jobs are created without an owner (as the command line does).
"""

from __future__ import annotations

from types import SimpleNamespace

from prometheus_client import REGISTRY

from imports.models import Job, JobState
from perf import celery_metrics


def test_task_wait_and_run_time_observed_from_the_signals(monkeypatch):
    headers: dict[str, float] = {}
    celery_metrics._stamp(headers=headers)
    sent = headers[celery_metrics.SENT_HEADER]
    task = SimpleNamespace(
        name="issues.tasks.example", request=SimpleNamespace(**{celery_metrics.SENT_HEADER: sent - 2})
    )
    labels = {"task": "issues.tasks.example"}
    before_wait = REGISTRY.get_sample_value("taskra_celery_task_queue_seconds_count", labels) or 0.0
    before_run = REGISTRY.get_sample_value("taskra_celery_task_duration_seconds_count", {**labels, "state": "SUCCESS"})
    celery_metrics._prerun(task_id="t1", task=task)
    celery_metrics._postrun(task_id="t1", task=task, state="SUCCESS")
    assert REGISTRY.get_sample_value("taskra_celery_task_queue_seconds_count", labels) == before_wait + 1
    # The wait was at least the two seconds between the stamp and the start.
    assert (REGISTRY.get_sample_value("taskra_celery_task_queue_seconds_sum", labels) or 0) >= 2
    after_run = REGISTRY.get_sample_value("taskra_celery_task_duration_seconds_count", {**labels, "state": "SUCCESS"})
    assert after_run == (before_run or 0.0) + 1


def test_jobs_by_state_and_queue_length_on_metrics(client, admin_user, settings, tmp_path):
    queue = tmp_path / "queue"
    queue.mkdir()
    (queue / "msg-1").write_text("{}")
    settings.CELERY_BROKER_URL = "filesystem://"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"data_folder_in": str(queue)}
    Job.objects.create(state=JobState.QUEUED)
    Job.objects.create(state=JobState.FAILED)
    Job.objects.create(state=JobState.FAILED)
    client.force_login(admin_user)
    body = client.get("/metrics").content.decode()
    assert 'taskra_jobs{kind="import",state="failed"} 2.0' in body
    assert 'taskra_jobs{kind="import",state="queued"} 1.0' in body
    assert "taskra_celery_queue_length 1.0" in body
