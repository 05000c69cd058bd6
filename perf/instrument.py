"""Template render time for Server-Timing: the outermost render of each request, minus the db/cache time inside it.

Django has no render signal outside tests, so the backend's Template.render is wrapped once at start-up. Nested
renders ({% include %}, render_to_string inside a tag) are counted by the outermost one only.
"""

from __future__ import annotations

import functools
import threading
from typing import Any

from django.template.backends.django import Template as BackendTemplate

from taskra_site import timing

_depth = threading.local()
_installed = False


def install_render_timing() -> None:
    """Wrap django's template backend render with the timer (idempotent)."""
    global _installed
    if _installed:
        return
    original = BackendTemplate.render

    @functools.wraps(original)
    def render(self: Any, context: Any = None, request: Any = None) -> Any:
        record = timing.active()
        if record is None or getattr(_depth, "n", False):
            return original(self, context, request)
        _depth.n = True
        before_other = record.db_ns + record.cache_ns
        started = timing.now_ns()
        try:
            return original(self, context, request)
        finally:
            elapsed = timing.now_ns() - started
            _depth.n = False
            # Queries and cache reads a template triggers are reported as db/cache, not twice.
            record.render_ns += max(0, elapsed - (record.db_ns + record.cache_ns - before_other))

    BackendTemplate.render = render  # type: ignore[method-assign]
    _installed = True
