"""Template helpers of the worklog pages."""

from __future__ import annotations

from django import template

from issues.schemas import format_duration

register = template.Library()


@register.filter
def duration(seconds: int | None) -> str:
    """Return seconds as "1h 30m" ("" for None)."""
    return format_duration(seconds)
