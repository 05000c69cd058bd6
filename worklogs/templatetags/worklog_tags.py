"""Template helpers of the worklog pages."""

from __future__ import annotations

from django import template

from worklogs.reports import format_hours

register = template.Library()


@register.filter
def duration(seconds: int | None) -> str:
    """Return seconds as hours and minutes ("33h 30m"; "" for None)."""
    return format_hours(seconds)
