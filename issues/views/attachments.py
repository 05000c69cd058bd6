"""Attachments: POST /browse/KEY/attachments (upload, several files), GET /attachments/<id>/<name> (download),
GET /attachments/<id>/thumbnail, POST /attachments/<id>/delete.

Files are served only through these views, after the same visibility rule as the issue (another project's
attachment is a 404, exactly like a missing one): never from a public media URL. A download is sent with
the type sniffed at upload, `X-Content-Type-Options: nosniff`, a sandboxing CSP, and as a download
(`Content-Disposition: attachment`) unless it is a raster image.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.views.decorators.http import require_http_methods, require_POST

from issues.files import is_safe_inline
from issues.models import Attachment
from issues.permissions import require_edit
from issues.selectors import attachment_for_user
from issues.services import attachment_add, attachment_delete
from issues.views.browse import _issue_or_404, _render_page
from taskra_site.validation import error_list

# Whatever a file holds, the browser runs nothing in it and shows it in no frame.
FILE_CSP = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox"


@require_POST
def attachment_upload(request: HttpRequest, key: str) -> HttpResponse:
    """Attach the posted files ("files", several allowed) to the issue."""
    issue = _issue_or_404(request, key)
    require_edit(request.user, issue.project_id, "Viewers cannot attach files.")
    uploads = request.FILES.getlist("files")
    try:
        created = attachment_add(issue=issue, author=request.user, uploads=uploads)
    except ValidationError as exc:
        error = " ".join(e["message"] for e in error_list(exc))
        return _render_page(request, issue, attachment_error=error, status=400)
    names = ", ".join(a.filename for a in created)
    messages.success(request, f"Attached {names}.")
    return HttpResponseRedirect(f"{issue.get_absolute_url()}#attachments")


def file_response(attachment: Attachment, *, thumbnail: bool) -> FileResponse:
    """Return the attachment's file (or thumbnail) with the safe headers; the caller checked visibility."""
    field = attachment.thumbnail if thumbnail else attachment.file
    if not field or not field.name:
        raise Http404("No such file.")
    try:
        handle = field.storage.open(field.name, "rb")
    except (FileNotFoundError, OSError):
        raise Http404("The file is missing.") from None
    content_type = "image/png" if thumbnail else attachment.content_type
    inline = thumbnail or is_safe_inline(content_type)
    response = FileResponse(handle, content_type=content_type, as_attachment=not inline, filename=attachment.filename)
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = FILE_CSP
    response["Cache-Control"] = "private, max-age=3600"
    return response


@require_http_methods(["GET", "HEAD"])
def attachment_file(request: HttpRequest, attachment_id: int, filename: str = "") -> FileResponse:
    """Send an attachment's file to someone who may see its issue (404 for anyone else)."""
    return file_response(attachment_for_user(pk=attachment_id, user=request.user), thumbnail=False)


@require_http_methods(["GET", "HEAD"])
def attachment_thumbnail(request: HttpRequest, attachment_id: int) -> FileResponse:
    """Send an image attachment's thumbnail to someone who may see its issue (404 for anyone else)."""
    return file_response(attachment_for_user(pk=attachment_id, user=request.user), thumbnail=True)


@require_POST
def attachment_remove(request: HttpRequest, attachment_id: int) -> HttpResponse:
    """Delete an attachment: one's own as a member, any as a project admin."""
    attachment = attachment_for_user(pk=attachment_id, user=request.user)
    attachment_delete(attachment=attachment, actor=request.user)
    messages.success(request, f"Deleted {attachment.filename}.")
    return HttpResponseRedirect(f"{attachment.issue.get_absolute_url()}#attachments")
