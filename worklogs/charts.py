"""Server-rendered SVG bar charts: no JavaScript, no CDN, readable in light and dark mode."""

from __future__ import annotations

from collections.abc import Sequence

from django.utils.safestring import SafeString, mark_safe

from issues.durations import format_duration
from taskra_site.svg import bar_rows, chart_start


def _hours_ticks(max_seconds: int) -> list[int]:
    """Return 3-5 round tick values (seconds) covering 0..max_seconds."""
    hours = max(max_seconds / 3600, 1)
    for step in (0.25, 0.5, 1, 2, 4, 5, 8, 10, 20, 25, 40, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000):
        if hours / step <= 5:
            break
    ticks, value = [], 0.0
    while value <= hours + 1e-9:
        ticks.append(int(value * 3600))
        value += step
    if ticks[-1] < max_seconds:
        ticks.append(int(value * 3600))
    return ticks


def bar_chart(
    items: Sequence[tuple[str, int]],
    *,
    title: str,
    chart_id: str = "chart",
    width: int = 720,
    bar_height: int = 22,
    label_width: int = 200,
) -> SafeString:
    """Return an accessible horizontal bar chart of (label, seconds) as inline SVG markup."""
    if not items:
        return mark_safe("")
    top, gap = 24, 6
    plot_width = width - label_width - 80
    max_value = max(max(v for _label, v in items), 1)
    ticks = _hours_ticks(max_value)
    scale_max = max(ticks[-1], 1)
    height = top + len(items) * (bar_height + gap) + 24
    parts = chart_start(chart_id=chart_id, title=title, width=width, height=height)
    for tick in ticks:
        x = label_width + plot_width * tick / scale_max
        hours = tick // 3600 if tick % 3600 == 0 else round(tick / 3600, 2)
        parts.append(
            f'<line class="chart-grid" x1="{x:.1f}" y1="{top - 6}" x2="{x:.1f}" y2="{height - 20}"/>'
            f'<text class="chart-tick" x="{x:.1f}" y="{height - 6}" text-anchor="middle">{hours}h</text>'
        )
    parts += bar_rows(
        items,
        fmt=lambda seconds: format_duration(int(seconds)),
        top=top,
        gap=gap,
        bar_height=bar_height,
        label_width=label_width,
        plot_width=plot_width,
        scale_max=scale_max,
        label_chars=28,
        baseline=0.7,
    )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every interpolated text is escaped above
