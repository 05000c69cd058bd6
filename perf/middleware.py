"""Request metrics, Server-Timing, the slow-request log and the choice of A/B variants, in one middleware.

Per request it costs: a contextvar set, an execute_wrapper on the default connection (two clock reads per
query), a handful of Prometheus observations (memory-mapped files in multiprocess mode) and an in-memory rollup
update; the rollups go to the shared cache at most every few seconds. Its overhead on the cached issue page is
measured in bench/metrics_overhead.py (docs/benchmarks/2026-12-01-metrics.md).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.db import connections
from django.db.backends.signals import connection_created
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse

from issues.issuepage.cached import issue_lru, role_memo
from perf import metrics, rollups, switches
from taskra_site import switches as chosen
from taskra_site import timing

logger = logging.getLogger("taskra.perf.slow")

_STATUS_CLASS = {1: "1xx", 2: "2xx", 3: "3xx", 4: "4xx", 5: "5xx"}
_sampler = metrics.ProcessSampler("web")
_lru_counter = metrics.MemoCounter("issue_lru")
_role_counter = metrics.MemoCounter("role_memo")


class Conf:
    """The settings this middleware reads per request, copied once (LazySettings costs microseconds per read)."""

    metrics = True
    server_timing = True
    slow_ms = 1000
    session_cookie = "sessionid"

    @classmethod
    def load(cls) -> None:
        cls.metrics = settings.TASKRA_METRICS
        cls.server_timing = settings.TASKRA_SERVER_TIMING
        cls.slow_ms = settings.TASKRA_SLOW_REQUEST_MS
        cls.session_cookie = settings.SESSION_COOKIE_NAME


@receiver(setting_changed)
def _reload_conf(**_: Any) -> None:
    Conf.load()


def _record_query(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
    record = timing.active()
    if record is None:  # outside a request (Celery, commands): nothing to add to
        return execute(sql, params, many, context)
    started = timing.now_ns()
    try:
        return execute(sql, params, many, context)
    finally:
        timing.add_query(timing.now_ns() - started, sql)


@receiver(connection_created)
def _install_query_timer(connection: Any, **_: Any) -> None:
    """Time every statement of each new connection (cheaper than an execute_wrapper context per request)."""
    if _record_query not in connection.execute_wrappers:
        connection.execute_wrappers.append(_record_query)


def route_of(request: HttpRequest) -> str:
    """Return the URL name the request resolved to ("namespace:name"), never the raw path."""
    match = getattr(request, "resolver_match", None)
    if match is None:
        return "<unresolved>"
    return match.view_name or "<unnamed>"


def server_timing(record: timing.RequestTiming, total_ns: int) -> str:
    """Return the Server-Timing value: db, cache and render (each rounded down) and total (rounded up)."""

    db, cache, render = record.db_ns // 1000, record.cache_ns // 1000, record.render_ns // 1000
    total = -(-total_ns // 1000)
    return (
        f'db;dur={db // 1000}.{db % 1000:03d};desc="SQL ({record.queries})", '
        f"cache;dur={cache // 1000}.{cache % 1000:03d}, "
        f"render;dur={render // 1000}.{render % 1000:03d}, total;dur={total // 1000}.{total % 1000:03d}"
    )


class RequestMetricsMiddleware:
    """Time each request by parts, label it by route and A/B variant, and record it (see module docstring)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        Conf.load()
        # Connections opened before this middleware was loaded (the receiver below covers later ones).
        for connection in connections.all(initialized_only=True):
            _install_query_timer(connection)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = timing.now_ns()
        record = timing.start()
        variants = switches.choose(request.COOKIES.get(Conf.session_cookie))
        # The debug toolbar's page-cache panel says when a switch turned the cache off for this request.
        request.taskra_variants = variants  # type: ignore[attr-defined]
        try:
            with chosen.using(variants):
                response = self.get_response(request)
        finally:
            timing.stop()
        total_ns = timing.now_ns() - started
        if Conf.server_timing:
            response.headers["Server-Timing"] = server_timing(record, total_ns)
        if Conf.metrics:
            self.record(request, response, record, total_ns, switches.label(variants))
        return response

    def record(
        self, request: HttpRequest, response: HttpResponse, record: timing.RequestTiming, total_ns: int, variant: str
    ) -> None:
        route = route_of(request)
        method = request.method or "GET"
        status = response.status_code
        error = status >= 500
        seconds = total_ns / 1e9
        # CommonMiddleware has set Content-Length on every non-streaming response by now (no copy of the body).
        length = response.headers.get("Content-Length")
        size = int(length) if length else (0 if response.streaming else len(response.content))
        children = metrics.route_metrics(route, method, variant, _STATUS_CLASS.get(status // 100, "other"))
        children.latency.observe(seconds)
        children.requests.inc()
        if children.errors is not None:
            children.errors.inc()
        if record.queries:
            children.queries.inc(record.queries)
            children.sql.inc(record.db_ns / 1e9)
        if record.cache_ns:
            children.cache.inc(record.cache_ns / 1e9)
        if size:
            children.size.inc(size)
        ms = total_ns / 1e6
        slow = None
        if ms >= Conf.slow_ms:
            slow = rollups.Slow(
                ms=round(ms, 1),
                route=route,
                method=method,
                queries=record.queries,
                slowest_sql=record.slowest_sql[:500],
                slowest_ms=round(record.slowest_ns / 1e6, 2),
                at=time.time(),
            )
            logger.warning(
                "slow request: %s %s %.1f ms, %d queries (%.1f ms in SQL), slowest %.1f ms: %s",
                method,
                route,
                ms,
                record.queries,
                record.db_ns / 1e6,
                slow.slowest_ms,
                slow.slowest_sql,
            )
        now = time.time()
        rollups.web.add(
            route=route,
            method=method,
            variant=variant,
            ms=ms,
            error=error,
            queries=record.queries,
            sql_ms=record.db_ns / 1e6,
            size=size,
            slow=slow,
            now=now,
        )
        mono = time.monotonic()
        if mono >= _sampler.next_at:
            _sampler.maybe_sample(mono)
            _lru_counter.update(issue_lru.hits, issue_lru.misses)
            _role_counter.update(role_memo.hits, role_memo.misses)
            rollups.web.note_process(
                rss=_sampler.rss,
                cpu=_sampler.cpu,
                lru_hits=issue_lru.hits,
                lru_misses=issue_lru.misses,
                role_hits=role_memo.hits,
                role_misses=role_memo.misses,
            )
        rollups.web.maybe_flush(now)
