"""Pages of imports and bulk updates: thin views over imports.services and imports.selectors."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from imports import selectors, services
from imports.forms import BulkChangeForm, UploadForm
from issues.bulk import bulk_preview
from taskra_site.validation import error_messages


@require_http_methods(["GET", "POST"])
def index(request: HttpRequest) -> HttpResponse:
    """List the user's jobs and take a new upload."""
    form = UploadForm(request.POST or None, request.FILES or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                job = services.import_job_create(
                    user=request.user,
                    files=form.cleaned_data["files"],
                    fmt=form.cleaned_data["format"] or None,
                    project_key=form.cleaned_data["project"] or None,
                    options={"timezone": form.cleaned_data["timezone"] or "UTC"},
                )
            except ValidationError as exc:
                for message in error_messages(exc):
                    form.add_error(None, message)
            else:
                messages.success(request, f"Import #{job.pk} queued.")
                return redirect(job.get_absolute_url())
        status = 400
    jobs = selectors.jobs_visible_to(request.user)[:50]
    return render(request, "imports/index.html", {"form": form, "jobs": jobs}, status=status)


@require_GET
def detail(request: HttpRequest, job_id: int) -> HttpResponse:
    """Show a job: live progress bar, counts and its error table."""
    job = selectors.job_get(request.user, job_id)
    page = Paginator(job.errors.all(), 100).get_page(request.GET.get("page"))
    return render(request, "imports/detail.html", {"job": job, "errors": page, "progress": selectors.job_progress(job)})


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
    form = BulkChangeForm(data if run else None)
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
