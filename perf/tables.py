"""The perf page's route tables as HTML rows, written in Python: one escape per row instead of ten template
variables (two tables of every route are most of the page; through the template language they cost more than
all of the page's data work, docs/benchmarks/2026-12-01-perf-page.md)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

COLUMNS = ("p50", "p95", "p99", "queries", "sql_ms", "kb")


def route_rows(rows: Sequence[dict[str, Any]]) -> SafeString:
    """Return one <tr> per route row (route, requests, 5xx, p50/p95/p99 ms, queries, SQL ms, KB)."""
    out = []
    for r in rows:
        cells = "".join(f'<td class="num">{r[k]:.1f}</td>' for k in COLUMNS)
        out.append(
            f"<tr><td>{escape(r['method'])} {escape(r['route'])}</td>"
            f'<td class="num">{r["count"]}</td><td class="num">{r["errors"]}</td>{cells}</tr>'
        )
    return mark_safe("".join(out))  # noqa: S308 - the only texts (method, route) are escaped above
