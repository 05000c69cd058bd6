"""The hook of rollups kept over issues' children (worklogs.models.WorklogRollup): moves and deletes call it.

Apps above issues sum an issue's children per project; issues cannot import them (the app layers), so a
move or delete asks them through this signal. Each receiver notes what it needs before the write and returns
a callable to run after it, in the same transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.dispatch import Signal

# Sent with issue_ids (the issues about to move or go; their sub-tasks come with them). Receivers return a
# callable (no arguments) to call after the write.
issue_children_changing = Signal()


def issue_children_changing_send(*, issue_ids: Iterable[int]) -> Callable[[], None]:
    """Tell the rollups these issues (and their sub-tasks) are about to move or be deleted; return the after-step."""
    ids = list(issue_ids)
    responses: list[Any] = [after for _, after in issue_children_changing.send(sender=None, issue_ids=ids)]
    afters: list[Callable[[], None]] = [after for after in responses if callable(after)]

    def after_write() -> None:
        for step in afters:
            step()

    return after_write
