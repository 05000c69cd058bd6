"""Celery metrics: task latency from the task signals, plus what /metrics reads at scrape time (jobs, queue length).

Sent-to-start wait needs the send time: before_task_publish stamps it into the message headers, which Celery
passes to the worker as request attributes. Worker processes also report their memory to the perf page.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import redis
from celery.signals import before_task_publish, task_postrun, task_prerun
from django.conf import settings
from django.db.models import Count
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from imports.models import Job, JobState
from perf import metrics, rollups

SENT_HEADER = "taskra_sent_at"
worker = rollups.Recorder("worker")
_sampler = metrics.ProcessSampler("worker")
_started: dict[str, float] = {}


def _stamp(headers: dict[str, Any] | None = None, **_: Any) -> None:
    if headers is not None:
        headers[SENT_HEADER] = time.time()


def _prerun(task_id: str = "", task: Any = None, **_: Any) -> None:
    now = time.time()
    _started[task_id] = time.monotonic()
    sent = getattr(getattr(task, "request", None), SENT_HEADER, None)
    if isinstance(sent, int | float) and task is not None:
        metrics.TASK_WAIT_SECONDS.labels(task.name).observe(max(0.0, now - sent))


def _postrun(task_id: str = "", task: Any = None, state: str | None = None, **_: Any) -> None:
    started = _started.pop(task_id, None)
    if started is not None and task is not None:
        metrics.TASK_SECONDS.labels(task.name, state or "UNKNOWN").observe(time.monotonic() - started)
    mono = time.monotonic()
    if mono >= _sampler.next_at:
        _sampler.maybe_sample(mono)
        worker.note_process(rss=_sampler.rss, cpu=_sampler.cpu)
        worker.maybe_flush(time.time())


def connect() -> None:
    """Connect the signal handlers (weak=False: they are module functions, kept anyway)."""
    before_task_publish.connect(_stamp, weak=False)
    task_prerun.connect(_prerun, weak=False)
    task_postrun.connect(_postrun, weak=False)


def queue_length(queue: str = "celery") -> int | None:
    """Return the number of messages waiting in the default queue, or None when the broker cannot say."""
    url = settings.CELERY_BROKER_URL
    if url.startswith(("redis://", "rediss://")):
        try:
            client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
            return int(client.llen(queue))
        except redis.RedisError:
            return None
    folder = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("data_folder_in")
    if url.startswith("filesystem://") and isinstance(folder, str):
        return sum(1 for p in Path(folder).iterdir() if p.is_file())
    return None


def job_rates() -> list[tuple[Job, float]]:
    """Return running jobs with their rows per second since they started."""
    now = timezone.now()
    out = []
    for job in Job.objects.filter(state=JobState.RUNNING).only("id", "kind", "processed", "started", "run_seconds"):
        seconds = (now - job.started).total_seconds() if job.started else 0.0
        out.append((job, job.processed / seconds if seconds > 0 else 0.0))
    return out


class JobCollector(Collector):
    """Jobs by kind and state, rows/s of each running job and the queue length, read at scrape time."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        states = GaugeMetricFamily(
            "taskra_jobs", "Import and bulk-update jobs by kind and state.", labels=["kind", "state"]
        )
        for row in Job.objects.values("kind", "state").annotate(n=Count("id")).order_by():
            states.add_metric([row["kind"], row["state"]], row["n"])
        yield states
        rates = GaugeMetricFamily(
            "taskra_job_rows_per_second",
            "Rows per second of each running job since it started.",
            labels=["job", "kind"],
        )
        for job, rate in job_rates():
            rates.add_metric([str(job.pk), job.kind], rate)
        yield rates
        length = queue_length()
        if length is not None:
            yield GaugeMetricFamily("taskra_celery_queue_length", "Messages waiting in the Celery queue.", value=length)
