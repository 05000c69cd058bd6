"""Projects, issues and what hangs off them (comments, history, labels)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from django.conf import settings
from django.core.files.storage import Storage, storages
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q

from taskra_site import sql
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
    # Board order (issues.ranking): gap integers, lower first; None (never moved on a board) sorts after ranked
    # issues, by id. Existing rows keep None: no backfill.
    rank = models.BigIntegerField(null=True, blank=True, editable=False)

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
            # Board columns: a project's issues in one status by rank, keyset-paged on (rank, id).
            models.Index(fields=["project", "status", "rank", "id"], name="issue_board_rank"),
            # Navigator sorts by priority within a project and status: one priority at a time in id order
            # (issues.keyset.LOOKUP_RANKS), never a sort of every match.
            models.Index(fields=["project", "status", "priority", "id"], name="issue_project_status_priority"),
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


class IssueLinkType(models.Model):
    """A kind of link between two issues, read one way from each side: "blocks" / "is blocked by"."""

    name = models.CharField(max_length=60, unique=True)
    outward = models.CharField(max_length=60, help_text="read from the outward issue: A blocks B")
    inward = models.CharField(max_length=60, help_text="read from the inward issue: B is blocked by A")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class IssueLink(models.Model):
    """A directed link: `outward_issue` <type.outward> `inward_issue` ("DEMO-1 blocks DEMO-2").

    `inward_issue` reads it the other way: "DEMO-2 is blocked by DEMO-1". Deleting either issue deletes
    the link (cascade, no receivers: issues.signals says why).
    """

    type = models.ForeignKey(IssueLinkType, on_delete=models.PROTECT, related_name="links")
    outward_issue = models.ForeignKey(Issue, on_delete=models.CASCADE, related_name="outward_links")
    inward_issue = models.ForeignKey(Issue, on_delete=models.CASCADE, related_name="inward_links")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["type", "outward_issue", "inward_issue"], name="issuelink_unique"),
            models.CheckConstraint(condition=~Q(outward_issue=models.F("inward_issue")), name="issuelink_not_self"),
        ]

    def __str__(self) -> str:
        return f"{self.outward_issue_id} {self.type_id} {self.inward_issue_id}"

    @classmethod
    def other_issue_ids(cls, issue_ids: Iterable[int]) -> set[int]:
        """Return the ids of the issues linked to these, either way: their pages show these issues (one query)."""
        ids = set(issue_ids)
        if not ids:
            return set()
        # Either end in one round trip; sql.where_in: one array parameter for an import chunk's thousands of ids.
        columns = ("outward_issue_id", "inward_issue_id")
        ends = (
            sql.where_in(cls.objects.all(), "outward_issue_id", ids)
            .values_list(*columns)
            .union(sql.where_in(cls.objects.all(), "inward_issue_id", ids).values_list(*columns), all=True)
        )
        return {
            other for outward, inward in ends for end, other in ((outward, inward), (inward, outward)) if end in ids
        }


class CustomFieldType(models.TextChoices):
    TEXT = "text", "Text"
    NUMBER = "number", "Number"
    DATE = "date", "Date"
    DATETIME = "datetime", "Date and time"
    SELECT = "select", "Select list"
    MULTISELECT = "multiselect", "Multi-select list"
    USER = "user", "User"
    URL = "url", "URL"
    LABELS = "labels", "Labels"


class CustomField(models.Model):
    """A field of the site beyond Taskra's own, as a Jira site has them (brought by imports)."""

    # Jira's id ("customfield_10010") when the field came from Jira; blank for a field known only by name (CSV).
    jira_id = models.CharField(max_length=64, blank=True, default="")
    name = models.CharField(max_length=255)
    type = models.CharField(max_length=16, choices=CustomFieldType.choices, default=CustomFieldType.TEXT)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["jira_id"], condition=~Q(jira_id=""), name="customfield_unique_jira_id"),
            # Jira lets two fields share a name; those carry their ids. Fields known only by name are one each.
            models.UniqueConstraint(fields=["name"], condition=Q(jira_id=""), name="customfield_unique_bare_name"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.jira_id})" if self.jira_id else self.name

    @property
    def number_id(self) -> str | None:
        """Return the number of Jira's id ("10010" of customfield_10010): JQL's cf[10010]."""
        prefix, _, number = self.jira_id.partition("customfield_")
        return number if not prefix and number.isdigit() else None


class CustomFieldValue(models.Model):
    """An issue's value of a custom field: the text people see and search, and typed columns to compare.

    Several values (multi-select, labels, users) are one row: `text` joins them with ", ", `values` keeps them.
    """

    issue = models.ForeignKey(Issue, on_delete=models.CASCADE, related_name="custom_values")
    field = models.ForeignKey(CustomField, on_delete=models.CASCADE, related_name="values")
    text = models.TextField()
    values = models.JSONField(default=list)
    number = models.FloatField(null=True, blank=True)
    date = models.DateField(null=True, blank=True)
    moment = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["issue", "field"], name="customfieldvalue_unique")]
        indexes = [models.Index(fields=["field", "number"], name="customfieldvalue_number")]

    def __str__(self) -> str:
        return f"{self.field_id} of {self.issue_id}: {self.text[:40]}"


class IssueKeyAlias(models.Model):
    """A key an issue had before it moved to another project: /browse/OLD-1 and the API still find it."""

    key = models.CharField(max_length=32, unique=True)
    issue = models.ForeignKey(Issue, on_delete=models.CASCADE, related_name="key_aliases")
    created = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.key} -> {self.issue_id}"


def attachment_storage() -> Storage:
    """Return the storage of attachment files (settings.STORAGES["attachments"]: file system or S3)."""
    return storages["attachments"]


def attachment_path(instance: Attachment, filename: str) -> str:
    """Return where an attachment's file is stored: by issue id and a random name, never the uploaded name."""
    return f"{instance.issue_id}/{uuid.uuid4().hex}"


class Attachment(models.Model):
    """A file attached to an issue. Its content type was sniffed from the bytes, never taken from the client.

    Files live in the attachments storage; they are deleted when the attachment or its issue is deleted,
    after the deleting transaction commits (issues.services).
    """

    issue = models.ForeignKey(Issue, on_delete=models.CASCADE, related_name="attachments")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="issue_attachments"
    )
    file = models.FileField(storage=attachment_storage, upload_to=attachment_path, max_length=255)
    thumbnail = models.FileField(storage=attachment_storage, upload_to=attachment_path, max_length=255, blank=True)
    filename = models.CharField(max_length=255)
    content_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField()
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    created = models.DateTimeField()

    class Meta:
        # The author foreign key's own index serves the per-user quota's sum.
        indexes = [models.Index(fields=["issue", "created"], name="attachment_issue_created")]

    def __str__(self) -> str:
        return f"{self.filename} on {self.issue_id}"


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


class NavigatorPreference(models.Model):
    """The navigator columns and column sort a user chose last, used when a search names none of its own."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="navigator_preference", primary_key=True
    )
    columns = models.CharField(max_length=255, blank=True, default="")
    sort = models.CharField(max_length=40, blank=True, default="")
    direction = models.CharField(max_length=4, blank=True, default="")

    def __str__(self) -> str:
        return f"{self.user_id}: {self.columns} / {self.sort} {self.direction}"


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


class WorkflowStatus(models.Model):
    """A status a project uses, in board/column order: the project's workflow steps (docs/workflows.md).

    Statuses stay global rows (a name is shared by every project that uses it); what a project uses, in which
    order, and its board column's WIP limit live here.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="workflow_statuses")
    status = models.ForeignKey(Status, on_delete=models.PROTECT, related_name="workflow_steps")
    position = models.PositiveSmallIntegerField(default=0)
    # The board column's work-in-progress limit: more cards than this shows the column red. None: no limit.
    wip_limit = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["project", "position", "id"]
        constraints = [models.UniqueConstraint(fields=["project", "status"], name="workflowstatus_unique")]
        verbose_name = "workflow status"
        verbose_name_plural = "workflow statuses"

    def __str__(self) -> str:
        return f"{self.project_id}: {self.status_id} at {self.position}"


class WorkflowTransition(models.Model):
    """An allowed move of a project's issues from one status (None: any status, Jira's global transition) to another."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="workflow_transitions")
    from_status = models.ForeignKey(Status, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    to_status = models.ForeignKey(Status, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=60, blank=True, default="")

    class Meta:
        ordering = ["project", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "from_status", "to_status"],
                condition=Q(from_status__isnull=False),
                name="workflowtransition_unique",
            ),
            models.UniqueConstraint(
                fields=["project", "to_status"],
                condition=Q(from_status__isnull=True),
                name="workflowtransition_unique_any",
            ),
        ]

    def __str__(self) -> str:
        return self.name or f"{self.from_status_id or 'any'} -> {self.to_status_id}"


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
