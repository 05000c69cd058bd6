"""The shared cache backend (Redis through django-redis, or Django's cache API): the only module that knows it.

Every operation is guarded: a backend error is logged once, opens a short circuit breaker (no socket
timeout per call while the cache is down) and raises CacheDown, so callers fall back to the database.
With django-redis the operations use the raw client (MGET, SET PX/NX, pipelines, Lua); on any other
backend (the local-memory default) the Django cache API does the same work.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from django.core.cache import caches
from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.locmem import LocMemCache

from taskra_site import timing

logger = logging.getLogger("taskra.cache")

T = TypeVar("T")

BREAKER_SECONDS = 2.0  # after a cache error, skip the cache this long (no timeout per request)
WARN_EVERY_SECONDS = 60.0  # a long outage is one warning a minute, however often the breaker re-trips

# Compare-and-delete: release a lock only if we still own it.
_RELEASE_LUA = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"
# Create each missing counter at ARGV[1] (a time-based value never reused, even after eviction) and bump it.
_BUMP_LUA = "for i, k in ipairs(KEYS) do redis.call('set', k, ARGV[1], 'NX'); redis.call('incr', k) end return #KEYS"


# What add_lock_and_get returns for a key that holds nothing.
MISSING: Any = object()


class CacheDown(Exception):
    """The shared cache did not answer; callers fall back to the database."""


class Breaker:
    """Skip the cache for a short while after it failed, so an outage costs one timeout, not one per call."""

    def __init__(self) -> None:
        self.open_until = 0.0
        self.warned_at: float | None = None

    def allow(self) -> bool:
        """Return whether the cache may be tried now."""
        return time.monotonic() >= self.open_until

    def trip(self, exc: BaseException) -> None:
        """Open the breaker for BREAKER_SECONDS (logged at most once every WARN_EVERY_SECONDS, no traceback)."""
        now = time.monotonic()
        if self.warned_at is None or now - self.warned_at >= WARN_EVERY_SECONDS:
            logger.warning("shared cache unavailable, serving from the database: %s", exc)
            self.warned_at = now
        self.open_until = now + BREAKER_SECONDS

    def reset(self) -> None:
        """Close the breaker (tests, or a known recovery)."""
        self.open_until = 0.0
        self.warned_at = None


breaker = Breaker()


def backend() -> Any:
    """Return the default cache backend, looked up per call so override_settings(CACHES=...) takes effect."""
    return caches["default"]


def is_process_local() -> bool:
    """Return whether the cache lives in this process only (LocMemCache): other processes cannot see its entries."""
    return isinstance(backend(), LocMemCache)


def default_timeout() -> int:
    """Return the backend's default entry lifetime in seconds."""
    return int(backend().default_timeout)


def _redis(c: Any) -> Any | None:
    """Return the django-redis client behind a cache (raw client, key maker, codec), else None."""
    client = getattr(c, "client", None)
    if client is None or not hasattr(client, "get_client"):
        return None
    return client


def guard(fn: Callable[[], T]) -> T:
    """Run one cache operation; raise CacheDown when the breaker is open or the backend failed (and trip it)."""
    if not breaker.allow():
        raise CacheDown("breaker open")
    started = timing.now_ns()
    try:
        return fn()
    except CacheDown:
        raise
    except Exception as exc:  # redis errors, OSError, socket timeouts: never fail the request
        breaker.trip(exc)
        raise CacheDown(str(exc)) from exc
    finally:
        # The request's cache time (Server-Timing "cache", request metrics); a no-op outside a request.
        timing.add_cache(timing.now_ns() - started)


def get_many(keys: Sequence[str]) -> dict[str, Any]:
    """Return the values of the keys that exist (one MGET on Redis)."""
    c = backend()
    rc = _redis(c)

    def run() -> dict[str, Any]:
        if rc is not None:
            raw = rc.get_client(write=False).mget([rc.make_key(k) for k in keys])
            return {k: rc.decode(v) for k, v in zip(keys, raw, strict=True) if v is not None}
        return c.get_many(keys)

    return guard(run)


def get_many_twice(first: Sequence[str], second: Sequence[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return the values of the keys that exist of two lists, read in that order in one round trip on Redis."""
    c = backend()
    rc = _redis(c)

    def run() -> tuple[dict[str, Any], dict[str, Any]]:
        if rc is not None:
            pipe = rc.get_client(write=False).pipeline(transaction=False)
            pipe.mget([rc.make_key(k) for k in first])
            pipe.mget([rc.make_key(k) for k in second])
            raw_first, raw_second = pipe.execute()
            return (
                {k: rc.decode(v) for k, v in zip(first, raw_first, strict=True) if v is not None},
                {k: rc.decode(v) for k, v in zip(second, raw_second, strict=True) if v is not None},
            )
        return c.get_many(first), c.get_many(second)

    return guard(run)


def set_value(key: str, value: Any, timeout: int | None) -> None:
    """Store a value (None: the backend's default lifetime)."""
    c = backend()
    rc = _redis(c)

    def run() -> None:
        if rc is not None:
            t = c.get_backend_timeout(DEFAULT_TIMEOUT if timeout is None else timeout)
            rc.get_client(write=True).set(rc.make_key(key), rc.encode(value), px=None if t is None else int(t * 1000))
        else:
            c.set(key, value, DEFAULT_TIMEOUT if timeout is None else timeout)

    guard(run)


def delete_many(keys: Sequence[str]) -> None:
    """Delete the keys (the raw client on Redis, so an error reaches the breaker instead of django-redis's log)."""
    c = backend()
    rc = _redis(c)

    def run() -> None:
        if rc is not None:
            if keys:
                rc.get_client(write=True).delete(*[rc.make_key(k) for k in keys])
        else:
            c.delete_many(list(keys))

    guard(run)


def add_lock(key: str, token: str, seconds: int) -> bool:
    """Take a lock held by token for at most `seconds`; return False when someone else holds it."""
    c = backend()
    rc = _redis(c)

    def run() -> bool:
        if rc is not None:
            return bool(rc.get_client(write=True).set(rc.make_key(key), token, nx=True, ex=seconds))
        return bool(c.add(key, token, seconds))

    return guard(run)


def add_lock_and_get(lock_key: str, token: str, seconds: int, key: str) -> tuple[bool, Any]:
    """Take a lock as add_lock does and read `key` in the same round trip; return (taken, value or MISSING).

    The value is read after the lock was taken (or refused): a holder who stored it and released the lock
    before this call is seen, so a taker who finds a value need not build it.
    """
    c = backend()
    rc = _redis(c)

    def run() -> tuple[bool, Any]:
        if rc is not None:
            pipe = rc.get_client(write=True).pipeline(transaction=False)
            pipe.set(rc.make_key(lock_key), token, nx=True, ex=seconds)
            pipe.get(rc.make_key(key))
            taken, raw = pipe.execute()
            return bool(taken), MISSING if raw is None else rc.decode(raw)
        taken = bool(c.add(lock_key, token, seconds))
        return taken, c.get(key, MISSING)

    return guard(run)


def set_value_and_release(
    key: str, value: Any, timeout: int | None, lock_key: str, token: str, *, remember: tuple[str, str] | None = None
) -> None:
    """Store a value (set_value) and release the lock token holds (release_lock) in one round trip.

    remember: (set key, member) to add to a set as set_add does, in the same round trip (Redis only).
    """
    c = backend()
    rc = _redis(c)

    def run() -> None:
        if rc is not None:
            t = c.get_backend_timeout(DEFAULT_TIMEOUT if timeout is None else timeout)
            pipe = rc.get_client(write=True).pipeline(transaction=False)
            pipe.set(rc.make_key(key), rc.encode(value), px=None if t is None else int(t * 1000))
            pipe.eval(_RELEASE_LUA, 1, rc.make_key(lock_key), token)
            if remember is not None:
                set_key = rc.make_key(remember[0])
                pipe.sadd(set_key, remember[1])
                pipe.expire(set_key, int(c.default_timeout))
            pipe.execute()
        else:
            c.set(key, value, DEFAULT_TIMEOUT if timeout is None else timeout)
            if c.get(lock_key) == token:
                c.delete(lock_key)

    guard(run)


def lock_held(key: str) -> bool:
    """Return whether anybody holds the lock."""
    c = backend()
    rc = _redis(c)

    def run() -> bool:
        if rc is not None:
            return bool(rc.get_client(write=False).exists(rc.make_key(key)))
        return c.get(key) is not None

    return guard(run)


def release_lock(key: str, token: str) -> None:
    """Release the lock if token still holds it; never raises (an unreleased lock expires by itself)."""
    c = backend()
    rc = _redis(c)

    def run() -> None:
        if rc is not None:
            rc.get_client(write=True).eval(_RELEASE_LUA, 1, rc.make_key(key), token)
        elif c.get(key) == token:
            c.delete(key)

    with contextlib.suppress(CacheDown):
        guard(run)


def bump_counters(keys: Sequence[str], start: int) -> None:
    """Increment each counter in one round trip, creating missing ones at `start` first."""
    c = backend()
    rc = _redis(c)

    def run() -> None:
        if rc is not None:
            rc.get_client(write=True).eval(_BUMP_LUA, len(keys), *[rc.make_key(k) for k in keys], start)
        else:
            for k in keys:
                c.add(k, start, None)
                c.incr(k)

    guard(run)


def create_and_get_counters(keys: Sequence[str], start: int) -> dict[str, Any]:
    """Create the missing counters at `start` (create_counters) and return every one's value, in one round trip."""
    c = backend()
    rc = _redis(c)

    def run() -> dict[str, Any]:
        if rc is not None:
            raw_keys = [rc.make_key(k) for k in keys]
            pipe = rc.get_client(write=True).pipeline(transaction=False)
            for raw_key in raw_keys:
                pipe.set(raw_key, start, nx=True)
            pipe.mget(raw_keys)
            raw = pipe.execute()[-1]
            return {k: rc.decode(v) for k, v in zip(keys, raw, strict=True) if v is not None}
        for k in keys:
            c.add(k, start, None)
        return c.get_many(keys)

    return guard(run)


def create_counters(keys: Sequence[str], start: int) -> None:
    """Create the missing counters at `start` without touching existing ones (SET NX)."""
    c = backend()
    rc = _redis(c)

    def run() -> None:
        if rc is not None:
            pipe = rc.get_client(write=True).pipeline(transaction=False)
            for k in keys:
                pipe.set(rc.make_key(k), start, nx=True)
            pipe.execute()
        else:
            for k in keys:
                c.add(k, start, None)

    guard(run)


def add_to_counters(amounts: Mapping[str, int]) -> None:
    """Add each amount to its counter (created at 0), in one pipeline on Redis."""
    c = backend()
    rc = _redis(c)

    def run() -> None:
        if rc is not None:
            pipe = rc.get_client(write=True).pipeline(transaction=False)
            for key, amount in amounts.items():
                pipe.incrby(rc.make_key(key), amount)
            pipe.execute()
        else:
            for key, amount in amounts.items():
                c.add(key, 0, None)
                c.incr(key, amount)

    guard(run)


def count_in_window(key: str, seconds: int) -> int:
    """Add one to a counter that lives `seconds` from its first count (later counts keep that expiry); return it."""
    c = backend()
    rc = _redis(c)

    def run() -> int:
        if rc is not None:
            raw_key = rc.make_key(key)
            pipe = rc.get_client(write=True).pipeline(transaction=False)
            pipe.set(raw_key, 0, ex=seconds, nx=True)
            pipe.incr(raw_key)
            return int(pipe.execute()[1])
        c.add(key, 0, seconds)
        return int(c.incr(key))

    return guard(run)


def set_add(key: str, member: str) -> bool:
    """Add a member to a set kept for the default lifetime; return False when the backend has no sets (not Redis)."""
    c = backend()
    rc = _redis(c)
    if rc is None:
        return False

    def run() -> None:
        raw_key = rc.make_key(key)
        pipe = rc.get_client(write=True).pipeline(transaction=False)
        pipe.sadd(raw_key, member)
        pipe.expire(raw_key, int(c.default_timeout))
        pipe.execute()

    guard(run)
    return True


def set_members(key: str) -> list[str]:
    """Return the members of a set (none when the backend has no sets)."""
    rc = _redis(backend())
    if rc is None:
        return []
    members = guard(lambda: rc.get_client(write=False).smembers(rc.make_key(key)))
    return sorted(m.decode() for m in members)
