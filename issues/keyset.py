"""Keyset ("seek") pagination over any ordering of issues, with opaque, validated page cursors.

A page is found by a WHERE on the sort values of the last row seen, never by OFFSET, so page 10 000 costs
what page 1 costs. The ordering always ends with ``id`` so every row has a unique position; empty (NULL)
values sort last in both directions, which the seek condition mirrors. Cursors are base64 JSON that name
the ordering they belong to; a cursor that was tampered with, truncated or made for another sort raises
CursorError (callers answer 400 / an inline message).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from django.db.models import F, Model, Q, QuerySet

# Sort paths, their value types (to validate cursors before they reach the database) and which may be NULL
# come from the issue fields table.
from issues.fields import NULLABLE_SORT_PATHS, PATH_TYPES
from issues.models import IssueType, Priority, Status

MAX_CURSOR_LENGTH = 4096


class CursorError(ValueError):
    """A page cursor that cannot be used; the message is fit to show."""


@dataclass(frozen=True)
class SortKey:
    path: str
    desc: bool

    @property
    def nullable(self) -> bool:
        return self.path in NULLABLE_SORT_PATHS


def parse_order(order_by: list[str]) -> list[SortKey]:
    """Return the sort keys of order_by() strings ("-created", "id"), making sure the last one is id."""
    keys = [SortKey(item.lstrip("-"), item.startswith("-")) for item in order_by]
    if not keys or keys[-1].path != "id":
        keys.append(SortKey("id", keys[0].desc if keys else True))
    for key in keys:
        if key.path not in PATH_TYPES:
            raise ValueError(f"cannot page by {key.path}")
    return keys


def signature(keys: list[SortKey]) -> str:
    """Return a short fingerprint of an ordering, stored in cursors to reject ones made for another sort."""
    text = ",".join(("-" if k.desc else "") + k.path for k in keys)
    return hashlib.sha1(text.encode()).hexdigest()[:10]


def annotation_name(index: int) -> str:
    return f"_seek{index}"


def order_expressions(keys: list[SortKey], *, reverse: bool = False) -> list[Any]:
    """Return order_by() arguments; nulls last going forward (and so first when walking back)."""
    result = []
    for key in keys:
        desc = key.desc != reverse
        if key.nullable:
            nulls = {"nulls_first": True} if reverse else {"nulls_last": True}
            result.append(F(key.path).desc(**nulls) if desc else F(key.path).asc(**nulls))
        else:
            result.append(F(key.path).desc() if desc else F(key.path).asc())
    return result


def _after(key: SortKey, value: Any, *, reverse: bool) -> Q:
    """Return rows strictly after `value` on this key alone, in the walking direction."""
    desc = key.desc != reverse
    nulls_last = not reverse
    if value is None:
        # Going forward nothing follows the empty values; walking back the non-empty ones do.
        return Q(pk__in=[]) if nulls_last else Q(**{f"{key.path}__isnull": False})
    q = Q(**{f"{key.path}__{'lt' if desc else 'gt'}": value})
    if key.nullable and nulls_last:
        q |= Q(**{f"{key.path}__isnull": True})
    return q


def _equal(key: SortKey, value: Any) -> Q:
    if value is None:
        return Q(**{f"{key.path}__isnull": True})
    return Q(**{key.path: value})


def seek_condition(keys: list[SortKey], values: list[Any], *, reverse: bool = False) -> Q:
    """Return the WHERE for rows after the position `values` (one value per key) in the given direction.

    The lexicographic condition (a > x) OR (a = x AND (b > y OR ...)) is preceded by a plain bound on the
    first key (a >= x) so the database can start an index range scan at the cursor instead of filtering.
    """
    condition = _after(keys[-1], values[-1], reverse=reverse)
    for key, value in zip(reversed(keys[:-1]), reversed(values[:-1]), strict=True):
        condition = _after(key, value, reverse=reverse) | (_equal(key, value) & condition)
    first, first_value = keys[0], values[0]
    if first_value is not None and not first.nullable:
        desc = first.desc != reverse
        condition = Q(**{f"{first.path}__{'lte' if desc else 'gte'}": first_value}) & condition
    return condition


def _encode_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _decode_value(path: str, raw: Any) -> Any:
    if raw is None:
        return None
    kind = PATH_TYPES[path]
    if kind == "int":
        if isinstance(raw, bool) or not isinstance(raw, int) or not -(2**63) <= raw < 2**63:
            raise CursorError("The page link is damaged; start again from the first page.")
        return raw
    if not isinstance(raw, str) or len(raw) > 1000 or "\x00" in raw:
        raise CursorError("The page link is damaged; start again from the first page.")
    if kind == "str":
        return raw
    try:
        if kind == "date":
            return dt.date.fromisoformat(raw)
        value = dt.datetime.fromisoformat(raw)
    except ValueError:
        raise CursorError("The page link is damaged; start again from the first page.") from None
    if value.tzinfo is None:
        raise CursorError("The page link is damaged; start again from the first page.")
    return value


def encode_cursor(keys: list[SortKey], values: list[Any], *, backward: bool = False, start: int | None = None) -> str:
    """Return an opaque cursor for the position `values` (the sort values of a row).

    start is the 0-based rank of the first row of the page the cursor leads to, when known; it only labels
    the page ("51-100 of 5,000"), never selects rows, so a tampered value can mislabel but not leak.
    """
    payload: dict[str, Any] = {"o": signature(keys), "v": [_encode_value(v) for v in values]}
    if backward:
        payload["b"] = 1
    if start is not None:
        payload["p"] = start
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(keys: list[SortKey], cursor: str) -> tuple[list[Any], bool, int | None]:
    """Return (values, backward, start) of a cursor made by encode_cursor for the same ordering.

    Raise CursorError for a cursor that is damaged or belongs to another ordering.
    """
    damaged = "The page link is damaged; start again from the first page."
    if not cursor or len(cursor) > MAX_CURSOR_LENGTH:
        raise CursorError(damaged)
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        payload = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise CursorError(damaged) from None
    if not isinstance(payload, dict) or not isinstance(payload.get("v"), list):
        raise CursorError(damaged)
    if payload.get("o") != signature(keys) or len(payload["v"]) != len(keys):
        raise CursorError("The page link belongs to another sort order; start again from the first page.")
    values = [_decode_value(key.path, raw_value) for key, raw_value in zip(keys, payload["v"], strict=True)]
    if values[-1] is None:
        raise CursorError(damaged)
    start = payload.get("p")
    if start is not None and (isinstance(start, bool) or not isinstance(start, int) or not 0 <= start < 2**31):
        raise CursorError(damaged)
    return values, bool(payload.get("b")), start


# Sort paths that are a lookup table's order (ORDER BY priority, status, type): issue column and the lookup model.
# Sorting by the joined value sorted every match (370 ms for one project's 80,000 "In Progress" issues by
# priority); walking one lookup value at a time in that order reads each group along an index of the issue's
# own columns ((project, status, priority, id), migration 0009) and stops when the page is full.
LOOKUP_RANKS: dict[str, tuple[str, type[Model]]] = {
    "priority__rank": ("priority_id", Priority),
    "status__position": ("status_id", Status),
    "type__position": ("type_id", IssueType),
}


def _walk_lookup_groups(
    queryset: QuerySet, keys: list[SortKey], values: list[Any] | None, *, backward: bool, limit: int
) -> list[Any]:
    """Return up to `limit` rows ordered by keys, whose first is a lookup's rank: one query per rank value read.

    The ranks come from the lookup table (one small query); rows of one rank are read with that rank's ids as a
    filter and ordered by the remaining keys, so no join and no sort of every match. Queries: 1 + the number of
    rank values the page spans (1 or 2 in practice, at most the size of the lookup table).
    """
    first, rest = keys[0], keys[1:]
    column, model = LOOKUP_RANKS[first.path]
    field = first.path.split("__", 1)[1]
    groups: dict[Any, list[int]] = {}
    for pk, rank in model._default_manager.order_by().values_list("pk", field):
        groups.setdefault(rank, []).append(pk)
    descending = first.desc != backward
    annotations = {annotation_name(i): F(k.path) for i, k in enumerate(keys) if i and k.path != "id"}
    base = queryset.annotate(**annotations) if annotations else queryset
    ordering = order_expressions(rest, reverse=backward)
    rows: list[Any] = []
    for rank in sorted(groups, reverse=descending):
        qs = base.filter(**{f"{column}__in": groups[rank]})
        if values is not None:
            if (rank > values[0]) if descending else (rank < values[0]):
                continue  # a group before the cursor
            if rank == values[0]:
                qs = qs.filter(seek_condition(rest, values[1:], reverse=backward))
        found = list(qs.order_by(*ordering)[: limit - len(rows)])
        for row in found:
            setattr(row, annotation_name(0), rank)
        rows += found
        if len(rows) >= limit:
            break
    return rows


# The cursor of the last page: the rows are read from the end of the ordering, no seek needed.
LAST_PAGE = "last"


@dataclass
class KeysetPage:
    rows: list[Any]
    next_cursor: str | None
    prev_cursor: str | None
    # 0-based rank of the page's first row among all matches; None when unknown (an old cursor, or the last
    # page of a result too large to count).
    start: int | None = 0


def keyset_page(
    queryset: QuerySet,
    order_by: list[str],
    *,
    cursor: str | None,
    size: int,
    total: int | None = None,
    walk_lookups: bool = False,
) -> KeysetPage:
    """Return one page of `queryset` in the given order, after (or, for a backward cursor, before) `cursor`.

    cursor LAST_PAGE reads the last page from the end; with `total` (the exact number of matches) it holds
    the rows after the last full page, so page numbers line up with those counted from the start. One query:
    the page plus one extra row that tells whether another page exists. walk_lookups (the caller knows the
    result is too large to sort cheaply: the navigator's capped count) reads an ordering by a lookup's rank
    (priority, status, type) one rank value at a time instead (_walk_lookup_groups).
    """
    keys = parse_order(order_by)
    values: list[Any] | None = None
    backward = False
    start: int | None = 0
    take = size
    if cursor == LAST_PAGE:
        backward = True
        if total is not None:
            take = total % size or size
            start = max(total - take, 0)
        else:
            start = None
    elif cursor:
        values, backward, start = decode_cursor(keys, cursor)
    if walk_lookups and keys[0].path in LOOKUP_RANKS:
        rows = _walk_lookup_groups(queryset, keys, values, backward=backward, limit=take + 1)
    else:
        annotations = {annotation_name(i): F(k.path) for i, k in enumerate(keys) if k.path != "id"}
        qs = queryset.annotate(**annotations) if annotations else queryset
        if values is not None:
            qs = qs.filter(seek_condition(keys, values, reverse=backward))
        qs = qs.order_by(*order_expressions(keys, reverse=backward))
        rows = list(qs[: take + 1])
    more = len(rows) > take
    rows = rows[:take]
    if backward:
        rows.reverse()

    def position(row: Any) -> list[Any]:
        return [row.pk if k.path == "id" else getattr(row, annotation_name(i)) for i, k in enumerate(keys)]

    next_cursor = prev_cursor = None
    if rows:
        has_next = (backward and cursor != LAST_PAGE) or (more and not backward)
        has_prev = more if backward else values is not None
        if has_next:
            next_start = start + len(rows) if start is not None else None
            next_cursor = encode_cursor(keys, position(rows[-1]), start=next_start)
        if has_prev:
            prev_start = max(start - size, 0) if start is not None else None
            prev_cursor = encode_cursor(keys, position(rows[0]), backward=True, start=prev_start)
    return KeysetPage(rows=rows, next_cursor=next_cursor, prev_cursor=prev_cursor, start=start)
