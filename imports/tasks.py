"""Celery tasks of imports and bulk updates: thin, they take ids and call imports.services."""

from __future__ import annotations

import logging
import os
import socket
from typing import Any

from celery import shared_task
from celery.signals import worker_ready
from django.utils import timezone

from imports import chunks, services

logger = logging.getLogger("taskra.imports")


def _queue_of(request: Any) -> str | None:
    # Follow-up tasks go to the queue this task came from (workers may consume a private queue).
    info = getattr(request, "delivery_info", None) or {}
    return info.get("routing_key") or None


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=None)
def job_run(self: Any, job_id: int) -> str:
    """Run or resume a job; when another live worker holds it, look again once its lease could expire.

    A Jira JSON or JSON Lines import is cut into chunk tasks (import_chunk_run) that any worker runs.
    """
    queue = _queue_of(self.request)
    claim = services.job_run(job_id=job_id, fan_out=True, queue=queue)
    if claim.retry_in is not None:
        raise self.retry(countdown=claim.retry_in, queue=queue)
    return "done"


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=None)
def import_chunk_run(self: Any, chunk_id: int) -> str:
    """Import one chunk of a job (imports.chunks); when a live worker holds it, look again once its lease lapses."""
    queue = _queue_of(self.request)
    owner = f"{socket.gethostname()}:{os.getpid()}:{self.request.id or ''}"[:64]
    try:
        retry_in = chunks.chunk_run(chunk_id=chunk_id, owner=owner, queue=queue)
    except chunks.LeaseLost:
        logger.warning("chunk %s: lease lost, another worker imports it", chunk_id)
        return "lost"
    except Exception as exc:
        logger.exception("chunk %s failed", chunk_id)
        chunks.job_fail(chunk_id=chunk_id, message=f"Stopped by an unexpected error: {type(exc).__name__}: {exc}")
        return "failed"
    if retry_in is not None:
        raise self.retry(countdown=retry_in, queue=queue)
    return "done"


@shared_task(bind=True, acks_late=True)
def recover_jobs(self: Any, rounds: int = 3) -> list[int]:
    """Re-enqueue running jobs whose worker died (stale lease); check again while leases are still fresh."""
    queue = _queue_of(self.request)
    stale = services.recover_stale_jobs()
    for job_id in stale:
        logger.warning("job %s: its worker stopped, resuming it", job_id)
        job_run.apply_async((job_id,), queue=queue)
    wait = services.running_jobs_lease_wait()
    if wait is not None and rounds > 0:
        recover_jobs.apply_async((rounds - 1,), countdown=wait, queue=queue)
    return stale


@worker_ready.connect
def _recover_on_start(sender: Any = None, **kwargs: Any) -> None:
    # The filesystem broker never re-delivers, and Redis only after its visibility timeout: a starting
    # worker looks for jobs a dead worker left running.
    try:
        queues = [q.name for q in sender.task_consumer.queues] if sender is not None else []
    except AttributeError:
        queues = []
    recover_jobs.apply_async(queue=queues[0] if queues else None)


@shared_task(acks_late=True)
def expire_import_files() -> list[int]:
    """Delete stored uploads older than IMPORT_RETENTION_DAYS (run by Celery beat, taskra_site/celery.py)."""
    expired = services.import_files_expire(now=timezone.now())
    if expired:
        logger.info("deleted the uploaded files of %d import job(s) past the retention", len(expired))
    return expired
