"""The page header on every page, rendered once per user name and menu variant rather than once per request.

base.html's {% topbar %} is the header: the brand, the main menu, quick search, the user's name and the logout
form. Rendered node by node it cost a cached issue page about 500 of its 5,600 Python calls per hit
(docs/benchmarks/2026-12-01-topbar.md), yet it only changes with the user's name, staff flag and the script
prefix. The tag keeps the rendered header per such key and puts in the two parts that are per request: the CSRF
token and the notification bell's unread count. The count is a column of the per-request user query
(notifications.selectors.unread_count_expression, registered in accounts.backends.user_load_annotations), so the
bell costs no query and no cache round trip of its own.
"""

from __future__ import annotations

import functools
from typing import Any

from django import template
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.template.backends.utils import csrf_input
from django.template.loader import render_to_string
from django.urls import get_script_prefix
from django.utils.safestring import SafeString, mark_safe

from taskra_site.links import menu_urls

register = template.Library()

# Stands for the CSRF input in the rendered header: no user name or URL can contain it (NUL is refused at the edge
# and escaped names have no raw "<").
_CSRF = "<\x00csrf\x00>"
_BELL = "<\x00bell\x00>"
# The attribute the per-request user query sets (notifications.selectors.UNREAD_ATTRIBUTE; this module imports no
# app) and the cap of its count.
_UNREAD_ATTRIBUTE = "notifications_unread"
_UNREAD_CAP = 100


@functools.lru_cache(maxsize=2048)
def _header(
    script_prefix: str, authenticated: bool, is_staff: bool, username: str, display_name: str
) -> tuple[str, str, str]:
    # script_prefix is part of the key only: menu_urls() reads it from the current thread as reverse() does.
    html = render_to_string(
        "_topbar.html",
        {
            "nav": menu_urls(),
            "authenticated": authenticated,
            "is_staff": is_staff,
            "username": username,
            "display_name": display_name,
            "csrf_input": mark_safe(_CSRF),
            "bell": mark_safe(_BELL),
        },
    )
    # The bell comes first in the header, then the logout form's CSRF input.
    before, _, rest = html.partition(_BELL)
    middle, _, after = rest.partition(_CSRF)
    return before, middle, after


# A bell drawn in SVG (no emoji font needed); the colour follows the link's.
_BELL_ICON = (
    '<svg aria-hidden="true" width="16" height="16" viewBox="0 0 24 24" fill="currentColor">'
    '<path d="M12 22a2.5 2.5 0 0 0 2.45-2h-4.9A2.5 2.5 0 0 0 12 22zm7-6V11a7 7 0 0 0-5.5-6.84V3.5a1.5 1.5 0 0 0-3 0'
    'v.66A7 7 0 0 0 5 11v5l-2 2v1h18v-1l-2-2z"/></svg>'
)


def _bell(user: Any, notifications_url: str) -> str:
    """Return the bell link with the user's unread count (the count's text is a number: nothing to escape)."""
    count = getattr(user, _UNREAD_ATTRIBUTE, None)
    count = int(count) if count is not None else 0
    shown = f"{_UNREAD_CAP - 1}+" if count >= _UNREAD_CAP else str(count)
    label = f"Notifications, {shown} unread" if count else "Notifications"
    badge = f'<span class="bell-count" id="bell-count">{shown}</span>' if count else ""
    return (
        f'<a href="{notifications_url}" class="bell{" has-unread" if count else ""}" id="notification-bell" '
        f'aria-label="{label}" title="{label}">{_BELL_ICON}{badge}</a>'
    )


@register.simple_tag(takes_context=True)
def topbar(context: Any) -> SafeString:
    """Render the page header for the request's user (base.html)."""
    request = context.get("request")
    user = context.get("user")
    authenticated = bool(user is not None and user.is_authenticated)
    if not authenticated:
        before, middle, after = _header(get_script_prefix(), False, False, "", "")
        return mark_safe(before + middle + after)
    profile = getattr(user, "profile", None)
    display_name = getattr(profile, "display_name", "") or ""
    before, middle, after = _header(get_script_prefix(), True, bool(user.is_staff), user.get_username(), display_name)
    csrf = csrf_input(request) if request is not None else ""
    return mark_safe(before + _bell(user, menu_urls()["notifications"]) + middle + csrf + after)


@receiver(setting_changed)
def _forget_on_change(*, setting: str, **kwargs: Any) -> None:
    # Tests that swap the URLs or the templates must not get the previous header.
    if setting in {"ROOT_URLCONF", "TEMPLATES"}:
        _header.cache_clear()
