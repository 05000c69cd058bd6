"""Export jobs (issues/export_jobs.py): the job's page while it runs, and its file's download for its owner."""

from __future__ import annotations

from urllib.parse import urlencode

from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from issues.export_jobs import WRITERS, export_job_download_error, export_job_for
from issues.models import ExportJob


@require_GET
def export_job(request: HttpRequest, pk: int) -> HttpResponse:
    """Show an export job: queued or running (the page reloads itself), ready with its link, or failed and why."""
    job = export_job_for(user=request.user, pk=pk)
    if job is None:
        raise Http404("No such export.")
    pending = job.state in (ExportJob.State.QUEUED, ExportJob.State.RUNNING)
    writer = WRITERS.get(job.kind)
    query = urlencode({k: v for k, v in job.params.items() if v})
    context = {
        "job": job,
        "pending": pending,
        "problem": None if pending else export_job_download_error(user=request.user, job=job),
        "title": writer.title if writer else job.kind,
        "back": reverse(writer.back if writer else "issues:navigator") + (f"?{query}" if query else ""),
    }
    response = render(request, "issues/export_job.html", context)
    response["Cache-Control"] = "private, no-store"
    return response


@require_GET
def export_job_download(request: HttpRequest, pk: int) -> HttpResponseBase:
    """Send the export's file to its owner, membership checked again (403 with the reason, 410 once expired)."""
    job = export_job_for(user=request.user, pk=pk)
    if job is None:
        raise Http404("No such export.")
    problem = export_job_download_error(user=request.user, job=job)
    if problem is not None:
        status = 410 if job.expired else (409 if job.state != ExportJob.State.DONE else 403)
        return HttpResponse(problem + "\n", status=status, content_type="text/plain; charset=utf-8")
    content_type = "text/csv; charset=utf-8" if job.format == "csv" else "application/json"
    response = FileResponse(
        default_storage.open(job.file, "rb"), as_attachment=True, filename=job.filename, content_type=content_type
    )
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response
