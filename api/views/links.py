"""issueLink (POST), issueLink/{id} (GET, DELETE), issueLinkType and issueLinkType/{id} (GET).

Thin views over issues.services.issue_link_create / issue_link_delete, which hold the page's rules: both
issues must be visible to the caller (an issue they cannot see is 404, exactly like a missing one) and the
caller must be able to edit the source. As in Jira, POST's inwardIssue is the source and takes the type's
outward phrase: {"type": {"name": "Blocks"}, "inwardIssue": {"key": "A"}, "outwardIssue": {"key": "B"}}
makes "A blocks B".
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from api.adapters import issue_link_json, link_type_json, link_types_json
from api.errors import ApiError
from api.http import api_view, no_content, ok, parse
from api.inputs import Problems, text_body
from api.schemas import IssueLinkIn, Ref
from api.selectors import issue_for_user, issue_ids_for_user
from issues.models import Issue, IssueLink, IssueLinkType
from issues.permissions import may_edit, require_edit
from issues.services import comment_add, issue_link_create, issue_link_delete

MAX_ID = 2**63


def _issue_ref(ref: Ref) -> str:
    return ref.key or ref.id or ""


def _link_type(ref: Ref) -> IssueLinkType:
    found = None
    if ref.id and ref.id.isdigit() and int(ref.id[:20]) < MAX_ID:
        found = IssueLinkType.objects.filter(pk=int(ref.id)).first()
    elif ref.name:
        found = IssueLinkType.objects.filter(name__iexact=ref.name).first()
    if found is None:
        raise ApiError(404, [f"No issue link type with name '{(ref.name or ref.id or '')[:60]}' found."])
    return found


@api_view("POST")
def issue_link_create_view(request: HttpRequest) -> Any:
    body = parse(IssueLinkIn, request)
    link_type = _link_type(body.type)
    source = issue_for_user(user=request.user, ref=_issue_ref(body.inwardIssue))
    target = issue_for_user(user=request.user, ref=_issue_ref(body.outwardIssue))
    require_edit(request.user, source.project_id, f"You do not have permission to link issues of {source.key}.")
    comment = None
    if body.comment is not None:
        problems = Problems()
        comment = text_body(body.comment.body, "comment", problems)
        problems.raise_any()
    link = issue_link_create(
        actor=request.user, link_type=link_type, outward_issue=source, inward_issue=target, source=source
    )
    if comment and comment.strip():
        comment_add(issue=source, author=request.user, body=comment)
    response = ok({}, status=201)
    response["Location"] = f"/rest/api/2/issueLink/{link.pk}"
    return response


def _visible_link(request: HttpRequest, link_id: str) -> IssueLink:
    """Return the link if the caller may see both its issues; else Jira's 404 (missing and hidden alike)."""
    link = None
    if link_id.isdigit() and int(link_id[:20]) < MAX_ID:
        link = IssueLink.objects.select_related("outward_issue", "inward_issue").filter(pk=int(link_id)).first()
    if link is None:
        raise ApiError(404, [f"No issue link with id '{link_id[:40]}' exists."])
    try:
        issue_ids_for_user(user=request.user, ref=str(link.outward_issue_id))
        issue_ids_for_user(user=request.user, ref=str(link.inward_issue_id))
    except ApiError:
        raise ApiError(404, [f"No issue link with id '{link_id[:40]}' exists."]) from None
    return link


@api_view("GET", "DELETE")
def issue_link(request: HttpRequest, link_id: str) -> Any:
    link = _visible_link(request, link_id)
    if request.method == "GET":
        return issue_link_json(link.pk)
    # Removed from whichever side the caller may edit (the source first, as Jira's "Link Issues" permission).
    source: Issue = link.outward_issue if may_edit(request.user, link.outward_issue.project_id) else link.inward_issue
    require_edit(request.user, source.project_id, "You do not have permission to delete this issue link.")
    issue_link_delete(link=link, actor=request.user, source=source)
    return no_content()


@api_view("GET")
def issue_link_types(request: HttpRequest) -> Any:
    return {"issueLinkTypes": link_types_json()}


@api_view("GET")
def issue_link_type(request: HttpRequest, type_id: str) -> Any:
    row = None
    if type_id.isdigit() and int(type_id[:20]) < MAX_ID:
        row = IssueLinkType.objects.filter(pk=int(type_id)).values_list("id", "name", "inward", "outward").first()
    if row is None:
        raise ApiError(404, [f"No issue link type with id '{type_id[:40]}' found."])
    return link_type_json(*row)
