"""The refresh after a write: rebuild the issue pages readers recently used, so the next read is a hit.

After a write commits, issues.signals queues issues.tasks.refresh_issue_pages, and a Celery worker runs
issue_pages_refresh. It uses the same entries, generations, version and stampede lock as readers
(issues.issuepage.cached), so it can never store anything a reader would not have built at that moment.
"""

from __future__ import annotations

import logging
import zoneinfo

from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest

from issues import pagecache
from issues.issuepage.cached import body_variants, issue_body, issue_payload
from issues.selectors import issue_with_joins

logger = logging.getLogger("taskra.cache")


def _anonymous_get(path: str) -> HttpRequest:
    """Return a bare GET request by nobody: what a shared body is rendered from outside a real request."""
    request = HttpRequest()
    request.method = "GET"
    request.path = request.path_info = path
    request.user = AnonymousUser()
    return request


def issue_pages_refresh(*, issue_ids: list[int]) -> int:
    """Rebuild the payload and the recently used shared bodies of these issues; return how many bodies it ensured.

    Only issues whose bodies readers rendered recently have variants recorded, so cold issues cost
    one Redis read. A body shared by viewers who wrote none of its comments or worklogs never depends
    on who renders it, so an anonymous request renders it. Failures are logged, never raised: the
    next reader rebuilds the page as usual.
    """
    built = 0
    with pagecache.quiet_metrics():
        for issue_id in issue_ids:
            variants = body_variants(issue_id)
            if not variants:
                continue
            try:
                # Fresh row first (its updated stamp names the entries), generations read inside get_or_build.
                issue = issue_with_joins(pk=issue_id)
                if issue is None:
                    continue
                data = issue_payload(issue=issue)
                request = _anonymous_get(issue.get_absolute_url())
                for role, tz_name in variants:
                    issue_body(request=request, issue=issue, data=data, role=role, tz=zoneinfo.ZoneInfo(tz_name))
                    built += 1
            except Exception:  # a refresh is an optimisation: readers rebuild whatever it could not
                logger.exception("refreshing the cached pages of issue %s failed", issue_id)
    return built
