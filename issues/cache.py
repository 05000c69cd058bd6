"""Shared page cache for issue pages and navigator results: keys, invalidation, stampede control, metrics.

How it stays fresh (generations):
- Every issue, every project and the site as a whole have a generation counter in the
  shared cache (Redis). A write bumps the counters it touches: O(1), no key scans.
- Readers read the current counters first (one MGET), then look for the entry whose key
  contains those counters. After a bump no reader ever builds that old key again, so old
  entries are unreachable and simply expire.
- Writes bump twice: immediately (inside the transaction) and again when it commits
  (transaction.on_commit, robust). A reader that slipped in between the first bump and
  the commit may store old rows under the new key, but the commit bump moves past it
  before the outermost atomic block (and so the service call) returns.
- Callers can add a DB-side version (e.g. issue.updated) to a key: then even a write
  whose bump was lost (Redis unreachable from the writer) cannot leave a stale page.
- A process whose bump failed keeps it in `_pending` and replays it before it reads the
  cache again; until then it builds from the database.

What a failure does: every cache operation is guarded; a Redis error is logged, opens a
short circuit breaker (no 0.5 s timeout per call while Redis is down) and the page is
built from the database. Caching resumes by itself when Redis answers again.

On a process-local cache (LocMemCache, the embedded default) the page cache is off unless
settings.TASKRA_PAGE_CACHE says otherwise: a Celery worker's writes could not reach the web
server's memory, so shared entries could go stale there.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import logging
import re
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, TypeVar

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.locmem import LocMemCache
from django.db import transaction

logger = logging.getLogger("taskra.cache")

T = TypeVar("T")

PAGE_TYPES = ("issue", "issue_body", "navigator")
METRIC_FIELDS = ("hits", "misses", "rebuilds", "waits", "errors", "rebuild_us")

GEN_TIMEOUT = None  # generation counters never expire: losing one could resurrect an old entry
STAMPEDE_LOCK_SECONDS = 10  # a rebuild slower than this lets a second process start one
STAMPEDE_WAIT_SECONDS = 3.0  # waiters give up on the rebuilder after this and build themselves
STAMPEDE_POLL_SECONDS = 0.005
BREAKER_SECONDS = 2.0  # after a cache error, skip the cache this long (no timeout per request)
METRICS_FLUSH_SECONDS = 1.0

_MISSING = object()

# Compare-and-delete: release a stampede lock only if we still own it.
_RELEASE_LUA = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"
# Create a missing counter at a time-based value (never reused, even after eviction) and bump it.
_BUMP_LUA = "for i, k in ipairs(KEYS) do redis.call('set', k, ARGV[1], 'NX'); redis.call('incr', k) end return #KEYS"


class CacheDown(Exception):
    """The shared cache did not answer; callers fall back to the database."""


# ---------------------------------------------------------------------------------------------
# Backend access: raw Redis (pipelines, Lua) when django-redis is configured, the Django cache
# API otherwise. Every failure raises CacheDown.


def _cache() -> Any:
    # Looked up per call so override_settings(CACHES=...) in tests takes effect.
    return caches["default"]


def _redis(c: Any) -> Any | None:
    """Return the raw redis-py client behind a django-redis cache, else None."""
    client = getattr(c, "client", None)
    if client is None or not hasattr(client, "get_client"):
        return None
    return client


def _now_us() -> int:
    return time.time_ns() // 1000


class _Breaker:
    """Skip the cache for a short while after it failed, so an outage costs one timeout, not one per call."""

    def __init__(self) -> None:
        self.open_until = 0.0

    def allow(self) -> bool:
        return time.monotonic() >= self.open_until

    def trip(self, exc: BaseException) -> None:
        if self.allow():
            logger.warning("shared cache unavailable, serving from the database: %s", exc)
        self.open_until = time.monotonic() + BREAKER_SECONDS

    def reset(self) -> None:
        self.open_until = 0.0


_breaker = _Breaker()
_pending_lock = threading.Lock()
_pending: set[str] = set()  # generation keys whose bump failed; replayed before the next read


def _guard(fn: Callable[[], T]) -> T:
    if not _breaker.allow():
        raise CacheDown("breaker open")
    try:
        return fn()
    except CacheDown:
        raise
    except Exception as exc:  # redis errors, OSError, socket timeouts: never fail the request
        _breaker.trip(exc)
        raise CacheDown(str(exc)) from exc


def _get_many(keys: Sequence[str]) -> dict[str, Any]:
    c = _cache()
    rc = _redis(c)

    def run() -> dict[str, Any]:
        if rc is not None:
            raw = rc.get_client(write=False).mget([rc.make_key(k) for k in keys])
            return {k: rc.decode(v) for k, v in zip(keys, raw, strict=True) if v is not None}
        return c.get_many(keys)

    return _guard(run)


def _set(key: str, value: Any, timeout: int | None) -> None:
    c = _cache()
    rc = _redis(c)

    def run() -> None:
        if rc is not None:
            t = c.get_backend_timeout(DEFAULT_TIMEOUT if timeout is None else timeout)
            rc.get_client(write=True).set(rc.make_key(key), rc.encode(value), px=None if t is None else int(t * 1000))
        else:
            c.set(key, value, DEFAULT_TIMEOUT if timeout is None else timeout)

    _guard(run)


def _add_lock(key: str, token: str) -> bool:
    c = _cache()
    rc = _redis(c)

    def run() -> bool:
        if rc is not None:
            return bool(rc.get_client(write=True).set(rc.make_key(key), token, nx=True, ex=STAMPEDE_LOCK_SECONDS))
        return bool(c.add(key, token, STAMPEDE_LOCK_SECONDS))

    return _guard(run)


def _lock_held(key: str) -> bool:
    c = _cache()
    rc = _redis(c)

    def run() -> bool:
        if rc is not None:
            return bool(rc.get_client(write=False).exists(rc.make_key(key)))
        return c.get(key) is not None

    return _guard(run)


def _release_lock(key: str, token: str) -> None:
    c = _cache()
    rc = _redis(c)

    def run() -> None:
        if rc is not None:
            rc.get_client(write=True).eval(_RELEASE_LUA, 1, rc.make_key(key), token)
        elif c.get(key) == token:
            c.delete(key)

    with contextlib.suppress(CacheDown):  # the lock expires by itself
        _guard(run)


def _bump_keys(keys: Sequence[str]) -> None:
    """Bump generation counters in one round trip; remember them for replay when the cache is down."""
    if not keys:
        return
    c = _cache()
    rc = _redis(c)
    start = _now_us()

    def run() -> None:
        if rc is not None:
            rc.get_client(write=True).eval(_BUMP_LUA, len(keys), *[rc.make_key(k) for k in keys], start)
        else:
            for k in keys:
                c.add(k, start, GEN_TIMEOUT)
                c.incr(k)

    if not _breaker.allow():  # known down: queue it rather than wait for a timeout
        with _pending_lock:
            _pending.update(keys)
        return
    try:
        run()
    except Exception as exc:
        _breaker.trip(exc)
        with _pending_lock:
            _pending.update(keys)
        logger.error("cache generation bump failed, will replay before the next cache read: %s", exc)


def _create_counters(keys: Sequence[str]) -> None:
    c = _cache()
    rc = _redis(c)
    start = _now_us()

    def run() -> None:
        if rc is not None:
            pipe = rc.get_client(write=True).pipeline(transaction=False)
            for k in keys:
                pipe.set(rc.make_key(k), start, nx=True)
            pipe.execute()
        else:
            for k in keys:
                c.add(k, start, GEN_TIMEOUT)

    _guard(run)


def _replay_pending() -> None:
    """Replay failed bumps; raise CacheDown while they cannot be applied (reads must not trust the cache)."""
    if not _pending:
        return
    with _pending_lock:
        keys = sorted(_pending)
    c = _cache()
    rc = _redis(c)
    start = _now_us()

    def run() -> None:
        if rc is not None:
            rc.get_client(write=True).eval(_BUMP_LUA, len(keys), *[rc.make_key(k) for k in keys], start)
        else:
            for k in keys:
                c.add(k, start, GEN_TIMEOUT)
                c.incr(k)

    _guard(run)
    with _pending_lock:
        _pending.difference_update(keys)


# ---------------------------------------------------------------------------------------------
# Generations and invalidation


GLOBAL_GEN_KEY = "gen:global"


def _issue_gen_key(issue_id: int) -> str:
    return f"gen:issue:{issue_id}"


def _project_gen_key(project_id: int) -> str:
    return f"gen:project:{project_id}"


def _gen_keys(issue_ids: Iterable[int], project_ids: Iterable[int]) -> list[str]:
    return (
        [GLOBAL_GEN_KEY]
        + [_issue_gen_key(i) for i in sorted({int(i) for i in issue_ids if i is not None})]
        + [_project_gen_key(p) for p in sorted({int(p) for p in project_ids if p is not None})]
    )


def read_generations(keys: Sequence[str]) -> tuple[int, ...]:
    """Return the current generation of each key, creating missing ones; raise CacheDown when unavailable."""
    _replay_pending()
    got = _get_many(keys)
    missing = [k for k in keys if k not in got]
    if missing:
        # Never-bumped (or evicted) counters start at a time-based value no earlier entry used. Only
        # create them (SET NX), never bump here: concurrent first readers must agree on one value.
        _create_counters(missing)
        got.update(_get_many(missing))
        if any(k not in got for k in missing):
            raise CacheDown("generation counters vanished")
    return tuple(int(got[k]) for k in keys)


def invalidate_issues(issue_ids: Iterable[int], project_ids: Iterable[int]) -> None:
    """Make every cached page showing these issues, and their projects' result pages, stale (bulk jobs, imports)."""
    keys = _gen_keys(issue_ids, project_ids)[1:]
    _bump_keys(keys)


def invalidate_issue(issue_id: int, project_id: int | None = None) -> None:
    """Make every cached page showing this issue (and its project's lists) stale."""
    invalidate_issues([issue_id], [] if project_id is None else [project_id])


def invalidate_project(project_id: int) -> None:
    """Make every cached result page of a project stale."""
    invalidate_issues([], [project_id])


def invalidate_all() -> None:
    """Make every cached page stale (renamed statuses, priorities, projects, display names)."""
    _bump_keys([GLOBAL_GEN_KEY])


def invalidate_on_commit(
    issue_ids: Iterable[int] = (),
    project_ids: Iterable[int] = (),
    *,
    everything: bool = False,
    using: str | None = None,
) -> None:
    """Bump now and again when the current transaction commits (runs at once outside a transaction).

    The first bump keeps readers off the old entry while the write is in flight; the second,
    after the commit, retires anything a reader built from the not-yet-committed state. All
    calls in one transaction share one commit hook: one bump for everything the transaction
    touched, then one refresh of the touched issues' pages (schedule_refresh).
    """
    issue_ids, project_ids = list(issue_ids), list(project_ids)
    if everything:
        invalidate_all()
    invalidate_issues(issue_ids, project_ids)
    conn = transaction.get_connection(using)
    level = frozenset(conn.savepoint_ids)
    batches = conn.__dict__.setdefault("_taskra_commit_batches", {})
    batch = batches.get(level)
    # One batch per savepoint level: a hook registered in a savepoint that rolled back is gone from
    # run_on_commit, and one that ran is done; start a new batch then.
    pending = {id(entry[1]) for entry in conn.run_on_commit}
    if batch is None or batch.done or id(batch) not in pending:
        for key in [k for k, b in batches.items() if b.done or id(b) not in pending]:
            del batches[key]  # ran or rolled back: forget it (long-lived connections)
        batch = batches[level] = _CommitBatch()
        batch.add(issue_ids, project_ids, everything)
        transaction.on_commit(batch, using=using, robust=True)  # runs at once in autocommit
    else:
        batch.add(issue_ids, project_ids, everything)


class _CommitBatch:
    """What one transaction invalidated: bumped again and refreshed once, when it commits."""

    def __init__(self) -> None:
        self.issue_ids: set[int] = set()
        self.project_ids: set[int] = set()
        self.everything = False
        self.done = False

    def add(self, issue_ids: list[int], project_ids: list[int], everything: bool) -> None:
        self.issue_ids.update(i for i in issue_ids if i is not None)
        self.project_ids.update(p for p in project_ids if p is not None)
        self.everything = self.everything or everything

    def __call__(self) -> None:
        self.done = True
        if self.everything:
            invalidate_all()
        invalidate_issues(self.issue_ids, self.project_ids)
        schedule_refresh(self.issue_ids)


REFRESH_MAX_ISSUES = 20  # bulk writes leave their pages to readers rather than queue thousands of renders


def schedule_refresh(issue_ids: Iterable[int | None]) -> None:
    """Queue a rebuild of these issues' pages (issues.tasks.refresh_issue_pages) so the next read is a hit.

    Only after the write committed and the generations moved; never fails or delays the write: a
    broker that does not answer at once is logged and the pages are rebuilt by their next reader.
    """
    if not getattr(settings, "TASKRA_PAGE_REFRESH", False) or not page_cache_enabled():
        return
    ids = sorted({int(i) for i in issue_ids if i is not None})
    if not ids or len(ids) > REFRESH_MAX_ISSUES:
        return
    from issues.tasks import refresh_issue_pages

    try:
        refresh_issue_pages.apply_async(args=[ids], expires=60, retry=False)
    except Exception as exc:
        logger.warning("could not queue the page refresh of issues %s: %s", ids, exc)


# ---------------------------------------------------------------------------------------------
# Metrics: counted in process, flushed to Redis counters at most once a second.

_metrics_lock = threading.Lock()
_metrics: dict[tuple[str, str], int] = {}
_metrics_flushed = time.monotonic()
_request_local = threading.local()


@contextlib.contextmanager
def quiet_metrics() -> Iterator[None]:
    """Leave hits and misses uncounted inside the block: background refreshes are not reads."""
    _request_local.quiet = True
    try:
        yield
    finally:
        _request_local.quiet = False


def _count(page_type: str, field: str, amount: int = 1) -> None:
    global _metrics_flushed
    if getattr(_request_local, "quiet", False):
        return
    with _metrics_lock:
        _metrics[(page_type, field)] = _metrics.get((page_type, field), 0) + amount
        due = time.monotonic() - _metrics_flushed >= METRICS_FLUSH_SECONDS
    events = getattr(_request_local, "events", None)
    if events is not None:
        events.append((page_type, field, amount))
    if due:
        flush_metrics()


def _metric_key(page_type: str, field: str) -> str:
    return f"metrics:page:{page_type}:{field}"


def flush_metrics() -> bool:
    """Add the counts of this process to the shared counters; return False when the cache is down."""
    global _metrics_flushed
    with _metrics_lock:
        pending = {k: v for k, v in _metrics.items() if v}
        _metrics.clear()
        _metrics_flushed = time.monotonic()
    if not pending:
        return True
    c = _cache()
    rc = _redis(c)

    def run() -> None:
        if rc is not None:
            pipe = rc.get_client(write=True).pipeline(transaction=False)
            for (page_type, field), amount in pending.items():
                pipe.incrby(rc.make_key(_metric_key(page_type, field)), amount)
            pipe.execute()
        else:
            for (page_type, field), amount in pending.items():
                key = _metric_key(page_type, field)
                c.add(key, 0, None)
                c.incr(key, amount)

    try:
        _guard(run)
    except CacheDown:
        with _metrics_lock:  # keep them for the next flush
            for k, v in pending.items():
                _metrics[k] = _metrics.get(k, 0) + v
        return False
    return True


def cache_metrics() -> dict[str, dict[str, float]]:
    """Return the shared counters per page type with hit_rate and mean rebuild time (ms)."""
    flush_metrics()
    keys = [_metric_key(t, f) for t in PAGE_TYPES for f in METRIC_FIELDS]
    try:
        got = _get_many(keys)
    except CacheDown:
        got = {}
    out: dict[str, dict[str, float]] = {}
    for t in PAGE_TYPES:
        row = {f: int(got.get(_metric_key(t, f), 0)) for f in METRIC_FIELDS}
        lookups = row["hits"] + row["misses"]
        out[t] = {
            **row,
            "hit_rate": row["hits"] / lookups if lookups else 0.0,
            "rebuild_ms_avg": row["rebuild_us"] / row["rebuilds"] / 1000 if row["rebuilds"] else 0.0,
        }
    return out


def reset_metrics() -> None:
    """Zero the shared counters and the unflushed counts of this process."""
    with _metrics_lock:
        _metrics.clear()
    with contextlib.suppress(CacheDown):
        _guard(lambda: _cache().delete_many([_metric_key(t, f) for t in PAGE_TYPES for f in METRIC_FIELDS]))


def start_request_events() -> list[tuple[str, str, int]]:
    """Collect this thread's cache events until stop_request_events() (debug-toolbar panel)."""
    _request_local.events = []
    return _request_local.events


def stop_request_events() -> list[tuple[str, str, int]]:
    events = getattr(_request_local, "events", None) or []
    _request_local.events = None
    return events


# ---------------------------------------------------------------------------------------------
# Pages


def page_cache_enabled() -> bool:
    """Return whether shared page entries are used (on by default only on a shared cache)."""
    flag = getattr(settings, "TASKRA_PAGE_CACHE", None)
    if flag is not None:
        return bool(flag)
    return not isinstance(_cache(), LocMemCache)


def _entry_key(page_type: str, key_parts: Sequence[Any], gens: tuple[int, ...], version: Any) -> str:
    digest = hashlib.blake2b(repr((tuple(key_parts), gens, version)).encode(), digest_size=16).hexdigest()
    return f"page:{page_type}:{digest}"


def _timed_build(page_type: str, builder: Callable[[], T]) -> T:
    started = time.perf_counter()
    value = builder()
    _count(page_type, "rebuilds")
    _count(page_type, "rebuild_us", int((time.perf_counter() - started) * 1_000_000))
    return value


def get_or_build(
    page_type: str,
    key_parts: Sequence[Any],
    builder: Callable[[], T],
    *,
    issue_id: int | None = None,
    issue_ids: Iterable[int] = (),
    project_ids: Iterable[int] = (),
    version: Any = None,
    timeout: int | None = None,
) -> T:
    """Return the shared entry for (page_type, key_parts) at the current generations, building it on a miss.

    key_parts must hold everything that decides what the viewer may see besides the
    generations (e.g. the sorted visible project ids for result pages); never put per-user
    parts (edit buttons, "me") in the value. issue_id/issue_ids/project_ids name the
    generations the entry depends on; version is an optional DB-side version (issue.updated).
    The value must be serializable (dicts, lists, str: see taskra_site.cache_serializer).

    One process rebuilds a missing entry while the others wait for it (up to
    STAMPEDE_WAIT_SECONDS). When the cache is unavailable the page is built from the database.
    """
    if page_type not in PAGE_TYPES:
        raise ValueError(f"unknown page type {page_type!r}")
    if not page_cache_enabled():
        return builder()
    ids = [*issue_ids, *([issue_id] if issue_id is not None else [])]
    try:
        gens = read_generations(_gen_keys(ids, project_ids))
        key = _entry_key(page_type, key_parts, gens, version)
        value = _get_many([key]).get(key, _MISSING)
    except CacheDown:
        _count(page_type, "errors")
        return _timed_build(page_type, builder)
    if value is not _MISSING:
        _count(page_type, "hits")
        return value
    _count(page_type, "misses")
    return _rebuild(page_type, key, builder, timeout)


def _store(page_type: str, key: str, value: Any, timeout: int | None) -> None:
    try:
        _set(key, value, timeout)
    except CacheDown:
        _count(page_type, "errors")


def _rebuild(page_type: str, key: str, builder: Callable[[], T], timeout: int | None) -> T:
    lock_key = f"{key}:lock"
    token = uuid.uuid4().hex
    deadline = time.monotonic() + STAMPEDE_WAIT_SECONDS
    try:
        while True:
            if _add_lock(lock_key, token):
                try:
                    # The previous holder may have stored the entry just before releasing the lock.
                    value = _get_many([key]).get(key, _MISSING)
                    if value is not _MISSING:
                        _count(page_type, "waits")
                        return value
                    value = _timed_build(page_type, builder)
                    _store(page_type, key, value, timeout)
                    return value
                finally:
                    _release_lock(lock_key, token)
            # Someone else is rebuilding: wait for the entry rather than hit the database too.
            while time.monotonic() < deadline:
                time.sleep(STAMPEDE_POLL_SECONDS)
                value = _get_many([key]).get(key, _MISSING)
                if value is not _MISSING:
                    _count(page_type, "waits")
                    return value
                if not _lock_held(lock_key):
                    break  # the rebuilder failed or gave up: try to take over
            else:
                break  # waited long enough
    except CacheDown:
        _count(page_type, "errors")
    return _timed_build(page_type, builder)


# ---------------------------------------------------------------------------------------------
# In-process LRU of hot Issue rows, checked against the shared generations on every access.


class BoundedLRU:
    """A bounded, thread-safe LRU map: the least recently used entry goes when a put exceeds the bound."""

    def __init__(self, max_entries: int) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be positive")
        self.max_entries = max_entries
        self._data: OrderedDict[Any, Any] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._data)

    def get(self, key: Any, default: Any = None) -> Any:
        """Return the entry (marking it recently used), or default."""
        with self._lock:
            if key not in self._data:
                return default
            self._data.move_to_end(key)
            return self._data[key]

    def peek(self, key: Any) -> Any:
        """Return the entry or None, without marking it used."""
        with self._lock:
            return self._data.get(key)

    def touch(self, key: Any) -> None:
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)

    def set(self, key: Any, value: Any) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.max_entries:
                self._data.popitem(last=False)

    def discard(self, key: Any) -> None:
        with self._lock:
            self._data.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


class IssueLRU(BoundedLRU):
    """Hot issue objects keyed by issue key, each tagged with the generations it was read at."""

    def __init__(self, max_entries: int) -> None:
        super().__init__(max_entries)
        self.hits = 0
        self.misses = 0

    def put(self, key: str, issue_id: int, project_id: int, gens: tuple[int, ...], issue: Any) -> None:
        self.set(key, (issue_id, project_id, gens, issue))


issue_lru = IssueLRU(getattr(settings, "TASKRA_ISSUE_LRU_SIZE", 512))


def load_issue(**lookup: Any) -> Any | None:
    """Return the issue matching the lookup with the issue page's lookups joined, or None (no permission check)."""
    from issues.models import Issue

    return (
        Issue.objects.select_related(
            "project", "type", "status", "priority", "resolution", "assignee__profile", "reporter__profile", "parent"
        )
        .filter(**lookup)
        .first()
    )


def get_cached_issue(key: str) -> Any | None:
    """Return the issue with this key (with its lookups joined) or None, from the in-process LRU when still current.

    Performs no permission check: callers must check the viewer's membership of
    issue.project_id. The entry is served only when the issue's, its project's and the
    global generations equal those it was read at, so it is never older than a shared
    entry; when the shared cache is unavailable the row comes from the database.
    Returns a shallow copy: callers may modify it.
    """
    key = key.upper()
    if not page_cache_enabled():
        return load_issue(key=key)
    entry = issue_lru.peek(key)
    try:
        if entry is not None:
            issue_id, project_id, cached_gens, issue = entry
            gens = read_generations(_gen_keys([issue_id], [project_id]))
            if gens == cached_gens:
                issue_lru.touch(key)
                issue_lru.hits += 1
                return copy.copy(issue)
        else:
            from issues.models import Issue

            ids = Issue.objects.filter(key=key).values_list("id", "project_id").first()
            if ids is None:
                return None
            issue_id, project_id = ids
            gens = read_generations(_gen_keys([issue_id], [project_id]))
    except CacheDown:
        issue_lru.discard(key)
        return load_issue(key=key)
    issue_lru.misses += 1
    # Generations were read before the row: a write after this read bumps past them.
    issue = load_issue(pk=issue_id)
    if issue is None:
        issue_lru.discard(key)
        return None
    issue_lru.put(key, issue.pk, issue.project_id, gens, issue)
    return copy.copy(issue)


def reset_state() -> None:
    """Forget process-local state: breaker, pending bumps, unflushed metrics, the LRU (tests)."""
    _breaker.reset()
    with _pending_lock:
        _pending.clear()
    with _metrics_lock:
        _metrics.clear()
    issue_lru.clear()
    role_memo.clear()


# ---------------------------------------------------------------------------------------------
# Signals: a safety net for writes that bypass the services (admin forms, scripts, cascades).
# Bulk statements (bulk_create, QuerySet.update) send no signals: their callers call
# invalidate_issues() themselves.


def _on_issue_saved(sender: Any, instance: Any, **kwargs: Any) -> None:
    ids = [instance.pk, instance.parent_id, getattr(instance, "_cache_old_parent_id", None)]
    projects = [instance.project_id, getattr(instance, "_cache_old_project_id", None)]
    invalidate_on_commit(ids, projects, using=kwargs.get("using"))


def _on_issue_pre_save(sender: Any, instance: Any, update_fields: Any = None, **kwargs: Any) -> None:
    # A sub-task moved to another parent must drop off the old parent's page too, and an issue moved to
    # another project (admin) off the old project's result pages.
    fields = None if update_fields is None else set(update_fields)
    if instance.pk and (fields is None or fields & {"parent", "project"}):
        old = sender.objects.filter(pk=instance.pk).values_list("parent_id", "project_id").first()
        if old is not None:
            if old[0] != instance.parent_id:
                instance._cache_old_parent_id = old[0]
            if old[1] != instance.project_id:
                instance._cache_old_project_id = old[1]


def _on_child_changed(sender: Any, instance: Any, **kwargs: Any) -> None:
    # Comments, history rows and worklogs show on their issue's page.
    invalidate_on_commit([instance.issue_id], [], using=kwargs.get("using"))


def _on_labels_changed(sender: Any, instance: Any, action: str, reverse: bool, pk_set: Any, **kwargs: Any) -> None:
    if not action.startswith("post_"):
        return
    from issues.models import Issue

    if not reverse:
        invalidate_on_commit([instance.pk], [instance.project_id], using=kwargs.get("using"))
        return
    # label.issues.add(...): the issues are in pk_set (None on clear: every page may show the label)
    if pk_set is None:
        invalidate_on_commit(everything=True, using=kwargs.get("using"))
        return
    rows = list(Issue.objects.filter(pk__in=pk_set).values_list("id", "project_id"))
    invalidate_on_commit([r[0] for r in rows], [r[1] for r in rows], using=kwargs.get("using"))


def _on_lookup_changed(sender: Any, instance: Any = None, **kwargs: Any) -> None:
    # Statuses, priorities, types, resolutions, labels, projects and display names show on many pages.
    invalidate_on_commit(everything=True, using=kwargs.get("using"))


def _on_user_saved(sender: Any, instance: Any, update_fields: Any = None, **kwargs: Any) -> None:
    # Names and active flags show on pages (assignees, member lists); logins only touch last_login.
    if update_fields is not None and set(update_fields) <= {"last_login"}:
        return
    invalidate_on_commit(everything=True, using=kwargs.get("using"))


def connect_signals() -> None:
    """Connect the invalidation safety net (called from IssuesConfig.ready)."""
    from django.db.models.signals import m2m_changed, post_delete, post_save, pre_save

    from accounts.models import Profile
    from issues.models import Comment, History, Issue, IssueType, Label, Priority, Project, Resolution, Status
    from worklogs.models import Worklog

    # No delete receivers on issues and their children: any receiver disables Django's fast
    # (single-statement) cascade delete, and deleting a project would load every row. Deletes go
    # through issue_delete / worklog_delete, which invalidate.
    pre_save.connect(_on_issue_pre_save, sender=Issue, dispatch_uid="taskra_cache_issue_pre")
    post_save.connect(_on_issue_saved, sender=Issue, dispatch_uid="taskra_cache_issue_save")
    for model in (Comment, History, Worklog):
        post_save.connect(_on_child_changed, sender=model, dispatch_uid=f"taskra_cache_{model.__name__}_save")
    m2m_changed.connect(_on_labels_changed, sender=Issue.labels.through, dispatch_uid="taskra_cache_labels")
    from django.contrib.auth import get_user_model

    from issues.models import Membership

    post_save.connect(_on_user_saved, sender=get_user_model(), dispatch_uid="taskra_cache_user_save")
    # Memberships: the assignee choices on rendered issue pages list a project's members.
    for model in (IssueType, Status, Priority, Resolution, Label, Project, Profile, Membership):
        uid = f"taskra_cache_{model.__name__}"
        post_save.connect(_on_lookup_changed, sender=model, dispatch_uid=f"{uid}_save")
        post_delete.connect(_on_lookup_changed, sender=model, dispatch_uid=f"{uid}_delete")


# ---------------------------------------------------------------------------------------------
# Result pages (navigator, search API)

_TIME_RELATIVE_JQL = re.compile(r"(now|startof\w*|endof\w*)\s*\(|(?<![\w.])[-+]?\d+\s*[wdhm]\b", re.IGNORECASE)
_USER_RELATIVE_JQL = re.compile(r"currentuser\s*\(", re.IGNORECASE)


def get_or_build_results(
    *, user: Any, query: dict[str, Any], builder: Callable[[], T], variant: Sequence[str] = ()
) -> T:
    """Return a result page (navigator) from the shared cache, keyed by the viewer's access and every query input.

    The key holds the sorted ids of the projects the viewer may see, so users with different
    access never share an entry; the page depends on those projects' generations. JQL using
    currentUser() adds the user to the key; JQL relative to the clock (now(), startOfDay(), -7d)
    is never cached, since its results change without any write. variant holds what else the
    value depends on (e.g. the time zone its dates were rendered in).
    """
    jql = str(query.get("jql") or "")
    if _TIME_RELATIVE_JQL.search(jql) or not page_cache_enabled():
        return builder()
    project_ids, scoped_ids = _visible_and_scoped_projects(user, jql)
    viewer = user.pk if _USER_RELATIVE_JQL.search(jql) else None
    parts = [tuple(project_ids), viewer, sorted((k, repr(v)) for k, v in query.items()), tuple(variant)]
    # Only the projects the query can match decide the page: a write elsewhere leaves it valid.
    return get_or_build("navigator", parts, builder, project_ids=scoped_ids)


def _visible_and_scoped_projects(user: Any, jql: str) -> tuple[list[int], list[int]]:
    """Return (ids of the projects the user may see, those of them the JQL can match), in one query."""
    from django.db.models import BooleanField, ExpressionWrapper, Value

    from issues.jql import project_scope
    from issues.models import Project
    from issues.permissions import visible_project_ids

    scope = project_scope(jql)
    in_scope = Value(True) if scope is None else ExpressionWrapper(scope, output_field=BooleanField())
    rows = sorted(
        Project.objects.filter(pk__in=visible_project_ids(user))
        .annotate(in_scope=in_scope)
        .values_list("pk", "in_scope")
    )
    return [pk for pk, _ in rows], [pk for pk, scoped in rows if scoped]


# ---------------------------------------------------------------------------------------------
# Rendered issue-page bodies: shared HTML with the per-request tokens taken out

_CSRF_PLACEHOLDER = "__TASKRA_CSRF_TOKEN__"
_FORM_TOKEN_PLACEHOLDER = "__TASKRA_FORM_TOKEN__"
_CSRF_RE = re.compile(r'(name="csrfmiddlewaretoken" value=")[^"]*(")')
_FORM_TOKEN_RE = re.compile(r'(name="form_token" value=")[^"]*(")')


class NotShareable(Exception):
    """A rendered body held a per-request token the placeholders did not recognise: never share it."""

    def __init__(self, html: str) -> None:
        super().__init__("rendered body is not shareable")
        self.html = html


def shareable_html(html: str) -> str:
    """Return the HTML with CSRF and one-time form tokens replaced by placeholders; raise NotShareable."""
    out, csrf = _CSRF_RE.subn(rf"\g<1>{_CSRF_PLACEHOLDER}\g<2>", html)
    out, tokens = _FORM_TOKEN_RE.subn(rf"\g<1>{_FORM_TOKEN_PLACEHOLDER}\g<2>", out)
    # Every token must have been recognised, or one user's token would reach another (or a reload).
    if csrf != html.count("csrfmiddlewaretoken") or tokens != html.count('name="form_token"'):
        raise NotShareable(html)
    return out


def personalize_html(html: str, request: Any) -> str:
    """Fill the placeholders of a shared body for this request: its CSRF token and fresh one-time form tokens."""
    from django.middleware.csrf import get_token

    from issues.idempotency import new_token

    if _CSRF_PLACEHOLDER in html:
        html = html.replace(_CSRF_PLACEHOLDER, get_token(request))
    if _FORM_TOKEN_PLACEHOLDER in html:
        html = re.sub(_FORM_TOKEN_PLACEHOLDER, lambda _m: new_token(), html)
    return html


def get_or_render_issue_body(
    *,
    request: Any,
    issue: Any,
    data: dict[str, Any],
    role: str | None,
    time_zone: str,
    render: Callable[[], str],
) -> str:
    """Return the issue page's rendered body for this viewer, shared by every viewer who would see the same HTML.

    The key holds what changes the body: the role (edit buttons and forms), the time zone (dates)
    and, only for a viewer who wrote a comment or worklog shown on the page, the viewer's id
    ("edit your comment" links). CSRF and one-time form tokens are replaced by placeholders
    before storing and filled in per request. Same generations and version as the payload.
    """
    viewer = request.user.pk
    own = _viewer_wrote_on(data, viewer)
    parts = _body_parts(issue, role, time_zone, viewer if own else 0)

    def build() -> str:
        html = shareable_html(render())
        if not own:
            _record_body_variant(issue.pk, role, time_zone)
        return html

    try:
        body = get_or_build(
            "issue_body",
            parts,
            build,
            issue_id=issue.pk,
            issue_ids=[issue.parent_id],
            version=issue.updated.isoformat(),
        )
    except NotShareable as exc:
        logger.warning("issue page body of %s not shareable: unrecognised per-request token", issue.pk)
        return exc.html
    return personalize_html(body, request)


def _variants_key(issue_id: int) -> str:
    return f"bodyvariants:{issue_id}"


def _record_body_variant(issue_id: int, role: str | None, time_zone: str) -> None:
    """Remember that readers use this (role, time zone) body of the issue, for the refresh after a write."""
    rc = _redis(_cache())
    if rc is None or not role:
        return

    def run() -> None:
        key = rc.make_key(_variants_key(issue_id))
        pipe = rc.get_client(write=True).pipeline(transaction=False)
        pipe.sadd(key, f"{role}|{time_zone}")
        pipe.expire(key, int(_cache().default_timeout))
        pipe.execute()

    with contextlib.suppress(CacheDown):
        _guard(run)


def body_variants(issue_id: int) -> list[tuple[str, str]]:
    """Return the (role, time zone) bodies of the issue that readers rendered recently (none when unknown)."""
    rc = _redis(_cache())
    if rc is None:
        return []

    def run() -> set[bytes]:
        return rc.get_client(write=False).smembers(rc.make_key(_variants_key(issue_id)))

    try:
        members = _guard(run)
    except CacheDown:
        return []
    return sorted(tuple(m.decode().split("|", 1)) for m in members)  # type: ignore[misc]


def _body_parts(issue: Any, role: str | None, time_zone: str, own_viewer: int) -> list[Any]:
    return [issue.pk, "body", role or "", time_zone, own_viewer]


def _viewer_wrote_on(data: dict[str, Any], viewer: Any) -> bool:
    rows = [*data.get("comments", ()), *data.get("worklogs", ())]
    return any((row.get("author") or {}).get("id") == viewer for row in rows)


# Project roles keyed by (user, project, global generation). Membership saves and deletes bump the global
# generation (the signals below), and every request reads the current one from the shared cache before it
# looks here, so an entry is never used after a membership change committed: the same rule as the issue LRU.
role_memo = BoundedLRU(4096)


class IssuePageHit:
    """What the fast path found: the issue row, the viewer's role, and the page when fully cached."""

    __slots__ = ("issue", "role", "data", "body")

    def __init__(self, issue: Any, role: str | None, data: Any = None, body: str | None = None) -> None:
        self.issue, self.role, self.data, self.body = issue, role, data, body


def get_cached_issue_page(*, key: str, user: Any, time_zone: str) -> IssuePageHit | None:
    """Return the issue page for this viewer from two cache round trips and no database query, or None.

    Only for issues in the in-process LRU: one MGET reads the issue's, its parent's, its
    project's and the global generations (validating the LRU row and naming the page
    entries), the viewer's role comes from role_memo at that global generation (one
    indexed query when missing), and a second MGET fetches the payload and both candidate
    bodies (shared, and the viewer's own for pages showing their comments or worklogs). The
    payload's author list then picks the body exactly as get_or_render_issue_body would:
    same keys, generations and version as the slow path, so this never serves anything that
    path would not. Returns a hit with role None for non-members (the caller answers 404),
    and a hit with data/body None when the page itself is not cached (the caller renders it
    with the role it already has). None means: take the slow path from the start.
    """
    if not page_cache_enabled() or not user.is_authenticated:
        return None
    entry = issue_lru.peek(key.upper())
    if entry is None:
        return None
    issue_id, project_id, cached_gens, issue = entry
    try:
        names = _gen_keys([issue_id, issue.parent_id], [project_id])
        current = dict(zip(names, read_generations(names), strict=True))
        if tuple(current[k] for k in _gen_keys([issue_id], [project_id])) != cached_gens:
            return None
        issue_lru.touch(key.upper())
        issue_lru.hits += 1
        issue = copy.copy(issue)
        role = _role_at(user.pk, project_id, current[GLOBAL_GEN_KEY])
        if role is None:
            return IssuePageHit(issue, None)
        gens = tuple(current[k] for k in _gen_keys([issue.parent_id, issue_id], []))
        version = issue.updated.isoformat()
        payload_key = _entry_key("issue", [issue_id], gens, version)
        shared_key = _entry_key("issue_body", _body_parts(issue, role, time_zone, 0), gens, version)
        own_key = _entry_key("issue_body", _body_parts(issue, role, time_zone, user.pk), gens, version)
        got = _get_many([payload_key, shared_key, own_key])
    except CacheDown:
        return None
    data = got.get(payload_key, _MISSING)
    body = (
        _MISSING if data is _MISSING else got.get(own_key if _viewer_wrote_on(data, user.pk) else shared_key, _MISSING)
    )
    if body is _MISSING:
        return IssuePageHit(issue, role)
    _count("issue", "hits")
    _count("issue_body", "hits")
    return IssuePageHit(issue, role, data, body)


def _role_at(user_id: int, project_id: int, global_gen: int) -> str | None:
    from issues.permissions import role_of  # a module-level import would load issues.models with the cache

    memo_key = (user_id, project_id, global_gen)
    role = role_memo.get(memo_key, _MISSING)
    if role is _MISSING:
        # Read after the generation: a membership change committing now bumps past global_gen.
        role = role_of(user_id=user_id, project_id=project_id)
        role_memo.set(memo_key, role)
    return role  # type: ignore[return-value]


def render_block(request: Any, template_name: str, block_name: str, context: dict[str, Any]) -> str:
    """Render one {% block %} of a template with the request's context processors (the shareable page body)."""
    from django.template import RequestContext
    from django.template.loader import get_template
    from django.template.loader_tags import BlockNode

    template = get_template(template_name).template
    block = next(n for n in template.nodelist.get_nodes_by_type(BlockNode) if n.name == block_name)
    ctx = RequestContext(request, context)
    with ctx.bind_template(template):
        return block.render(ctx)
