"""Watchers, in-app notifications, per-user notification settings, and the outbox of issue events."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from issues.models import Issue


class Watch(models.Model):
    """A user watches an issue: they are told about its changes (reporter, assignee and commenters automatically)."""

    # No single-column indexes: the unique (issue, user) and the (user, issue) index serve both lookups and the
    # cascades, and each index costs the 500,000-row watch lists of big projects writes and memory.
    issue = models.ForeignKey(Issue, on_delete=models.CASCADE, related_name="+", db_index=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False)
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["issue", "user"], name="notifications_watch_unique")]
        indexes = [models.Index(fields=["user", "issue"], name="notifications_watch_user")]

    def __str__(self) -> str:
        return f"{self.user_id} watches {self.issue_id}"


class NotificationSettings(models.Model):
    """What a user is told about (one switch per event kind) and whether by e-mail. No row: everything on."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="notification_settings"
    )
    on_created = models.BooleanField("Issue created (assigned to me when created)", default=True)
    on_assigned = models.BooleanField("Issue assigned", default=True)
    on_status = models.BooleanField("Status changed", default=True)
    on_commented = models.BooleanField("New comment", default=True)
    on_mentioned = models.BooleanField("I am @mentioned", default=True)
    on_worklog = models.BooleanField("Work logged on my issues", default=True)
    on_bulk = models.BooleanField("Bulk changes of issues I watch", default=True)
    email = models.BooleanField("Also send e-mail (one digest per batch window)", default=True)
    # When the next digest e-mail is due (None: none scheduled). Set by the fan-out, cleared by the digest.
    digest_due = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["digest_due"], name="notif_settings_due", condition=Q(digest_due__isnull=False))
        ]

    def __str__(self) -> str:
        return f"notification settings of {self.user_id}"


class Notification(models.Model):
    """One line in a user's notification list (and in their next digest e-mail while email_pending)."""

    # Indexed by notif_user_list (user, -id), which serves the user's lookups and the cascade.
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False)
    kind = models.CharField(max_length=16)
    issue = models.ForeignKey(Issue, on_delete=models.CASCADE, null=True, related_name="+")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    text = models.CharField(max_length=500)
    created = models.DateTimeField(default=timezone.now)
    read = models.BooleanField(default=False)
    email_pending = models.BooleanField(default=False)

    class Meta:
        indexes = [
            models.Index(fields=["user", "-id"], name="notif_user_list"),
            # The bell's count (accounts.backends user query) and "mark all read" read only unread rows.
            models.Index(fields=["user"], name="notif_user_unread", condition=Q(read=False)),
            models.Index(fields=["user"], name="notif_user_email", condition=Q(email_pending=True)),
        ]

    def __str__(self) -> str:
        return self.text


class PendingEvent(models.Model):
    """An issue event written in the writer's transaction, waiting for the fan-out task (then deleted).

    A row, not a task argument: the event commits or rolls back with the write, survives a broker that does
    not answer (the periodic backstop picks it up), and one task handles every event of a transaction or job.
    """

    kind = models.CharField(max_length=16)
    actor_id = models.BigIntegerField(null=True)
    issue_ids = models.JSONField()
    data = models.JSONField(default=dict)
    created = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.kind} on {len(self.issue_ids)} issue(s)"
