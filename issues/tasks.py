"""Celery tasks of the issues app: thin wrappers that take ids and call the page code."""

from __future__ import annotations

import logging

from celery import shared_task
from django.utils import timezone

from issues import export_jobs, pagecache
from issues.issuepage.refresh import issue_pages_refresh

logger = logging.getLogger("taskra.exports")


@shared_task(ignore_result=True)
def refresh_issue_pages(issue_ids: list[int]) -> int:
    """Rebuild the cached pages of these issues after a write (see issues.issuepage.refresh.issue_pages_refresh)."""
    return issue_pages_refresh(issue_ids=issue_ids)


@shared_task(ignore_result=True)
def replay_cache_bumps() -> int:
    """Apply page-cache bumps left in the outbox (Celery beat, every 30 s): a backstop, readers replay them first."""
    return pagecache.replay_outbox()


@shared_task(acks_late=True, reject_on_worker_lost=True)
def run_export_job(job_id: int) -> str:
    """Write an export job's file (issues.export_jobs.export_job_run)."""
    job = export_jobs.export_job_run(job_id=job_id)
    return job.state if job is not None else "skipped"


@shared_task(acks_late=True)
def expire_export_files() -> list[int]:
    """Delete export files past TASKRA_EXPORT_RETENTION_HOURS (Celery beat, hourly)."""
    expired = export_jobs.export_files_expire(now=timezone.now())
    if expired:
        logger.info("deleted the files of %d export job(s) past their expiry", len(expired))
    return expired
