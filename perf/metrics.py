"""Prometheus metrics of the web and worker processes (prometheus-client; multiprocess mode under gunicorn/Celery).

With PROMETHEUS_MULTIPROC_DIR set (before the process starts) every process writes its samples to memory-mapped
files in that directory and /metrics merges them; without it /metrics shows this process only (runserver).
What each metric means: docs/operations.md.
"""

from __future__ import annotations

import os
import resource
import time
from typing import Final

from prometheus_client import Counter, Gauge, Histogram

# Latency buckets (seconds) from a cached page hit (2-3 ms) to a slow export (10 s).
LATENCY_BUCKETS: Final = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

REQUEST_SECONDS = Histogram(
    "taskra_request_duration_seconds",
    "Time from the first to the last middleware, per route (URL name), method and A/B variant.",
    ["route", "method", "variant"],
    buckets=LATENCY_BUCKETS,
)
REQUESTS = Counter(
    "taskra_requests",
    "Requests answered, per route, method and status class (2xx, 4xx, ...).",
    ["route", "method", "status"],
)
REQUEST_ERRORS = Counter(
    "taskra_request_errors", "Requests answered 5xx or raising, per route and method.", ["route", "method"]
)
SQL_QUERIES = Counter("taskra_request_sql_queries", "SQL statements run by requests, per route.", ["route"])
SQL_SECONDS = Counter("taskra_request_sql_seconds", "Time in SQL statements, per route.", ["route"])
CACHE_SECONDS = Counter("taskra_request_cache_seconds", "Time in shared-cache calls, per route.", ["route"])
RESPONSE_BYTES = Counter(
    "taskra_response_bytes", "Response body bytes (not counting streamed responses), per route.", ["route"]
)
LRU_LOOKUPS = Counter(
    "taskra_memo_lookups", "In-process memo lookups: the issue LRU and the role memo, by result.", ["memo", "result"]
)
PROCESS_RSS = Gauge(
    "taskra_process_resident_memory_bytes", "Resident memory of each process.", ["role"], multiprocess_mode="all"
)
PROCESS_CPU = Gauge(
    "taskra_process_cpu_seconds", "CPU time (user + system) used by each process.", ["role"], multiprocess_mode="all"
)
TASK_SECONDS = Histogram(
    "taskra_celery_task_duration_seconds",
    "Celery task run time, per task and outcome.",
    ["task", "state"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 1800),
)
TASK_WAIT_SECONDS = Histogram(
    "taskra_celery_task_queue_seconds",
    "Time a Celery task waited between being sent and starting, per task.",
    ["task"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300),
)

_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def rss_bytes() -> int:
    """Return this process's resident set size (Linux /proc; peak RSS elsewhere)."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE_SIZE
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def cpu_seconds() -> float:
    """Return this process's CPU time, user plus system."""
    return time.process_time()


class ProcessSampler:
    """Update the process gauges at most every `every` seconds (a /proc read per request would cost more)."""

    def __init__(self, role: str, every: float = 5.0) -> None:
        self.role = role
        self.every = every
        self.next_at = 0.0
        self.rss = 0
        self.cpu = 0.0

    def maybe_sample(self, now: float) -> None:
        if now < self.next_at:
            return
        self.next_at = now + self.every
        self.rss, self.cpu = rss_bytes(), cpu_seconds()
        PROCESS_RSS.labels(self.role).set(self.rss)
        PROCESS_CPU.labels(self.role).set(self.cpu)


class MemoCounter:
    """Turn an in-process memo's cumulative hits/misses into Prometheus counter increments."""

    def __init__(self, name: str) -> None:
        self.hit = LRU_LOOKUPS.labels(name, "hit")
        self.miss = LRU_LOOKUPS.labels(name, "miss")
        self.seen_hits = 0
        self.seen_misses = 0

    def update(self, hits: int, misses: int) -> None:
        # A reset memo (tests) restarts at 0: count from there.
        if hits < self.seen_hits or misses < self.seen_misses:
            self.seen_hits = self.seen_misses = 0
        if hits > self.seen_hits:
            self.hit.inc(hits - self.seen_hits)
            self.seen_hits = hits
        if misses > self.seen_misses:
            self.miss.inc(misses - self.seen_misses)
            self.seen_misses = misses


class RouteMetrics:
    """The labelled children of one (route, method, variant, status class): looked up once, not per request."""

    __slots__ = ("cache", "errors", "latency", "queries", "requests", "size", "sql")

    def __init__(self, route: str, method: str, variant: str, status: str) -> None:
        self.latency = REQUEST_SECONDS.labels(route, method, variant)
        self.requests = REQUESTS.labels(route, method, status)
        self.errors = REQUEST_ERRORS.labels(route, method) if status == "5xx" else None
        self.queries = SQL_QUERIES.labels(route)
        self.sql = SQL_SECONDS.labels(route)
        self.cache = CACHE_SECONDS.labels(route)
        self.size = RESPONSE_BYTES.labels(route)


_route_metrics: dict[tuple[str, str, str, str], RouteMetrics] = {}


def route_metrics(route: str, method: str, variant: str, status: str) -> RouteMetrics:
    """Return the cached children of these labels (routes are URL names: a bounded set)."""
    key = (route, method, variant, status)
    found = _route_metrics.get(key)
    if found is None:
        found = _route_metrics[key] = RouteMetrics(route, method, variant, status)
    return found
