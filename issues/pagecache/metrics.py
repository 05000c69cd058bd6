"""Page-cache metrics: counted in process, flushed to shared counters at most once a second.

Per page type: hits, misses, rebuilds, waits (served by another process's rebuild), errors (cache
unavailable) and total rebuild time. taskra_site/cache_panel.py shows a request's events and the totals.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

from taskra_site import sharedcache
from taskra_site.sharedcache import CacheDown

PAGE_TYPES = ("issue", "issue_body", "navigator")
METRIC_FIELDS = ("hits", "misses", "rebuilds", "waits", "errors", "rebuild_us")
METRICS_FLUSH_SECONDS = 1.0

_metrics_lock = threading.Lock()
_metrics: dict[tuple[str, str], int] = {}
_metrics_flushed = time.monotonic()
_request_local = threading.local()


@contextlib.contextmanager
def quiet_metrics() -> Iterator[None]:
    """Leave hits and misses uncounted inside the block: background refreshes are not reads."""
    _request_local.quiet = True
    try:
        yield
    finally:
        _request_local.quiet = False


def count(page_type: str, field: str, amount: int = 1) -> None:
    """Count one event of a page type (and record it for the current request's panel, if collecting)."""
    global _metrics_flushed
    if getattr(_request_local, "quiet", False):
        return
    with _metrics_lock:
        _metrics[(page_type, field)] = _metrics.get((page_type, field), 0) + amount
        due = time.monotonic() - _metrics_flushed >= METRICS_FLUSH_SECONDS
    events = getattr(_request_local, "events", None)
    if events is not None:
        events.append((page_type, field, amount))
    if due:
        flush_metrics()


def _metric_key(page_type: str, field: str) -> str:
    return f"metrics:page:{page_type}:{field}"


def flush_metrics() -> bool:
    """Add the counts of this process to the shared counters; return False when the cache is down."""
    global _metrics_flushed
    with _metrics_lock:
        pending = {k: v for k, v in _metrics.items() if v}
        _metrics.clear()
        _metrics_flushed = time.monotonic()
    if not pending:
        return True
    try:
        sharedcache.add_to_counters({_metric_key(t, f): amount for (t, f), amount in pending.items()})
    except CacheDown:
        with _metrics_lock:  # keep them for the next flush
            for k, v in pending.items():
                _metrics[k] = _metrics.get(k, 0) + v
        return False
    return True


def cache_metrics() -> dict[str, dict[str, float]]:
    """Return the shared counters per page type with hit_rate and mean rebuild time (ms)."""
    flush_metrics()
    keys = [_metric_key(t, f) for t in PAGE_TYPES for f in METRIC_FIELDS]
    try:
        got = sharedcache.get_many(keys)
    except CacheDown:
        got = {}
    out: dict[str, dict[str, float]] = {}
    for t in PAGE_TYPES:
        row = {f: int(got.get(_metric_key(t, f), 0)) for f in METRIC_FIELDS}
        lookups = row["hits"] + row["misses"]
        out[t] = {
            **row,
            "hit_rate": row["hits"] / lookups if lookups else 0.0,
            "rebuild_ms_avg": row["rebuild_us"] / row["rebuilds"] / 1000 if row["rebuilds"] else 0.0,
        }
    return out


def forget_unflushed() -> None:
    """Drop this process's unflushed counts (tests: a fresh process)."""
    with _metrics_lock:
        _metrics.clear()


def reset_metrics() -> None:
    """Zero the shared counters and the unflushed counts of this process."""
    forget_unflushed()
    with contextlib.suppress(CacheDown):
        sharedcache.delete_many([_metric_key(t, f) for t in PAGE_TYPES for f in METRIC_FIELDS])


def start_request_events() -> list[tuple[str, str, int]]:
    """Collect this thread's cache events until stop_request_events() (debug-toolbar panel)."""
    _request_local.events = []
    return _request_local.events


def stop_request_events() -> list[tuple[str, str, int]]:
    """Stop collecting and return this thread's cache events."""
    events = getattr(_request_local, "events", None) or []
    _request_local.events = None
    return events
