"""Worklogs: time logged against issues."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class Worklog(models.Model):
    # (issue, started) and (author, started) indexes below cover the plain FK lookups.
    issue = models.ForeignKey("issues.Issue", on_delete=models.CASCADE, related_name="worklogs", db_index=False)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="worklogs", db_index=False
    )
    started = models.DateTimeField()
    time_spent = models.PositiveIntegerField(help_text="seconds")
    comment = models.TextField(blank=True, default="")
    created = models.DateTimeField()
    updated = models.DateTimeField()
    source = models.CharField(max_length=32, blank=True, default="")
    external_id = models.CharField(max_length=128, null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(time_spent__gt=0), name="worklog_time_spent_positive"),
            models.UniqueConstraint(
                fields=["source", "external_id"],
                condition=Q(external_id__isnull=False),
                name="worklog_unique_source_external_id",
            ),
        ]
        indexes = [
            # Timesheets and reports: one person's time in a date range, one issue's time in order.
            models.Index(fields=["author", "started"], name="worklog_author_started"),
            models.Index(fields=["issue", "started"], name="worklog_issue_started"),
            models.Index(fields=["started"], name="worklog_started"),
        ]

    def __str__(self) -> str:
        return f"{self.time_spent}s on {self.issue_id} by {self.author_id}"
