"""Board order: Issue.rank, gap integers, and the card move (a status change and a new position in one write).

Ranks are integers spaced RANK_GAP apart; a card dropped between two others takes the midpoint, and when two
neighbours have no integer left between them the column is renumbered (rebalanced) with fresh gaps. Issues that
were never moved keep rank NULL: they sort after the ranked ones, by id (`ORDER BY rank`, issues.fields), so
existing rows need no backfill. Placing a card next to an unranked one first ranks the unranked cards up to it,
in the order they show, so nothing on the board jumps.

A move names the neighbours the client saw (`after`: the card above the drop, `before`: the card below); when
they are no longer neighbours in the target column (someone else moved a card, the column changed) the move is
refused with StalePosition, which the board answers with 409 and the client reloads the column.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Max, Q, QuerySet

from issues import pagecache
from issues.models import Issue, Status
from issues.permissions import require_edit
from issues.services import issue_update

RANK_GAP = 1 << 16
BOARD_ORDER = (F("rank").asc(nulls_last=True), "id")


class StalePosition(Exception):
    """The neighbours a move names are not neighbours any more: the board the client saw is out of date."""


@dataclass(frozen=True)
class MoveResult:
    """What a card move changed: the fields issue_update changed (status, resolution...) and the new rank."""

    changed: list[str]
    rank: int


def cards_after(rank: int | None, pk: int) -> Q:
    """Return the filter of cards that sort after (rank, pk) in board order (NULL ranks last, by id)."""
    if rank is None:
        return Q(rank__isnull=True, pk__gt=pk)
    return Q(rank__gt=rank) | Q(rank=rank, pk__gt=pk) | Q(rank__isnull=True)


def cards_before(rank: int | None, pk: int) -> Q:
    """Return the filter of cards that sort before (rank, pk) in board order."""
    if rank is None:
        return Q(rank__isnull=False) | Q(rank__isnull=True, pk__lt=pk)
    return Q(rank__lt=rank) | Q(rank=rank, pk__lt=pk)


def _rank_unranked_through(column: QuerySet, last: Issue) -> None:
    """Give ranks to the column's unranked cards up to `last` (by id), after its ranked ones, keeping their order."""
    top = column.aggregate(m=Max("rank"))["m"]
    start = (top if top is not None else 0) + RANK_GAP
    ids = list(column.filter(rank__isnull=True, pk__lte=last.pk).order_by("pk").values_list("pk", flat=True))
    rows = [Issue(pk=pk, rank=start + i * RANK_GAP) for i, pk in enumerate(ids)]
    Issue.objects.bulk_update(rows, ["rank"], batch_size=1000)
    for row in rows:
        if row.pk == last.pk:
            last.rank = row.rank


def _rebalance(column: QuerySet) -> None:
    """Renumber the column's ranked cards RANK_GAP apart, in their order (when a gap ran out)."""
    ids = list(column.filter(rank__isnull=False).order_by(*BOARD_ORDER).values_list("pk", flat=True))
    Issue.objects.bulk_update(
        [Issue(pk=pk, rank=(i + 1) * RANK_GAP) for i, pk in enumerate(ids)], ["rank"], batch_size=1000
    )


def _neighbours(column: QuerySet, after_id: int | None, before_id: int | None) -> tuple[Issue | None, Issue | None]:
    """Return the (after, before) cards of a drop, checking they are still neighbours; raise StalePosition if not."""
    wanted = [pk for pk in (after_id, before_id) if pk is not None]
    found = {i.pk: i for i in column.filter(pk__in=wanted).only("id", "rank")}
    if any(pk not in found for pk in wanted):
        raise StalePosition("A card next to the drop has moved or gone: the column changed since the board loaded.")
    after = found.get(after_id) if after_id is not None else None
    before = found.get(before_id) if before_id is not None else None
    if after is not None:
        following = column.filter(cards_after(after.rank, after.pk)).order_by(*BOARD_ORDER).only("id", "rank")
        successor = following.first()
        if before is not None and (successor is None or successor.pk != before.pk):
            raise StalePosition("The two cards around the drop are no longer next to each other.")
        return after, successor
    if before is not None:
        if column.filter(cards_before(before.rank, before.pk)).exists():
            raise StalePosition("The card below the drop is no longer at the top of the column.")
        return None, before
    if column.exists():
        raise StalePosition("The column is no longer empty.")
    return None, None


def _new_rank(column: QuerySet, after: Issue | None, before: Issue | None) -> int:
    """Return a rank between the two neighbours (either may be None: the top or the end of the column)."""
    if after is not None and after.rank is None:
        _rank_unranked_through(column, after)
        return (after.rank or 0) + RANK_GAP  # `before` is unranked (or none): after every ranked card
    if after is None:
        if before is None or before.rank is None:
            return 0  # no ranked card in the column: any rank sorts first
        return before.rank - RANK_GAP
    if before is None or before.rank is None:
        return after.rank + RANK_GAP
    if before.rank - after.rank < 2:
        _rebalance(column)
        after.refresh_from_db(fields=["rank"])
        before.refresh_from_db(fields=["rank"])
        assert after.rank is not None and before.rank is not None  # ranked by the rebalance
    return (after.rank + before.rank) // 2


@transaction.atomic
def issue_move(
    *,
    issue: Issue,
    actor: Any | None,
    to_status: Status,
    column: QuerySet,
    after_id: int | None = None,
    before_id: int | None = None,
) -> MoveResult:
    """Move a card: change its status through issue_update (the workflow's rule, history, resolution) and place it.

    `column` is the board's cards of the target status as the client sees them (project or filter, quick
    filters, swimlane); `after_id`/`before_id` the cards around the drop. Raise PermissionDenied for viewers,
    ValidationError for a move the workflow refuses, StalePosition when the neighbours are not neighbours.
    """
    if actor is not None:
        require_edit(actor, issue.project_id, "Viewers cannot move cards.")
    if issue.pk in (after_id, before_id):
        raise ValidationError("A card cannot be placed next to itself.")
    # The issue's row lock serialises moves of the same card; neighbours are read after it.
    Issue.objects.select_for_update().filter(pk=issue.pk).values_list("pk", flat=True).get()
    others = column.exclude(pk=issue.pk)
    after, before = _neighbours(others, after_id, before_id)
    changed: list[str] = []
    if to_status.pk != issue.status_id:
        changed = issue_update(issue=issue, actor=actor, data={"status": to_status})
    rank = _new_rank(others, after, before)
    Issue.objects.filter(pk=issue.pk).update(rank=rank)
    issue.rank = rank
    # The rank shows on boards and ORDER BY rank result pages of the project; a status change already asked for
    # the same bump in this transaction (one bump at commit either way).
    pagecache.invalidate_on_commit([issue.pk], [issue.project_id])
    return MoveResult(changed=changed, rank=rank)
