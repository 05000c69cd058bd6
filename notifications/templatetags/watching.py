"""{% with_watch_box body issue %} on the issue page: the viewer's Watch button and the watchers, per request.

Outside the shared page-cache body: the button depends on the viewer, so the cached body (issues/browse.html)
holds an empty slot that this tag fills after the cache (issues/browse_cached.html).
"""

from __future__ import annotations

from typing import Any

from django import template
from django.template.loader import render_to_string
from django.utils.safestring import SafeString, mark_safe

from notifications.selectors import issue_watchers

register = template.Library()

SLOT = "<div data-watch-slot></div>"


@register.simple_tag(takes_context=True)
def with_watch_box(context: Any, body: str, issue: dict[str, Any]) -> SafeString:
    """Return the page body (already safe HTML) with the watch box of the request's user in its slot (one query)."""
    request = context["request"]
    watchers = issue_watchers(issue_id=issue["id"])
    box = render_to_string(
        "notifications/_watch_box.html",
        {
            "issue_key": issue["key"],
            "watchers": watchers,
            "watching": any(w["id"] == request.user.pk for w in watchers),
        },
        request=request,
    )
    return mark_safe(str(body).replace(SLOT, box, 1))
