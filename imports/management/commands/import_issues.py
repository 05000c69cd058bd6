"""Import a Jira JSON / Jira CSV / Taskra JSON Lines file: `manage.py import_issues FILE [--project KEY]`."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from imports import selectors, services
from imports.models import Job, JobFormat
from taskra_site.validation import error_messages


class Command(BaseCommand):
    help = "Import issues with their worklogs and comments; safe to run twice (upserts by key and external id)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("files", nargs="+", help="file(s) to import; several Jira JSON pages may be given")
        parser.add_argument("--project", help="import every issue into this project (keys keep their numbers)")
        parser.add_argument("--format", choices=[v for v in JobFormat.values if v], help="skip format detection")
        parser.add_argument("--timezone", default="UTC", help="time zone of naive CSV dates (default UTC)")
        parser.add_argument("--chunk-size", type=int, default=services.CHUNK_SIZE, help="issues per transaction")
        parser.add_argument(
            "--dry-run", action="store_true", help="only check the file: count what would be written, write nothing"
        )
        parser.add_argument(
            "--queue", action="store_true", help="hand the job to a Celery worker and follow its progress"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            job = services.import_job_create(
                user=None,
                paths=[Path(f) for f in options["files"]],
                fmt=options["format"],
                project_key=options["project"],
                source="command",
                options={
                    "timezone": options["timezone"],
                    "chunk_size": options["chunk_size"],
                    "dry_run": options["dry_run"],
                },
                enqueue=options["queue"],
            )
        except ValidationError as exc:
            raise CommandError(" ".join(error_messages(exc))) from exc
        self.stdout.write(f"Job #{job.pk}: {job.get_format_display()}, {job.file_size / 1048576:.1f} MB")
        if options["queue"]:
            self._follow(job)
        else:
            services.job_run(job_id=job.pk, on_chunk=self._show)
            job.refresh_from_db()
            self._show(job)
        job.refresh_from_db()
        self.stdout.write("")
        self.stdout.write(
            f"{job.get_state_display()}: {job.processed} records, {job.created_count} created, "
            f"{job.updated_count} updated, {job.unchanged_count} unchanged, {job.failed_count} failed "
            f"({job.worklogs_count} worklogs, {job.comments_count} comments written) in {job.run_seconds:.1f}s."
        )
        if job.message:
            self.stdout.write(job.message)
        for kind, count in sorted((job.summary.get("not_kept") or {}).items()):
            self.stdout.write(f"  not kept: {kind}: {count}")
        for error in job.errors.all()[:20]:
            self.stdout.write(f"  record {error.record} {error.issue_key} {error.field}: {error.message}")
        if job.failed_count > 20:
            self.stdout.write(f"  ... see /imports/{job.pk}/ for all errors")
        if job.state == "failed":
            raise CommandError(job.message or "Import failed.")

    def _show(self, job: Job) -> None:
        p = selectors.job_progress(job)
        width = 30
        filled = int(width * p["percent"] / 100)
        rate = f"{p['rows_per_second']:.0f}/s" if p["rows_per_second"] else "-/s"
        eta = f"{p['seconds_left']:.0f}s left" if p["seconds_left"] is not None else ""
        line = (
            f"[{'#' * filled}{'.' * (width - filled)}] {p['percent']:5.1f}% {p['processed']} records "
            f"{rate} {eta} {p['failed']} errors"
        )
        tty = sys.stdout.isatty()
        self.stdout.write(("\r" + line) if tty else line, ending="" if tty else "\n")
        self.stdout.flush()

    def _follow(self, job: Job) -> None:
        """Print the progress of a job a worker runs until it finishes."""
        last = None
        while True:
            job.refresh_from_db()
            if job.processed != last or job.is_finished:
                self._show(job)
                last = job.processed
            if job.is_finished:
                break
            time.sleep(0.5)
