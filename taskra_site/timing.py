"""Per-request time accumulators (database, cache, template render) for Server-Timing and request metrics.

A thread-local record that perf.middleware starts per request; the shared cache's guard adds its time and the
middleware's execute_wrapper adds the database's. Outside a started request every add is a no-op.
"""

from __future__ import annotations

import threading
import time

_local = threading.local()


class RequestTiming:
    """Nanoseconds spent per part of one request, plus its query count and slowest query."""

    __slots__ = ("cache_ns", "cache_calls", "db_ns", "queries", "render_ns", "slowest_ns", "slowest_sql")

    def __init__(self) -> None:
        self.db_ns = 0
        self.cache_ns = 0
        self.render_ns = 0
        self.queries = 0
        self.cache_calls = 0
        self.slowest_ns = 0
        self.slowest_sql = ""


def start() -> RequestTiming:
    """Begin accumulating for this thread's request and return the record."""
    record = RequestTiming()
    _local.record = record
    return record


def stop() -> None:
    """Stop accumulating for this thread."""
    _local.record = None


def active() -> RequestTiming | None:
    """Return this thread's record, or None outside a request."""
    return getattr(_local, "record", None)


def add_cache(elapsed_ns: int) -> None:
    """Add one shared-cache call's time to the current request."""
    record = getattr(_local, "record", None)
    if record is not None:
        record.cache_ns += elapsed_ns
        record.cache_calls += 1


def add_query(elapsed_ns: int, sql: str) -> None:
    """Add one SQL statement's time to the current request, keeping the slowest one's text."""
    record = getattr(_local, "record", None)
    if record is not None:
        record.db_ns += elapsed_ns
        record.queries += 1
        if elapsed_ns > record.slowest_ns:
            record.slowest_ns = elapsed_ns
            record.slowest_sql = sql


now_ns = time.perf_counter_ns
