"""Projects, issues and what hangs off them (comments, history, labels)."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q

from taskra_site.links import issue_url

PROJECT_KEY_RE = r"^[A-Z][A-Z0-9_]{1,9}$"


class StatusCategory(models.TextChoices):
    TODO = "todo", "To Do"
    IN_PROGRESS = "in_progress", "In Progress"
    DONE = "done", "Done"


class Role(models.TextChoices):
    VIEWER = "viewer", "Viewer"
    MEMBER = "member", "Member"
    ADMIN = "admin", "Admin"


class Project(models.Model):
    key = models.CharField(
        max_length=10,
        unique=True,
        validators=[RegexValidator(PROJECT_KEY_RE, "2-10 capital letters, digits or _, starting with a letter")],
    )
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    lead = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="led_projects"
    )
    # Last issue number handed out; incremented under a row lock so keys have no gaps or duplicates.
    issue_counter = models.PositiveIntegerField(default=0, editable=False)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, through="Membership", related_name="projects")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["key"]

    def __str__(self) -> str:
        return f"{self.key}: {self.name}"


class Membership(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "project"], name="membership_unique_user_project")]

    def __str__(self) -> str:
        return f"{self.user} in {self.project.key} ({self.role})"


class IssueType(models.Model):
    name = models.CharField(max_length=60, unique=True)
    description = models.CharField(max_length=255, blank=True)
    is_subtask = models.BooleanField(default=False)
    icon = models.CharField(max_length=8, blank=True)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "name"]

    def __str__(self) -> str:
        return self.name


class Status(models.Model):
    name = models.CharField(max_length=60, unique=True)
    category = models.CharField(max_length=12, choices=StatusCategory.choices, default=StatusCategory.TODO)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "name"]
        verbose_name_plural = "statuses"

    def __str__(self) -> str:
        return self.name


class Priority(models.Model):
    name = models.CharField(max_length=60, unique=True)
    # Lower rank sorts first: Highest=1 ... Lowest=5, as in Jira.
    rank = models.PositiveSmallIntegerField(default=0)
    color = models.CharField(max_length=7, default="#888888")

    class Meta:
        ordering = ["rank", "name"]
        verbose_name_plural = "priorities"

    def __str__(self) -> str:
        return self.name


class Resolution(models.Model):
    name = models.CharField(max_length=60, unique=True)
    description = models.CharField(max_length=255, blank=True)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "name"]

    def __str__(self) -> str:
        return self.name


class Label(models.Model):
    name = models.CharField(max_length=100, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Issue(models.Model):
    # Composite (project, ...) indexes below serve plain project lookups too.
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="issues", db_index=False)
    number = models.PositiveIntegerField(editable=False)
    # Denormalised "DEMO-123" so lookups by key are one unique-index probe.
    key = models.CharField(max_length=32, unique=True, editable=False)
    summary = models.CharField(max_length=255)
    description = models.TextField(blank=True)
    type = models.ForeignKey(IssueType, on_delete=models.PROTECT, related_name="+")
    status = models.ForeignKey(Status, on_delete=models.PROTECT, related_name="+")
    priority = models.ForeignKey(Priority, on_delete=models.PROTECT, related_name="+")
    resolution = models.ForeignKey(Resolution, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="assigned_issues"
    )
    reporter = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="reported_issues"
    )
    labels = models.ManyToManyField(Label, blank=True, related_name="issues")
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE, related_name="subtasks")
    due_date = models.DateField(null=True, blank=True)
    original_estimate = models.PositiveIntegerField(null=True, blank=True, help_text="seconds")
    remaining_estimate = models.PositiveIntegerField(null=True, blank=True, help_text="seconds")
    # Always the sum of the issue's worklogs: maintained by worklog services and recalculated by bulk paths.
    time_spent = models.PositiveBigIntegerField(default=0, editable=False, help_text="seconds")
    created = models.DateTimeField()
    updated = models.DateTimeField(db_index=True)
    resolved = models.DateTimeField(null=True, blank=True)
    source = models.CharField(max_length=32, blank=True, default="")
    external_id = models.CharField(max_length=128, null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "number"], name="issue_unique_project_number"),
            models.UniqueConstraint(
                fields=["source", "external_id"],
                condition=Q(external_id__isnull=False),
                name="issue_unique_source_external_id",
            ),
        ]
        indexes = [
            # Navigator: a project's issues by recency, and keyset pagination on (created, id).
            models.Index(fields=["project", "-created", "-id"], name="issue_project_created"),
            models.Index(fields=["project", "-updated", "-id"], name="issue_project_updated"),
            models.Index(fields=["project", "status"], name="issue_project_status"),
            models.Index(fields=["assignee", "status"], name="issue_assignee_status"),
            models.Index(fields=["-created", "-id"], name="issue_created_id"),
        ]

    def __str__(self) -> str:
        return f"{self.key} {self.summary}"

    def get_absolute_url(self) -> str:
        return issue_url(self.key)


class Comment(models.Model):
    issue = models.ForeignKey(Issue, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="issue_comments"
    )
    body = models.TextField()
    created = models.DateTimeField()
    updated = models.DateTimeField()
    source = models.CharField(max_length=32, blank=True, default="")
    external_id = models.CharField(max_length=128, null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["issue", "created"], name="comment_issue_created")]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "external_id"],
                condition=Q(external_id__isnull=False),
                name="comment_unique_source_external_id",
            )
        ]

    def __str__(self) -> str:
        return f"Comment {self.pk} on {self.issue_id}"


class History(models.Model):
    """One row per changed field of an issue, as Jira's changelog items."""

    issue = models.ForeignKey(Issue, on_delete=models.CASCADE, related_name="history")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created = models.DateTimeField()
    field = models.CharField(max_length=64)
    from_value = models.TextField(blank=True, default="")
    to_value = models.TextField(blank=True, default="")

    class Meta:
        indexes = [models.Index(fields=["issue", "created"], name="history_issue_created")]
        verbose_name_plural = "history"

    def __str__(self) -> str:
        return f"{self.field}: {self.from_value!r} -> {self.to_value!r}"


class SavedFilter(models.Model):
    """A named JQL query, private to its owner or shared with a project's members."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_filters")
    name = models.CharField(max_length=100)
    jql = models.TextField()
    shared_with = models.ForeignKey(
        Project, null=True, blank=True, on_delete=models.CASCADE, related_name="shared_filters"
    )
    columns = models.CharField(max_length=255, blank=True, default="")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["owner", "name"], name="savedfilter_unique_owner_name")]

    def __str__(self) -> str:
        return self.name


class CacheBump(models.Model):
    """A page-cache generation bump not yet applied to the shared cache: the outbox (docs/cache.md).

    Written in the transaction of the write that invalidated pages, deleted once the bump reached the
    cache; a row left behind (the cache did not answer, the process died) is replayed by whichever
    process reads the cache next, and by the periodic task issues.tasks.replay_cache_bumps.
    """

    keys = models.TextField()  # generation counter names, space-separated (issues.pagecache.generations)
    created = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.created:%Y-%m-%d %H:%M:%S}: {self.keys[:80]}"


class ExportJob(models.Model):
    """An export too large to stream inline: a Celery job writes the file through Django's storage API.

    Only its owner may download it, and only while still a member of every project it has issues of; the
    file is deleted once `expires` passes (issues.tasks.expire_export_files, hourly).
    """

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Ready"
        FAILED = "failed", "Failed"

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="export_jobs")
    kind = models.CharField(max_length=32)  # which export (issues.export_jobs.WRITERS)
    format = models.CharField(max_length=8)
    params = models.JSONField(default=dict)  # the request's query, re-read (and re-checked) by the job
    state = models.CharField(max_length=12, choices=State.choices, default=State.QUEUED)
    rows = models.PositiveIntegerField(default=0)
    size = models.PositiveBigIntegerField(default=0)
    file = models.CharField(max_length=255, blank=True, default="")  # name in default_storage
    filename = models.CharField(max_length=120, blank=True, default="")  # offered to the browser
    project_ids = models.JSONField(default=list)  # projects whose issues the file holds
    error = models.TextField(blank=True, default="")
    created = models.DateTimeField(auto_now_add=True)
    finished = models.DateTimeField(null=True, blank=True)
    expires = models.DateTimeField(null=True, blank=True)
    expired = models.BooleanField(default=False)

    class Meta:
        indexes = [
            models.Index(fields=["owner", "-created"], name="exportjob_owner_created"),
            models.Index(fields=["expired", "expires"], name="exportjob_expires"),
        ]

    def __str__(self) -> str:
        return f"Export {self.pk} ({self.kind}, {self.format}) of {self.owner_id}: {self.state}"
