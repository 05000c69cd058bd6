"""Reads of notifications: the list page, the bell's count, an issue's watchers."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Q, QuerySet
from django.db.models.expressions import RawSQL

from accounts.models import display_name_of
from issues.permissions import visible_project_ids
from notifications.models import Notification, Watch

# The attribute of request.user holding the unread count (capped at UNREAD_CAP), set by the user query.
UNREAD_ATTRIBUTE = "notifications_unread"
# The bell shows "99+" beyond this: counting stops there, so a huge backlog costs no more than 100 index entries.
UNREAD_CAP = 100


def unread_count_expression() -> RawSQL:
    """Return the capped unread count as a column of the per-request user query (accounts.backends).

    A correlated subquery on the partial index notif_user_unread, LIMIT-ed so a backlog costs nothing extra.
    """
    q = connection.ops.quote_name
    users = q(get_user_model()._meta.db_table)
    table = q(Notification._meta.db_table)
    return RawSQL(
        f"SELECT COUNT(*) FROM (SELECT 1 FROM {table} n WHERE n.{q('user_id')} = {users}.{q('id')} "
        f"AND n.{q('read')} = %s LIMIT {UNREAD_CAP}) capped",
        (False,),
    )


def notifications_for(*, user: Any, unread_only: bool = False) -> QuerySet[Notification]:
    """Return the user's notifications, newest first, with issue keys and actor names joined.

    Lines about issues of projects the user has left are not shown (their text quotes the issue).
    """
    qs = (
        Notification.objects.filter(user_id=user.pk)
        .filter(Q(issue__isnull=True) | Q(issue__project_id__in=visible_project_ids(user)))
        .select_related("issue", "actor__profile")
        .order_by("-id")
    )
    if unread_only:
        qs = qs.filter(read=False)
    return qs


def unread_count(*, user: Any) -> int:
    """Return the user's unread count (capped) from the user query's column, or one query without it."""
    value = getattr(user, UNREAD_ATTRIBUTE, None)
    if value is not None:
        return int(value)
    return Notification.objects.filter(user_id=user.pk, read=False)[:UNREAD_CAP].count()


def issue_watchers(*, issue_id: int) -> list[dict[str, Any]]:
    """Return the watchers of an issue as {"id", "name"} sorted by name (one query)."""
    rows = (
        Watch.objects.filter(issue_id=issue_id)
        .values_list("user_id", "user__username", "user__first_name", "user__last_name", "user__profile__display_name")
        .order_by("user__username")
    )
    people = [
        {
            "id": pk,
            "name": display_name_of(username=u, first_name=f, last_name=last, profile_name=p),
        }
        for pk, u, f, last, p in rows
    ]
    return sorted(people, key=lambda p: p["name"].casefold())
