"""Reads of the imports app: the jobs a user may see."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.http import Http404

from imports.models import Job, JobError, Placeholder
from issues.permissions import is_site_admin, may_manage_accounts, users_sharing_a_project


def jobs_visible_to(user: Any) -> QuerySet[Job]:
    """Return the jobs the user may see: their own, or every job for a superuser."""
    qs = Job.objects.select_related("user").defer("options", "pending_parents")
    return qs if is_site_admin(user) else qs.filter(user_id=user.pk)


def job_get(user: Any, job_id: int) -> Job:
    """Return one visible job or raise Http404 (another user's job looks exactly like a missing one)."""
    job = jobs_visible_to(user).filter(pk=job_id).first()
    if job is None:
        raise Http404("No such job.")
    return job


def job_people(job: Job) -> QuerySet[Placeholder]:
    """Return the job's placeholder users still without an account (inactive), with their names (one query)."""
    return (
        Placeholder.objects.filter(jobs=job, user__is_active=False)
        .select_related("user__profile", "mapped_to__profile")
        .order_by("user__profile__display_name", "account_id")
    )


def mapping_candidates(*, actor: Any) -> QuerySet:
    """Return the accounts `actor` may map a placeholder to: active users they share a project with (staff: any).

    Placeholders are inactive, so no candidates. The job page lists these; the mapping service checks with them.
    """
    qs = get_user_model().objects.filter(is_active=True)
    if not may_manage_accounts(actor):
        qs = qs.filter(pk__in=users_sharing_a_project(actor))
    return qs


def job_progress(job: Job) -> dict[str, Any]:
    """Return the job's progress as the page's JSON: counts, fraction done, rate and time left."""
    if job.kind == "import":
        fraction = (job.bytes_done / job.file_size) if job.file_size else 0.0
    else:
        fraction = (job.processed / job.total) if job.total else 0.0
    if job.is_finished and job.state != "cancelled" and job.state != "failed":
        fraction = 1.0
    fraction = min(max(fraction, 0.0), 1.0)
    rate = job.processed / job.run_seconds if job.run_seconds > 0 else None
    eta = None
    if not job.is_finished and fraction > 0 and job.run_seconds > 0:
        eta = job.run_seconds * (1 - fraction) / fraction
    return {
        "id": job.pk,
        "kind": job.kind,
        "state": job.state,
        "state_label": job.get_state_display(),
        "finished": job.is_finished,
        "message": job.message,
        "cancel_requested": job.cancel_requested,
        "percent": round(fraction * 100, 1),
        "total": job.total,
        "processed": job.processed,
        "created": job.created_count,
        "updated": job.updated_count,
        "unchanged": job.unchanged_count,
        "failed": job.failed_count,
        "worklogs": job.worklogs_count,
        "comments": job.comments_count,
        "rows_per_second": round(rate, 1) if rate else None,
        "seconds_left": round(eta, 1) if eta is not None else None,
        "run_seconds": round(job.run_seconds, 2),
        "errors": job.errors.count(),
        # Seconds per stage summed over the chunks (imports.chunks.STAGES order): where an import spends its time.
        "stages": [
            {"stage": stage, "seconds": round(float(seconds), 2) if seconds is not None else None}
            for stage in ("plan", "read", "validate", "write")
            for seconds in [(job.stage_seconds or {}).get(stage)]
        ]
        if job.kind == "import"
        else [],
    }


def job_errors_of_owner(user: Any, job_id: int) -> tuple[Job, QuerySet[JobError]]:
    """Return the job and all its row errors in file order, for the person who started it only (else Http404).

    Owner only, superusers included: the rows quote the file's values, which are the uploader's data.
    """
    job = Job.objects.filter(pk=job_id, user_id=user.pk).only("pk", "user_id").first()
    if job is None:
        raise Http404("No such job.")
    errors = JobError.objects.filter(job_id=job.pk).order_by("record", "id")
    return job, errors.only("record", "line", "issue_key", "field", "message")
