"""Imports and bulk updates: one service behind the upload page, the command, the admin and the Celery tasks.

A job reads its source as a stream, validates it in chunks and writes each chunk in one transaction
together with the job's counters, errors and resume position. So a worker that dies mid-import loses
at most the chunk it was writing (rolled back), and the re-delivered job resumes after the last
committed chunk; rows are upserted by key / (source, external_id), so running a file twice is safe.
"""

from __future__ import annotations

import bisect
import contextlib
import datetime as dt
import logging
import os
import re
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.storage import storages
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import Min, Q, QuerySet, Sum
from django.utils import timezone

from imports import chunks, parsers
from imports.chunks import summary_merged
from imports.models import FINISHED_STATES, Job, JobError, JobFormat, JobKind, JobState, Placeholder
from imports.selectors import mapping_candidates
from imports.writer import ImportWriter
from issues import events, pagecache
from issues.bulk import (
    bulk_changes_clean,
    bulk_jql_check,
    bulk_selection,
    bulk_unassignable,
    bulk_untransitionable,
    issue_bulk_change,
)
from issues.models import Comment, Issue, Project, Status
from issues.permissions import (
    editable_project_ids,
    is_site_admin,
    may_import_into,
    may_manage_accounts,
    may_upload_imports,
)
from issues.workflows import TransitionSpec, workflow_update
from taskra_site import sql
from worklogs.models import Worklog

logger = logging.getLogger("taskra.imports")

CHUNK_SIZE = 1000
BULK_CHUNK_SIZE = 5000
MAX_ATTEMPTS = 10
UPLOAD_EXTENSIONS = (".json", ".jsonl", ".ndjson", ".csv", ".xml", ".zip")
FORMATS_TEXT = (
    "a Jira JSON export (one issue or search result pages), a Jira CSV export, Jira's XML export, "
    "a Jira site backup (zip with entities.xml) or Taskra JSON Lines"
)
SNIFF_BYTES = 64 * 1024


def lease_seconds(job: Job) -> int:
    """Return how long a worker holds a job without committing a chunk before others may take it over."""
    return int(job.options.get("lease_seconds") or settings.IMPORTS_LEASE_SECONDS)


# ---------------------------------------------------------------------------------------------------------
# Creating jobs
# ---------------------------------------------------------------------------------------------------------


def _enqueue(job: Job) -> None:
    # Imported here to break a real cycle: imports.tasks imports this module to run the jobs.
    from imports.tasks import job_run

    transaction.on_commit(lambda: job_run.delay(job.pk))


def _safe_name(name: str) -> str:
    base = os.path.basename(name or "import")
    return re.sub(r"[^A-Za-z0-9._-]+", "_", base)[:120] or "import"


def check_upload(*, name: str, size: int, head: bytes, fmt: str | None = None) -> str:
    """Return the format of an upload, or raise ValidationError when it is too big or unsupported."""
    limit = settings.IMPORT_MAX_UPLOAD_BYTES
    if size > limit:
        raise ValidationError(f"{name} is {size / 1048576:.1f} MB: the limit is {limit / 1048576:.0f} MB.")
    if size == 0:
        raise ValidationError(f"{name} is empty.")
    if not name.lower().endswith(UPLOAD_EXTENSIONS):
        raise ValidationError(
            f"{name}: only Jira JSON (.json), Jira CSV (.csv), Jira XML (.xml), Jira site backups (.zip) and "
            "Taskra JSON Lines (.jsonl) files can be imported."
        )
    detected = parsers.detect_format(head, name)
    if fmt:
        if fmt not in JobFormat.values or fmt == JobFormat.NONE:
            raise ValidationError(f"Unknown format {fmt!r}.")
        return fmt
    if detected is None:
        raise ValidationError(f"{name} is not {FORMATS_TEXT}.")
    return detected


def _check_project_option(user: Any, project_key: str | None) -> str | None:
    if not project_key:
        return None
    project_key = project_key.strip().upper()
    project = Project.objects.filter(key=project_key).first()
    if project is None:
        raise ValidationError(f"Project {project_key} does not exist.")
    if not may_import_into(user, project.pk):
        raise ValidationError(f"Project {project_key} does not exist.")  # same answer as a missing one
    return project_key


@transaction.atomic
def import_job_create(
    *,
    user: Any | None,
    files: list[UploadedFile] | None = None,
    paths: list[Path] | None = None,
    fmt: str | None = None,
    project_key: str | None = None,
    source: str = "upload",
    options: dict[str, Any] | None = None,
    enqueue: bool = True,
) -> Job:
    """Check the files, store uploads in the imports storage, create a queued import job and enqueue it.

    `files` are uploads (saved under imports/<random>/ in settings.STORAGES["imports"], MEDIA_ROOT by default);
    `paths` are files already on the server (command line).
    Raise ValidationError before anything is stored or queued when a file is too big or not importable.
    """
    if not files and not paths:
        raise ValidationError("Choose a file to import.")
    project_key = _check_project_option(user, project_key)
    formats: set[str] = set()
    total_size = 0
    stored: list[str] = []
    names: list[str] = []
    if files:
        named: list[tuple[UploadedFile, str]] = []
        for upload in files:
            # Django gives every uploaded file a name and a size; only a hand-built UploadedFile lacks them.
            if upload.name is None or upload.size is None:
                raise ValidationError("An uploaded file has no name or size.")
            upload.seek(0)
            head = upload.read(SNIFF_BYTES)
            upload.seek(0)
            formats.add(check_upload(name=upload.name, size=upload.size, head=head, fmt=fmt))
            total_size += upload.size
            named.append((upload, upload.name))
        if len(formats) > 1:
            raise ValidationError("All files of one import must have the same format.")
        # Through the imports storage (settings.STORAGES): a worker on another machine reads the upload there.
        directory = f"imports/{uuid.uuid4().hex}"
        storage = storages["imports"]
        for upload, name in named:
            upload.seek(0)
            stored.append(storage.save(f"{directory}/{_safe_name(name)}", upload))
            names.append(name)
    else:
        for path in paths or []:
            path = Path(path).resolve()
            if not path.is_file():
                raise ValidationError(f"{path} is not a file.")
            with open(path, "rb") as f:
                head = f.read(SNIFF_BYTES)
            size = path.stat().st_size
            if not size:
                raise ValidationError(f"{path.name} is empty.")
            detected = fmt or parsers.detect_format(head, path.name)
            if detected is None:
                raise ValidationError(f"{path.name} is not {FORMATS_TEXT}.")
            formats.add(detected)
            total_size += size
            stored.append(str(path))
            names.append(path.name)
        if len(formats) > 1:
            raise ValidationError("All files of one import must have the same format.")
    opts = {**(options or {}), "files": stored}
    if project_key:
        opts["project"] = project_key
    job = Job.objects.create(
        kind=JobKind.IMPORT,
        user=user,
        source=source,
        format=formats.pop(),
        file_path=stored[0],
        file_name=", ".join(names)[:255],
        file_size=total_size,
        options=opts,
        # On the job row itself (the options stay unread by the pages): the job page's dry-run banner.
        summary={"dry_run": True} if opts.get("dry_run") else {},
    )
    if enqueue:
        _enqueue(job)
    return job


def job_sources(job: Job) -> list[parsers.Source]:
    """Return the job's files: absolute paths (command line) or names in the imports storage (uploads)."""
    return [Path(name) if os.path.isabs(name) else name for name in job.options.get("files") or [job.file_path]]


def job_paths(job: Job) -> list[Path]:
    """Return the job's files as local paths (uploads: where the imports storage keeps them on this machine)."""
    storage = storages["imports"]
    return [source if isinstance(source, Path) else Path(storage.path(source)) for source in job_sources(job)]


@transaction.atomic
def job_cancel(*, job: Job, actor: Any | None) -> Job:
    """Ask a job to stop after its current chunk; a job still queued is cancelled at once."""
    if actor is not None and not is_site_admin(actor) and job.user_id != actor.pk:
        raise PermissionDenied("You can only cancel your own jobs.")
    locked = Job.objects.select_for_update().get(pk=job.pk)
    if locked.state in FINISHED_STATES:
        return locked
    locked.cancel_requested = True
    fields = ["cancel_requested"]
    if locked.state == JobState.QUEUED:
        locked.state = JobState.CANCELLED
        locked.finished = timezone.now()
        locked.message = "Cancelled before it started."
        fields += ["state", "finished", "message"]
    locked.save(update_fields=fields)
    return locked


# ---------------------------------------------------------------------------------------------------------
# Mapping a job's placeholder users to accounts
# ---------------------------------------------------------------------------------------------------------


@transaction.atomic
def placeholder_map(*, job: Job, placeholder_id: int, account: str, actor: Any) -> int:
    """Map one of the job's placeholder users to an account; return how many rows were reassigned.

    Reassigns the placeholder's rows (issue reporter and assignee, worklog and comment authors) in the projects
    `actor` may edit (the membership rule, for staff too) to the account, and records the mapping so the
    later imports of the same Jira account id write the account: `actor`'s own imports, everyone's when `actor`
    is staff (imports.users.UserMatcher). The job's owner maps; staff may map any job they see to any account.
    The same message whether the account does not exist or is out of reach: no enumeration of accounts.
    """
    if job.user_id != actor.pk and not may_manage_accounts(actor):
        raise PermissionDenied("Only the person who started the import maps its Jira users.")
    placeholder = (
        Placeholder.objects.select_for_update()
        .filter(pk=placeholder_id, jobs=job, user__is_active=False)
        .select_related("user")
        .first()
    )
    if placeholder is None:
        raise ValidationError("That is not a Jira user of this import waiting for an account.")
    target = mapping_candidates(actor=actor).filter(username=account.strip()).first() if account.strip() else None
    if target is None:
        reach = "" if may_manage_accounts(actor) else " that you share a project with"
        raise ValidationError(f"No such account{reach}.")
    old, scope = placeholder.user_id, editable_project_ids(actor)
    issue_rows = set(
        Issue.objects.filter(Q(reporter_id=old) | Q(assignee_id=old), project_id__in=scope).values_list(
            "pk", "project_id"
        )
    )
    worklogs = Worklog.objects.filter(author_id=old, issue__project_id__in=scope)
    comments = Comment.objects.filter(author_id=old, issue__project_id__in=scope)
    issue_rows |= set(worklogs.values_list("issue_id", "issue__project_id"))
    issue_rows |= set(comments.values_list("issue_id", "issue__project_id"))
    # The same person under their account: not a change of assignee or author, so no history rows.
    count = Issue.objects.filter(reporter_id=old, project_id__in=scope).update(reporter_id=target.pk)
    count += Issue.objects.filter(assignee_id=old, project_id__in=scope).update(assignee_id=target.pk)
    count += worklogs.update(author_id=target.pk) + comments.update(author_id=target.pk)
    placeholder.mapped_to, placeholder.mapped_by, placeholder.mapped_at = target, actor, timezone.now()
    placeholder.save(update_fields=["mapped_to", "mapped_by", "mapped_at"])
    pagecache.invalidate_on_commit(sorted(pk for pk, _ in issue_rows), {project for _, project in issue_rows})
    return count


# ---------------------------------------------------------------------------------------------------------
# Running jobs: lease, chunks, finish
# ---------------------------------------------------------------------------------------------------------


@dataclass
class Claim:
    job: Job | None
    retry_in: float | None = None  # another live worker holds it: look again later


def job_claim(*, job_id: int, owner: str) -> Claim:
    """Take the job for this worker unless it is finished or another worker's lease is still fresh."""
    now = timezone.now()
    with transaction.atomic():
        job = Job.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.state in FINISHED_STATES:
            return Claim(None)
        if job.cancel_requested:
            chunks.finish_job(job, JobState.CANCELLED, "Cancelled.")
            return Claim(None)
        if job.state == JobState.RUNNING and job.lease_owner != owner and job.lease_until and job.lease_until > now:
            return Claim(None, retry_in=(job.lease_until - now).total_seconds() + 1)
        if job.attempts >= MAX_ATTEMPTS:
            # A job that keeps killing its worker (out of memory, say) must not loop forever.
            chunks.finish_job(
                job, JobState.FAILED, f"Stopped after {job.attempts} attempts: the worker running it kept dying."
            )
            return Claim(None)
        job.state = JobState.RUNNING
        job.lease_owner = owner
        job.lease_until = now + dt.timedelta(seconds=lease_seconds(job))
        job.started = job.started or now
        job.attempts += 1
        job.save(update_fields=["state", "lease_owner", "lease_until", "started", "attempts"])
    return Claim(job)


def _cancel_requested(job: Job) -> bool:
    return Job.objects.filter(pk=job.pk, cancel_requested=True).exists()


def job_run(
    *,
    job_id: int,
    owner: str | None = None,
    on_chunk: Callable[[Job], None] | None = None,
    fan_out: bool = False,
    queue: str | None = None,
) -> Claim:
    """Run (or resume) a job to its end in this process; return the claim (retry_in when held elsewhere).

    `on_chunk(job)` is called after every committed chunk (the command's progress bar). `fan_out` (a Celery
    worker): a Jira JSON or JSON Lines import is cut into chunk tasks on `queue` that any worker runs
    (imports.chunks) instead of being written here.
    """
    owner = owner or f"{os.uname().nodename}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    claim = job_claim(job_id=job_id, owner=owner)
    if claim.job is None:
        return claim
    job = claim.job
    try:
        # Jira JSON holding single issues (not search pages) is read in one process: the byte scanner finds
        # records only in `issues` arrays.
        if fan_out and chunks.fans_out(job) and parsers.splits_into_chunks(job.format, job_sources(job)):
            chunks.import_plan(job=job, owner=owner, sources=job_sources(job), queue=queue)
        elif job.kind == JobKind.IMPORT:
            _import_run(job, owner, on_chunk)
        else:
            # One notifications fan-out for the whole job, after its last chunk, not one per chunk (issues.events).
            with events.held():
                _bulk_update_run(job, owner, on_chunk)
    except chunks.LeaseLost:
        logger.warning("job %s: lease lost, another worker continues it", job.pk)
    except parsers.SourceError as exc:
        job.refresh_from_db()
        chunks.finish_job(job, JobState.FAILED, str(exc))
    except Exception as exc:
        logger.exception("job %s failed", job.pk)
        job.refresh_from_db()
        if job.lease_owner == owner:
            chunks.finish_job(job, JobState.FAILED, f"Stopped by an unexpected error: {type(exc).__name__}: {exc}")
    return claim


def _save_progress(
    job: Job, locked: Job, owner: str, fields: dict[str, Any], started_at: float, base_seconds: float
) -> None:
    for name, value in fields.items():
        setattr(locked, name, value)
    locked.run_seconds = base_seconds + (time.monotonic() - started_at)
    locked.lease_until = timezone.now() + dt.timedelta(seconds=lease_seconds(job))
    locked.save(update_fields=[*fields, "run_seconds", "lease_until"])
    for name in (*fields, "run_seconds", "lease_until"):
        setattr(job, name, getattr(locked, name))


def _reader_process(job: Job) -> bool:
    """Return whether the job reads and validates its files in a separate process (see parsers.ReaderProcess)."""
    value = job.options.get("reader_process")
    if value is None:
        value = settings.IMPORTS_READER_PROCESS
    return bool(value)


def _record_key(job: Job, rec: Any) -> str:
    """Return the key a record is written under (the job's target project keeps the number)."""
    target = job.options.get("project")
    return f"{target}-{rec.key.rsplit('-', 1)[1]}" if target else rec.key


def _write_nothing(job: Job, records: list, seen: set[str]) -> Any:
    """Run the writer on a dry run's chunk in a savepoint that rolls back: its counts and errors, no rows.

    A fresh writer per chunk: look-ups cached by a writer (statuses, projects, people it created) would name rows
    the rollback removed. Cache retirements registered in the savepoint go with it (issues.pagecache).
    """
    with transaction.atomic():
        outcome = ImportWriter(job).write(records)
        transaction.set_rollback(True)
    failed = {e.number for e in outcome.errors}
    seen.update(_record_key(job, rec) for raw, rec in records if raw.number not in failed)
    return outcome


def _workflow_result(
    job: Job, writer: ImportWriter, project_key: str, definition: dict[str, Any], *, dry_run: bool
) -> str:
    """Give one project the workflow a backup defines for it (issues.workflows.workflow_update); say what happened.

    The project's issues keep their statuses: a status they are in that the backup's workflow lacks is appended
    (the workflow may not strand them). Statuses the site lacks are added by staff and the command only.
    """
    if job.options.get("project"):
        return f"not applied: the import went into project {job.options['project']}"
    project = Project.objects.filter(key=project_key).first()
    if project is None or not writer.may_write(project.pk):
        return "not applied: the project was not imported"
    statuses: list[Status] = []
    for name, category in definition["steps"]:
        status = Status.objects.filter(name__iexact=name).first()
        if status is None:
            if not writer.may_add_lookups:
                return f"not applied: status '{name}' does not exist here (an administrator adds it)"
            status = Status(name=name, category=category, position=100) if dry_run else None
            if status is None:
                status, _ = Status.objects.get_or_create(name=name, defaults={"category": category, "position": 100})
        statuses.append(status)
    names = {s.name.lower() for s in statuses}
    statuses += [
        s
        for s in Status.objects.filter(pk__in=project.issues.values("status_id")).order_by("position", "name")
        if s.name.lower() not in names
    ]
    if dry_run:
        return f"would be applied: {len(statuses)} statuses, {len(definition['transitions'])} transitions"
    by_name = {s.name.lower(): s for s in statuses}
    transitions = {
        (None if a is None else by_name[a.lower()].pk, by_name[b.lower()].pk): TransitionSpec(
            None if a is None else by_name[a.lower()], by_name[b.lower()], label
        )
        for a, b, label in definition["transitions"]
        if (a is None or a.lower() in by_name) and b.lower() in by_name
    }
    try:
        with transaction.atomic():
            workflow_update(
                project=project,
                actor=job.user,
                steps=[(s, None) for s in statuses],
                transitions=list(transitions.values()),
            )
    except PermissionDenied:
        return "not applied: only project admins may change the workflow"
    except ValidationError as exc:
        return "not applied: " + " ".join(exc.messages)
    return f"applied: {len(statuses)} statuses, {len(transitions)} transitions"


def _workflows_apply(job: Job, writer: ImportWriter, summary: dict[str, Any], *, dry_run: bool) -> dict[str, Any]:
    """Return the job summary once the backup's per-project workflows are applied (each project's result in it)."""
    definitions = summary.get("workflow_definitions") or {}
    workflows = {key: dict(value) for key, value in (summary.get("workflows") or {}).items()}
    for key, definition in sorted(definitions.items()):
        entry = workflows.setdefault(key, {"statuses": []})
        entry["workflow"] = definition["name"]
        entry["result"] = _workflow_result(job, writer, key, definition, dry_run=dry_run)
    rest = {name: value for name, value in summary.items() if name != "workflow_definitions"}
    return {**rest, "workflows": workflows}


def _import_run(job: Job, owner: str, on_chunk: Callable[[Job], None] | None = None) -> None:
    with chunks.fewer_gc_passes():
        _import_chunks(job, owner, on_chunk)


def _import_chunks(job: Job, owner: str, on_chunk: Callable[[Job], None] | None = None) -> None:
    started_at = time.monotonic()
    base_seconds = job.run_seconds
    chunk_size = max(1, int(job.options.get("chunk_size") or CHUNK_SIZE))
    tz = parsers.zone(job.options.get("timezone"))
    writer = ImportWriter(job)
    dry_run = bool(job.options.get("dry_run"))
    seen: set[str] = set()  # a dry run: keys it would have written, so later sub-tasks find their parents
    read = parsers.ReaderProcess if _reader_process(job) else parsers.validated_chunks
    validated = read(job.format, job_sources(job), skip=job.position, size=chunk_size, tz=tz)

    def flush(chunk: parsers.ValidatedChunk) -> bool:
        if _cancel_requested(job):
            chunks.finish_job(job, JobState.CANCELLED, f"Cancelled after {job.processed} records.")
            return False
        validated = chunk.result
        write_started = time.perf_counter()
        with transaction.atomic():
            sql.relax_commit()
            outcome = _write_nothing(job, validated.records, seen) if dry_run else writer.write(validated.records)
            errors = validated.errors + outcome.errors
            chunks.save_row_errors(job, errors)
            locked = chunks.lock_job(job, owner)
            failed_records = len({e.number for e in errors if e.number is not None})
            found = {**chunk.summary, "not_kept": {**chunk.summary.get("not_kept", {})}}
            for kind, count in outcome.not_kept.items():
                found["not_kept"][kind] = found["not_kept"].get(kind, 0) + count
            found = {name: value for name, value in found.items() if value}
            summary = {"summary": summary_merged(locked.summary, found)} if found else {}
            _save_progress(
                job,
                locked,
                owner,
                {
                    **summary,
                    "position": chunk.last,
                    "processed": locked.processed + chunk.count,
                    "bytes_done": chunk.bytes_done,
                    "created_count": locked.created_count + outcome.created,
                    "updated_count": locked.updated_count + outcome.updated,
                    "unchanged_count": locked.unchanged_count + outcome.unchanged,
                    "failed_count": locked.failed_count + failed_records,
                    "worklogs_count": locked.worklogs_count + outcome.worklogs,
                    "comments_count": locked.comments_count + outcome.comments,
                    "pending_parents": locked.pending_parents + outcome.pending_parents,
                    "stage_seconds": chunks.stage_totals(
                        locked.stage_seconds,
                        read=chunk.read_seconds,
                        validate=chunk.validate_seconds,
                        write=time.perf_counter() - write_started,
                    ),
                },
                started_at,
                base_seconds,
            )
        if on_chunk is not None:
            on_chunk(job)
        return True

    iterator = iter(validated)
    try:
        for chunk in iterator:
            if not flush(chunk):
                return
    finally:
        iterator.close()  # stops the reader process when the job stops early (cancel, lost lease, error)
    with transaction.atomic():
        if dry_run:
            with transaction.atomic():
                pending = [pair for pair in job.pending_parents if pair[1] not in seen]
                parent_errors = ImportWriter(job).resolve_pending_parents(pending)
                transaction.set_rollback(True)
        else:
            parent_errors = writer.resolve_pending_parents(job.pending_parents)
        chunks.save_row_errors(job, parent_errors)
        locked = chunks.lock_job(job, owner)
        if locked.summary.get("workflow_definitions"):
            locked.summary = _workflows_apply(job, writer, locked.summary, dry_run=dry_run)
            locked.save(update_fields=["summary"])
        _save_progress(
            job,
            locked,
            owner,
            {"pending_parents": [], "total": locked.processed, "bytes_done": job.file_size},
            started_at,
            base_seconds,
        )
        has_errors = locked.failed_count or parent_errors or JobError.objects.filter(job_id=job.pk).exists()
        message = "Dry run: nothing was written; the counts say what an import would do." if dry_run else ""
        chunks.finish_job(locked, JobState.SUCCEEDED_WITH_ERRORS if has_errors else JobState.SUCCEEDED, message)
    job.refresh_from_db()


# ---------------------------------------------------------------------------------------------------------
# Bulk updates: the job around issues.bulk (chunks, lease, progress)
# ---------------------------------------------------------------------------------------------------------


@transaction.atomic
def bulk_update_job_create(
    *,
    user: Any,
    changes: dict[str, Any],
    issue_ids: Sequence[int | str] | None = None,
    jql: str | None = None,
    source: str = "navigator",
    options: dict[str, Any] | None = None,
    enqueue: bool = True,
) -> Job:
    """Check the selection and the changes, create a queued bulk-update job and enqueue it.

    Select by `issue_ids` (navigator checkboxes as text, admin action) or by `jql`. Raise ValidationError for
    bad JQL or changes before anything is queued. The selection is re-checked against the user's
    projects when the job runs.
    """
    cleaned = bulk_changes_clean(changes, user=user)
    opts: dict[str, Any] = {**(options or {}), "changes": cleaned}
    if jql is not None and jql.strip():
        opts["jql"] = bulk_jql_check(jql=jql, user=user)
    elif issue_ids:
        try:
            opts["ids"] = sorted({int(i) for i in issue_ids})
        except (TypeError, ValueError) as exc:
            raise ValidationError("Issue ids must be numbers.") from exc
    else:
        raise ValidationError("Select some issues (check rows, or give a JQL query).")
    job = Job.objects.create(kind=JobKind.BULK_UPDATE, user=user, source=source, options=opts)
    if enqueue:
        _enqueue(job)
    return job


def _next_bulk_ids(job: Job, selection: QuerySet, last_id: int, size: int) -> tuple[list[int], int]:
    """Return the next chunk of issue ids to change (in id order after last_id) and the id to resume after."""
    id_list = None if job.options.get("jql") else job.options.get("ids") or []
    if id_list is None:
        ids = list(selection.filter(pk__gt=last_id).order_by("pk").values_list("pk", flat=True)[:size])
        return ids, ids[-1] if ids else last_id
    # Checked rows: walk the (sorted) id list in Python rather than sending all of it with every query.
    start = bisect.bisect_right(id_list, last_id)
    while start < len(id_list):
        part = id_list[start : start + size]
        allowed = list(sql.where_in(selection, "id", part).order_by("pk").values_list("pk", flat=True))
        if allowed:
            return allowed, part[-1]
        start += size
    return [], last_id


def _bulk_update_run(job: Job, owner: str, on_chunk: Callable[[Job], None] | None = None) -> None:
    started_at = time.monotonic()
    base_seconds = job.run_seconds
    changes = job.options["changes"]
    chunk_size = max(1, int(job.options.get("chunk_size") or BULK_CHUNK_SIZE))
    selection = bulk_selection(user=job.user, jql=job.options.get("jql"))
    if job.total is None:
        ids = job.options.get("ids")
        job.total = (
            sum(sql.where_in(selection, "id", ids[i : i + 10000]).count() for i in range(0, len(ids), 10000))
            if ids and not job.options.get("jql")
            else selection.count()
        )
        Job.objects.filter(pk=job.pk).update(total=job.total)
    last_id = job.position  # keyset: issues are taken in id order after the last committed one
    while True:
        if _cancel_requested(job):
            chunks.finish_job(job, JobState.CANCELLED, f"Cancelled after {job.processed} issues.")
            return
        ids, last_seen = _next_bulk_ids(job, selection, last_id, chunk_size)
        if not ids:
            break
        with transaction.atomic():
            sql.relax_commit()
            # Issues the new status or assignee may not be given are skipped and reported, one error per issue.
            refused_by: dict[int, tuple[str, str, str]] = {}
            for field, found in (
                ("status", bulk_untransitionable(issue_ids=ids, changes=changes)),
                ("assignee", bulk_unassignable(issue_ids=ids, changes=changes)),
            ):
                for pk, key, msg in found:
                    refused_by.setdefault(pk, (key, field, msg))
            refused = list(refused_by)
            if refused:
                chunks.save_row_errors(
                    job, [parsers.RowError(None, None, key, field, msg) for key, field, msg in refused_by.values()]
                )
                ids = [pk for pk in ids if pk not in refused_by]
            changed = issue_bulk_change(issue_ids=ids, changes=changes, actor=job.user, batch=f"job-{job.pk}")
            locked = chunks.lock_job(job, owner)
            _save_progress(
                job,
                locked,
                owner,
                {
                    "position": last_seen,
                    "processed": locked.processed + len(ids) + len(refused),
                    "updated_count": locked.updated_count + changed,
                    "unchanged_count": locked.unchanged_count + len(ids) - changed,
                    "failed_count": locked.failed_count + len(refused),
                },
                started_at,
                base_seconds,
            )
        last_id = last_seen
        if on_chunk is not None:
            on_chunk(job)
    with transaction.atomic():
        locked = chunks.lock_job(job, owner)
        _save_progress(job, locked, owner, {"total": locked.processed}, started_at, base_seconds)
        chunks.finish_job(locked, JobState.SUCCEEDED_WITH_ERRORS if locked.failed_count else JobState.SUCCEEDED)
    job.refresh_from_db()


def recover_stale_jobs() -> list[int]:
    """Return the ids of running jobs whose lease expired (their worker died): the caller re-enqueues them."""
    now = timezone.now()
    return list(Job.objects.filter(state=JobState.RUNNING, lease_until__lt=now).values_list("pk", flat=True)) + list(
        Job.objects.filter(state=JobState.RUNNING, lease_until__isnull=True).values_list("pk", flat=True)
    )


def running_jobs_lease_wait(*, now: dt.datetime | None = None) -> float | None:
    """Return seconds until the earliest lease of a running job expires (None when no job runs)."""
    # Earliest, not latest: recover_jobs checks again after this wait, and the first lease to lapse is the
    # first job that may need resuming; waiting for the latest would leave that one stalled meanwhile.
    nearest = Job.objects.filter(state=JobState.RUNNING, lease_until__isnull=False).aggregate(m=Min("lease_until"))["m"]
    if nearest is None:
        return None
    return max((nearest - (now or timezone.now())).total_seconds(), 0) + 1


# ---------------------------------------------------------------------------------------------------------
# Upload quota and retention of stored uploads
# ---------------------------------------------------------------------------------------------------------


def size_text(size: int) -> str:
    """Return a byte count as people read it: "950.0 kB", "12.5 MB", "2.1 GB"."""
    if size < 1_000_000:
        return f"{size / 1000:.1f} kB"
    if size < 1_000_000_000:
        return f"{size / 1_000_000:.1f} MB"
    return f"{size / 1_000_000_000:.1f} GB"


def upload_quota_check(*, user: Any, sizes: Sequence[int]) -> None:
    """Raise ValidationError unless `user` may store uploads of these sizes.

    Nobody outside every project uploads (a site admin may); one file stays under IMPORT_MAX_UPLOAD_BYTES; the
    person's stored uploads (not yet deleted by the retention) plus these stay under IMPORT_USER_QUOTA_BYTES.
    """
    if not may_upload_imports(user):
        raise ValidationError(
            "Only a member of a project can import: ask a project admin to add you.", code="no_project"
        )
    limit = settings.IMPORT_MAX_UPLOAD_BYTES
    for size in sizes:
        if size > limit:
            raise ValidationError(f"A file of {size_text(size)} is over the limit: the limit is {size_text(limit)}.")
    quota = settings.IMPORT_USER_QUOTA_BYTES
    used = stored_upload_bytes(user=user)
    if used + sum(sizes) > quota:
        raise ValidationError(
            f"These files would bring your stored imports to {size_text(used + sum(sizes))}: your quota is "
            f"{size_text(quota)}. Uploads are deleted {settings.IMPORT_RETENTION_DAYS} days after upload."
        )


def stored_upload_bytes(*, user: Any) -> int:
    """Return the bytes of the user's uploaded import files still stored (not yet expired)."""
    total = Job.objects.filter(user_id=user.pk, source="upload", files_expired=False).aggregate(total=Sum("file_size"))[
        "total"
    ]
    return int(total or 0)


def import_files_expire(*, now: dt.datetime) -> list[int]:
    """Delete the stored uploads of finished jobs older than IMPORT_RETENTION_DAYS; mark each job; return their ids.

    Only uploads (imports/ in the imports storage) are touched (a command's files belong to whoever ran it); a job still
    queued or running keeps its files whatever their age.
    """
    cutoff = now - dt.timedelta(days=settings.IMPORT_RETENTION_DAYS)
    storage = storages["imports"]
    expired: list[int] = []
    due = Job.objects.filter(source="upload", files_expired=False, state__in=FINISHED_STATES, created__lt=cutoff)
    for job in due.order_by("id").iterator():
        for source in job_sources(job):
            if isinstance(source, Path) or not source.startswith("imports/"):
                continue  # a command's file is its caller's
            storage.delete(source)
            with contextlib.suppress(NotImplementedError, OSError):
                # The job's own folder, once empty (file system storage; object stores have no folders).
                folder = Path(storage.path(os.path.dirname(source)))
                if folder.is_dir() and not any(folder.iterdir()):
                    folder.rmdir()
        job.files_expired = True
        job.save(update_fields=["files_expired"])
        expired.append(job.pk)
    return expired
