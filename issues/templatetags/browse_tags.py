"""Template helpers of the issue pages: cached payloads keep datetimes as ISO text."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import template

register = template.Library()


@register.filter
def isodt(value: Any) -> dt.datetime | dt.date | None:
    """Turn an ISO string from a page payload back into a datetime (or date), for the |date filter."""
    if not value:
        return None
    if isinstance(value, dt.date):
        return value
    text = str(value)
    try:
        if len(text) == 10:
            return dt.date.fromisoformat(text)
        return dt.datetime.fromisoformat(text)
    except ValueError:
        return None


@register.filter
def initials(name: str) -> str:
    """Return up to two initials for an avatar circle."""
    parts = [p for p in str(name or "").split() if p]
    return "".join(p[0] for p in parts[:2]).upper() or "?"
