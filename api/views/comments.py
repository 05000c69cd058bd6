"""issue/{idOrKey}/comment (GET, POST) and issue/{idOrKey}/comment/{id} (GET, PUT, DELETE).

Thin views over the comment services (issues.services.comment_add / comment_update / comment_delete), which
hold the rules the browser follows: members and admins comment, the author or a project admin edits and
deletes, viewers get 403; issues the caller cannot see are 404 (never 403). Bodies are text in v2 and
Atlassian Document Format in v3 (api.inputs.text_body reads both).
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from api.adapters import comment_json
from api.errors import ApiError
from api.http import api_view, no_content, ok, parse
from api.inputs import Problems, page_params, text_body
from api.schemas import CommentIn
from api.selectors import comment_page, comment_row, issue_for_user, issue_ids_for_user
from issues.models import Comment
from issues.permissions import require_edit
from issues.services import comment_add, comment_delete, comment_update

COMMENT_ORDERS = {"created": ("created", "id"), "+created": ("created", "id"), "-created": ("-created", "-id")}


def _body_text(request: HttpRequest) -> str:
    body = parse(CommentIn, request)
    problems = Problems()
    text = text_body(body.body, "comment", problems)
    if not problems and not (text or "").strip():
        problems.add("comment", "Comment body can not be empty!")
    problems.raise_any()
    return text or ""


@api_view("GET", "POST")
def comments(request: HttpRequest, id_or_key: str) -> Any:
    if request.method == "POST":
        issue = issue_for_user(user=request.user, ref=id_or_key)
        require_edit(request.user, issue.project_id, "You do not have permission to comment on this issue.")
        created = comment_add(issue=issue, author=request.user, body=_body_text(request))
        return ok(_one(created.pk), status=201)
    pk, _project_id = issue_ids_for_user(user=request.user, ref=id_or_key)
    start, size = page_params(request, default=5000, limit=5000)
    order = request.GET.get("orderBy") or "created"
    if order not in COMMENT_ORDERS:
        raise ApiError(400, [f"Invalid orderBy '{order[:40]}': use created, +created or -created."])
    rows, total = comment_page(issue_id=pk, order=COMMENT_ORDERS[order], start=start, size=size)
    return {"startAt": start, "maxResults": size, "total": total,
            "comments": [comment_json(tuple(row), author_id) for author_id, *row in rows]}  # fmt: skip


def _one(comment_id: int) -> dict[str, Any]:
    row = comment_row(comment_id=comment_id)
    if row is None:
        raise ApiError(404, [f"Can not find a comment for the id: {comment_id}."])
    author_id, *rest = row
    return comment_json(tuple(rest), author_id)


def _comment_of(issue_id: int, comment_id: str) -> Comment:
    found = Comment.objects.filter(pk=int(comment_id), issue_id=issue_id).first() if _is_id(comment_id) else None
    if found is None:
        raise ApiError(404, [f"Can not find a comment for the id: {comment_id[:40]}."])
    return found


def _is_id(text: str) -> bool:
    return text.isdigit() and 0 < int(text[:20]) < 2**63


@api_view("GET", "PUT", "DELETE")
def comment(request: HttpRequest, id_or_key: str, comment_id: str) -> Any:
    if request.method == "GET":
        pk, _project_id = issue_ids_for_user(user=request.user, ref=id_or_key)
        return _one(_comment_of(pk, comment_id).pk)
    issue = issue_for_user(user=request.user, ref=id_or_key)
    found = _comment_of(issue.pk, comment_id)
    if request.method == "DELETE":
        comment_delete(comment=found, actor=request.user)
        return no_content()
    require_edit(request.user, issue.project_id, "You do not have permission to edit comments on this issue.")
    text = _body_text(request)
    comment_update(comment=found, actor=request.user, body=text)
    return _one(found.pk)
