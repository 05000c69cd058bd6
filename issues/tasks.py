"""Celery tasks of the issues app: thin wrappers that take ids and call the page code."""

from __future__ import annotations

from celery import shared_task

from issues import pagecache
from issues.issuepage.refresh import issue_pages_refresh


@shared_task(ignore_result=True)
def refresh_issue_pages(issue_ids: list[int]) -> int:
    """Rebuild the cached pages of these issues after a write (see issues.issuepage.refresh.issue_pages_refresh)."""
    return issue_pages_refresh(issue_ids=issue_ids)


@shared_task(ignore_result=True)
def replay_cache_bumps() -> int:
    """Apply page-cache bumps left in the outbox (Celery beat, every 30 s): a backstop, readers replay them first."""
    return pagecache.replay_outbox()
