"""Exports of the issue navigator, inline or as background jobs: the one place that writes their rows.

Small results stream inline (navigator.export); past settings.TASKRA_EXPORT_INLINE_ROWS the view creates an
ExportJob instead, a Celery task (issues.tasks.run_export_job) writes the file through Django's storage API,
and its owner downloads it from the job's page. So no export depends on a web request outliving the
server's timeout: a long one either finishes in the background or fails with its error on the job page,
never as a truncated file with HTTP 200. Other apps add kinds of export to WRITERS (worklogs does).
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any, cast

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import TemporaryUploadedFile
from django.db import transaction
from django.db.models import QuerySet
from django.http import FileResponse
from django.utils import timezone

from issues.adapters import ISSUE_DETAIL
from issues.exporters import RowCount, copy_csv_rows, copy_supported
from issues.fields import EXPORT_COLUMNS, EXPORT_FIELDS
from issues.models import ExportJob, Issue
from issues.permissions import visible_project_ids
from issues.selectors import navigator_export_queryset
from taskra_site.adapters import encode_datetime
from taskra_site.csvsafe import csv_writer

logger = logging.getLogger("taskra.exports")

FORMATS = ("csv", "json")
CSV_FLUSH_ROWS = 2000  # rows per piece of CSV handed to the response or the file
INLINE_SPOOL_BYTES = 1 << 20  # an inline export past this size waits in a temporary file until it is whole


# ------------------------------------------------------------------------------------------ the rows


def _text(value: Any) -> str:
    return value


def _nothing(value: Any) -> str:
    return ""


def _named(value: dict[str, Any]) -> str:
    return value.get("display_name") or value.get("key") or ""


def _joined(value: list[Any]) -> str:
    return " ".join(str(v) for v in value)


def _csv_cell(value: Any) -> str:
    """Return an export field as text; csv_writer() then escapes it against spreadsheet formulas."""
    if value is None:
        return ""
    if isinstance(value, dict):
        return _named(value)
    if isinstance(value, list):
        return _joined(value)
    if hasattr(value, "isoformat"):
        return encode_datetime(value)
    return str(value)


# By exact type first: one dict look-up per cell instead of a chain of isinstance checks (a third of the
# CPU time of a CSV export was spent here); anything else takes the general rule.
_CELL_BY_TYPE: dict[type, Callable[[Any], str]] = {
    str: _text,
    type(None): _nothing,
    dict: _named,
    list: _joined,
    int: str,
    dt.datetime: encode_datetime,
}


def _csv_header() -> str:
    buffer = io.StringIO()
    csv_writer(buffer).writerow([label for _field, label in EXPORT_COLUMNS])
    return buffer.getvalue()


def issue_csv_pieces(queryset: QuerySet[Issue], counter: RowCount | None = None) -> Iterator[str | bytes]:
    """Yield the issues as CSV, header first, in pieces of a few thousand rows (flat memory); count them.

    On PostgreSQL the database writes the rows (issues.exporters: COPY of the queryset's own SQL, byte for
    byte what the Python writer below makes); elsewhere they go through the adapters and the csv module.
    """
    if copy_supported(queryset):
        yield _csv_header().encode()
        yield from copy_csv_rows(queryset, counter)
        return
    buffer = io.StringIO()
    # Every cell, names and labels included, is escaped against spreadsheet formulas by the one writer.
    writer = csv_writer(buffer)
    writer.writerow([label for _field, label in EXPORT_COLUMNS])
    fields = [field for field, _label in EXPORT_COLUMNS]
    by_type, general = _CELL_BY_TYPE, _csv_cell
    batch: list[list[str]] = []
    for row in ISSUE_DETAIL.iter_dicts(queryset, fields=EXPORT_FIELDS):
        values = [row.get(field) for field in fields]
        batch.append([by_type.get(type(v), general)(v) for v in values])
        if len(batch) == CSV_FLUSH_ROWS:
            writer.writerows(batch)
            if counter is not None:
                counter.rows += len(batch)
            batch.clear()
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    writer.writerows(batch)
    if counter is not None:
        counter.rows += len(batch)
    yield buffer.getvalue()


def issue_json_pieces(queryset: QuerySet[Issue]) -> Iterator[bytes]:
    """Yield the issues as one JSON array in pieces (the adapters' streaming form)."""
    return ISSUE_DETAIL.iter_json(queryset, fields=EXPORT_FIELDS)


def issue_export_queryset(*, user: Any, params: dict[str, str]) -> QuerySet[Issue]:
    """Return the navigator's export rows for these query parameters (raise JQLError or NavigatorError)."""
    return navigator_export_queryset(
        user=user, jql=params.get("jql", ""), sort=params.get("sort") or None, direction=params.get("dir") or None
    )


def spooled_response(pieces: Iterable[str | bytes], *, content_type: str, filename: str) -> FileResponse:
    """Return an inline export as a download written whole before its first byte is sent, with Content-Length.

    A failure while writing raises here, so the request fails with an error status instead of a 200 whose
    body stops short; and any client can tell a complete download by its length. The rows stay few
    (TASKRA_EXPORT_INLINE_ROWS), and past INLINE_SPOOL_BYTES they wait in a temporary file, not in memory.
    """
    # Not a with block: FileResponse closes the file once sent.
    spool = tempfile.SpooledTemporaryFile(max_size=INLINE_SPOOL_BYTES)  # noqa: SIM115
    try:
        write_pieces(spool, pieces)
        spool.seek(0)
    except BaseException:
        spool.close()
        raise
    response = FileResponse(spool, as_attachment=True, filename=filename, content_type=content_type)
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def exceeds_inline(queryset: QuerySet, *, limit: int | None = None) -> bool:
    """Return whether the rows are more than settings.TASKRA_EXPORT_INLINE_ROWS (counts at most limit + 1)."""
    limit = settings.TASKRA_EXPORT_INLINE_ROWS if limit is None else limit
    return queryset.order_by()[: limit + 1].count() > limit


# ---------------------------------------------------------------------------------------- the jobs


@dataclass(frozen=True)
class Writer:
    """One kind of export: how to write its file for a user and the job's parameters.

    write(user, params, fmt, out) writes the whole file to the binary stream `out` and returns the row count
    and the ids of the projects whose data it holds; it raises ValueError (or the kind's own error) for
    parameters that no longer run, whose message the job page shows.
    """

    write: Callable[[Any, dict[str, str], str, IO[bytes]], tuple[int, list[int]]]
    filename: str
    title: str  # what the job page calls it
    back: str  # URL name of the page the export was asked from (the job's params are its query)


def write_pieces(out: IO[bytes], pieces: Iterable[str | bytes]) -> None:
    """Write text or bytes pieces to a binary file (text as UTF-8)."""
    for piece in pieces:
        out.write(piece.encode() if isinstance(piece, str) else piece)


def _write_issues(user: Any, params: dict[str, str], fmt: str, out: IO[bytes]) -> tuple[int, list[int]]:
    queryset = issue_export_queryset(user=user, params=params)
    project_ids = sorted(set(queryset.order_by().values_list("project_id", flat=True).distinct()))
    if fmt == "json":
        write_pieces(out, issue_json_pieces(queryset))
        return queryset.count(), project_ids
    counter = RowCount()  # the CSV counts its rows as it writes them: no second pass over a million rows
    write_pieces(out, issue_csv_pieces(queryset, counter))
    return counter.rows, project_ids


WRITERS: dict[str, Writer] = {
    "issues": Writer(write=_write_issues, filename="issues", title="issues", back="issues:navigator")
}


def export_job_create(*, user: Any, kind: str, fmt: str, params: dict[str, str]) -> ExportJob:
    """Create a queued export job for the user and enqueue it once the transaction commits."""
    if kind not in WRITERS:
        raise ValueError(f"Unknown export: {kind}.")
    if fmt not in FORMATS:
        raise ValueError("Unknown export format: use format=csv or format=json.")
    # The task module imports this one: imported here to break the cycle.
    from issues.tasks import run_export_job

    with transaction.atomic():
        job = ExportJob.objects.create(owner=user, kind=kind, format=fmt, params=params)
        transaction.on_commit(lambda: run_export_job.delay(job.pk))
    return job


def export_job_run(*, job_id: int, now: Callable[[], dt.datetime] = timezone.now) -> ExportJob | None:
    """Write the job's file (as its owner, with the visibility the owner has now) and mark it done or failed.

    Returns None for a job that is gone or finished already (a redelivered task). A rerun of a job left
    running by a dead worker writes the file again from the start.
    """
    with transaction.atomic():
        job = ExportJob.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.state in (ExportJob.State.DONE, ExportJob.State.FAILED):
            return None
        job.state = ExportJob.State.RUNNING
        job.save(update_fields=["state"])
    writer = WRITERS.get(job.kind)
    owner = get_user_model().objects.select_related("profile").get(pk=job.owner_id)
    stamp = job.created.strftime("%Y%m%d-%H%M%S")
    filename = f"{writer.filename if writer else job.kind}-{stamp}.{job.format}"
    try:
        if writer is None:
            raise ValueError(f"Unknown export: {job.kind}.")
        # A named temporary file (FILE_UPLOAD_TEMP_DIR): the file-system storage moves it into place instead
        # of copying it (a 1,000,000-row CSV is about 200 MB); other storages read it as any file.
        content_type = "text/csv" if job.format == "csv" else "application/json"
        with TemporaryUploadedFile(filename, content_type, 0, "utf-8") as out:
            rows, project_ids = writer.write(owner, job.params, job.format, cast(IO[bytes], out.file))
            out.size = size = out.tell()
            out.seek(0)
            name = default_storage.save(f"exports/{job.pk}/{filename}", out)
    except Exception as exc:  # any failure is shown on the job page: the export fails loudly, never half-written
        logger.exception("export job %s failed", job.pk)
        job.state, job.error, job.finished = ExportJob.State.FAILED, str(exc) or type(exc).__name__, now()
        job.save(update_fields=["state", "error", "finished"])
        return job
    job.state, job.rows, job.size, job.file, job.filename = ExportJob.State.DONE, rows, size, name, filename
    job.project_ids, job.finished = project_ids, now()
    job.expires = job.finished + dt.timedelta(hours=settings.TASKRA_EXPORT_RETENTION_HOURS)
    job.save(update_fields=["state", "rows", "size", "file", "filename", "project_ids", "finished", "expires"])
    return job


def export_job_for(*, user: Any, pk: int) -> ExportJob | None:
    """Return the user's own export job with this id, or None (another person's job is not found)."""
    if not user.is_authenticated or not 0 < pk < 2**63:
        return None
    return ExportJob.objects.filter(pk=pk, owner_id=user.pk).first()


def export_job_download_error(*, user: Any, job: ExportJob) -> str | None:
    """Return why the user may not download the job's file now, or None if they may.

    Membership is checked again at download: someone removed from a project since the export ran no
    longer gets its issues.
    """
    if job.state != ExportJob.State.DONE:
        return "This export is not ready."
    if job.expired or not job.file:
        return "This export has expired: run it again from the navigator."
    missing = set(job.project_ids) - set(visible_project_ids(user).values_list("project_id", flat=True))
    if missing:
        return "You are no longer a member of every project in this export: run it again from the navigator."
    return None


def export_files_expire(*, now: dt.datetime) -> list[int]:
    """Delete the files of export jobs past their expiry (and of failed ones); return the jobs' ids."""
    expired: list[int] = []
    for job in ExportJob.objects.filter(expired=False, expires__lt=now).order_by("id").iterator():
        if job.file:
            default_storage.delete(job.file)
        job.expired = True
        job.save(update_fields=["expired"])
        expired.append(job.pk)
    return expired
