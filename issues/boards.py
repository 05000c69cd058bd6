"""Board reads (selectors): a project's or a saved filter's issues as columns by status, optionally in swimlanes.

A board's first view costs a fixed number of queries whatever its size: the workflow (two), the counts per
column and lane (one), the first BOARD_PAGE cards of every column and lane (one, a window function), and the
lane names (one). The rest of a column loads on scroll, BOARD_PAGE cards at a time, keyset-paged on
(rank, id) in board order (issues.ranking.BOARD_ORDER): no OFFSET, whatever the depth.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.db.models import BigIntegerField, Case, Count, F, Q, QuerySet, Value, When, Window
from django.db.models.functions import RowNumber
from django.http import QueryDict

from accounts.models import display_name_of
from issues.jql import jql_queryset
from issues.models import Issue, Project, SavedFilter
from issues.permissions import editable_project_ids
from issues.ranking import BOARD_ORDER, cards_after
from issues.services import EPIC_TYPE_NAME
from issues.workflows import Step, statuses_of_projects, workflow_for

BOARD_PAGE = 25
LANES = {"assignee": "Assignee", "epic": "Epic"}
NONE_LANE = "none"  # the lane of cards without an assignee / epic
RECENT = dt.timedelta(days=1)  # Jira's "Recently updated" quick filter: the last 24 hours
CARD_FIELDS = (
    "id",
    "key",
    "summary",
    "rank",
    "status_id",
    "project_id",
    "assignee_id",
    "type__name",
    "type__icon",
    "priority__name",
    "priority__color",
    "assignee__username",
    "assignee__first_name",
    "assignee__last_name",
    "assignee__profile__display_name",
)


class BadBoardInput(ValueError):
    """A board parameter that cannot be read (a cursor, a lane): answered with 400 and the message."""


@dataclass(frozen=True)
class QuickFilters:
    """The board's quick filters and swimlanes, from the query string (Jira's board toolbar)."""

    mine: bool = False
    recent: bool = False
    label: str = ""
    lanes: str = ""  # "" (none), "assignee" or "epic"

    @classmethod
    def from_query(cls, data: QueryDict) -> QuickFilters:
        lanes = data.get("lanes", "")
        if lanes and lanes not in LANES:
            raise BadBoardInput(f"Swimlanes by '{lanes[:30]}' are not offered: choose assignee or epic.")
        label = data.get("label", "").strip()
        if len(label) > 100:
            raise BadBoardInput("A label has at most 100 characters.")
        return cls(mine=data.get("mine") == "1", recent=data.get("recent") == "1", label=label, lanes=lanes)

    def query(self) -> dict[str, str]:
        """Return the query-string parameters of these filters (for links and the card requests)."""
        out = {"mine": "1" if self.mine else "", "recent": "1" if self.recent else "", "label": self.label}
        out["lanes"] = self.lanes
        return {k: v for k, v in out.items() if v}


@dataclass
class BoardSource:
    """Where a board's cards come from: a project (with its workflow and WIP limits) or a saved filter."""

    title: str
    issues: QuerySet  # every card the user may see on it, unordered
    steps: list[Step]
    project: Project | None = None
    saved_filter: SavedFilter | None = None
    editable: set[int] = field(default_factory=set)  # project ids whose cards the user may move
    is_admin: bool = False  # administers the board's project (links to its workflow settings)


def project_board_source(*, project: Project, user: Any) -> BoardSource:
    """Return a project's board: its issues, columns in workflow order with WIP limits."""
    editable = set(editable_project_ids(user).filter(project_id=project.pk).values_list("project_id", flat=True))
    return BoardSource(
        title=f"{project.key} board",
        issues=Issue.objects.filter(project_id=project.pk),
        steps=list(workflow_for(project).steps),
        project=project,
        editable=editable,
    )


def filter_board_source(*, saved_filter: SavedFilter, user: Any) -> BoardSource:
    """Return a saved filter's board: its issues (JQL; only projects the user sees), a column per status used.

    Columns are the statuses of the workflows of the projects the filter can match, in the global status order;
    a filter board has no WIP limits (they belong to a project's columns).
    """
    issues = jql_queryset(saved_filter.jql, user=user).order_by()
    project_ids = issues.values("project_id")
    steps = [Step(s.pk, s.name, s.category) for s in statuses_of_projects(project_ids)]
    editable = set(editable_project_ids(user).values_list("project_id", flat=True))
    return BoardSource(
        title=f"{saved_filter.name} board",
        issues=issues,
        steps=steps,
        saved_filter=saved_filter,
        editable=editable,
    )


def lane_expression(lanes: str) -> Any:
    """Return the SQL value of a card's swimlane: its assignee id, its Epic parent's id, or NULL."""
    if lanes == "assignee":
        return F("assignee_id")
    if lanes == "epic":
        return Case(
            When(parent__type__name=EPIC_TYPE_NAME, then=F("parent_id")),
            default=Value(None),
            output_field=BigIntegerField(),
        )
    return Value(None, output_field=BigIntegerField())


def lane_of(row: dict[str, Any], lanes: str) -> int | None:
    """Return a card's swimlane value from its values() row, as lane_expression computes it in SQL."""
    if lanes == "assignee":
        return row["assignee_id"]
    if lanes == "epic" and (row["parent__type__name"] or "").casefold() == EPIC_TYPE_NAME.casefold():
        return row["parent_id"]
    return None


def filtered(issues: QuerySet, quick: QuickFilters, *, user: Any, now: dt.datetime) -> QuerySet:
    """Return the board's cards narrowed by the quick filters."""
    if quick.mine:
        issues = issues.filter(assignee_id=user.pk)
    if quick.recent:
        issues = issues.filter(updated__gte=now - RECENT)
    if quick.label:
        issues = issues.filter(labels__name=quick.label)
    return issues


def lane_filter(quick: QuickFilters, lane: str | None) -> Q:
    """Return the filter of one swimlane's cards (lane: an id as text, or NONE_LANE); Q() without swimlanes."""
    if not quick.lanes or lane is None:
        return Q()
    if lane != NONE_LANE and not lane.isdigit():
        raise BadBoardInput("Unknown swimlane.")
    value = None if lane == NONE_LANE else int(lane)
    if quick.lanes == "assignee":
        return Q(assignee__isnull=True) if value is None else Q(assignee_id=value)
    epic = Q(parent__type__name=EPIC_TYPE_NAME)
    return ~epic | Q(parent__isnull=True) if value is None else (epic & Q(parent_id=value))


def card_dict(row: dict[str, Any]) -> dict[str, Any]:
    """Return what a card shows from its values() row (CARD_FIELDS)."""
    assignee = (
        display_name_of(
            username=row["assignee__username"],
            first_name=row["assignee__first_name"],
            last_name=row["assignee__last_name"],
            profile_name=row["assignee__profile__display_name"],
        )
        if row["assignee_id"]
        else ""
    )
    return {**row, "assignee": assignee, "cursor": encode_cursor(row["rank"], row["id"])}


def encode_cursor(rank: int | None, pk: int) -> str:
    """Return the keyset cursor after a card: 'r<rank>_<id>', or 'n<id>' for an unranked card."""
    return f"n{pk}" if rank is None else f"r{rank}_{pk}"


def decode_cursor(text: str) -> tuple[int | None, int]:
    """Return the (rank, id) of a cursor; raise BadBoardInput for anything else."""
    try:
        if text.startswith("n"):
            return None, int(text[1:])
        if text.startswith("r"):
            rank, pk = text[1:].rsplit("_", 1)
            return int(rank), int(pk)
    except ValueError:
        pass
    raise BadBoardInput("Bad cursor: reload the board.")


@dataclass
class BoardCell:
    """One column of one swimlane: its first cards and whether more follow."""

    step: Step
    lane: str | None
    count: int
    cards: list[dict[str, Any]]

    @property
    def more(self) -> bool:
        return self.count > len(self.cards)

    @property
    def cursor(self) -> str:
        return self.cards[-1]["cursor"] if self.cards else ""


@dataclass
class BoardLane:
    """A swimlane (or the whole board without swimlanes): a cell per column."""

    value: str | None
    name: str
    cells: list[BoardCell]


@dataclass
class BoardColumn:
    """A column header: its status, how many cards it holds and whether that exceeds its WIP limit."""

    step: Step
    count: int

    @property
    def over_limit(self) -> bool:
        return self.step.wip_limit is not None and self.count > self.step.wip_limit


def board_view(*, source: BoardSource, quick: QuickFilters, user: Any, now: dt.datetime) -> dict[str, Any]:
    """Return the first view of a board: columns with counts, lanes with the first cards of every cell."""
    issues = filtered(source.issues, quick, user=user, now=now)
    lane = lane_expression(quick.lanes)
    status_ids = [s.status_id for s in source.steps]
    counts: dict[tuple[int, Any], int] = {
        (row["status_id"], row["lane"]): row["n"]
        for row in issues.filter(status_id__in=status_ids)
        .annotate(lane=lane)
        .values("status_id", "lane")
        .annotate(n=Count("id"))
        .order_by()
    }
    cards: dict[tuple[int, Any], list[dict[str, Any]]] = {}
    if counts:
        first = (
            issues.filter(status_id__in=status_ids)
            .annotate(row=Window(RowNumber(), partition_by=[F("status_id"), lane], order_by=list(BOARD_ORDER)))
            .filter(row__lte=BOARD_PAGE)
            .order_by("status_id", *BOARD_ORDER)
            .values(*CARD_FIELDS, "parent_id", "parent__type__name")
        )
        for row in first:
            cards.setdefault((row["status_id"], lane_of(row, quick.lanes)), []).append(card_dict(row))
    lane_values = sorted({value for _status, value in counts}, key=lambda v: (v is None, v or 0))
    names = _lane_names(quick.lanes, [v for v in lane_values if v is not None])
    if not quick.lanes:
        lane_values = [None]
    lanes = []
    for value in lane_values:
        key = None if not quick.lanes else (NONE_LANE if value is None else str(value))
        name = names.get(value, "") if value is not None else f"No {quick.lanes}" if quick.lanes else ""
        cells = [
            BoardCell(step, key, counts.get((step.status_id, value), 0), cards.get((step.status_id, value), []))
            for step in source.steps
        ]
        lanes.append(BoardLane(key, name, cells))
    if quick.lanes:
        lanes.sort(key=lambda lane: (lane.value == NONE_LANE, lane.name.casefold()))
    columns = [
        BoardColumn(step, sum(n for (status, _lane), n in counts.items() if status == step.status_id))
        for step in source.steps
    ]
    return {"columns": columns, "lanes": lanes, "total": sum(counts.values())}


def _lane_names(lanes: str, values: list[int]) -> dict[int, str]:
    """Return the names of the swimlanes: people's display names, or Epics' keys and summaries (one query)."""
    if not values:
        return {}
    if lanes == "assignee":
        rows = Issue.assignee.field.related_model.objects.filter(pk__in=values).values_list(
            "pk", "username", "first_name", "last_name", "profile__display_name"
        )
        return {pk: display_name_of(username=u, first_name=f, last_name=ln, profile_name=p) for pk, u, f, ln, p in rows}
    return {pk: f"{key} {summary}" for pk, key, summary in Issue.objects.filter(pk__in=values).values_list(
        "pk", "key", "summary"
    )}  # fmt: skip


def board_cards_page(
    *,
    source: BoardSource,
    quick: QuickFilters,
    user: Any,
    now: dt.datetime,
    status_id: int,
    lane: str | None,
    cursor: str,
) -> tuple[list[dict[str, Any]], str | None]:
    """Return the next BOARD_PAGE cards of a cell after the cursor, and the cursor after them (None: the end)."""
    if status_id not in {s.status_id for s in source.steps}:
        raise BadBoardInput("That status is not a column of this board.")
    rank, pk = decode_cursor(cursor) if cursor else (None, 0)
    cell = board_column_queryset(source=source, quick=quick, user=user, now=now, status_id=status_id, lane=lane)
    if cursor:
        cell = cell.filter(cards_after(rank, pk))
    rows = [card_dict(r) for r in cell.order_by(*BOARD_ORDER).values(*CARD_FIELDS)[: BOARD_PAGE + 1]]
    more = len(rows) > BOARD_PAGE
    rows = rows[:BOARD_PAGE]
    return rows, (rows[-1]["cursor"] if more and rows else None)


def board_column_queryset(
    *, source: BoardSource, quick: QuickFilters, user: Any, now: dt.datetime, status_id: int, lane: str | None
) -> QuerySet:
    """Return the cards of one cell as the client sees it (quick filters and swimlane applied), unordered."""
    issues = filtered(source.issues, quick, user=user, now=now)
    return issues.filter(lane_filter(quick, lane), status_id=status_id)
