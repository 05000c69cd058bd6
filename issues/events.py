"""Domain events of issue writes: services emit them, higher apps (notifications) subscribe.

Why a hook and not a call: notifications sit above issues and worklogs (pyproject's layers), so the services
cannot import them. A subscriber registers two callables from its AppConfig.ready():

- `record(event)` runs at once, inside the writer's transaction: it stores what it needs (a row written with
  the write commits or rolls back with it, so no event of a rolled back write survives);
- `flush()` runs once after the transaction commits, however many events it emitted: one Celery task per
  transaction, not one per issue. Inside `held()` (a bulk job of many chunk transactions) the flush waits for
  the end of the block: one task per job.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections, transaction

# The kinds services emit (the notification settings list them).
CREATED = "created"
ASSIGNED = "assigned"
STATUS = "status"
COMMENTED = "commented"
MENTIONED = "mentioned"
WORKLOG = "worklog"
BULK = "bulk"
KINDS = (CREATED, ASSIGNED, STATUS, COMMENTED, MENTIONED, WORKLOG, BULK)


@dataclass(frozen=True)
class IssueEvent:
    """Something happened to issues: who did it (None: the system), to which issues, and the details.

    A BULK event names its issues in data["projects"] ({project id as text: [issue ids]}), issue_ids is empty.
    """

    kind: str
    actor_id: int | None
    issue_ids: tuple[int, ...]
    data: dict[str, Any] = field(default_factory=dict)


_recorders: list[Callable[[IssueEvent], None]] = []
_flushers: list[Callable[[], None]] = []
_state = threading.local()


def subscribe(*, record: Callable[[IssueEvent], None], flush: Callable[[], None]) -> None:
    """Register a subscriber (idempotent: AppConfig.ready may run twice in tests)."""
    if record not in _recorders:
        _recorders.append(record)
    if flush not in _flushers:
        _flushers.append(flush)


def _flush() -> None:
    if getattr(_state, "held", 0):
        _state.pending = True
        return
    for flush in _flushers:
        flush()


def emit(event: IssueEvent) -> None:
    """Record the event with every subscriber now and have them flush once when the transaction commits."""
    if not _recorders:
        return
    for record in _recorders:
        record(event)
    connection = connections[DEFAULT_DB_ALIAS]
    # One flush per transaction: this transaction's hook is registered once, and looked for among the hooks still
    # pending (a rolled back savepoint or transaction took its hooks with it, so the next event registers anew).
    hook = getattr(_state, "hook", None)
    if (
        hook is not None
        and connection.in_atomic_block
        and any(entry[1] is hook for entry in connection.run_on_commit)  # (savepoint ids, func, robust)
    ):
        return

    def committed() -> None:
        if getattr(_state, "hook", None) is committed:
            _state.hook = None
        _flush()

    _state.hook = committed
    transaction.on_commit(committed, robust=True)


@contextlib.contextmanager
def held() -> Iterator[None]:
    """Hold the flushes of the transactions committed inside the block until it ends (one flush for a bulk job)."""
    _state.held = getattr(_state, "held", 0) + 1
    try:
        yield
    finally:
        _state.held -= 1
        if not _state.held and getattr(_state, "pending", False):
            _state.pending = False
            _flush()
