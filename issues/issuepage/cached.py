"""The issue page's cached parts, the same for the view (slow and fast path) and the refresh after a write.

- the payload (selectors.issue_page_data): shared by every viewer who may see the issue;
- the body ({% block content %} of issues/browse.html): shared by viewers with the same role and time
  zone, with per-request tokens taken out (html.shareable_html); a viewer who wrote a comment or
  worklog shown on the page gets their own ("edit your comment" links).

Both entries are named by issue_page_entry only: the slow path stores under those names and the fast
path (get_cached_issue_page) looks them up, so the two cannot drift apart.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import zoneinfo
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import Http404, HttpRequest
from django.utils import timezone
from django.utils.safestring import mark_safe

from accounts.models import user_zone
from issues import lookups, pagecache
from issues.forms import CommentForm, WorklogForm
from issues.issuepage.html import NotShareable, personalize_html, render_block, shareable_html
from issues.issuepage.links import LINKS_PLACEHOLDER, fill_links
from issues.lru import BoundedLRU, IssueLRU
from issues.models import Issue
from issues.pagecache.generations import outbox_seen_empty
from issues.pagecache.metrics import count
from issues.permissions import UserLike, can_admin_in, can_edit_in, project_role
from issues.selectors import issue_edit_choices, issue_ids_by_key, issue_page_data, issue_with_joins
from taskra_site import sharedcache, switches
from taskra_site.sharedcache import CacheDown

logger = logging.getLogger("taskra.cache")

_MISSING: Any = object()

# Hot Issue rows keyed by issue key, each checked against the shared generations on every access.
issue_lru = IssueLRU(settings.TASKRA_ISSUE_LRU_SIZE)

# Project roles keyed by (user, project, global generation). Membership saves and deletes bump the global
# generation (issues.signals), and every request reads the current one from the shared cache before it
# looks here, so an entry is never used after a membership change committed: the same rule as the issue LRU.
role_memo = BoundedLRU(4096)


def reset_state() -> None:
    """Forget the hot rows, memoised roles and lookup rows of this process (tests: a fresh process)."""
    issue_lru.clear()
    role_memo.clear()
    lookups.reset_state()


def issue_page_entry(issue: Issue, *, body_for: tuple[str | None, str, int | None] | None = None) -> pagecache.Entry:
    """Return the cache entry of the issue's payload, or of its body for (role, time zone, own viewer id or 0).

    The own viewer id is None for an anonymous render (the refresh task) that counts as the author of rows
    whose author was deleted (see _viewer_wrote_on): a key no signed-in viewer ever looks up.

    The only place the issue page's entries are named: the payload and body builders and the fast path
    all come here. Both depend on the issue's and its parent's generations (a sub-task change shows on
    the parent) and on issue.updated (a write whose bump was lost still changes the name).
    """
    parts: tuple[object, ...]
    if body_for is None:
        page_type, parts = "issue", (issue.pk,)
    else:
        role, time_zone, own_viewer = body_for
        page_type, parts = "issue_body", (issue.pk, "body", role or "", time_zone, own_viewer)
    return pagecache.Entry(page_type, parts, issue_ids=(issue.parent_id, issue.pk), version=issue.updated.isoformat())


def role_at(user: UserLike, project_id: int, global_gen: int) -> str | None:
    """Return the user's role in the project (permissions.project_role), memoised at this global generation."""
    memo_key = (user.pk, project_id, global_gen)
    role = role_memo.get(memo_key, _MISSING)
    if role is _MISSING:
        # Read after the generation: a membership change committing now bumps past global_gen.
        role = project_role(user, project_id)
        role_memo.set(memo_key, role)
    return role


def get_cached_issue(key: str) -> Issue | None:
    """Return the issue with this key (with its lookups joined) or None, from the in-process LRU when still current.

    Performs no permission check: callers must check the viewer's membership of issue.project_id.
    The entry is served only when the issue's, its project's and the global generations equal those
    it was read at, so it is never older than a shared entry; when the shared cache is unavailable the
    row comes from the database. Returns a shallow copy: callers may modify it.
    """
    key = key.upper()
    if not pagecache.page_cache_reads_enabled("issue") or switches.is_off("issue_lru"):
        return issue_with_joins(key=key)
    entry = issue_lru.peek(key)
    try:
        if entry is not None:
            issue_id, project_id, cached_gens, issue = entry
            gens = tuple(pagecache.current_generations([issue_id], [project_id]).values())
            if gens == cached_gens:
                issue_lru.touch(key)
                issue_lru.hits += 1
                return copy.copy(issue)
        # Not kept, or stale: the key is looked up again, since a stale entry may name a deleted issue whose key
        # a new one took (an import re-creating it).
        ids = issue_ids_by_key(key=key)
        if ids is None:
            issue_lru.discard(key)
            return None
        issue_id, project_id = ids
        gens = tuple(pagecache.current_generations([issue_id], [project_id]).values())
    except CacheDown:
        issue_lru.discard(key)
        return issue_with_joins(key=key)
    issue_lru.misses += 1
    # Generations were read before the row: a write after this read bumps past them.
    issue = issue_with_joins(pk=issue_id)
    if issue is None:
        issue_lru.discard(key)
        return None
    issue_lru.put(key, issue.pk, issue.project_id, gens, issue)
    return copy.copy(issue)


class IssuePageHit:
    """What the fast path found: the issue row, the viewer's role, and the page when fully cached."""

    __slots__ = ("issue", "role", "data", "body")

    def __init__(self, issue: Issue, role: str | None, data: Any = None, body: str | None = None) -> None:
        self.issue, self.role, self.data, self.body = issue, role, data, body


def get_cached_issue_page(*, key: str, user: UserLike, time_zone: str) -> IssuePageHit | None:
    """Return the issue page for this viewer from two cache round trips and no database query, or None.

    Only for issues in the in-process LRU: one MGET reads the issue's, its parent's, its project's
    and the global generations (validating the LRU row and naming the page entries), the viewer's
    role comes from role_at at that global generation (one indexed query when missing), and a second
    MGET fetches the payload and both candidate bodies (shared, and the viewer's own). The payload's
    author list then picks the body exactly as issue_body would. Returns a hit with role None for
    non-members (the caller answers 404), and a hit with data/body None when the page itself is not
    cached (the caller renders it with the role it already has). None means: take the slow path.
    """
    if not pagecache.page_cache_reads_enabled("issue") or switches.is_off("issue_lru") or not user.is_authenticated:
        return None
    entry = issue_lru.peek(key.upper())
    if entry is None:
        return None
    issue_id, project_id, cached_gens, issue = entry
    try:
        # The outbox check rode on this request's user query (accounts.backends): no query of its own here.
        current = pagecache.current_generations(
            [issue_id, issue.parent_id], [project_id], outbox_checked=outbox_seen_empty(user)
        )
        if tuple(current[k] for k in pagecache.gen_keys([issue_id], [project_id])) != cached_gens:
            return None
        issue_lru.touch(key.upper())
        issue_lru.hits += 1
        issue = copy.copy(issue)
        role = role_at(user, project_id, current[pagecache.GLOBAL_GEN_KEY])
        if role is None:
            return IssuePageHit(issue, None)
        payload = issue_page_entry(issue)
        shared = issue_page_entry(issue, body_for=(role, time_zone, 0))
        own = issue_page_entry(issue, body_for=(role, time_zone, user.pk))
        got = pagecache.lookup([payload, shared, own], current)
    except CacheDown:
        return None
    if payload not in got:
        return IssuePageHit(issue, role)
    data = got[payload]
    body = got.get(own if _viewer_wrote_on(data, user.pk) else shared)
    if body is None:
        return IssuePageHit(issue, role)
    count("issue", "hits")
    count("issue_body", "hits")
    return IssuePageHit(issue, role, data, body)


def rendered_issue_page(*, request: HttpRequest, key: str) -> tuple[dict[str, Any], str]:
    """Return the issue page of request.user as (payload, personalised body); raise Http404 when it is not theirs.

    The one path of a plain GET /browse/KEY: the fast path when the page is fully cached, else the row
    (in-process LRU) and the role, then the payload and the body from the shared cache, built on a miss.
    Another project's issue is a 404 exactly like a missing one.
    """
    tz = user_zone(request.user)
    hit = get_cached_issue_page(key=key, user=request.user, time_zone=str(tz))
    if hit is not None:
        if hit.role is None:
            raise Http404("No such issue.")
        if hit.body is not None:
            body = personalize_html(hit.body, request)
            return hit.data, fill_links(body, data=hit.data, role=hit.role, request=request)
        issue, role = hit.issue, hit.role
    else:
        found = get_cached_issue(key)
        found_role = None if found is None else project_role(request.user, found.project_id)
        if found is None or found_role is None:
            raise Http404("No such issue.")
        issue, role = found, found_role
    data = issue_payload(issue=issue)
    body = issue_body(request=request, issue=issue, data=data, role=role, tz=tz)
    return data, fill_links(body, data=data, role=role, request=request)


def issue_payload(*, issue: Issue) -> dict[str, Any]:
    """Return the issue page's payload from the shared cache, building it from a fresh row on a miss."""

    # The builder re-reads the row after get_or_build read the generations: a write after that read bumps past them.
    def build() -> dict[str, Any]:
        fresh = issue_with_joins(pk=issue.pk)
        if fresh is None:
            raise Http404("No such issue.")
        return issue_page_data(issue=fresh)

    return pagecache.get_or_build_entry(issue_page_entry(issue), build)


def page_context(
    *,
    issue: Issue,
    data: dict[str, Any],
    role: str,
    tz: zoneinfo.ZoneInfo,
    comment_form: CommentForm | None = None,
    worklog_form: WorklogForm | None = None,
    inline_errors: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Return the template context of issues/browse.html for a viewer with this role and time zone."""
    can_edit = can_edit_in(role)
    context = {
        "data": data,
        "issue": data["issue"],
        "role": role,
        "can_edit": can_edit,
        "is_admin": can_admin_in(role),
        "user_tz": str(tz),
        "inline_errors": inline_errors or {},
        # Filled per request (issuepage.links): a linked issue of another project is not every viewer's to see.
        "links_html": mark_safe(LINKS_PLACEHOLDER),
    }
    if can_edit:
        context |= issue_edit_choices(project=issue.project, status_id=issue.status_id)
        context["comment_form"] = comment_form or CommentForm()
        context["worklog_form"] = worklog_form or WorklogForm(tz=tz)
    return context


def issue_body(*, request: HttpRequest, issue: Issue, data: dict[str, Any], role: str, tz: zoneinfo.ZoneInfo) -> str:
    """Return the personalised page body from the shared cache, rendering it on a miss."""

    def render_body() -> str:
        with timezone.override(tz):
            context = page_context(issue=issue, data=data, role=role, tz=tz)
            return render_block(request, "issues/browse.html", "content", context)

    return _shared_body(request=request, issue=issue, data=data, role=role, time_zone=str(tz), render=render_body)


def _shared_body(
    *, request: HttpRequest, issue: Issue, data: dict[str, Any], role: str, time_zone: str, render: Callable[[], str]
) -> str:
    """Return the body for this viewer, shared by every viewer who would see the same HTML.

    CSRF and one-time form tokens are replaced by placeholders before storing and filled in per request.
    """
    viewer = request.user.pk
    own = _viewer_wrote_on(data, viewer)

    def build() -> str:
        html = shareable_html(render())
        if not own:
            _record_body_variant(issue.pk, role, time_zone)
        return html

    try:
        body = pagecache.get_or_build_entry(
            issue_page_entry(issue, body_for=(role, time_zone, viewer if own else 0)), build
        )
    except NotShareable as exc:
        logger.warning("issue page body of %s not shareable: unrecognised per-request token", issue.pk)
        return exc.html
    return personalize_html(body, request)


def _viewer_wrote_on(data: dict[str, Any], viewer: int | None) -> bool:
    # viewer None (an anonymous render) matches rows whose author was deleted, on purpose: the template's
    # `c.author.id == user.pk` is then true for them too, so that body must stay out of the shared entry.
    rows = [*data.get("comments", ()), *data.get("worklogs", ()), *data.get("attachments", ())]
    return any((row.get("author") or {}).get("id") == viewer for row in rows)


def _variants_key(issue_id: int) -> str:
    return f"bodyvariants:{issue_id}"


def _record_body_variant(issue_id: int, role: str | None, time_zone: str) -> None:
    """Remember that readers use this (role, time zone) body of the issue, for the refresh after a write."""
    if not role:
        return
    with contextlib.suppress(CacheDown):
        sharedcache.set_add(_variants_key(issue_id), f"{role}|{time_zone}")


def body_variants(issue_id: int) -> list[tuple[str, str]]:
    """Return the (role, time zone) bodies of the issue that readers rendered recently (none when unknown)."""
    try:
        members = sharedcache.set_members(_variants_key(issue_id))
    except CacheDown:
        return []
    return [(role, tz) for role, tz in (m.split("|", 1) for m in members)]
