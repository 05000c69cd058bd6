"""The variants of the live A/B switches chosen for the current request (perf.switches chooses them).

Shared infrastructure reads them here so the page cache, the issue LRU, adapter validation and the GC pause
follow a switch without importing the perf app (which sits above every app). Outside a request (Celery tasks,
management commands) nothing is chosen and every caller follows its setting.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar

# The switches and the variants each one may take; the first variant of each is what the setting gives today.
SWITCH_VARIANTS: dict[str, tuple[str, ...]] = {
    "page_cache": ("on", "off"),
    "issue_lru": ("on", "off"),
    "adapter_validation": ("shadow", "skip", "validate"),
    "navigator_cache": ("on", "off"),
    "gc_pause": ("on", "off"),
}

_chosen: ContextVar[Mapping[str, str] | None] = ContextVar("taskra_switch_variants", default=None)


def current(name: str) -> str | None:
    """Return the variant of the switch chosen for this request, or None (follow the setting)."""
    chosen = _chosen.get()
    if chosen is None:
        return None
    return chosen.get(name)


def is_off(name: str) -> bool:
    """Return whether this request runs with the switch's optimisation turned off."""
    return current(name) == "off"


@contextmanager
def using(variants: Mapping[str, str]) -> Iterator[None]:
    """Run the block with these variants chosen (the middleware wraps each request in it)."""
    token = _chosen.set(variants or None)
    try:
        yield
    finally:
        _chosen.reset(token)
