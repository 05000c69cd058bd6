"""URLs by name for templates that render on every request or once per row.

{% url %} costs a full reverse() each time it renders, several times the cost of the row around it
(figures: docs/benchmarks/2026-12-01-url-reversing.md). These helpers reverse a URL name once per script
prefix and reuse the text, so the URL names stay the single source of the paths:

- menu_urls() gives the main menu's URLs by short name (taskra_site.chrome renders the menu with them);
- {% load links %} then {{ issue.key|issue_url }} gives an issue page's URL (list rows).
"""

from __future__ import annotations

import functools
from types import MappingProxyType
from typing import Any
from urllib.parse import quote

from django import template
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.urls import get_script_prefix, reverse
from django.utils.http import RFC3986_SUBDELIMS
from django.utils.safestring import mark_safe

register = template.Library()

# Stands for the issue key while reversing the issue page's URL, whose key is its last path segment.
_KEY = "KEY"


@functools.lru_cache(maxsize=256)
def _reverse(name: str, script_prefix: str, key: bool) -> str:
    # Keyed by the script prefix, which reverse() reads from the current thread (SCRIPT_NAME). Not by a
    # per-request urlconf: Taskra sets none, and reading it costs more than the rest of a lookup.
    url = reverse(name, args=[_KEY] if key else None)
    return url.removesuffix(_KEY) if key else url


# The main menu's URLs (base.html) by the short names templates look up: {{ nav.timesheet }}.
NAV_URL_NAMES = {
    "home": "worklogs:home",
    "navigator": "issues:navigator",
    "create": "issues:create",
    "timesheet": "worklogs:timesheet",
    "worklogs": "worklogs:list",
    "reports": "worklogs:reports",
    "imports": "imports:index",
    "admin": "admin:index",
    "logout": "logout",
    "tokens": "tokens:list",
    "profile": "profile",
    "notifications": "notifications:list",
}


@functools.lru_cache(maxsize=16)
def _nav(script_prefix: str) -> MappingProxyType[str, str]:
    urls = {short: _reverse(name, script_prefix, False) for short, name in NAV_URL_NAMES.items()}
    urls["issue_prefix"] = _reverse("issues:browse", script_prefix, True)
    # reverse() output of fixed names, already URL-quoted: marked safe so no page re-escapes them.
    return MappingProxyType({short: mark_safe(url) for short, url in urls.items()})


def menu_urls() -> MappingProxyType[str, str]:
    """Return the main menu's URLs by short name (menu_urls()["timesheet"]), plus "issue_prefix"."""
    return _nav(get_script_prefix())


@receiver(setting_changed)
def _forget_on_urlconf_change(*, setting: str, **kwargs: Any) -> None:
    # Tests that swap ROOT_URLCONF (override_settings) must not get the previous URLs.
    if setting == "ROOT_URLCONF":
        _reverse.cache_clear()
        _nav.cache_clear()


@register.filter
def issue_url(key: str) -> str:
    """Return the URL of the issue page of a key (reverse("issues:browse", args=[key]), reversed once)."""
    # Quoted as reverse() quotes a path argument (keys are plain letters, digits and dashes in practice).
    return _reverse("issues:browse", get_script_prefix(), True) + quote(str(key), safe=RFC3986_SUBDELIMS + "~:@")
