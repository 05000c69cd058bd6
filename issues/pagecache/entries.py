"""Shared page entries: one key per (page type, key parts, generations, version), built once under a stampede lock.

On a process-local cache (LocMemCache, the embedded default) shared entries are off unless
settings.TASKRA_PAGE_CACHE says otherwise: a Celery worker's writes could not reach the web
server's memory, so its entries could go stale there.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from issues.pagecache.generations import (
    current_generations,
    gen_keys,
    page_cache_reads_enabled,
    read_generations_with,
)
from issues.pagecache.metrics import PAGE_TYPES, count
from taskra_site import sharedcache
from taskra_site.sharedcache import CacheDown

T = TypeVar("T")

STAMPEDE_LOCK_SECONDS = 10  # a rebuild slower than this lets a second process start one
STAMPEDE_WAIT_SECONDS = 3.0  # waiters give up on the rebuilder after this and build themselves
STAMPEDE_POLL_SECONDS = 0.005

MISSING: Any = sharedcache.MISSING


@dataclass(frozen=True)
class Entry:
    """One cached page: what names it and which generations retire it.

    key_parts must hold everything that decides what the viewer may see besides the generations
    (e.g. the sorted visible project ids for result pages); never per-user parts the value does not
    hold. issue_ids/project_ids/config_ids (projects' configurations: generations.project_config_gen_key) name
    the generations the entry depends on; version is an optional
    DB-side version (issue.updated): then even a write whose bump was lost cannot leave it stale.
    """

    page_type: str
    key_parts: tuple[Any, ...]
    issue_ids: tuple[int | None, ...] = ()
    project_ids: tuple[int | None, ...] = ()
    version: Any = None
    config_ids: tuple[int | None, ...] = ()

    def __post_init__(self) -> None:
        if self.page_type not in PAGE_TYPES:
            raise ValueError(f"unknown page type {self.page_type!r}")

    @property
    def gen_keys(self) -> list[str]:
        """Return the generation counters this entry depends on, in key order."""
        return gen_keys(self.issue_ids, self.project_ids, self.config_ids)

    def key(self, generations: Mapping[str, int]) -> str:
        """Return the entry's cache key at these generations (a mapping holding at least gen_keys)."""
        gens = tuple(generations[k] for k in self.gen_keys)
        digest = hashlib.blake2b(repr((self.key_parts, gens, self.version)).encode(), digest_size=16).hexdigest()
        return f"page:{self.page_type}:{digest}"


def lookup(entries: Sequence[Entry], generations: Mapping[str, int]) -> dict[Entry, Any]:
    """Return the values of the entries stored at these generations (one MGET); raise CacheDown."""
    keys = {entry: entry.key(generations) for entry in entries}
    got = sharedcache.get_many(list(dict.fromkeys(keys.values())))
    return {entry: got[key] for entry, key in keys.items() if key in got}


def lookup_if_current(
    entries: Sequence[Entry], expected: Mapping[str, int], *, outbox_checked: bool = False
) -> tuple[dict[str, int], dict[Entry, Any]] | None:
    """Return the current generations of `expected`'s counters and the entries stored at `expected`, in one round trip.

    For a caller that kept the generations it last read (the issue page's row LRU): it names the entries by them
    and reads them with the counters. The entries found are returned only when the counters still hold those
    generations (else {}: the caller reads again at the current ones). None when a counter is missing (read the
    generations the usual way). Raise CacheDown.
    """
    names = list(expected)
    keys = {entry: entry.key(expected) for entry in entries}
    gens, got = read_generations_with(names, list(dict.fromkeys(keys.values())), outbox_checked=outbox_checked)
    if gens is None:
        return None
    current = dict(zip(names, gens, strict=True))
    if current != dict(expected):
        return current, {}
    return current, {entry: got[key] for entry, key in keys.items() if key in got}


def _timed_build(page_type: str, builder: Callable[[], T]) -> T:
    started = time.perf_counter()
    value = builder()
    count(page_type, "rebuilds")
    count(page_type, "rebuild_us", int((time.perf_counter() - started) * 1_000_000))
    return value


def get_or_build(
    page_type: str,
    key_parts: Sequence[Any],
    builder: Callable[[], T],
    *,
    issue_id: int | None = None,
    issue_ids: Iterable[int | None] = (),
    project_ids: Iterable[int | None] = (),
    version: Any = None,
    timeout: int | None = None,
    outbox_checked: bool = False,
) -> T:
    """Return the shared entry for (page_type, key_parts) at the current generations, building it on a miss.

    See Entry for the arguments; issue_id is added to issue_ids. The value must be serializable
    (dicts, lists, str: see taskra_site.cache_serializer).
    """
    ids = (*issue_ids, *([issue_id] if issue_id is not None else []))
    entry = Entry(page_type, tuple(key_parts), issue_ids=ids, project_ids=tuple(project_ids), version=version)
    return get_or_build_entry(entry, builder, timeout=timeout, outbox_checked=outbox_checked)


def get_or_build_entry(
    entry: Entry, builder: Callable[[], T], *, timeout: int | None = None, outbox_checked: bool = False
) -> T:
    """Return the entry's value at the current generations, building it on a miss.

    One process rebuilds a missing entry while the others wait for it (up to
    STAMPEDE_WAIT_SECONDS). When the cache is unavailable the page is built from the database.
    outbox_checked: the request's user was loaded with the outbox empty (generations.outbox_seen_empty).
    """
    if not page_cache_reads_enabled(entry.page_type):
        return builder()
    try:
        key = entry.key(
            current_generations(
                entry.issue_ids, entry.project_ids, config_ids=entry.config_ids, outbox_checked=outbox_checked
            )
        )
        value = sharedcache.get_many([key]).get(key, MISSING)
    except CacheDown:
        count(entry.page_type, "errors")
        return _timed_build(entry.page_type, builder)
    if value is not MISSING:
        count(entry.page_type, "hits")
        return value
    count(entry.page_type, "misses")
    return _rebuild(entry.page_type, key, builder, timeout)


def build_entry(
    entry: Entry,
    generations: Mapping[str, int],
    builder: Callable[[], T],
    *,
    timeout: int | None = None,
    remember: Callable[[], tuple[str, str] | None] | None = None,
) -> T:
    """Return the entry's value at these generations, building it under the stampede lock: a lookup() just missed it.

    For callers that read the generations themselves (before anything the builder reads) and looked several
    entries up in one round trip: the same entry, lock and store as get_or_build_entry. remember, called after a
    build, may name a (set, member) to record in the round trip that stores the value.
    """
    count(entry.page_type, "misses")
    return _rebuild(entry.page_type, entry.key(generations), builder, timeout, remember)


def _rebuild(
    page_type: str,
    key: str,
    builder: Callable[[], T],
    timeout: int | None,
    remember: Callable[[], tuple[str, str] | None] | None = None,
) -> T:
    lock_key = f"{key}:lock"
    token = uuid.uuid4().hex
    deadline = time.monotonic() + STAMPEDE_WAIT_SECONDS
    try:
        while True:
            # The lock and the entry in one round trip: a value stored just before is used whoever holds the lock.
            taken, value = sharedcache.add_lock_and_get(lock_key, token, STAMPEDE_LOCK_SECONDS, key)
            if value is not MISSING:
                if taken:
                    sharedcache.release_lock(lock_key, token)
                count(page_type, "waits")
                return value
            if taken:
                try:
                    value = _timed_build(page_type, builder)
                except BaseException:
                    sharedcache.release_lock(lock_key, token)
                    raise
                try:
                    sharedcache.set_value_and_release(
                        key, value, timeout, lock_key, token, remember=remember() if remember is not None else None
                    )
                except CacheDown:
                    count(page_type, "errors")
                    sharedcache.release_lock(lock_key, token)
                return value
            # Someone else is rebuilding: wait for the entry rather than hit the database too.
            while time.monotonic() < deadline:
                time.sleep(STAMPEDE_POLL_SECONDS)
                value = sharedcache.get_many([key]).get(key, MISSING)
                if value is not MISSING:
                    count(page_type, "waits")
                    return value
                if not sharedcache.lock_held(lock_key):
                    break  # the rebuilder failed or gave up: try to take over
            else:
                break  # waited long enough
    except CacheDown:
        count(page_type, "errors")
    return _timed_build(page_type, builder)


def get_or_build_results(
    *,
    visible_project_ids: Sequence[int],
    scoped_project_ids: Sequence[int],
    viewer_id: int | None,
    query: Mapping[str, Any],
    builder: Callable[[], T],
    variant: Sequence[str] = (),
    outbox_checked: bool = False,
) -> T:
    """Return a result page (navigator) from the shared cache, keyed by the viewer's access and every query input.

    The caller says what the query means: the projects the viewer may see (users with different
    access never share an entry), those of them the query can match (only their generations retire
    the page: a write elsewhere leaves it valid), and viewer_id when the query depends on who asks
    (currentUser()), else None. variant holds what else the value depends on (e.g. the time zone its
    dates were rendered in). Queries relative to the clock must not come here: no write retires them.
    """
    parts = (tuple(visible_project_ids), viewer_id, sorted((k, repr(v)) for k, v in query.items()), tuple(variant))
    return get_or_build("navigator", parts, builder, project_ids=scoped_project_ids, outbox_checked=outbox_checked)
