"""Issue links from the issue page: POST /browse/KEY/links (add), POST /browse/KEY/links/<id>/delete (remove).

Thin views over issues.services.issue_link_create / issue_link_delete, made from this issue (the source): the
viewer must be able to edit it; an issue they cannot see is "not found", exactly like a missing key.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.views.decorators.http import require_POST

from issues.forms import IssueLinkForm
from issues.models import IssueLink
from issues.permissions import require_edit
from issues.selectors import issue_for_user
from issues.services import issue_link_create, issue_link_delete, issue_not_found_message
from issues.views.browse import _issue_or_404, _render_page
from taskra_site.validation import error_list


@require_POST
def link_add(request: HttpRequest, key: str) -> HttpResponse:
    """Link this issue to another one ("this issue blocks OPS-3")."""
    issue = _issue_or_404(request, key)
    require_edit(request.user, issue.project_id, "Viewers cannot link issues.")
    form = IssueLinkForm(request.POST)
    if not form.is_valid():
        error = " ".join(str(e) for errs in form.errors.values() for e in errs)
        return _render_page(request, issue, link_error=error, status=400)
    link_type, direction = form.cleaned_data["link_type"]
    other_key = form.cleaned_data["issue"]
    other = issue_for_user(key=other_key, user=request.user)
    if other is None:
        return _render_page(request, issue, link_error=issue_not_found_message(other_key), status=400)
    outward, inward = (issue, other) if direction == "outward" else (other, issue)
    try:
        issue_link_create(
            actor=request.user, link_type=link_type, outward_issue=outward, inward_issue=inward, source=issue
        )
    except ValidationError as exc:
        error = " ".join(e["message"] for e in error_list(exc))
        return _render_page(request, issue, link_error=error, status=400)
    phrase = link_type.outward if direction == "outward" else link_type.inward
    messages.success(request, f"{issue.key} {phrase} {other.key}.")
    return HttpResponseRedirect(f"{issue.get_absolute_url()}#links")


@require_POST
def link_delete(request: HttpRequest, key: str, link_id: int) -> HttpResponse:
    """Remove a link of this issue (404 when the link is not this issue's or names an issue the viewer cannot see)."""
    issue = _issue_or_404(request, key)
    link = IssueLink.objects.filter(Q(outward_issue_id=issue.pk) | Q(inward_issue_id=issue.pk), pk=link_id).first()
    if link is None:
        raise Http404("No such link.")
    try:
        issue_link_delete(link=link, actor=request.user, source=issue)
    except ValidationError:
        raise Http404("No such link.") from None
    messages.success(request, f"Link removed from {issue.key}.")
    return HttpResponseRedirect(f"{issue.get_absolute_url()}#links")
