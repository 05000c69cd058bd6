"""attachment/{id} (GET, DELETE), attachment/content/{id} and attachment/thumbnail/{id} (GET): Jira's shapes.

The same rules as the issue page (issues.views.attachments): an attachment of an issue the caller cannot see
is 404; files are sent with their sniffed type, nosniff, a sandboxing CSP, as downloads unless raster images.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from api.adapters import ATTACHMENT_COLUMNS, attachment_json
from api.errors import ApiError
from api.http import api_view, no_content, ok
from api.selectors import issue_for_user
from issues.models import Attachment
from issues.permissions import require_edit, visible_project_ids
from issues.services import attachment_add, attachment_delete
from issues.views.attachments import file_response

MAX_ID = 2**63


def _visible(request: HttpRequest, attachment_id: str) -> Attachment:
    found = None
    if attachment_id.isdigit() and int(attachment_id[:20]) < MAX_ID:
        found = Attachment.objects.filter(
            pk=int(attachment_id), issue__project_id__in=visible_project_ids(request.user)
        ).first()
    if found is None:
        raise ApiError(404, [f"The attachment with id '{attachment_id[:40]}' does not exist."])
    return found


@api_view("POST")
def issue_attachments(request: HttpRequest, id_or_key: str) -> Any:
    """POST issue/{idOrKey}/attachments: multipart "file" parts (several allowed); the browser's rules and limits."""
    issue = issue_for_user(user=request.user, ref=id_or_key)
    require_edit(request.user, issue.project_id, "You do not have permission to attach files to this issue.")
    uploads = request.FILES.getlist("file")
    if not uploads:
        raise ApiError(400, ["Send the files as multipart/form-data parts named 'file'."])
    created = attachment_add(issue=issue, author=request.user, uploads=uploads)
    rows = Attachment.objects.filter(pk__in=[a.pk for a in created]).order_by("id")
    return ok(
        [
            attachment_json(tuple(row), author_id)
            for author_id, *row in rows.values_list("author_id", *ATTACHMENT_COLUMNS)
        ]
    )


@api_view("GET", "DELETE")
def attachment(request: HttpRequest, attachment_id: str) -> Any:
    found = _visible(request, attachment_id)
    if request.method == "DELETE":
        attachment_delete(attachment=found, actor=request.user)
        return no_content()
    author_id, *row = Attachment.objects.filter(pk=found.pk).values_list("author_id", *ATTACHMENT_COLUMNS).get()
    return attachment_json(tuple(row), author_id)


@api_view("GET")
def attachment_content(request: HttpRequest, attachment_id: str) -> Any:
    return file_response(_visible(request, attachment_id), thumbnail=False)


@api_view("GET")
def attachment_thumbnail(request: HttpRequest, attachment_id: str) -> Any:
    return file_response(_visible(request, attachment_id), thumbnail=True)
