"""Worklogs: time logged against issues."""

from __future__ import annotations

import datetime as dt
import math

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
    # The issue's project, copied so that a time report reads one project's month through (project, started)
    # instead of joining every issue of the project: kept by worklogs.services (worklog_add, and the rollup
    # hooks every bulk write and issue move already calls: worklog_projects_fill). Empty only inside a bulk
    # writer's transaction, before its fill; `manage.py worklog_rollup --check` reports any that disagree.
    project = models.ForeignKey(
        "issues.Project", null=True, blank=True, on_delete=models.CASCADE, related_name="+", db_index=False
    )

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
            # Time reports: one project's worklogs in a range, read from the index alone on PostgreSQL (grouped by
            # author, issue or day without visiting the table).
            models.Index(
                fields=["project", "started"],
                name="worklog_project_started",
                include=["author", "issue", "time_spent"],
            ),
        ]

    def __str__(self) -> str:
        return f"{self.time_spent}s on {self.issue_id} by {self.author_id}"


ROLLUP_BUCKET_SECONDS = 15 * 60


def rollup_bucket(started: dt.datetime) -> dt.datetime:
    """Return the start (UTC) of the quarter hour a worklog starting at `started` is counted in."""
    epoch = math.floor(started.timestamp())
    return dt.datetime.fromtimestamp(epoch - epoch % ROLLUP_BUCKET_SECONDS, tz=dt.UTC)


def rollup_aligned(instant: dt.datetime) -> bool:
    """Return whether an aware instant starts a quarter hour: the rollup's buckets then add up to a range from it."""
    return int(instant.timestamp()) % ROLLUP_BUCKET_SECONDS == 0 and instant.microsecond == 0


class WorklogRollup(models.Model):
    """Seconds and worklogs per project per quarter hour (UTC), kept by every write: the time reports read these.

    A month of a large project is a few thousand of these rows instead of every worklog joined to its issue.
    Quarter hours because a day or a month in any time zone whose offset is a multiple of 15 minutes (all of
    today's) starts on one, so sums over whole buckets are exact in the viewer's zone. Kept by
    worklogs.services.worklog_rollup_refresh, which every path that writes worklogs or moves them between
    projects calls; `manage.py worklog_rollup --check` compares it with the worklogs.
    """

    project = models.ForeignKey("issues.Project", on_delete=models.CASCADE, related_name="+", db_index=False)
    bucket = models.DateTimeField(help_text="start of the quarter hour (UTC) the worklogs started in")
    seconds = models.BigIntegerField()
    count = models.IntegerField()

    class Meta:
        constraints = [
            # Also the index of every read: one project's (or a few projects') buckets in a range.
            models.UniqueConstraint(fields=["project", "bucket"], name="worklog_rollup_project_bucket"),
        ]
        indexes = [models.Index(fields=["bucket"], name="worklog_rollup_bucket")]

    def __str__(self) -> str:
        return f"{self.seconds}s in project {self.project_id} from {self.bucket:%Y-%m-%d %H:%M}"
