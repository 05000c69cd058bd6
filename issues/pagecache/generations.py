"""Generation counters: how cached pages go stale without scanning or deleting keys.

Every issue, every project and the site as a whole have a counter in the shared cache. A write
bumps the counters it touches (O(1)); readers read the current counters first (one MGET) and look
for the entry whose key contains them, so after a bump no reader builds the old key again and old
entries simply expire.

A write bumps once, when its transaction commits (transaction.on_commit, robust): everything one
transaction invalidated is gathered in one batch and bumped in one round trip, so each write moves
each counter it touched exactly once. Until the commit, readers keep the committed state's entries,
which is what they would read from the database anyway; a reader that built from the old rows while
the write was in flight stored them under the old counters, which the commit bump retires before the
outermost atomic block (and so the service call) returns.

A bump cannot be lost: the counters a transaction bumps are written to an outbox table
(issues.models.CacheBump) in that transaction, and the row is deleted once the bump reached the cache.
A row left behind (the cache did not answer, the process died between commit and bump) is replayed by
any process before it trusts a generation (read_generations: one EXISTS query, usually finding
nothing, or none on the issue page's fast path where the check rode on the request's user query) and
by the periodic task issues.tasks.replay_cache_bumps; while it cannot be replayed, readers
build from the database. A bump outside a transaction (autocommit, invalidate_issues/invalidate_all
after a commit) writes its row only when it fails. Only when the database cannot take that row either
does the bump wait in this process's memory (`_pending`). See docs/cache.md.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import logging
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import BooleanField
from django.db.models.expressions import RawSQL
from django.dispatch import Signal
from django.utils import timezone

from issues.models import CacheBump
from taskra_site import sharedcache, switches
from taskra_site.sharedcache import CacheDown

logger = logging.getLogger("taskra.cache")

GLOBAL_GEN_KEY = "gen:global"

# Sent once per committed transaction that invalidated issue pages, after the bump, with issue_ids (a
# sorted list): issues.signals queues the refresh of those pages. The page cache itself knows no tasks.
pages_invalidated = Signal()

_pending_lock = threading.Lock()
# Generation keys whose bump failed and that the database could not record either; replayed before the next read.
_pending: set[str] = set()

# Generations the current request already read (generations_read), by key.
_known: contextvars.ContextVar[dict[str, int] | None] = contextvars.ContextVar("taskra_known_generations", default=None)

OUTBOX_REPLAY_BATCH = 500  # outbox rows replayed per round trip
STALE_ROW_AGE = dt.timedelta(seconds=5)  # a replayed row older than this was a lost bump: logged as a warning

# The attribute the per-request user carries (accounts.backends.user_load_annotations): whether any bump
# waited in the outbox when the request loaded its user, read in the same query.
OUTBOX_PROBE = "taskra_outbox_pending"


def _outbox_exists_sql() -> str:
    return f'EXISTS (SELECT 1 FROM "{CacheBump._meta.db_table}")'  # a constant: the model's table


def outbox_probe() -> RawSQL:
    """Return the expression telling whether any bump waits in the outbox (a constant EXISTS: cheap to compile)."""
    return RawSQL(_outbox_exists_sql(), (), output_field=BooleanField())


def _outbox_empty(alias: str) -> bool:
    """Return whether no bump waits in the outbox (one round trip, no ORM compilation)."""
    with connections[alias].cursor() as cursor:
        cursor.execute(f"SELECT {_outbox_exists_sql()}")
        row = cursor.fetchone()
    return not (row and row[0])


def outbox_seen_empty(user: object) -> bool:
    """Return whether this request's user was loaded with the outbox empty (then no separate check is needed).

    Any write that committed before the user was loaded is then applied to the cache; one committing later
    overlaps this request, which may answer from before it (as if it had read a moment earlier).
    """
    return getattr(user, OUTBOX_PROBE, None) is False


def page_cache_enabled() -> bool:
    """Return whether shared page entries are used (on by default only on a shared cache).

    The outbox follows it: a process-local cache has nothing another process could read stale.
    """
    if settings.TASKRA_PAGE_CACHE is not None:
        return bool(settings.TASKRA_PAGE_CACHE)
    return not sharedcache.is_process_local()


def page_cache_reads_enabled(page_type: str = "") -> bool:
    """Return whether this request reads (and fills) shared page entries: the setting, then its live A/B switch.

    Only reads follow the switch: writes bump generations whenever page_cache_enabled() says so, so a request
    in the "off" variant never leaves a stale entry for the others.
    """
    if not page_cache_enabled() or switches.is_off("page_cache"):
        return False
    return not (page_type == "navigator" and switches.is_off("navigator_cache"))


def issue_gen_key(issue_id: int) -> str:
    """Return the name of an issue's generation counter."""
    return f"gen:issue:{issue_id}"


def project_gen_key(project_id: int) -> str:
    """Return the name of a project's generation counter."""
    return f"gen:project:{project_id}"


def project_config_gen_key(project_id: int) -> str:
    """Return the name of a project's configuration counter (its workflow and members).

    The issue page depends on this one rather than on the project's counter, which every write to any issue of
    the project bumps (its result pages change): a page stays cached while other issues of its project change.
    """
    return f"gen:projectconfig:{project_id}"


def _ids(ids: Iterable[int | None]) -> list[int]:
    return sorted({int(i) for i in ids if i is not None})


def gen_keys(
    issue_ids: Iterable[int | None], project_ids: Iterable[int | None], config_ids: Iterable[int | None] = ()
) -> list[str]:
    """Return the counters an entry of these issues, projects and project configurations depends on.

    In key order: global, issues, projects, configurations (each sorted).
    """
    return (
        [GLOBAL_GEN_KEY]
        + [issue_gen_key(i) for i in _ids(issue_ids)]
        + [project_gen_key(p) for p in _ids(project_ids)]
        + [project_config_gen_key(p) for p in _ids(config_ids)]
    )


def _now_us() -> int:
    return time.time_ns() // 1000


def bump(keys: Sequence[str], *, recorded: Sequence[int] = (), using: str | None = None) -> None:
    """Bump generation counters in one round trip; make sure a failed bump is replayed.

    recorded: the outbox rows that already hold these keys (written in the write's transaction): deleted
    after the bump, left for replay when it fails. Without them a failed bump writes its own row.
    """
    if not keys:
        return
    try:
        sharedcache.bump_counters(keys, _now_us())
    except CacheDown as exc:
        if recorded:
            logger.error("cache generation bump failed; recorded in the outbox, any process replays it: %s", exc)
        else:
            _record(keys, using, exc)
        return
    if recorded:
        try:
            delete_applied(recorded, using=using)
        except DatabaseError as exc:  # the rows stay and are replayed once more: one bump too many, never one too few
            logger.warning("could not delete applied outbox rows %s: %s", list(recorded), exc)


def delete_applied(ids: Sequence[int], *, using: str | None = None) -> None:
    """Delete outbox rows whose bump reached the cache.

    On PostgreSQL without waiting for the WAL flush (synchronous_commit off for this transaction): a delete
    lost in a database crash only brings the row back, and it is replayed once more (a harmless second bump).
    """
    alias = using or DEFAULT_DB_ALIAS
    conn = connections[alias]
    with transaction.atomic(using=alias):
        if conn.vendor == "postgresql":
            with conn.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
        CacheBump.objects.using(alias).filter(id__in=ids).delete()


def _record(keys: Sequence[str], using: str | None, exc: BaseException) -> None:
    """Write a failed bump to the outbox; keep it in this process's memory if the database cannot take it."""
    if page_cache_enabled():
        try:
            CacheBump.objects.using(using or DEFAULT_DB_ALIAS).create(keys=" ".join(sorted(set(keys))))
        except DatabaseError as db_exc:
            logger.error("could not record a failed cache bump in the outbox: %s", db_exc)
        else:
            logger.error("cache generation bump failed; recorded in the outbox, any process replays it: %s", exc)
            return
    with _pending_lock:
        _pending.update(keys)
    logger.error("cache generation bump failed, will replay before the next cache read: %s", exc)


def _replay_pending(outbox_checked: bool) -> None:
    """Replay failed bumps; raise CacheDown while they cannot be applied (reads must not trust the cache)."""
    if not sharedcache.breaker.allow():
        raise CacheDown("breaker open")  # the read would fail anyway: no outbox queries during an outage
    if _pending:
        with _pending_lock:
            keys = sorted(_pending)
        sharedcache.bump_counters(keys, _now_us())
        with _pending_lock:
            _pending.difference_update(keys)
    if not outbox_checked and page_cache_enabled():
        replay_outbox(strict=True)


def _own_outbox_ids(conn: BaseDatabaseWrapper) -> list[int]:
    """Return the outbox rows of this connection's open transaction: bumped when it commits, not pending yet."""
    if not conn.in_atomic_block:
        return []
    batches: dict[frozenset[str], CommitBatch] = conn.__dict__.get("_taskra_commit_batches", {})
    waiting = {id(entry[1]) for entry in conn.run_on_commit}  # a batch of a rolled back block is not there
    return [pk for batch in batches.values() if id(batch) in waiting for pk in batch.outbox_ids]


def replay_outbox(*, strict: bool = False, using: str | None = None) -> int:
    """Apply the bumps waiting in the outbox (bump, then delete their rows); return how many rows were applied.

    Rows are claimed with SELECT ... FOR UPDATE SKIP LOCKED (PostgreSQL), so two processes never replay the
    same row. With strict (a reader about to trust a generation) raise CacheDown when a bump cannot be
    applied or another process is still applying one; without it (the periodic task) leave them for later.
    The check when nothing waits is one query (a constant EXISTS, not compiled by the ORM).
    """
    alias = using or DEFAULT_DB_ALIAS
    own = _own_outbox_ids(connections[alias])
    if not own and _outbox_empty(alias):
        return 0
    applied = 0
    while True:
        pending = CacheBump.objects.using(alias).order_by("id")
        if own:
            pending = pending.exclude(id__in=own)
        ids = list(pending.values_list("id", flat=True)[:OUTBOX_REPLAY_BATCH])
        if not ids:
            return applied
        try:
            with transaction.atomic(using=alias):
                claimed = list(
                    CacheBump.objects.using(alias)
                    .select_for_update(skip_locked=True)
                    .filter(id__in=ids)
                    .values_list("id", "keys", "created")
                )
                if claimed:
                    sharedcache.bump_counters(
                        sorted({k for _pk, keys, _at in claimed for k in keys.split()}), _now_us()
                    )
                    CacheBump.objects.using(alias).filter(id__in=[pk for pk, _keys, _at in claimed]).delete()
        except CacheDown:
            if strict:
                raise
            return applied
        applied += len(claimed)
        if claimed:
            # A young row is usually a write whose own bump is a moment away (a harmless second bump): not news.
            oldest = min(at for _pk, _keys, at in claimed)
            level = logging.WARNING if timezone.now() - oldest > STALE_ROW_AGE else logging.DEBUG
            logger.log(level, "replayed %d pending cache generation bumps (oldest from %s)", len(claimed), oldest)
        if len(claimed) < len(ids):
            # Another process holds the rest and is bumping them now: not applied yet.
            if strict:
                raise CacheDown("generation bumps being replayed by another process")
            return applied
        if len(ids) < OUTBOX_REPLAY_BATCH:
            return applied


def pending_bumps() -> set[str]:
    """Return the generation keys whose bump failed and waits for replay."""
    with _pending_lock:
        return set(_pending)


def forget_pending() -> None:
    """Drop the bumps waiting for replay (tests: a fresh process)."""
    with _pending_lock:
        _pending.clear()


def read_generations(keys: Sequence[str], *, outbox_checked: bool = False) -> tuple[int, ...]:
    """Return the current generation of each key, creating missing ones; raise CacheDown when unavailable.

    Pending bumps are replayed first (one indexed query when there are none), unless the caller knows the
    outbox was empty when its request started (outbox_checked: see outbox_seen_empty).
    """
    known = _known.get()
    if known is not None and all(k in known for k in keys):
        return tuple(known[k] for k in keys)
    _replay_pending(outbox_checked)
    got = sharedcache.get_many(keys)
    missing = [k for k in keys if k not in got]
    if missing:
        # Never-bumped (or evicted) counters start at a time-based value no earlier entry used. Only
        # create them (SET NX), never bump here: concurrent first readers must agree on one value.
        got.update(sharedcache.create_and_get_counters(missing, _now_us()))
        if any(k not in got for k in missing):
            raise CacheDown("generation counters vanished")
    return tuple(int(got[k]) for k in keys)


def read_generations_with(
    keys: Sequence[str], others: Sequence[str], *, outbox_checked: bool = False
) -> tuple[tuple[int, ...] | None, dict[str, Any]]:
    """Return read_generations(keys) and the values of the other keys, read after them in the same round trip.

    The generations are None when a counter is missing (read_generations creates it): the caller reads them again
    the usual way. Raise CacheDown when unavailable.
    """
    _replay_pending(outbox_checked)
    got, values = sharedcache.get_many_twice(keys, others)
    if any(k not in got for k in keys):
        return None, values
    return tuple(int(got[k]) for k in keys), values


@contextlib.contextmanager
def generations_read(generations: Mapping[str, int]) -> Iterator[None]:
    """Within the block, read_generations answers from these generations (read earlier by the caller) when it can.

    For a caller that builds entries at generations it read before anything it builds from (the issue page):
    what it reads inside the block through other per-process caches (issues.lookups) is then kept current at
    those same generations, as if read when they were, and costs no further cache round trip.
    """
    token = _known.set({**(_known.get() or {}), **generations})
    try:
        yield
    finally:
        _known.reset(token)


def current_generations(
    issue_ids: Iterable[int | None],
    project_ids: Iterable[int | None],
    *,
    config_ids: Iterable[int | None] = (),
    outbox_checked: bool = False,
) -> dict[str, int]:
    """Return the current counters of these issues, projects and configurations, and the global one (one MGET)."""
    names = gen_keys(issue_ids, project_ids, config_ids)
    return dict(zip(names, read_generations(names, outbox_checked=outbox_checked), strict=True))


def invalidate_issues(issue_ids: Iterable[int | None], project_ids: Iterable[int | None]) -> None:
    """Bump now: every cached page showing these issues, and their projects' result pages, goes stale."""
    bump(gen_keys(issue_ids, project_ids)[1:])


def invalidate_all() -> None:
    """Bump now: every cached page goes stale (renamed statuses, priorities, projects, display names)."""
    bump([GLOBAL_GEN_KEY])


def invalidate_on_commit(
    issue_ids: Iterable[int | None] = (),
    project_ids: Iterable[int | None] = (),
    *,
    config_ids: Iterable[int | None] = (),
    everything: bool = False,
    using: str | None = None,
) -> None:
    """Bump these issues' and projects' counters (or all: everything=True) once, when the transaction commits.

    config_ids: projects whose configuration changed (workflow, members: what issue pages show of the project);
    their configuration counters are bumped, and their project counters too (boards and result pages show it).

    Runs at once outside a transaction. All calls in one transaction share one commit hook: one
    bump of everything the transaction touched, each counter once, then one pages_invalidated
    signal (the refresh of the touched issues' pages). A savepoint that rolls back takes its
    calls with it.
    """
    conn = transaction.get_connection(using)
    # atomic(savepoint=False) blocks push None: they cannot roll back on their own, so they share the level.
    level = frozenset(sid for sid in conn.savepoint_ids if sid is not None)
    batches: dict[frozenset[str], CommitBatch] = conn.__dict__.setdefault("_taskra_commit_batches", {})
    batch = batches.get(level)
    # One batch per savepoint level: a hook registered in a savepoint that rolled back is gone from
    # run_on_commit, and one that ran is done; start a new batch then.
    pending = {id(entry[1]) for entry in conn.run_on_commit}
    if batch is None or batch.done or id(batch) not in pending:
        for key in [k for k, b in batches.items() if b.done or id(b) not in pending]:
            del batches[key]  # ran or rolled back: forget it (long-lived connections)
        batch = batches[level] = CommitBatch(using=conn.alias)
        new_keys = batch.add(issue_ids, project_ids, config_ids, everything)
        if conn.in_atomic_block:
            batch.record(new_keys)
        transaction.on_commit(batch, using=using, robust=True)  # runs at once in autocommit
    else:
        batch.record(batch.add(issue_ids, project_ids, config_ids, everything))


class CommitBatch:
    """What one transaction invalidated: recorded in the outbox with the write, bumped once when it commits."""

    def __init__(self, using: str = DEFAULT_DB_ALIAS) -> None:
        self.using = using
        self.issue_ids: set[int] = set()
        self.project_ids: set[int] = set()
        self.config_ids: set[int] = set()
        self.everything = False
        self.done = False
        self.outbox_ids: list[int] = []  # this transaction's outbox rows (issues.models.CacheBump)

    def add(
        self,
        issue_ids: Iterable[int | None],
        project_ids: Iterable[int | None],
        config_ids: Iterable[int | None],
        everything: bool,
    ) -> list[str]:
        """Add what one more write in the transaction touched; return the counters it adds to the batch."""
        new_configs = set(_ids(config_ids)) - self.config_ids
        new_issues = set(_ids(issue_ids)) - self.issue_ids
        new_projects = (set(_ids(project_ids)) | new_configs) - self.project_ids
        self.issue_ids |= new_issues
        self.project_ids |= new_projects
        self.config_ids |= new_configs
        new_keys = gen_keys(new_issues, new_projects, new_configs)[1:]
        if everything and not self.everything:
            self.everything = True
            new_keys.append(GLOBAL_GEN_KEY)
        return new_keys

    def record(self, keys: Sequence[str]) -> None:
        """Write these counters to the outbox in the current transaction (nothing when the page cache is off)."""
        if keys and page_cache_enabled():
            self.outbox_ids.append(CacheBump.objects.using(self.using).create(keys=" ".join(keys)).pk)

    def __call__(self) -> None:
        self.done = True
        keys = gen_keys(self.issue_ids, self.project_ids, self.config_ids)
        bump(keys if self.everything else keys[1:], recorded=self.outbox_ids, using=self.using)
        if self.issue_ids:
            pages_invalidated.send(sender=CommitBatch, issue_ids=sorted(self.issue_ids))
