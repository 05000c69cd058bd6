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

from accounts.models import user_zone
from issues import lookups, pagecache
from issues.forms import CommentForm, WorklogForm
from issues.issuepage import html as issuepage_html
from issues.issuepage.html import NotShareable, member_options, personalize_html, render_block, shareable_html
from issues.issuepage.links import fill_links, shared_links_html
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

# What names an issue's page entries (id, project id, parent id, updated) keyed by issue key, with the generations
# it was read at: far more issues than the rows above (a few hundred bytes each, not kilobytes), so that a page the
# shared cache holds is served without a query well past the hot few hundred (Zipf-distributed reads).
ISSUE_HEADS = 20_000
issue_heads = BoundedLRU(ISSUE_HEADS)

# Project roles keyed by (user, project, global generation). Membership saves and deletes bump the global
# generation (issues.signals), and every request reads the current one from the shared cache before it
# looks here, so an entry is never used after a membership change committed: the same rule as the issue LRU.
role_memo = BoundedLRU(4096)


def reset_state() -> None:
    """Forget the hot rows, memoised roles and lookup rows of this process (tests: a fresh process)."""
    issue_lru.clear()
    issue_heads.clear()
    role_memo.clear()
    lookups.reset_state()
    issuepage_html.reset_state()


def issue_page_entry(issue: Issue, *, body_for: tuple[str | None, str, int | None] | None = None) -> pagecache.Entry:
    """Return the cache entry of the issue's payload, or of its body for (role, time zone, own viewer id or 0).

    The own viewer id is None for an anonymous render (the refresh task) that counts as the author of rows
    whose author was deleted (see _viewer_wrote_on): a key no signed-in viewer ever looks up.

    The only place the issue page's entries are named: the payload and body builders and the fast path
    all come here. Both depend on the issue's and its parent's generations (a sub-task change shows on
    the parent, a linked issue's change on the issues linked to it: issues.signals) and on issue.updated (a
    write whose bump was lost still changes the name); the body on the project's configuration too, never on
    the project's generation, which every write to any of its issues bumps (a page would not stay cached
    while other issues of a busy project change).
    """
    issue_ids, version = (issue.parent_id, issue.pk), issue.updated.isoformat()
    if body_for is None:
        return pagecache.Entry("issue", (issue.pk,), issue_ids=issue_ids, version=version)
    role, time_zone, own_viewer = body_for
    # The body's status and assignee editors show the project's workflow and members: a change of either bumps
    # the project's configuration counter (issues.workflows, issues.signals, bulk membership writes) or the global one.
    parts = (issue.pk, "body", role or "", time_zone, own_viewer)
    return pagecache.Entry("issue_body", parts, issue_ids=issue_ids, config_ids=(issue.project_id,), version=version)


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
    """Return the issue with this key (with its lookups joined) or None: read_issue without the generations."""
    return read_issue(key)[0]


def _forget(key: str) -> None:
    issue_lru.discard(key)
    issue_heads.discard(key)


def read_issue(key: str, *, outbox_checked: bool = False) -> tuple[Issue | None, dict[str, int] | None]:
    """Return the issue with this key (lookups joined) and the generations it is current at, or (None, None).

    The generations are those the issue page's entries depend on (global, the issue's, its parent's, its
    project's configuration), read before the row: a page built from this row may be stored under them. They are
    None when they cannot be known (page cache off or down, or the issue moved between the reads): then the page is
    built from the database as if uncached. The row comes from the in-process LRU when its generations are
    still current, so it is never older than a shared entry. Performs no permission check: callers must check
    the viewer's membership of issue.project_id. Returns a shallow copy: callers may modify it.
    """
    key = key.upper()
    if not pagecache.page_cache_reads_enabled("issue") or switches.is_off("issue_lru"):
        return issue_with_joins(key=key), None
    entry = issue_lru.peek(key)
    try:
        if entry is not None:
            issue_id, project_id, cached_gens, issue = entry
            gens = pagecache.current_generations(
                [issue_id, issue.parent_id], (), config_ids=[project_id], outbox_checked=outbox_checked
            )
            if tuple(gens.values()) == cached_gens:
                issue_lru.touch(key)
                issue_lru.hits += 1
                return copy.copy(issue), gens
        # Not kept, or stale: the key is looked up again, since a stale entry may name a deleted issue whose key
        # a new one took (an import re-creating it).
        ids = issue_ids_by_key(key=key)
        if ids is None:
            _forget(key)
            return None, None
        issue_id, project_id, parent_id = ids
        gens = pagecache.current_generations(
            [issue_id, parent_id], (), config_ids=[project_id], outbox_checked=outbox_checked
        )
    except CacheDown:
        _forget(key)
        return issue_with_joins(key=key), None
    issue_lru.misses += 1
    # Generations were read before the row: a write after this read bumps past them. The lookup rows joined to
    # it are kept current at those generations (no second read of the global one).
    with pagecache.generations_read(gens):
        issue = issue_with_joins(pk=issue_id)
    if issue is None:
        _forget(key)
        return None, None
    if (issue.project_id, issue.parent_id) != (project_id, parent_id):
        # Moved or re-parented between the two reads: the generations read are another project's or parent's.
        _forget(key)
        return issue, None
    issue_lru.put(key, issue.pk, issue.project_id, tuple(gens.values()), issue)
    issue_heads.set(key, ((issue.pk, issue.project_id, issue.parent_id, issue.updated), tuple(gens.values())))
    return copy.copy(issue), gens


class IssuePageHit:
    """What the fast path found: the issue row, the viewer's role, the generations, and the page when cached."""

    __slots__ = ("issue", "role", "generations", "found", "data", "body")

    def __init__(
        self,
        issue: Issue,
        role: str | None,
        generations: dict[str, int],
        found: dict[pagecache.Entry, Any],
        viewer: int | None = None,
    ) -> None:
        self.issue, self.role, self.generations, self.found = issue, role, generations, found
        # The payload and the body this viewer gets (shared, or their own), when cached (else None).
        self.data = self.body = None
        for entry, value in found.items():
            if entry.page_type == "issue":
                self.data = value
        if self.data is not None:
            own = _viewer_wrote_on(self.data, viewer)
            for entry, value in found.items():
                if entry.page_type == "issue_body" and (entry.key_parts[-1] == viewer) == own:
                    self.body = value


def get_cached_issue_page(*, key: str, user: UserLike, time_zone: str) -> IssuePageHit | None:
    """Return what the cache holds of the issue page for this viewer, from one cache round trip and no query.

    Only for issues in the in-process LRU: one round trip reads the issue's, its parent's, its project
    configuration's and the global generations (validating the LRU row) and the payload and both candidate bodies
    (shared, and the viewer's own) named by the generations the row was kept at, with the viewer's role memoised
    at those (_lookup_at_kept); the entries are used only when the generations did not move. Without that role, one MGET
    reads the generations, the role comes from role_at (one indexed query when missing) and a second MGET the
    entries. Returns a hit
    with role None for non-members (the caller answers 404), else one whose `found` holds the entries
    the cache had (the caller builds the others at the hit's generations). None means: take the slow path.
    """
    if not pagecache.page_cache_reads_enabled("issue") or switches.is_off("issue_lru") or not user.is_authenticated:
        return None
    entry = issue_lru.peek(key.upper())
    if entry is None:
        return _cached_page_by_head(key=key.upper(), user=user, time_zone=time_zone)
    cached_gens, issue = entry[2], entry[3]
    try:
        read = _read_at(issue, cached_gens, user=user, time_zone=time_zone)
        if read is None:
            return None
        current, role, got = read
        issue_lru.touch(key.upper())
        issue_lru.hits += 1
        issue = copy.copy(issue)
    except CacheDown:
        return None
    return IssuePageHit(issue, role, current, got, user.pk)


def _read_at(
    issue: Issue, kept_gens: tuple[int, ...], *, user: UserLike, time_zone: str
) -> tuple[dict[str, int], str | None, dict[pagecache.Entry, Any]] | None:
    """Return (current generations, role, entries found) when the generations are still those kept, else None.

    The fast path of both the LRU row and the head: one cache round trip when the viewer's role is memoised
    (_lookup_at_kept), else the current generations, then the role and the entries (none for a non-member).
    The outbox check rode on this request's user query (accounts.backends): no query of its own here.
    """
    role: str | None
    outbox_checked = outbox_seen_empty(user)
    at_once = _lookup_at_kept(issue, kept_gens, user=user, time_zone=time_zone, outbox_checked=outbox_checked)
    if at_once is not None:
        current, role, got = at_once
    else:
        current = pagecache.current_generations(
            [issue.pk, issue.parent_id], (), config_ids=[issue.project_id], outbox_checked=outbox_checked
        )
        if tuple(current.values()) != kept_gens:
            return None
        role = role_at(user, issue.project_id, current[pagecache.GLOBAL_GEN_KEY])
        entries = [] if role is None else _page_entries(issue, role=role, time_zone=time_zone, viewer=user.pk)
        got = pagecache.lookup(entries, current) if entries else {}
    if tuple(current.values()) != kept_gens:
        return None
    return current, role, got


def _lookup_at_kept(
    issue: Issue, kept_gens: tuple[int, ...], *, user: UserLike, time_zone: str, outbox_checked: bool
) -> tuple[dict[str, int], str, dict[pagecache.Entry, Any]] | None:
    """Return (current generations, role, entries found) from one cache round trip, or None to read in two.

    The entries are named by the generations the row (or head) was kept at, and read in the round trip that reads
    the current ones: when those did not move (a hot page), the entries are the current ones. Only when the
    viewer's role at the kept global generation is memoised as a member's (it names the body).
    """
    names = pagecache.gen_keys([issue.pk, issue.parent_id], (), [issue.project_id])
    kept = dict(zip(names, kept_gens, strict=True))
    role = role_memo.get((user.pk, issue.project_id, kept[pagecache.GLOBAL_GEN_KEY]), _MISSING)
    if role is _MISSING or role is None:
        return None
    read = pagecache.lookup_if_current(
        _page_entries(issue, role=role, time_zone=time_zone, viewer=user.pk), kept, outbox_checked=outbox_checked
    )
    if read is None:
        return None
    current, got = read
    return current, role, got


def _cached_page_by_head(*, key: str, user: UserLike, time_zone: str) -> IssuePageHit | None:
    """Return the page of an issue whose row left the LRU but whose head did not, when fully cached; else None.

    The same checks as the fast path (generations current, the viewer's role at the global one); only a page whose
    payload and body are both cached is served, since building one needs the row (the slow path reads it).
    """
    head = issue_heads.peek(key)
    if head is None:
        return None
    (issue_id, project_id, parent_id, updated), cached_gens = head
    # An unsaved instance holding what names the entries (issue_page_entry): no row is read.
    stub = Issue(pk=issue_id, project_id=project_id, parent_id=parent_id, updated=updated)
    try:
        read = _read_at(stub, cached_gens, user=user, time_zone=time_zone)
        if read is None:
            return None
        current, role, got = read
        if role is None:
            return IssuePageHit(stub, None, current, {})
        issue_heads.touch(key)
    except CacheDown:
        return None
    hit = IssuePageHit(stub, role, current, got, user.pk)
    return hit if hit.body is not None else None


def _page_entries(issue: Issue, *, role: str, time_zone: str, viewer: int | None) -> list[pagecache.Entry]:
    """Return the entries of the page for a viewer: the payload, the shared body and the viewer's own body."""
    return [
        issue_page_entry(issue),
        issue_page_entry(issue, body_for=(role, time_zone, 0)),
        issue_page_entry(issue, body_for=(role, time_zone, viewer)),
    ]


def rendered_issue_page(*, request: HttpRequest, key: str) -> tuple[dict[str, Any], str]:
    """Return the issue page of request.user as (payload, personalised body); raise Http404 when it is not theirs.

    The one path of a plain GET /browse/KEY: the fast path when the issue's row is in the in-process LRU, else
    the row read after its generations and the role; then the payload and the body from the shared cache
    (one MGET for both), each built from that row on a miss and stored under those generations. Another
    project's issue is a 404 exactly like a missing one.
    """
    user = request.user
    tz = user_zone(user)
    hit = get_cached_issue_page(key=key, user=user, time_zone=str(tz))
    found: dict[pagecache.Entry, Any] | None = None
    gens: dict[str, int] | None
    if hit is not None:
        if hit.role is None:
            raise Http404("No such issue.")
        if hit.data is not None and hit.body is not None:
            count("issue", "hits")
            count("issue_body", "hits")
            return hit.data, fill_links(
                personalize_html(hit.body, request), data=hit.data, role=hit.role, request=request
            )
        issue, role, gens, found = hit.issue, hit.role, hit.generations, hit.found
    else:
        read, gens = read_issue(key, outbox_checked=outbox_seen_empty(user))
        if read is None:
            raise Http404("No such issue.")
        found_role = (
            project_role(user, read.project_id)
            if gens is None
            else role_at(user, read.project_id, gens[pagecache.GLOBAL_GEN_KEY])
        )
        if found_role is None:
            raise Http404("No such issue.")
        issue, role = read, found_role
    if gens is None:  # the generations are unknown: build from the database through the usual entries
        data = issue_payload(issue=issue)
        body = issue_body(request=request, issue=issue, data=data, role=role, tz=tz)
    else:
        # Built at the generations read before the row: the per-process lookups (workflow, members, link types)
        # are checked against those too, with no further cache round trip.
        with pagecache.generations_read(gens):
            data, body = _page_at(request=request, issue=issue, role=role, tz=tz, generations=gens, found=found)
    return data, fill_links(body, data=data, role=role, request=request)


def _page_at(
    *,
    request: HttpRequest,
    issue: Issue,
    role: str,
    tz: zoneinfo.ZoneInfo,
    generations: dict[str, int],
    found: dict[pagecache.Entry, Any] | None,
) -> tuple[dict[str, Any], str]:
    """Return the payload and the personalised body at these generations, read before the issue row was.

    Entries missing from `found` (looked up in one MGET here when None) are built from that row under the stampede
    lock and stored under the same generations: the row is as new as they are, so nothing older is ever stored.
    """
    time_zone = str(tz)
    payload_entry, shared_entry, own_entry = _page_entries(
        issue, role=role, time_zone=time_zone, viewer=request.user.pk
    )
    if found is None:
        try:
            found = pagecache.lookup([payload_entry, shared_entry, own_entry], generations)
        except CacheDown:
            found = {}
    if payload_entry in found:
        count("issue", "hits")
        data = found[payload_entry]
    else:
        data = pagecache.build_entry(payload_entry, generations, lambda: issue_page_data(issue=issue))
    own = _viewer_wrote_on(data, request.user.pk)
    body_entry = own_entry if own else shared_entry
    if body_entry in found:
        count("issue_body", "hits")
        return data, personalize_html(found[body_entry], request)

    def build() -> str:
        with timezone.override(tz):
            context = page_context(request=request, issue=issue, data=data, role=role, tz=tz)
            return shareable_html(render_block(request, "issues/browse.html", "content", context))

    def variant() -> tuple[str, str] | None:
        # A shared body readers use, recorded with its store for the refresh after a write (_record_body_variant).
        return None if own else (_variants_key(issue.pk), f"{role}|{time_zone}")

    try:
        body = pagecache.build_entry(body_entry, generations, build, remember=variant)
    except NotShareable as exc:
        logger.warning("issue page body of %s not shareable: unrecognised per-request token", issue.pk)
        return data, exc.html
    return data, personalize_html(body, request)


def issue_payload(*, issue: Issue) -> dict[str, Any]:
    """Return the issue page's payload from the shared cache, building it from a fresh row on a miss.

    With the page cache off for this request there are no generations to be current at: the row given is used.
    """
    if not pagecache.page_cache_reads_enabled("issue"):
        return issue_page_data(issue=issue)

    # The builder re-reads the row after get_or_build read the generations: a write after that read bumps past them.
    def build() -> dict[str, Any]:
        fresh = issue_with_joins(pk=issue.pk)
        if fresh is None:
            raise Http404("No such issue.")
        return issue_page_data(issue=fresh)

    return pagecache.get_or_build_entry(issue_page_entry(issue), build)


def page_context(
    *,
    request: HttpRequest,
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
        # Filled per request when a linked issue is of another project (not every viewer's to see), else rendered
        # once into the shared body (issuepage.links).
        "links_html": shared_links_html(data=data, role=role, request=request),
    }
    if can_edit:
        context |= issue_edit_choices(project=issue.project, status_id=issue.status_id)
        assignee = data["issue"].get("assignee") or {}
        context["member_options"] = member_options(
            project_id=issue.project_id, members=context["members"], selected=assignee.get("id")
        )
        context["comment_form"] = comment_form or CommentForm()
        context["worklog_form"] = worklog_form or WorklogForm(tz=tz)
    return context


def issue_body(*, request: HttpRequest, issue: Issue, data: dict[str, Any], role: str, tz: zoneinfo.ZoneInfo) -> str:
    """Return the personalised page body from the shared cache, rendering it on a miss."""

    def render_body() -> str:
        with timezone.override(tz):
            context = page_context(request=request, issue=issue, data=data, role=role, tz=tz)
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
