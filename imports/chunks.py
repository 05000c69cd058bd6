"""Imports split into chunk tasks that any number of Celery workers run in parallel.

A job run by a worker (`imports.tasks.job_run`) *plans* a Jira JSON or JSON Lines import: it cuts the file into
chunks of whole records (imports.bytescan), saves each chunk's bytes to the "imports" storage and creates an
`ImportChunk` row, committed with the job's lease, and queues one `imports.tasks.import_chunk_run` per chunk.
Any worker (on any machine sharing the broker, the database and the storage) then imports a chunk:

- claim: the chunk row is locked and leased (a chunk held by a live worker is left alone; one whose lease
  lapsed, its worker dead, is taken over);
- read, validate, write: the chunk's bytes from the storage, validated in one `validate_json` call
  (parsers.validate_jira_bytes / validate_chunk), written by the ImportWriter in one transaction together
  with the chunk's state, the job's counters, row errors and per-stage seconds. A worker that dies loses the
  chunk it was writing (rolled back); redelivery (acks_late) or the check below runs it again. Rows are
  upserted by key / (source, external id), so a chunk written twice changes nothing the second time.
- advance: the worker that writes the last chunk links the sub-tasks whose parents were not there yet (the
  pending parents of every chunk: chunks finish in any order) and finishes the job. When only chunks held by
  other workers remain, it queues a look at each for when its lease lapses, so a chunk whose worker was
  killed is taken over even when the broker does not redeliver it.

Issue numbers keep Jira's keys; project counters only rise (issues.services.project_counters_raise, a row lock
per project), so chunks in any order leave them right. Each chunk's writer retires the cached pages of its
issues once, on commit. Entry points for other formats: `pieces_of` (what a chunk is) and `import_plan`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import logging
import os
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.db import DatabaseError, IntegrityError, transaction
from django.utils import timezone

from imports import bytescan, parsers
from imports.models import FINISHED_STATES, ChunkState, ImportChunk, Job, JobError, JobFormat, JobKind, JobState
from imports.writer import ImportWriter
from taskra_site import sql

logger = logging.getLogger("taskra.imports")

CHUNKED_FORMATS = (JobFormat.JIRA_JSON, JobFormat.TASKRA_JSONL)
MAX_CHUNK_ATTEMPTS = 10
WRITE_TRIES = 3  # a chunk racing another for a new lookup row (status, label, person) is written again
STAGES = ("plan", "read", "validate", "write")


class LeaseLost(Exception):
    """Another worker took the job (or the chunk) over, its own presumed dead: stop without writing."""


def fans_out(job: Job) -> bool:
    """Return whether a worker splits this job into chunk tasks (otherwise it imports the file itself)."""
    return (
        job.kind == JobKind.IMPORT
        and job.format in CHUNKED_FORMATS
        and bool(settings.IMPORTS_CHUNK_TASKS)
        and not settings.CELERY_TASK_ALWAYS_EAGER
        and bool(job.options.get("chunk_tasks", True))
    )


def summary_merged(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """Return the job summary with a chunk's added: counts of what was not kept add up, other facts replace.

    Here rather than in imports.services (which imports this module) so that chunk tasks add theirs too.
    """
    merged = dict(old)
    for name, value in new.items():
        if name == "not_kept":
            counts = dict(merged.get(name) or {})
            for kind, count in value.items():
                counts[kind] = counts.get(kind, 0) + count
            merged[name] = counts
        else:
            merged[name] = value
    return merged


def _lease(job: Job) -> dt.timedelta:
    return dt.timedelta(seconds=int(job.options.get("lease_seconds") or settings.IMPORTS_LEASE_SECONDS))


def _enqueue(chunk_id: int, queue: str | None, countdown: float | None = None) -> None:
    # Imported here to break a real cycle: imports.tasks imports the services, which import this module.
    from imports.tasks import import_chunk_run

    transaction.on_commit(lambda: import_chunk_run.apply_async((chunk_id,), queue=queue, countdown=countdown))


def stage_totals(totals: dict[str, float] | None, **seconds: float) -> dict[str, float]:
    """Return the job's per-stage seconds with these added (plan, read, validate, write)."""
    out = dict(totals or {})
    for stage, value in seconds.items():
        out[stage] = round(out.get(stage, 0.0) + value, 4)
    return out


def _add_stages(job: Job, seconds: dict[str, float]) -> None:
    job.stage_seconds = stage_totals(job.stage_seconds, **seconds)


@contextlib.contextmanager
def fewer_gc_passes() -> Iterator[None]:
    """Run the cyclic garbage collector less often while importing (restored afterwards).

    A chunk allocates a few hundred thousand objects (validated models, records, rows), nearly all freed by
    reference counting; with the default threshold (700) the collector ran thousands of times per chunk
    and walked every live object on its older passes. Measured, 10,000 issues in process: 3.56 / 3.58 s
    -> 2.85 / 2.80 s with (50,000, 20, 100), about the same from 50,000 to 200,000. Cyclic garbage is
    still collected, only in larger batches; memory stays flat (the import test checks RSS).
    """
    before = gc.get_threshold()
    gc.set_threshold(100_000, 20, 100)
    try:
        yield
    finally:
        gc.set_threshold(*before)


# ---------------------------------------------------------------------------------------------------------
# Planning: the file cut into chunks of whole records
# ---------------------------------------------------------------------------------------------------------


def pieces_of(fmt: str, sources: list[parsers.Source], *, size: int) -> Iterator[bytescan.Piece]:
    """Yield the files' records in chunks of `size` (bytes ready for validation), file after file."""
    for file_index, source in enumerate(sources):
        name = parsers.source_name(source)
        try:
            f = parsers.open_source(source)
        except OSError as exc:
            raise parsers.SourceError(f"Cannot open {name}: {exc.strerror}.") from exc
        with f:
            cut = bytescan.jira_json_chunks if fmt == JobFormat.JIRA_JSON else bytescan.jsonl_chunks
            try:
                yield from cut(f, name, size=size, file_index=file_index)
            except bytescan.ScanError as exc:
                raise parsers.SourceError(str(exc)) from None


def lock_job(job: Job, owner: str | None = None) -> Job:
    """Lock the job row in the caller's transaction; with an owner, check that worker still holds the job."""
    # Not the options: a bulk change by checked rows carries every id there (100,000 ids: 10 ms a chunk).
    locked = Job.objects.select_for_update().defer("options").get(pk=job.pk)
    if owner is not None and (locked.lease_owner != owner or locked.state != JobState.RUNNING):
        raise LeaseLost(f"job {job.pk} is now held by {locked.lease_owner!r} ({locked.state})")
    return locked


def import_plan(*, job: Job, owner: str, sources: list[parsers.Source], queue: str | None) -> None:
    """Cut the job's files into chunks, save them to the imports storage and queue a task per chunk.

    Resumable: a job planned in part before (its worker died) skips the chunks it has and queues again those
    not yet written. A file that turns out truncated or broken keeps the chunks before the break (they are
    imported) and fails the job with the message once they are written.
    """
    storage = storages["imports"]
    size = max(1, int(job.options.get("chunk_size") or settings.IMPORTS_CHUNK_SIZE))
    planned = job.chunks.count()
    earlier = list(job.chunks.exclude(state=ChunkState.DONE).values_list("pk", flat=True))
    ext = "json" if job.format == JobFormat.JIRA_JSON else "jsonl"
    index, first, failure = 0, 1, ""
    started = time.perf_counter()
    try:
        for piece in pieces_of(job.format, sources, size=size):
            if index < planned:  # planned by an earlier attempt
                index, first = index + 1, first + piece.count
                started = time.perf_counter()
                continue
            if Job.objects.filter(pk=job.pk, cancel_requested=True).exists():
                break  # the next chunk task finishes the job as cancelled
            name = storage.save(f"imports/chunks/{job.pk}/{index:06d}.{ext}", ContentFile(piece.data))
            with transaction.atomic():
                # Replayable: a chunk row lost with a crash is planned again on resume (its task finds no row).
                sql.relax_commit()
                chunk = ImportChunk.objects.create(
                    job_id=job.pk,
                    index=index,
                    name=name,
                    file_index=piece.file_index,
                    byte_start=piece.byte_start,
                    byte_end=piece.byte_end,
                    first_record=first,
                    count=piece.count,
                    first_line=piece.first_line,
                    lines=piece.lines,
                )
                locked = lock_job(job, owner)
                _add_stages(locked, {"plan": time.perf_counter() - started})
                locked.lease_until = timezone.now() + _lease(job)
                locked.save(update_fields=["stage_seconds", "lease_until"])
                _enqueue(chunk.pk, queue)
            started = time.perf_counter()
            index, first = index + 1, first + piece.count
    except parsers.SourceError as exc:
        failure = str(exc)
    with transaction.atomic():
        locked = lock_job(job, owner)
        _add_stages(locked, {"plan": time.perf_counter() - started})
        locked.total = first - 1
        locked.lease_until = timezone.now() + _lease(job)
        fields = ["stage_seconds", "total", "lease_until"]
        if failure:
            locked.message = failure[:5000]  # the job fails with it once the chunks before the break are written
            fields.append("message")
        locked.save(update_fields=fields)
        for pk in earlier:
            _enqueue(pk, queue)
    chunk_advance(job_id=job.pk, queue=queue)


# ---------------------------------------------------------------------------------------------------------
# One chunk: claim, read, validate, write
# ---------------------------------------------------------------------------------------------------------

# Job id -> (the job's creation time, its writer) in this worker process (look-ups cached). The creation time
# tells a reused id (a database reset or restored under a running worker) from the job the writer was made for.
_WRITERS: dict[int, tuple[dt.datetime, ImportWriter]] = {}


def _writer(job: Job) -> ImportWriter:
    kept = _WRITERS.get(job.pk)
    if kept is not None and kept[0] == job.created:
        return kept[1]
    _WRITERS.clear()  # one job at a time per process is the common case: keep memory flat
    writer = ImportWriter(job)
    _WRITERS[job.pk] = (job.created, writer)
    return writer


def _claim(chunk_id: int, owner: str) -> tuple[ImportChunk | None, float | None]:
    now = timezone.now()
    with transaction.atomic():
        chunk = ImportChunk.objects.select_for_update().filter(pk=chunk_id).first()
        if chunk is None or chunk.state == ChunkState.DONE:
            return None, None
        job = Job.objects.get(pk=chunk.job_id)
        if job.state in FINISHED_STATES:
            return None, None
        if job.cancel_requested:
            locked = lock_job(job)
            if locked.state not in FINISHED_STATES:
                finish_job(locked, JobState.CANCELLED, f"Cancelled after {locked.processed} records.")
            return None, None
        held = chunk.state == ChunkState.RUNNING and chunk.lease_owner != owner and chunk.lease_until is not None
        if held and chunk.lease_until > now:  # type: ignore[operator]
            return None, (chunk.lease_until - now).total_seconds() + 1  # type: ignore[operator]
        if chunk.attempts >= MAX_CHUNK_ATTEMPTS:
            locked = lock_job(job)
            finish_job(
                locked,
                JobState.FAILED,
                f"Stopped after {chunk.attempts} attempts at records {chunk.first_record:,}-"
                f"{chunk.first_record + chunk.count - 1:,}: the worker importing them kept dying.",
            )
            return None, None
        chunk.state, chunk.lease_owner = ChunkState.RUNNING, owner
        chunk.lease_until = now + _lease(job)
        chunk.attempts += 1
        chunk.save(update_fields=["state", "lease_owner", "lease_until", "attempts"])
        chunk.job = job
    return chunk, None


def _test_hold(chunk: ImportChunk) -> None:
    """Tests only (settings.IMPORTS_TEST_HOLD_DIR): wait in this chunk until the test releases it."""
    folder = settings.IMPORTS_TEST_HOLD_DIR
    if not folder:
        return
    hold, held = Path(folder) / f"hold-{chunk.index}", Path(folder) / f"held-{chunk.index}"
    try:
        hold.rename(held)  # one worker wins; whoever takes the chunk over later runs straight through
    except OSError:
        return
    held.write_text(str(os.getpid()))
    while not (Path(folder) / "release").exists():
        time.sleep(0.05)


def _validate(chunk: ImportChunk, data: bytes, tz: dt.tzinfo) -> parsers.ChunkResult:
    if chunk.job.format == JobFormat.JIRA_JSON:
        return parsers.validate_jira_bytes(data, first=chunk.first_record)
    lines = chunk.lines or range(chunk.first_line or 1, (chunk.first_line or 1) + chunk.count)
    raws = [
        parsers.RawRecord(chunk.first_record + i, line, text)
        for i, (line, text) in enumerate(zip(lines, data.split(b"\n"), strict=True))
    ]
    result = parsers.validate_chunk(chunk.job.format, raws, tz=tz)
    result.records = [(parsers.RawRecord(raw.number, raw.line, None), rec) for raw, rec in result.records]
    return result


def chunk_run(*, chunk_id: int, owner: str, queue: str | None = None) -> float | None:
    """Import one chunk (unless it is done or held by a live worker); return seconds to wait when held."""
    chunk, retry_in = _claim(chunk_id, owner)
    if chunk is None:
        return retry_in
    job = chunk.job
    _test_hold(chunk)
    started = time.perf_counter()
    with storages["imports"].open(chunk.name, "rb") as f:
        data = f.read()
    read_at = time.perf_counter()
    with fewer_gc_passes():
        result = _validate(chunk, data, parsers.zone(job.options.get("timezone")))
        del data
        validated_at = time.perf_counter()
        for attempt in range(WRITE_TRIES):
            try:
                _write(chunk, job, owner, result, {"read": read_at - started, "validate": validated_at - read_at})
                break
            except (IntegrityError, DatabaseError) as exc:
                # Two chunks creating the same new look-up row (a status, label or person) at once, or a
                # deadlock: everything of this chunk rolled back; its writer's caches may name rows that never
                # committed.
                _WRITERS.pop(job.pk, None)
                if attempt == WRITE_TRIES - 1:
                    raise
                logger.info("job %s chunk %s: writing again after %s", job.pk, chunk.index, exc)
        del result
    transaction.on_commit(lambda: storages["imports"].delete(chunk.name))
    chunk_advance(job_id=job.pk, queue=queue)
    return None


def _write(chunk: ImportChunk, job: Job, owner: str, result: parsers.ChunkResult, stages: dict[str, float]) -> None:
    started = time.perf_counter()
    with transaction.atomic():
        sql.relax_commit()
        writer = _writer(job)
        outcome = writer.write(result.records)
        errors = result.errors + outcome.errors
        save_row_errors(job, errors)
        current = ImportChunk.objects.select_for_update().get(pk=chunk.pk)
        if current.lease_owner != owner or current.state != ChunkState.RUNNING:
            raise LeaseLost(f"chunk {chunk.pk} is now held by {current.lease_owner!r} ({current.state})")
        current.state, current.lease_until = ChunkState.DONE, None
        current.pending_parents = outcome.pending_parents
        current.save(update_fields=["state", "lease_until", "pending_parents"])
        locked = lock_job(job)
        now = timezone.now()
        locked.processed += chunk.count
        locked.created_count += outcome.created
        locked.updated_count += outcome.updated
        locked.unchanged_count += outcome.unchanged
        locked.failed_count += len({e.number for e in errors if e.number is not None})
        locked.worklogs_count += outcome.worklogs
        locked.comments_count += outcome.comments
        if outcome.not_kept:  # Jira JSON's fields Taskra keeps nowhere, link types missing here: as in one process
            locked.summary = summary_merged(locked.summary, {"not_kept": dict(outcome.not_kept)})
        locked.bytes_done += chunk.byte_end - chunk.byte_start
        # The job's time is its wall time (chunks run side by side): rows per second and time left follow it.
        locked.run_seconds = max(locked.run_seconds, (now - (locked.started or now)).total_seconds())
        locked.lease_until = now + _lease(job)
        _add_stages(locked, {**stages, "write": time.perf_counter() - started})
        locked.save(
            update_fields=[
                "processed",
                "created_count",
                "updated_count",
                "unchanged_count",
                "failed_count",
                "worklogs_count",
                "comments_count",
                "summary",
                "bytes_done",
                "run_seconds",
                "lease_until",
                "stage_seconds",
            ]
        )


def job_fail(*, chunk_id: int, message: str) -> None:
    """Fail the chunk's job with `message` (an unexpected error while importing the chunk)."""
    with transaction.atomic():
        chunk = ImportChunk.objects.filter(pk=chunk_id).first()
        if chunk is None:
            return
        locked = Job.objects.select_for_update().get(pk=chunk.job_id)
        if locked.state not in FINISHED_STATES:
            finish_job(locked, JobState.FAILED, message)


def save_row_errors(job: Job, errors: Iterable[parsers.RowError]) -> None:
    """Store a chunk's row errors (the job page lists them and offers them as CSV); the one writer of JobError."""
    JobError.objects.bulk_create(
        [
            JobError(
                job_id=job.pk,
                record=e.number,
                line=e.line,
                issue_key=(e.key or "")[:64],
                field=e.field[:200],
                message=e.message[:2000],
            )
            for e in errors
        ],
        batch_size=500,
    )


def finish_job(job: Job, state: str, message: str = "") -> None:
    """Record the job's end state and message (one UPDATE); a job that never counted its total gets the processed."""
    job.state = state
    job.message = message[:5000]
    job.finished = timezone.now()
    job.lease_until = None
    if job.total is None:
        job.total = job.processed
    job.save(update_fields=["state", "message", "finished", "lease_until", "total"])


# ---------------------------------------------------------------------------------------------------------
# The end: link the sub-tasks, finish the job (or look after chunks whose worker may have died)
# ---------------------------------------------------------------------------------------------------------


def chunk_advance(*, job_id: int, queue: str | None = None) -> None:
    """Finish the job once every chunk is written (the final link pass); else look after stale chunks."""
    with transaction.atomic():
        job = Job.objects.select_for_update().get(pk=job_id)
        if job.state in FINISHED_STATES or job.total is None:
            return  # finished, or still being planned
        if job.cancel_requested:  # the plan stopped at the cancel: what was written stays
            finish_job(job, JobState.CANCELLED, f"Cancelled after {job.processed} records.")
            return
        remaining = list(job.chunks.exclude(state=ChunkState.DONE).values_list("pk", "state", "lease_until"))
        if remaining:
            if all(state == ChunkState.RUNNING for _, state, _ in remaining):
                now = timezone.now()
                for pk, _, until in remaining:
                    _enqueue(pk, queue, countdown=max(((until or now) - now).total_seconds(), 0) + 1)
            return
        started = time.perf_counter()
        pending = [pair for chunk in job.chunks.values_list("pending_parents", flat=True) for pair in chunk]
        parent_errors = ImportWriter(job).resolve_pending_parents(pending) if pending else []
        save_row_errors(job, parent_errors)
        _add_stages(job, {"write": time.perf_counter() - started})
        now = timezone.now()
        job.bytes_done = job.file_size
        job.run_seconds = max(job.run_seconds, (now - (job.started or now)).total_seconds())
        job.save(update_fields=["bytes_done", "run_seconds", "stage_seconds"])
        if job.message:  # the plan met a broken file: the chunks before the break are written
            finish_job(job, JobState.FAILED, job.message)
        else:
            has_errors = job.failed_count or parent_errors or JobError.objects.filter(job_id=job.pk).exists()
            finish_job(job, JobState.SUCCEEDED_WITH_ERRORS if has_errors else JobState.SUCCEEDED)
    _WRITERS.pop(job_id, None)
