"""The one |duration filter of every page: seconds written by issues.durations.format_duration ("1d 2h 30m")."""

from __future__ import annotations

from typing import Any

from django import template

from issues.durations import format_duration

register = template.Library()


@register.filter
def duration(seconds: Any) -> str:
    """Write seconds the Jira way ("1d 2h 30m"); "" for None, empty or unreadable values."""
    if seconds in (None, ""):
        return ""
    try:
        return format_duration(int(seconds))
    except (TypeError, ValueError):
        return ""
