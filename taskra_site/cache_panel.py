"""django-debug-toolbar panel: what the page cache did in this request, and the shared hit rates (development)."""

from __future__ import annotations

from typing import Any

from debug_toolbar.panels import Panel
from django.conf import settings
from django.utils.html import format_html, format_html_join

from issues import pagecache
from issues.issuepage.cached import issue_lru, role_memo
from issues.pagecache import metrics
from taskra_site import sharedcache
from taskra_site.adapters import shadow_validation_counts


def why_off(variants: dict[str, str]) -> str:
    """Return why the page cache does not serve this request ("" when it does)."""
    if settings.TASKRA_PAGE_CACHE is False:
        return "off: TASKRA_PAGE_CACHE=0 turns it off"
    if settings.TASKRA_PAGE_CACHE is None and sharedcache.is_process_local():
        return (
            "off: the local-memory cache is private to each process, so a Celery worker's writes could not retire "
            "its pages; set REDIS_URL (or TASKRA_PAGE_CACHE=1 to force it in a single process)"
        )
    if variants.get("page_cache") == "off":
        return "off for this request: the A/B switch page_cache put this session in its off variant"
    return ""


def _rate(hits: int, misses: int) -> str:
    return f"{hits / (hits + misses):.1%}" if hits + misses else "–"


class PageCachePanel(Panel):
    """Show this request's page-cache hits, misses and rebuild time, plus the Redis counters per page type."""

    title = "Page cache"
    template = ""  # rendered in content() below: no template file to keep in sync

    def process_request(self, request: Any) -> Any:
        metrics.start_request_events()
        try:
            return super().process_request(request)
        finally:
            self._events = metrics.stop_request_events()

    def generate_stats(self, request: Any, response: Any) -> None:
        per_type: dict[str, dict[str, int]] = {}
        for page_type, field, amount in getattr(self, "_events", []):
            per_type.setdefault(page_type, {f: 0 for f in metrics.METRIC_FIELDS})[field] += amount
        self.record_stats(
            {
                "request": per_type,
                "totals": pagecache.cache_metrics(),
                "enabled": pagecache.page_cache_enabled(),
                "shadow": shadow_validation_counts(),
                "why_off": why_off(getattr(request, "taskra_variants", {}) or {}),
                "variants": dict(getattr(request, "taskra_variants", {}) or {}),
                "memos": {
                    "issue_lru": (issue_lru.hits, issue_lru.misses, len(issue_lru)),
                    "role_memo": (role_memo.hits, role_memo.misses, len(role_memo)),
                },
            }
        )

    @property
    def nav_subtitle(self) -> str:
        stats = self.get_stats().get("request") or {}
        hits = sum(row["hits"] for row in stats.values())
        misses = sum(row["misses"] for row in stats.values())
        return f"{hits} hits, {misses} misses"

    @property
    def content(self) -> str:
        stats = self.get_stats()
        shadow = stats.get("shadow") or {}
        memos = stats.get("memos") or {}
        memo_rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((name, h, m, _rate(h, m), size) for name, (h, m, size) in memos.items()),
        )
        variants = ", ".join(f"{k}={v}" for k, v in sorted((stats.get("variants") or {}).items())) or "none"
        request_rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (t, r["hits"], r["misses"], r["rebuilds"], r["waits"], r["errors"], f"{r['rebuild_us'] / 1000:.2f}")
                for t, r in (stats.get("request") or {}).items()
            ),
        )
        total_rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    t,
                    r["hits"],
                    r["misses"],
                    r["rebuilds"],
                    r["waits"],
                    r["errors"],
                    f"{r['hit_rate']:.1%}",
                    f"{r['rebuild_ms_avg']:.2f}",
                )
                for t, r in (stats.get("totals") or {}).items()
            ),
        )
        return format_html(
            "<p>Page cache {}.</p><p>A/B variants of this request: {}.</p>"
            "<h4>This request</h4><table><thead><tr><th>Page</th><th>Hits</th><th>Misses</th><th>Rebuilds</th>"
            "<th>Waits</th><th>Errors</th><th>Rebuild ms</th></tr></thead><tbody>{}</tbody></table>"
            "<h4>All processes (Redis counters)</h4><table><thead><tr><th>Page</th><th>Hits</th><th>Misses</th>"
            "<th>Rebuilds</th><th>Waits</th><th>Errors</th><th>Hit rate</th><th>Avg rebuild ms</th></tr></thead>"
            "<tbody>{}</tbody></table>"
            "<h4>Shadow validation of trusted reads (this process)</h4>"
            "<p>{} rows checked in {} batches, {} failed (logged on taskra.adapters).</p>"
            "<h4>In-process memos (this process, since it started)</h4><table><thead><tr><th>Memo</th><th>Hits</th>"
            "<th>Misses</th><th>Hit rate</th><th>Entries</th></tr></thead><tbody>{}</tbody></table>",
            stats.get("why_off") or "on",
            variants,
            request_rows,
            total_rows,
            shadow.get("rows", 0),
            shadow.get("batches", 0),
            shadow.get("failed_rows", 0),
            memo_rows,
        )
