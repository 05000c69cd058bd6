"""The issue page's two cached parts, built the same way by the view and by the refresh after a write.

- the payload (issue_page_data): shared by every viewer who may see the issue;
- the body ({% block content %} of issues/browse.html): shared by viewers with the same role and
  time zone, with per-request tokens taken out (issues.cache.shareable_html).

After a write commits, issue_pages_refresh (run by a Celery worker, issues.tasks) rebuilds both
for the body variants readers recently used, so the first read after a write is a cache hit
instead of a rebuild. It uses the same keys, generations, version and stampede lock as readers,
so it can never store anything a reader would not have built at that moment.
"""

from __future__ import annotations

import logging
import zoneinfo
from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.http import Http404, HttpRequest
from django.utils import timezone

from issues import cache as issue_cache
from issues.forms import CommentForm, WorklogForm
from issues.permissions import can_admin_in, can_edit_in
from issues.selectors import issue_edit_choices, issue_page_data

logger = logging.getLogger("taskra.cache")


def issue_payload(*, issue: Any) -> dict[str, Any]:
    """Return the issue page's payload from the shared cache, building it from a fresh row on a miss."""

    # The builder re-reads the row after get_or_build read the generations: a write after that read bumps past them.
    def build() -> dict[str, Any]:
        fresh = issue_cache.load_issue(pk=issue.pk)
        if fresh is None:
            raise Http404("No such issue.")
        return issue_page_data(issue=fresh)

    return issue_cache.get_or_build(
        "issue", [issue.pk], build, issue_id=issue.pk, issue_ids=[issue.parent_id], version=issue.updated.isoformat()
    )


def page_context(
    *,
    issue: Any,
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
    }
    if can_edit:
        context |= issue_edit_choices(project_id=issue.project_id)
        context["comment_form"] = comment_form or CommentForm()
        context["worklog_form"] = worklog_form or WorklogForm(tz=tz)
    return context


def issue_body(*, request: HttpRequest, issue: Any, data: dict[str, Any], role: str, tz: zoneinfo.ZoneInfo) -> str:
    """Return the personalised page body from the shared cache, rendering it on a miss."""

    def render_body() -> str:
        with timezone.override(tz):
            context = page_context(issue=issue, data=data, role=role, tz=tz)
            return issue_cache.render_block(request, "issues/browse.html", "content", context)

    return issue_cache.get_or_render_issue_body(
        request=request, issue=issue, data=data, role=role, time_zone=str(tz), render=render_body
    )


def _anonymous_get(path: str) -> HttpRequest:
    """Return a bare GET request by nobody: what a shared body is rendered from outside a real request."""
    request = HttpRequest()
    request.method = "GET"
    request.path = request.path_info = path
    request.user = AnonymousUser()
    return request


def issue_pages_refresh(*, issue_ids: list[int]) -> int:
    """Rebuild the payload and the recently used shared bodies of these issues; return how many bodies it ensured.

    Only issues whose bodies readers rendered recently have variants recorded, so cold issues
    cost one Redis read. A body shared by viewers who wrote none of its comments or worklogs
    never depends on who renders it, so an anonymous request renders it. Failures are logged,
    never raised: the next reader rebuilds the page as usual.
    """
    built = 0
    with issue_cache.quiet_metrics():
        for issue_id in issue_ids:
            variants = issue_cache.body_variants(issue_id)
            if not variants:
                continue
            try:
                # Fresh row first (its updated stamp names the entries), generations read inside get_or_build.
                issue = issue_cache.load_issue(pk=issue_id)
                if issue is None:
                    continue
                data = issue_payload(issue=issue)
                request = _anonymous_get(issue.get_absolute_url())
                for role, tz_name in variants:
                    tz = zoneinfo.ZoneInfo(tz_name)
                    issue_body(request=request, issue=issue, data=data, role=role, tz=tz)
                    built += 1
            except Exception:  # a refresh is an optimisation: readers rebuild whatever it could not
                logger.exception("refreshing the cached pages of issue %s failed", issue_id)
    return built
