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

A process whose bump failed keeps it in `_pending` and replays it before it reads the cache again;
until then it builds from the database.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Sequence

from django.db import transaction
from django.dispatch import Signal

from taskra_site import sharedcache
from taskra_site.sharedcache import CacheDown

logger = logging.getLogger("taskra.cache")

GLOBAL_GEN_KEY = "gen:global"

# Sent once per committed transaction that invalidated issue pages, after the bump, with issue_ids (a
# sorted list): issues.signals queues the refresh of those pages. The page cache itself knows no tasks.
pages_invalidated = Signal()

_pending_lock = threading.Lock()
_pending: set[str] = set()  # generation keys whose bump failed; replayed before the next read


def issue_gen_key(issue_id: int) -> str:
    """Return the name of an issue's generation counter."""
    return f"gen:issue:{issue_id}"


def project_gen_key(project_id: int) -> str:
    """Return the name of a project's generation counter."""
    return f"gen:project:{project_id}"


def gen_keys(issue_ids: Iterable[int | None], project_ids: Iterable[int | None]) -> list[str]:
    """Return the counters an entry of these issues and projects depends on: global, issues, projects (sorted)."""
    return (
        [GLOBAL_GEN_KEY]
        + [issue_gen_key(i) for i in sorted({int(i) for i in issue_ids if i is not None})]
        + [project_gen_key(p) for p in sorted({int(p) for p in project_ids if p is not None})]
    )


def _now_us() -> int:
    return time.time_ns() // 1000


def bump(keys: Sequence[str]) -> None:
    """Bump generation counters in one round trip; remember them for replay when the cache is down."""
    if not keys:
        return
    try:
        sharedcache.bump_counters(keys, _now_us())
    except CacheDown as exc:
        with _pending_lock:
            _pending.update(keys)
        logger.error("cache generation bump failed, will replay before the next cache read: %s", exc)


def _replay_pending() -> None:
    """Replay failed bumps; raise CacheDown while they cannot be applied (reads must not trust the cache)."""
    if not _pending:
        return
    with _pending_lock:
        keys = sorted(_pending)
    sharedcache.bump_counters(keys, _now_us())
    with _pending_lock:
        _pending.difference_update(keys)


def pending_bumps() -> set[str]:
    """Return the generation keys whose bump failed and waits for replay."""
    with _pending_lock:
        return set(_pending)


def forget_pending() -> None:
    """Drop the bumps waiting for replay (tests: a fresh process)."""
    with _pending_lock:
        _pending.clear()


def read_generations(keys: Sequence[str]) -> tuple[int, ...]:
    """Return the current generation of each key, creating missing ones; raise CacheDown when unavailable."""
    _replay_pending()
    got = sharedcache.get_many(keys)
    missing = [k for k in keys if k not in got]
    if missing:
        # Never-bumped (or evicted) counters start at a time-based value no earlier entry used. Only
        # create them (SET NX), never bump here: concurrent first readers must agree on one value.
        sharedcache.create_counters(missing, _now_us())
        got.update(sharedcache.get_many(missing))
        if any(k not in got for k in missing):
            raise CacheDown("generation counters vanished")
    return tuple(int(got[k]) for k in keys)


def current_generations(issue_ids: Iterable[int | None], project_ids: Iterable[int | None]) -> dict[str, int]:
    """Return the current counters of these issues and projects, and the global one, by key (one MGET)."""
    names = gen_keys(issue_ids, project_ids)
    return dict(zip(names, read_generations(names), strict=True))


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
    everything: bool = False,
    using: str | None = None,
) -> None:
    """Bump these issues' and projects' counters (or all: everything=True) once, when the transaction commits.

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
        batch = batches[level] = CommitBatch()
        batch.add(issue_ids, project_ids, everything)
        transaction.on_commit(batch, using=using, robust=True)  # runs at once in autocommit
    else:
        batch.add(issue_ids, project_ids, everything)


class CommitBatch:
    """What one transaction invalidated: bumped once, in one round trip, when it commits."""

    def __init__(self) -> None:
        self.issue_ids: set[int] = set()
        self.project_ids: set[int] = set()
        self.everything = False
        self.done = False

    def add(self, issue_ids: Iterable[int | None], project_ids: Iterable[int | None], everything: bool) -> None:
        """Add what one more write in the transaction touched."""
        self.issue_ids.update(int(i) for i in issue_ids if i is not None)
        self.project_ids.update(int(p) for p in project_ids if p is not None)
        self.everything = self.everything or everything

    def __call__(self) -> None:
        self.done = True
        keys = gen_keys(self.issue_ids, self.project_ids)
        bump(keys if self.everything else keys[1:])
        if self.issue_ids:
            pages_invalidated.send(sender=CommitBatch, issue_ids=sorted(self.issue_ids))
