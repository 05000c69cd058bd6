"""Pages of imports and bulk updates: thin views over imports.services and imports.selectors."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from imports import selectors, services
from imports.forms import BulkChangeForm, UploadForm
from imports.models import Job
from issues.bulk import bulk_preview
from issues.permissions import may_manage_accounts, may_upload_imports
from taskra_site.csvsafe import csv_writer
from taskra_site.validation import error_messages

ERROR_CSV_HEADER = ["record", "line", "issue_key", "field", "message"]


@require_http_methods(["GET", "POST"])
def index(request: HttpRequest) -> HttpResponse:
    """List the user's jobs and take a new upload."""
    form = UploadForm(request.POST or None, request.FILES or None, user=request.user)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                job = services.import_job_create(
                    user=request.user,
                    files=form.cleaned_data["files"],
                    fmt=form.cleaned_data["format"] or None,
                    project_key=form.cleaned_data["project"] or None,
                    options={
                        "timezone": form.cleaned_data["timezone"] or "UTC",
                        "dry_run": bool(form.cleaned_data.get("dry_run")),
                    },
                )
            except ValidationError as exc:
                for message in error_messages(exc):
                    form.add_error(None, message)
            else:
                messages.success(request, f"Import #{job.pk} queued.")
                return redirect(job.get_absolute_url())
        status = 400
    jobs = selectors.jobs_visible_to(request.user)[:50]
    context = {
        "form": form,
        "jobs": jobs,
        "may_upload": may_upload_imports(request.user),
        "retention_days": settings.IMPORT_RETENTION_DAYS,
        "quota_text": services.size_text(settings.IMPORT_USER_QUOTA_BYTES),
    }
    return render(request, "imports/index.html", context, status=status)


def _detail(request: HttpRequest, job: Job, *, status: int = 200, **extra: Any) -> HttpResponse:
    page = Paginator(job.errors.all(), 100).get_page(request.GET.get("page"))
    may_map = job.user_id == request.user.pk or may_manage_accounts(request.user)
    context = {
        "job": job,
        "errors": page,
        "progress": selectors.job_progress(job),
        "people": list(selectors.job_people(job)) if job.kind == "import" else [],
        "may_map": may_map,
        "candidates": selectors.mapping_candidates(actor=request.user).order_by("username")[:1000]
        if may_map and job.kind == "import"
        else [],
        "map_error": None,
        "retention_days": settings.IMPORT_RETENTION_DAYS,
        **extra,
    }
    return render(request, "imports/detail.html", context, status=status)


@require_GET
def detail(request: HttpRequest, job_id: int) -> HttpResponse:
    """Show a job: live progress bar, counts, its Jira users without an account and its error table."""
    return _detail(request, selectors.job_get(request.user, job_id))


@require_POST
def people(request: HttpRequest, job_id: int) -> HttpResponse:
    """Map one of the job's placeholder users to an account (imports.services.placeholder_map)."""
    job = selectors.job_get(request.user, job_id)
    try:
        placeholder_id = int(request.POST.get("placeholder", ""))
    except ValueError:
        return _detail(request, job, status=400, map_error="Choose a Jira user to map.")
    try:
        count = services.placeholder_map(
            job=job, placeholder_id=placeholder_id, account=request.POST.get("account", ""), actor=request.user
        )
    except (ValidationError, PermissionDenied) as exc:
        message = " ".join(error_messages(exc)) if isinstance(exc, ValidationError) else str(exc)
        return _detail(request, job, status=400 if isinstance(exc, ValidationError) else 403, map_error=message)
    messages.success(request, f"Mapped: {count} rows reassigned; later imports of this Jira user write the account.")
    return redirect(job.get_absolute_url())


@require_GET
def progress(request: HttpRequest, job_id: int) -> JsonResponse:
    """Return the job's progress for the live progress bar."""
    job = selectors.job_get(request.user, job_id)
    data = selectors.job_progress(job)
    data["recent_errors"] = [
        {"record": e.record, "line": e.line, "issue_key": e.issue_key, "field": e.field, "message": e.message}
        for e in job.errors.order_by("-id")[:20]
    ]
    return JsonResponse(data)


@require_POST
def cancel(request: HttpRequest, job_id: int) -> HttpResponse:
    """Ask the job to stop after its current chunk."""
    job = selectors.job_get(request.user, job_id)
    try:
        services.job_cancel(job=job, actor=request.user)
    except PermissionDenied as exc:
        messages.error(request, str(exc))
    else:
        messages.info(request, "Cancelling: the job stops after its current chunk.")
    if request.headers.get("accept", "").startswith("application/json"):
        return JsonResponse(selectors.job_progress(selectors.job_get(request.user, job_id)))
    return redirect(job.get_absolute_url())


@require_http_methods(["GET", "POST"])
def bulk(request: HttpRequest) -> HttpResponse:
    """Choose and start a bulk change of the checked issues (name="issue") or of every issue matching JQL."""
    data = request.POST if request.method == "POST" else request.GET
    ids = [v for v in data.getlist("issue") if v.strip()]
    jql = (data.get("jql") or "").strip()
    run = data.get("action") == "run" and request.method == "POST"
    form = BulkChangeForm(data if run else None, user=request.user)
    status = 200
    if run:
        if form.is_valid():
            try:
                if data.get("confirm") != "1":
                    # Jira's bulk change: first the count, the first issues and the changes; nothing is written
                    # until the preview's Confirm posts the same selection back with confirm=1.
                    preview = bulk_preview(
                        user=request.user, changes=form.changes(), issue_ids=ids or None, jql=None if ids else jql
                    )
                    context = {"form": form, "ids": ids, "jql": jql, "preview": preview}
                    return render(request, "issues/bulk_preview.html", context)
                job = services.bulk_update_job_create(
                    user=request.user,
                    changes=form.changes(),
                    issue_ids=ids or None,
                    jql=None if ids else jql,
                    source="navigator" if ids else "jql",
                )
            except ValidationError as exc:
                for message in error_messages(exc):
                    form.add_error(None, message)
            else:
                messages.success(request, f"Bulk change #{job.pk} queued.")
                return redirect(job.get_absolute_url())
        status = 400
    return render(request, "imports/bulk.html", {"form": form, "ids": ids, "jql": jql}, status=status)


def _error_rows(errors: Any) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv_writer(buffer)  # every cell escaped against spreadsheet formulas (the file's own values)
    writer.writerow(ERROR_CSV_HEADER)
    for n, e in enumerate(errors.iterator(chunk_size=2000)):
        writer.writerow([e.record or "", e.line or "", e.issue_key, e.field, e.message])
        if n % 500 == 499:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


@require_GET
def errors_csv(request: HttpRequest, job_id: int) -> StreamingHttpResponse:
    """Download all the job's row errors as CSV: for the person who started the job only (anyone else: 404)."""
    job, errors = selectors.job_errors_of_owner(request.user, job_id)
    response = StreamingHttpResponse(_error_rows(errors), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="import-{job.pk}-errors.csv"'
    response["X-Content-Type-Options"] = "nosniff"
    return response
