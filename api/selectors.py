"""Reads of the API app: tokens, issues and projects by id or key as the caller may see them, users the API
may show to a caller, and searches (offset pages for `search`, keyset pages for `search/jql`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet

from accounts.models import user_zone
from api.adapters import COMMENT_COLUMNS, WORKLOG_COLUMNS
from api.errors import ISSUE_NOT_FOUND, ApiError, jql_error
from api.models import ApiToken
from issues.jql import JQLError, jql_search, order_expressions
from issues.keyset import CursorError, keyset_page
from issues.models import Comment, Issue, Project
from issues.permissions import visible_project_ids
from issues.selectors import (
    cached_result_page,
    issue_key_alias_for_user,
    issue_with_joins,
    issues_visible_to,
    navigator_projects,
)
from worklogs.models import Worklog

MAX_ID = 2**63


def tokens_of(user: Any) -> QuerySet[ApiToken]:
    """Return the user's tokens, newest first (revoked ones too: the page shows when they were revoked)."""
    return ApiToken.objects.filter(user_id=user.pk).only(
        "id", "label", "prefix", "created", "last_used", "expires", "revoked_at", "user_id"
    )


def users_sharing_a_project(user: Any) -> QuerySet:
    """Return the active users who share at least one project with the user, and the user."""
    return (
        get_user_model()
        .objects.filter(Q(pk=user.pk) | Q(memberships__project_id__in=visible_project_ids(user)), is_active=True)
        .distinct()
    )


def _lookup(ref: str) -> dict[str, Any] | None:
    ref = (ref or "").strip()
    if ref.isdigit():
        number = int(ref[:20])
        return {"pk": number} if 0 < number < MAX_ID else None
    return {"key": ref.upper()} if 0 < len(ref) <= 32 else None


def issue_ids_for_user(*, user: Any, ref: str) -> tuple[int, int]:
    """Return (id, project id) of the issue with this key or numeric id if the user may see it; else a 404."""
    lookup = _lookup(ref)
    found = issues_visible_to(user).filter(**lookup).values_list("id", "project_id").first() if lookup else None
    if found is None and lookup and "key" in lookup:  # a key the issue had before a move answers for it
        found = issues_visible_to(user).filter(key_aliases__key=lookup["key"]).values_list("id", "project_id").first()
    if found is None:
        raise ApiError(404, [ISSUE_NOT_FOUND])
    return found


def issue_for_user(*, user: Any, ref: str) -> Issue:
    """Return the issue (lookups joined, for the services) by key or numeric id if the user may see it; else 404."""
    lookup = _lookup(ref)
    issue = None
    if lookup is not None:
        issue = issue_with_joins(user=user, **({"pk": lookup["pk"]} if "pk" in lookup else {"key": lookup["key"]}))
    if issue is None and lookup is not None and "key" in lookup:  # a key the issue had before a move
        moved = issue_key_alias_for_user(key=lookup["key"], user=user)
        issue = issue_with_joins(user=user, key=moved) if moved else None
    if issue is None:
        raise ApiError(404, [ISSUE_NOT_FOUND])
    return issue


def project_by_id_or_key(*, user: Any, ref: str) -> dict[str, Any]:
    """Return the project's columns by id or key if the user is a member; else Jira's 404."""
    lookup = _lookup(ref)
    row: dict[str, Any] | None = None
    if lookup is not None:
        queryset = Project.objects.filter(pk__in=visible_project_ids(user), **lookup)
        row = dict(queryset.values("id", "key", "name", "description", "lead_id").first() or {}) or None
    if row is None:
        raise ApiError(404, [f"No project could be found with key '{(ref or '')[:40]}'."])
    return row


# ---------------------------------------------------------------------------------------------------------
# Searches: the navigator's JQL compiler and visibility filter, offset pages (search) or keyset (search/jql).
# ---------------------------------------------------------------------------------------------------------


def search_queryset(
    *, user: Any, jql: str, strict: bool = True, project_ids: list[int] | None = None
) -> tuple[QuerySet[Issue], list[str]]:
    """Return (the visible issues matching the JQL, their order_by strings); raise Jira's 400 for bad JQL.

    strict=False (validateQuery=warn/none) skips the check that named values exist: they then match nothing.
    project_ids: the caller's project ids when already read (no query then).
    """
    try:
        return jql_search(jql, user=user, strict=strict, project_ids=project_ids)
    except JQLError as exc:
        raise jql_error(exc, jql) from None


@dataclass
class SearchPage:
    ids: list[int]
    total: int | None
    next_token: str | None = None


class _Search:
    """One search's queryset, compiled at most once and only when a cache entry has to be built.

    Results go through the navigator's page cache (issues.selectors.cached_result_page): keyed by the projects
    the caller may see, the query and the caller's time zone (dates without a time are days in it), retired
    by writes to the projects the query can match. A JQL error raises from the builder and is never cached.
    """

    def __init__(self, *, user: Any, jql: str, strict: bool) -> None:
        self.user, self.jql, self.strict = user, jql, strict
        self._compiled: tuple[QuerySet[Issue], list[str]] | None = None
        # The caller's projects, read once for the page and the total: cache keys and the visibility filter.
        self.projects = navigator_projects(user=user, jql=jql)

    @property
    def compiled(self) -> tuple[QuerySet[Issue], list[str]]:
        if self._compiled is None:
            self._compiled = search_queryset(
                user=self.user, jql=self.jql, strict=self.strict, project_ids=self.projects.visible
            )
        return self._compiled

    def cached(self, builder: Callable[[], Any], **query: Any) -> Any:
        query = {"api": "search", "jql": self.jql, "strict": self.strict, **query}
        return cached_result_page(
            user=self.user,
            query=query,
            builder=builder,
            variant=[str(user_zone(self.user))],
            projects=self.projects,
        )


def search_offset(*, user: Any, jql: str, start: int, size: int, strict: bool = True) -> SearchPage:
    """Return the ids of one offset page of a search and the exact total, each from the page cache when there.

    The total stays exact (Jira's clients page "until total", and the jira library reads it once): it is
    cached apart from the pages, so paging through a large result counts it once per change of its projects.
    """
    search = _Search(user=user, jql=jql, strict=strict)

    def page_ids() -> list[int]:
        queryset, order = search.compiled
        return list(queryset.order_by(*order_expressions(order)).values_list("id", flat=True)[start : start + size])

    ids = search.cached(page_ids, start=start, size=size)
    total = search.cached(lambda: search.compiled[0].order_by().count(), part="total")
    return SearchPage(ids=ids, total=total)


def search_keyset(*, user: Any, jql: str, token: str | None, size: int) -> SearchPage:
    """Return the ids of one keyset page of a search and the next page's token (issues.keyset cursors)."""
    search = _Search(user=user, jql=jql, strict=True)

    def page() -> tuple[list[int], str | None]:
        queryset, order = search.compiled
        try:
            found = keyset_page(queryset.only("id"), order, cursor=token or None, size=size)
        except CursorError as exc:
            raise ApiError(400, [f"Invalid nextPageToken: {exc}"]) from None
        return [row.pk for row in found.rows], found.next_cursor

    ids, next_token = search.cached(page, token=token or "", size=size)
    return SearchPage(ids=ids, total=None, next_token=next_token)


# ---------------------------------------------------------------------------------------------------------
# Comments and worklogs of an issue the caller may see (the views check the issue first): rows of
# ("author_id", *COMMENT_COLUMNS) / ("author_id", *WORKLOG_COLUMNS) for api.adapters.comment_json / worklog_json.
# ---------------------------------------------------------------------------------------------------------


def comment_page(*, issue_id: int, order: tuple[str, ...], start: int, size: int) -> tuple[list[tuple], int]:
    """Return one page of an issue's comment rows and the total (two queries)."""
    queryset = Comment.objects.filter(issue_id=issue_id)
    rows = list(queryset.order_by(*order).values_list("author_id", *COMMENT_COLUMNS)[start : start + size])
    return rows, queryset.count()


def comment_row(*, comment_id: int) -> tuple | None:
    return Comment.objects.filter(pk=comment_id).values_list("author_id", *COMMENT_COLUMNS).first()


def worklog_page(*, issue_id: int, start: int, size: int, started_after: dt.datetime | None) -> tuple[list[tuple], int]:
    """Return one page of an issue's worklog rows (by start time) and the total (two queries)."""
    queryset = Worklog.objects.filter(issue_id=issue_id)
    if started_after is not None:
        queryset = queryset.filter(started__gt=started_after)
    rows = list(queryset.order_by("started", "id").values_list("author_id", *WORKLOG_COLUMNS)[start : start + size])
    return rows, queryset.count()


def worklog_rows(*, ids: list[int], user: Any) -> list[tuple]:
    """Return the worklog rows of these ids on issues the user may see (others are left out, as Jira does)."""
    queryset = Worklog.objects.filter(pk__in=ids, issue__project_id__in=visible_project_ids(user))
    return list(queryset.order_by("id").values_list("author_id", *WORKLOG_COLUMNS))


def worklogs_updated(*, user: Any, since: dt.datetime, size: int) -> list[tuple[int, dt.datetime]]:
    """Return (id, updated) of worklogs updated at or after `since` on issues the user may see, oldest first."""
    queryset = Worklog.objects.filter(updated__gte=since, issue__project_id__in=visible_project_ids(user))
    return list(queryset.order_by("updated", "id").values_list("id", "updated")[:size])
