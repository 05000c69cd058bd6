"""The digest's batch window through a real Celery worker process (live_worker fixture).

carol (DEMO viewer) watches; alice (DEMO admin) comments twice in two transactions: two fan-out tasks, one digest
e-mail a batch window later with both comments. The worker writes mail with Django's file backend.
"""

from __future__ import annotations

import time

import pytest

from issues.services import comment_add
from notifications import services
from notifications.models import Notification

pytestmark = [pytest.mark.services]

WINDOW = 4  # seconds: long enough for both fan-outs on a loaded machine, short for the suite


@pytest.fixture
def worker_mail(tmp_path, monkeypatch, settings):
    """Make a live worker started after this fixture batch e-mail over WINDOW seconds into files under tmp_path."""
    monkeypatch.setenv("NOTIFICATIONS_EMAIL_WINDOW", str(WINDOW))
    monkeypatch.setenv("EMAIL_BACKEND", "django.core.mail.backends.filebased.EmailBackend")
    monkeypatch.setenv("EMAIL_FILE_PATH", str(tmp_path))
    monkeypatch.setenv("NOTIFICATIONS_QUEUE_TASKS", "1")
    settings.NOTIFICATIONS_QUEUE_TASKS = True  # this process queues the fan-out after each commit
    return tmp_path


def test_two_changes_in_one_window_make_one_email(worker_mail, live_worker, project_a, make_issue, alice, carol):
    issue = make_issue(project_a, summary="Batch me")
    services.watch_add(issue=issue, user=carol)
    comment_add(issue=issue, author=alice, body="First change")
    comment_add(issue=issue, author=alice, body="Second change")
    deadline = time.monotonic() + 60
    while not list(worker_mail.iterdir()) or Notification.objects.filter(email_pending=True).exists():
        assert time.monotonic() < deadline, live_worker.log_tail()
        time.sleep(0.2)
    messages = [p.read_text() for p in worker_mail.iterdir()]
    to_carol = [m for m in messages if "To: carol@example.com" in m]
    assert len(to_carol) == 1, messages
    assert "First change" in to_carol[0] and "Second change" in to_carol[0]
    assert "/notifications/unsubscribe/" in to_carol[0]
    assert Notification.objects.filter(user=carol).count() == 2
