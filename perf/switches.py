"""Choose each request's A/B variants: switches from the database, cached per process for a few seconds.

A session's variant is stable: the hash of (switch name, session key) picks a number 0..9999, and the session is
in variant B when it is below percent_b * 100. Requests without a session (anonymous, API tokens) get variant A
of a split. The per-process cache means a change in the admin applies everywhere within
TASKRA_SWITCH_CACHE_SECONDS, without a restart.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import DatabaseError

from perf.models import Switch, SwitchMode


@dataclass(frozen=True)
class Rule:
    """A switch as read from the database."""

    name: str
    mode: str
    variant_a: str
    variant_b: str
    percent_b: int


_lock = threading.Lock()
_rules: tuple[Rule, ...] = ()
_loaded_at: float | None = None
# The clock of the per-process cache; tests replace it to step time without sleeping.
clock: Callable[[], float] = time.monotonic


def rules() -> tuple[Rule, ...]:
    """Return the active switches (not "follow the setting"), reloaded once the cache interval has passed."""
    global _rules, _loaded_at
    now = clock()
    if _loaded_at is not None and (
        _loaded_at == float("inf") or now - _loaded_at < settings.TASKRA_SWITCH_CACHE_SECONDS
    ):
        return _rules
    with _lock:
        if _loaded_at is not None and now - _loaded_at < settings.TASKRA_SWITCH_CACHE_SECONDS:
            return _rules
        try:
            loaded = tuple(
                Rule(s.name, s.mode, s.variant_a, s.variant_b, s.percent_b)
                for s in Switch.objects.exclude(mode=SwitchMode.SETTING).order_by("name")
            )
        except DatabaseError:
            loaded = _rules  # keep the last known switches (e.g. before migrate); retried next interval
        _rules, _loaded_at = loaded, now
    return _rules


def hold(held: tuple[Rule, ...] = ()) -> None:
    """Use these switches until forget(), never reading the database (tests: no query appears mid-test)."""
    global _rules, _loaded_at
    with _lock:
        _rules, _loaded_at = held, float("inf")


def forget() -> None:
    """Drop this process's cached switches (an admin save in this process; tests)."""
    global _loaded_at
    with _lock:
        _loaded_at = None


def session_bucket(name: str, session_key: str) -> int:
    """Return the session's stable number 0..9999 for this switch (independent between switches)."""
    digest = hashlib.blake2b(f"{name}:{session_key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % 10000


def variant_of(rule: Rule, session_key: str | None) -> str:
    """Return the variant this session gets from the switch."""
    if rule.mode == SwitchMode.A:
        return rule.variant_a
    if rule.mode == SwitchMode.B:
        return rule.variant_b
    if not session_key:
        return rule.variant_a
    return rule.variant_b if session_bucket(rule.name, session_key) < rule.percent_b * 100 else rule.variant_a


def choose(session_key: str | None) -> dict[str, str]:
    """Return {switch name: variant} for a request of this session (empty when no switch is active)."""
    active = rules()
    if not active:
        return {}
    return {rule.name: variant_of(rule, session_key) for rule in active}


def label(variants: dict[str, str]) -> str:
    """Return the metrics label of these variants: "-" without an experiment, else "name=variant,..."."""
    if not variants:
        return "-"
    return ",".join(f"{name}={value}" for name, value in sorted(variants.items()))
