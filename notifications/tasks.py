"""Celery tasks of notifications: thin, they call notifications.services."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from notifications import services


@shared_task(acks_late=True)
def fan_out() -> int:
    """Turn the pending issue events into notifications (one task per transaction or bulk job)."""
    return services.events_fan_out()


@shared_task(bind=True, acks_late=True, max_retries=10)
def send_digest(self: object, user_id: int) -> int:
    """Send one user's digest e-mail; retry later when the mail server fails."""
    try:
        return services.digest_send(user_id=user_id)
    except OSError as exc:  # SMTP errors are OSErrors (smtplib.SMTPException included)
        raise self.retry(exc=exc, countdown=60) from exc  # type: ignore[attr-defined]


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
