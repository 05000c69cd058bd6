"""Background jobs (imports and bulk updates), their progress and their per-row errors -- all in the database."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.urls import reverse


class JobKind(models.TextChoices):
    IMPORT = "import", "Import"
    BULK_UPDATE = "bulk_update", "Bulk update"


class JobFormat(models.TextChoices):
    JIRA_JSON = "jira_json", "Jira JSON (REST search results)"
    JIRA_CSV = "jira_csv", "Jira CSV export"
    TASKRA_JSONL = "taskra_jsonl", "Taskra JSON Lines"
    JIRA_XML = "jira_xml", "Jira XML (search results export)"
    JIRA_BACKUP = "jira_backup", "Jira site backup (zip with entities.xml)"
    NONE = "", "-"


class JobState(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    SUCCEEDED_WITH_ERRORS = "succeeded_with_errors", "Succeeded with errors"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


FINISHED_STATES = (JobState.SUCCEEDED, JobState.SUCCEEDED_WITH_ERRORS, JobState.FAILED, JobState.CANCELLED)


class Placeholder(models.Model):
    """A person named in imports who matched no account: an inactive user without a usable password.

    `account_id` is the Jira account id (also on the user's profile), or `email:<address>` / `username:<name>`
    for people a file names without one, so a second import of the same file finds the same placeholder.
    Once mapped (the job page's mapping screen), later imports of the account id write `mapped_to` instead:
    imports by `mapped_by`, or by anyone when `mapped_by` is staff (issues.permissions.may_manage_accounts).
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="placeholder"
    )
    account_id = models.CharField(max_length=300, unique=True)
    created = models.DateTimeField(auto_now_add=True)
    mapped_to = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    mapped_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    mapped_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.account_id} (placeholder {self.user_id})"


class Job(models.Model):
    """One import or bulk update; counters and the resume point are committed with every chunk."""

    kind = models.CharField(max_length=16, choices=JobKind.choices, default=JobKind.IMPORT)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="import_jobs"
    )
    # Where the work came from: "upload", "command", "admin", "navigator", "jql".
    source = models.CharField(max_length=16, default="upload")
    format = models.CharField(max_length=16, choices=JobFormat.choices, blank=True, default="")
    # Path of the uploaded/imported file (relative to MEDIA_ROOT when uploaded) and its original name.
    file_path = models.CharField(max_length=500, blank=True, default="")
    file_name = models.CharField(max_length=255, blank=True, default="")
    file_size = models.PositiveBigIntegerField(default=0)
    # Uploaded files are deleted IMPORT_RETENTION_DAYS after the upload (imports.tasks.expire_import_files).
    files_expired = models.BooleanField(default=False)
    # Import: {"project": "KEY", "chunk_size": 1000}; bulk update: {"ids": [...]} or {"jql": "..."} plus "changes".
    options = models.JSONField(default=dict, blank=True)
    state = models.CharField(max_length=24, choices=JobState.choices, default=JobState.QUEUED, db_index=True)
    message = models.TextField(blank=True, default="")
    cancel_requested = models.BooleanField(default=False)

    total = models.PositiveBigIntegerField(null=True, blank=True)
    processed = models.PositiveBigIntegerField(default=0)
    created_count = models.PositiveBigIntegerField(default=0)
    updated_count = models.PositiveBigIntegerField(default=0)
    unchanged_count = models.PositiveBigIntegerField(default=0)
    failed_count = models.PositiveBigIntegerField(default=0)
    worklogs_count = models.PositiveBigIntegerField(default=0)
    comments_count = models.PositiveBigIntegerField(default=0)
    # Records consumed from the source so far (resume point), committed in the same transaction as their rows.
    position = models.PositiveBigIntegerField(default=0)
    # Bytes of the source read so far: the progress bar of an import (its record count is unknown up front).
    bytes_done = models.PositiveBigIntegerField(default=0)
    # What the source carries that Taskra keeps nowhere, counted by kind ({"not_kept": {"CSV column 'Sprint'": 12}}),
    # and other facts of the file for the job page ({"workflows": {"ABC": ["To Do", "Done"]}}).
    summary = models.JSONField(default=dict, blank=True)
    # Sub-tasks whose parent had not been imported yet: [[child_key, parent_key], ...], resolved at the end.
    pending_parents = models.JSONField(default=list, blank=True)

    created = models.DateTimeField(auto_now_add=True)
    started = models.DateTimeField(null=True, blank=True)
    finished = models.DateTimeField(null=True, blank=True)
    # The worker holding the job and until when: a stale lease means its worker died.
    lease_owner = models.CharField(max_length=64, blank=True, default="")
    lease_until = models.DateTimeField(null=True, blank=True)
    # Seconds spent running, summed over every attempt (a resumed job keeps its earlier time).
    run_seconds = models.FloatField(default=0)
    attempts = models.PositiveSmallIntegerField(default=0)
    # Seconds spent per stage, summed over chunks: {"plan": .., "read": .., "validate": .., "write": ..}.
    stage_seconds = models.JSONField(default=dict, blank=True)
    # The placeholder users the job's rows name (people who matched no account): its mapping screen lists them.
    people = models.ManyToManyField(Placeholder, blank=True, related_name="jobs")

    class Meta:
        ordering = ["-created", "-id"]
        indexes = [models.Index(fields=["user", "-created"], name="job_user_created")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk} ({self.state})"

    def get_absolute_url(self) -> str:
        return reverse("imports:detail", args=[self.pk])

    @property
    def is_finished(self) -> bool:
        return self.state in FINISHED_STATES


class ChunkState(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    DONE = "done", "Done"


class ImportChunk(models.Model):
    """A byte range of an import's file, cut on record boundaries, that any Celery worker imports on its own.

    Its bytes live in the imports storage (`name`) until it is written; its state, lease and the sub-task links
    it could not make yet are committed together with its rows (imports.chunks).
    """

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="chunks")
    index = models.PositiveIntegerField()
    name = models.CharField(max_length=500)
    file_index = models.PositiveSmallIntegerField(default=0)
    byte_start = models.PositiveBigIntegerField(default=0)
    byte_end = models.PositiveBigIntegerField(default=0)
    first_record = models.PositiveBigIntegerField()
    count = models.PositiveIntegerField()
    first_line = models.PositiveBigIntegerField(null=True, blank=True)
    lines = models.JSONField(null=True, blank=True)  # JSON Lines: each record's line when not consecutive
    state = models.CharField(max_length=8, choices=ChunkState.choices, default=ChunkState.PENDING)
    lease_owner = models.CharField(max_length=64, blank=True, default="")
    lease_until = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    pending_parents = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["job", "index"]
        constraints = [models.UniqueConstraint(fields=["job", "index"], name="importchunk_job_index")]
        indexes = [models.Index(fields=["job", "state"], name="importchunk_job_state")]

    def __str__(self) -> str:
        return f"chunk {self.index} of job {self.job_id} ({self.state})"


class JobError(models.Model):
    """One bad record: where it is in the source, which issue, which field, and what is wrong."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="errors")
    record = models.PositiveBigIntegerField(null=True, blank=True, help_text="record number (1-based)")
    line = models.PositiveBigIntegerField(null=True, blank=True, help_text="line in the file, when known")
    issue_key = models.CharField(max_length=64, blank=True, default="")
    field = models.CharField(max_length=200, blank=True, default="")
    message = models.TextField()

    class Meta:
        ordering = ["job", "record", "id"]
        indexes = [models.Index(fields=["job", "record"], name="joberror_job_record")]

    def __str__(self) -> str:
        return f"record {self.record} {self.issue_key} {self.field}: {self.message}"
