"""Cache keys and invalidation for issue pages: the one place that knows them.

Entries are versioned by generation counters (one per issue, one per project).
A write bumps the counters (O(1)); readers build keys from the current
generations, so old entries are never read again and simply expire.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.core.cache import cache

logger = logging.getLogger("taskra.cache")

GEN_TIMEOUT = None  # generation counters never expire: losing one could resurrect an old entry


def _issue_gen_key(issue_id: int) -> str:
    return f"gen:issue:{issue_id}"


def _project_gen_key(project_id: int) -> str:
    return f"gen:project:{project_id}"


def _bump(key: str) -> None:
    try:
        cache.incr(key)
    except ValueError:
        # Missing counter: start it at a value no earlier entry could have used.
        import time

        cache.add(key, int(time.time() * 1000), timeout=GEN_TIMEOUT)
        try:
            cache.incr(key)
        except ValueError:
            logger.warning("could not bump cache generation %s", key)
    except Exception:  # a cache outage must not fail the write
        logger.exception("cache generation bump failed for %s", key)


def invalidate_issue(issue_id: int, project_id: int | None = None) -> None:
    """Make every cached page showing this issue (and its project's lists) stale."""
    _bump(_issue_gen_key(issue_id))
    if project_id is not None:
        _bump(_project_gen_key(project_id))


def invalidate_issues(issue_ids: Iterable[int], project_ids: Iterable[int]) -> None:
    """Invalidate many issues and their projects (bulk jobs, imports)."""
    for issue_id in set(issue_ids):
        _bump(_issue_gen_key(issue_id))
    for project_id in set(project_ids):
        _bump(_project_gen_key(project_id))


def invalidate_project(project_id: int) -> None:
    """Make every cached list page of a project stale."""
    _bump(_project_gen_key(project_id))
