"""django-debug-toolbar panel: what the page cache did in this request, and the shared hit rates (development)."""

from __future__ import annotations

from typing import Any

from debug_toolbar.panels import Panel
from django.utils.html import format_html, format_html_join

from issues import pagecache
from issues.pagecache import metrics
from taskra_site.adapters import shadow_validation_counts


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
            "<p>Page cache {}.</p>"
            "<h4>This request</h4><table><thead><tr><th>Page</th><th>Hits</th><th>Misses</th><th>Rebuilds</th>"
            "<th>Waits</th><th>Errors</th><th>Rebuild ms</th></tr></thead><tbody>{}</tbody></table>"
            "<h4>All processes (Redis counters)</h4><table><thead><tr><th>Page</th><th>Hits</th><th>Misses</th>"
            "<th>Rebuilds</th><th>Waits</th><th>Errors</th><th>Hit rate</th><th>Avg rebuild ms</th></tr></thead>"
            "<tbody>{}</tbody></table>"
            "<h4>Shadow validation of trusted reads (this process)</h4>"
            "<p>{} rows checked in {} batches, {} failed (logged on taskra.adapters).</p>",
            "on" if stats.get("enabled") else "off (local-memory cache; set TASKRA_PAGE_CACHE to force)",
            request_rows,
            total_rows,
            shadow.get("rows", 0),
            shadow.get("batches", 0),
            shadow.get("failed_rows", 0),
        )
