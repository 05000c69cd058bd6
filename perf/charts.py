"""Server-rendered SVG charts of the perf page and `make bench-report` (no JavaScript, no CDN; CSS classes of
worklogs/charts.py so both look alike in light and dark mode)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from taskra_site.svg import bar_rows, chart_start


def bars(
    items: Sequence[tuple[str, float]],
    *,
    title: str,
    chart_id: str,
    fmt: Callable[[float], str] = lambda v: f"{v:.1f} ms",
    width: int = 720,
    bar_height: int = 18,
    label_width: int = 260,
) -> SafeString:
    """Return a horizontal bar chart of (label, value) as inline SVG markup."""
    if not items:
        return mark_safe("")
    top, gap = 10, 5
    plot_width = width - label_width - 90
    scale_max = max(max(v for _label, v in items), 1e-9)
    height = top + len(items) * (bar_height + gap) + 6
    parts = chart_start(chart_id=chart_id, title=title, width=width, height=height)
    parts += bar_rows(
        items,
        fmt=fmt,
        top=top,
        gap=gap,
        bar_height=bar_height,
        label_width=label_width,
        plot_width=plot_width,
        scale_max=scale_max,
        label_chars=36,
        baseline=0.75,
    )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every interpolated text is escaped above


def lines(
    series: Mapping[str, Sequence[float | None]],
    *,
    title: str,
    chart_id: str,
    x_labels: Sequence[str] = (),
    width: int = 720,
    height: int = 220,
    standalone: bool = False,
) -> SafeString:
    """Return a line chart, one polyline per series over the same x positions (None: no point), as SVG markup.

    standalone=True writes colours inline (a file opened on its own has no stylesheet: `make bench-report`).
    """
    values = [v for s in series.values() for v in s if v is not None]
    n = max((len(s) for s in series.values()), default=0)
    if not values or n == 0:
        return mark_safe("")
    left, right, top, bottom = 56, 180, 12, 28
    low, high = min(min(values), 0.0), max(values)
    high = high if high > low else low + 1
    plot_w, plot_h = width - left - right, height - top - bottom

    def x(i: int) -> float:
        return left + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    def y(v: float) -> float:
        return top + plot_h * (1 - (v - low) / (high - low))

    palette = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#4b5563", "#ca8a04")
    ink = ' fill="#333"' if standalone else ""
    parts = chart_start(chart_id=chart_id, title=title, width=width, height=height, keep_aspect=False)
    for frac in (0.0, 0.5, 1.0):
        v = low + (high - low) * frac
        parts.append(
            f'<line class="chart-grid" x1="{left}" y1="{y(v):.1f}" x2="{left + plot_w}" y2="{y(v):.1f}"'
            + (' stroke="#ddd"' if standalone else "")
            + "/>"
            f'<text class="chart-tick" x="{left - 6}" y="{y(v) + 4:.1f}" text-anchor="end"{ink}>{v:.3g}</text>'
        )
    if x_labels:
        for i in sorted({0, n - 1}):
            parts.append(
                f'<text class="chart-tick" x="{x(i):.1f}" y="{height - 8}" text-anchor="middle"{ink}>'
                f"{escape(x_labels[i] if i < len(x_labels) else '')}</text>"
            )
    for k, (name, points) in enumerate(series.items()):
        colour = palette[k % len(palette)]
        coords = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(points) if v is not None)
        parts.append(
            f'<g><title>{escape(name)}</title><polyline points="{coords}" fill="none" stroke="{colour}" '
            f'stroke-width="2"/>'
            f'<text class="chart-label" x="{left + plot_w + 8}" y="{top + 14 * k + 10}" fill="{colour}">'
            f"{escape(name[:28])}</text></g>"
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every interpolated text is escaped above
