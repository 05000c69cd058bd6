"""Celery tasks of notifications: thin, they call notifications.services."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.utils import timezone

from notifications import services


def _queue_of(request: Any) -> str | None:
    # Digests go to the queue the fan-out came from (workers may consume a private queue).
    info = getattr(request, "delivery_info", None) or {}
    return info.get("routing_key") or None


@shared_task(bind=True, acks_late=True)
def fan_out(self: Any) -> int:
    """Turn the pending issue events into notifications (one task per transaction or bulk job)."""
    return services.events_fan_out(queue=_queue_of(self.request))


@shared_task(bind=True, acks_late=True, max_retries=10)
def send_digests(self: Any, user_ids: list[int]) -> int:
    """Send the digest e-mail of each user (one task per fan-out); retry the rest later when the mail server fails."""
    sent = 0
    for position, user_id in enumerate(user_ids):
        try:
            sent += services.digest_send(user_id=user_id)
        except OSError as exc:  # SMTP errors are OSErrors (smtplib.SMTPException included); sent ones are done
            raise self.retry(args=(user_ids[position:],), exc=exc, countdown=60, queue=_queue_of(self.request)) from exc
    return sent


@shared_task(acks_late=True)
def notifications_backstop() -> int:
    """Fan out events and send digests whose own task was lost (broker down); run by Celery beat every minute."""
    now = timezone.now()
    sent = 0
    if services.stale_events_exist(now=now):
        services.events_fan_out(now=now)
    for user_id in services.due_digest_user_ids(now=now):
        sent += services.digest_send(user_id=user_id)
    return sent
