"""The rows of a server-rendered SVG bar chart, shared by the time reports (worklogs/charts.py) and the perf page.

Every interpolated text is escaped here; the callers draw the frame (svg element, title, grid) around the rows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from django.utils.html import escape


def chart_start(*, chart_id: str, title: str, width: int, height: float, keep_aspect: bool = True) -> list[str]:
    """Return the opening of an accessible chart: the svg element (labelled by its title) and the title."""
    aspect = ' preserveAspectRatio="xMinYMin meet"' if keep_aspect else ""
    return [
        f'<svg class="chart" role="img" aria-labelledby="{chart_id}-title" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}"{aspect} xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
    ]


def bar_rows(
    items: Sequence[tuple[str, float]],
    *,
    fmt: Callable[[float], str],
    top: float,
    gap: float,
    bar_height: float,
    label_width: float,
    plot_width: float,
    scale_max: float,
    label_chars: int,
    baseline: float,
) -> list[str]:
    """Return one <g> per (label, value): the label (shortened to label_chars), the bar and the value."""
    rows = []
    for i, (label, value) in enumerate(items):
        y = top + i * (bar_height + gap)
        text_y = f"{y + bar_height * baseline:.1f}"
        w = plot_width * max(value, 0) / scale_max
        short = label if len(label) <= label_chars else label[: label_chars - 1] + "…"
        shown = escape(fmt(value))
        rows.append(
            f"<g><title>{escape(label)}: {shown}</title>"
            f'<text class="chart-label" x="{label_width - 8}" y="{text_y}" text-anchor="end">{escape(short)}</text>'
            f'<rect class="chart-bar" x="{label_width}" y="{y}" width="{w:.1f}" height="{bar_height}" rx="2"/>'
            f'<text class="chart-value" x="{label_width + w + 6:.1f}" y="{text_y}">{shown}</text></g>'
        )
    return rows
