"""URLs by name for templates that render on every request or once per row.

{% url %} costs a full reverse() each time it renders, many times the cost of the row around it (figures:
docs/benchmarks/2026-12-01-url-reversing.md). These helpers reverse a URL name once per URL prefix and
urlconf and reuse the text, so the URL names stay the single source of the paths.

In templates: {% load links %}, then {% cached_url "issues:navigator" %} for a URL without arguments and
{{ issue.key|issue_url }} for an issue page.
"""

from __future__ import annotations

import functools
from urllib.parse import quote

from django import template
from django.conf import settings
from django.urls import get_script_prefix, get_urlconf, reverse
from django.utils.http import RFC3986_SUBDELIMS

register = template.Library()

# Stands for the issue key while reversing the issue page's URL, whose key is its last path segment.
_KEY = "KEY"


@functools.lru_cache(maxsize=256)
def _reverse(name: str, script_prefix: str, urlconf: str, key: bool) -> str:
    # script_prefix is part of the key because reverse() reads it from the current thread.
    url = reverse(name, urlconf=urlconf, args=[_KEY] if key else None)
    return url.removesuffix(_KEY) if key else url


def _where() -> tuple[str, str]:
    return get_script_prefix(), get_urlconf() or settings.ROOT_URLCONF


@register.simple_tag
def cached_url(name: str) -> str:
    """Return reverse(name) for a URL name without arguments, reversed once per URL prefix."""
    return _reverse(name, *_where(), False)


@register.filter
def issue_url(key: str) -> str:
    """Return the URL of the issue page of a key (reverse("issues:browse", args=[key]), reversed once)."""
    # Quoted as reverse() quotes a path argument (keys are plain letters, digits and dashes in practice).
    return _reverse("issues:browse", *_where(), True) + quote(str(key), safe=RFC3986_SUBDELIMS + "~:@")
