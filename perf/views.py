"""/metrics (Prometheus text format) and /perf/ (the staff performance page): staff only, or a bearer token."""

from __future__ import annotations

import hmac
import time
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from imports.models import Job, JobState
from issues import pagecache
from issues.permissions import may_view_performance
from perf import benchhistory, celery_metrics, charts, rollups, tables

# Hit rates a perfect write-through cache reaches on bench/cache.py's read/write trace (docs/benchmarks/
# 2026-11-27-page-cache.md): the ceiling the live rate is read against. Live traffic differs from the trace.
CEILINGS = {"issue": 0.797}
DAY = 86400


class PageCacheCollector(Collector):
    """The page cache's shared counters (issues/pagecache/metrics.py) as Prometheus counters, read at scrape."""

    def collect(self) -> Any:
        events = CounterMetricFamily(
            "taskra_page_cache_events",
            "Page-cache events per page type (all processes).",
            labels=["page_type", "event"],
        )
        for page_type, row in pagecache.cache_metrics().items():
            for event in ("hits", "misses", "rebuilds", "waits", "errors"):
                events.add_metric([page_type, event], row[event])
        yield events
        yield GaugeMetricFamily(
            "taskra_page_cache_enabled",
            "1 when the page cache is on (setting).",
            value=int(pagecache.page_cache_enabled()),
        )


def _token_ok(request: HttpRequest) -> bool:
    token = settings.TASKRA_METRICS_TOKEN
    header = request.headers.get("Authorization", "")
    if not token or not header.startswith("Bearer "):
        return False
    return hmac.compare_digest(header[7:].strip().encode(), token.encode())


@login_not_required  # scrapers carry a bearer token instead of a session; checked below
@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    """Return every process's metrics: to staff, or to a scraper with TASKRA_METRICS_TOKEN."""
    if not _token_ok(request):
        if not request.user.is_authenticated:
            response = HttpResponse("Authentication required: a staff session or a bearer token.\n", status=401)
            response["WWW-Authenticate"] = 'Bearer realm="taskra-metrics"'
            response["Content-Type"] = "text/plain; charset=utf-8"
            return response
        if not may_view_performance(request.user):
            raise PermissionDenied("Only staff may read the metrics.")
    if settings.PROMETHEUS_MULTIPROC_DIR:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=settings.PROMETHEUS_MULTIPROC_DIR)
    else:
        registry = REGISTRY
    extra = CollectorRegistry(auto_describe=False)
    extra.register(PageCacheCollector())
    extra.register(celery_metrics.JobCollector())
    body = generate_latest(registry) + generate_latest(extra)
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)


def _route_table(rows: dict[str, list[float]]) -> list[dict[str, Any]]:
    per_route: dict[tuple[str, str], list[float]] = {}
    for key, row in rows.items():
        route, method, _variant = rollups.split_key(key)
        acc = per_route.get((route, method))
        per_route[(route, method)] = list(row) if acc is None else [a + b for a, b in zip(acc, row, strict=False)]
    out = []
    for (route, method), row in per_route.items():
        n = row[rollups.COUNT]
        out.append(
            {
                "route": route,
                "method": method,
                "count": int(n),
                "errors": int(row[rollups.ERRORS]),
                "p50": rollups.percentile(row, 0.5),
                "p95": rollups.percentile(row, 0.95),
                "p99": rollups.percentile(row, 0.99),
                "queries": row[rollups.QUERIES] / n if n else 0.0,
                "sql_ms": row[rollups.SQL_MS] / n if n else 0.0,
                "kb": row[rollups.BYTES] / n / 1024 if n else 0.0,
            }
        )
    return sorted(out, key=lambda r: -r["count"] * r["p50"])


def _variant_table(rows: dict[str, list[float]]) -> list[dict[str, Any]]:
    by_route: dict[tuple[str, str], list[tuple[str, list[float]]]] = {}
    for key, row in rows.items():
        route, method, variant = rollups.split_key(key)
        by_route.setdefault((route, method), []).append((variant, row))
    out = []
    for (route, method), variants in sorted(by_route.items()):
        if len(variants) < 2:
            continue
        for variant, row in sorted(variants):
            out.append(
                {
                    "route": route,
                    "method": method,
                    "variant": variant,
                    "count": int(row[rollups.COUNT]),
                    "p50": rollups.percentile(row, 0.5),
                    "p95": rollups.percentile(row, 0.95),
                }
            )
    return out


def _memo_rates(processes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for name, hits_key, misses_key in (
        ("Issue LRU", "lru_hits", "lru_misses"),
        ("Role memo", "role_hits", "role_misses"),
    ):
        hits = sum(int(p.get(hits_key, 0)) for p in processes)
        misses = sum(int(p.get(misses_key, 0)) for p in processes)
        out.append(
            {"name": name, "hits": hits, "misses": misses, "rate": hits / (hits + misses) if hits + misses else 0}
        )
    return out


def perf_context(now: float) -> dict[str, Any]:
    """Return everything /perf/ shows; reads the shared cache, the jobs table and the benchmark history only."""
    (hour_blobs, day_blobs), processes = rollups.snapshot(now, [rollups.HOUR, DAY])
    hour_rows = rollups.merge_rows(hour_blobs)
    hour = _route_table(hour_rows)
    day = _route_table(rollups.merge_rows(day_blobs))
    cache = [{"page_type": t, **row, "ceiling": CEILINGS.get(t)} for t, row in pagecache.cache_metrics().items()]
    jobs = list(
        Job.objects.filter(state__in=[JobState.SUCCEEDED, JobState.SUCCEEDED_WITH_ERRORS], run_seconds__gt=0)
        .order_by("-finished")
        .only("id", "kind", "processed", "run_seconds", "finished")[:20]
    )
    throughput = [(f"#{j.pk} {j.kind}", j.processed / j.run_seconds) for j in reversed(jobs)]
    runs = benchhistory.read_history(limit=60)
    return {
        "hour": hour,
        "day": day,
        "hour_rows": tables.route_rows(hour),
        "day_rows": tables.route_rows(day),
        "variants": _variant_table(hour_rows),
        "slowest": rollups.slowest(hour_blobs),
        "processes": processes,
        "memos": _memo_rates(processes),
        "cache": cache,
        "cache_enabled": pagecache.page_cache_enabled(),
        "running": celery_metrics.job_rates(),
        "throughput": throughput,
        "latest_run": runs[-1] if runs else None,
        "p95_chart": charts.bars(
            [(f"{r['method']} {r['route']}", r["p95"]) for r in hour[:25]],
            title="p95 per route, last hour",
            chart_id="p95",
        ),
        "throughput_chart": charts.bars(
            throughput, title="Rows per second of recent jobs", chart_id="jobs", fmt=lambda v: f"{v:,.0f}/s"
        ),
        "memory_chart": charts.bars(
            [(f"{p['role']} {p['pid']}", p.get("rss", 0) / 2**20) for p in processes],
            title="Resident memory per process",
            chart_id="rss",
            fmt=lambda v: f"{v:.0f} MB",
        ),
        "bench_chart": charts.lines(
            benchhistory.trend_series(runs),
            title="Benchmark ratios per CI run (lower is better)",
            chart_id="bench",
            x_labels=[r.get("commit", "")[:8] for r in runs],
        ),
    }


@require_GET
def perf_page(request: HttpRequest) -> HttpResponse:
    """Show latencies per route, cache hit rates, slow requests, job throughput, memory and benchmark trends."""
    if not may_view_performance(request.user):
        raise PermissionDenied("Only staff may see the performance page.")
    started = time.perf_counter()
    context = perf_context(rollups.now())
    context["built_ms"] = (time.perf_counter() - started) * 1000
    return render(request, "perf/page.html", context)
