"""The shared page cache: generation counters, entries built once under a stampede lock, metrics.

It knows nothing of views, forms, templates, CSRF, JQL or tasks: callers say what an entry depends
on (Entry), writers say what they touched (invalidate_on_commit). See docs/cache.md.
"""

from __future__ import annotations

from issues.pagecache.entries import (
    Entry,
    build_entry,
    get_or_build,
    get_or_build_entry,
    get_or_build_results,
    lookup,
    lookup_if_current,
)
from issues.pagecache.generations import (
    GLOBAL_GEN_KEY,
    current_generations,
    forget_pending,
    gen_keys,
    generations_read,
    invalidate_all,
    invalidate_issues,
    invalidate_on_commit,
    outbox_seen_empty,
    page_cache_enabled,
    page_cache_reads_enabled,
    pages_invalidated,
    project_config_gen_key,
    read_generations,
    replay_outbox,
)
from issues.pagecache.metrics import (
    PAGE_TYPES,
    cache_metrics,
    flush_metrics,
    forget_unflushed,
    quiet_metrics,
    reset_metrics,
)
from taskra_site import sharedcache

__all__ = [
    "GLOBAL_GEN_KEY",
    "PAGE_TYPES",
    "Entry",
    "build_entry",
    "cache_metrics",
    "current_generations",
    "flush_metrics",
    "gen_keys",
    "generations_read",
    "get_or_build",
    "get_or_build_entry",
    "get_or_build_results",
    "invalidate_all",
    "invalidate_issues",
    "invalidate_on_commit",
    "lookup",
    "lookup_if_current",
    "outbox_seen_empty",
    "page_cache_enabled",
    "page_cache_reads_enabled",
    "pages_invalidated",
    "project_config_gen_key",
    "quiet_metrics",
    "read_generations",
    "reset_metrics",
    "replay_outbox",
    "reset_state",
]


def reset_state() -> None:
    """Forget this process's cache state: breaker, bumps waiting in memory, unflushed metrics (tests).

    The outbox is in the database: a fresh process sees it too.
    """
    sharedcache.breaker.reset()
    forget_pending()
    forget_unflushed()
