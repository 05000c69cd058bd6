"""Celery application: settings come from Django's CELERY_* settings; periodic tasks are run by `celery beat`."""

import os

from celery import Celery
from celery.schedules import crontab

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "taskra_site.settings")

app = Celery("taskra")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Periodic tasks, by task name (this module imports no app). One `celery -A taskra_site beat` process per
# installation sends them (README, "Celery beat"), or a worker started with -B (`make run` does that); any worker
# runs them.
app.conf.beat_schedule = {
    # Uploaded import files past IMPORT_RETENTION_DAYS are deleted (imports/tasks.py), hourly.
    "expire-import-files": {"task": "imports.tasks.expire_import_files", "schedule": crontab(minute=17)},
    # Export files past TASKRA_EXPORT_RETENTION_HOURS are deleted (issues/tasks.py), hourly.
    "expire-export-files": {"task": "issues.tasks.expire_export_files", "schedule": crontab(minute=23)},
    # Backstop of the page cache's outbox: bumps that did not reach Redis are replayed by the next reader of
    # the cache anyway; this keeps the outbox empty when nobody reads (docs/cache.md, "Bumps cannot be lost").
    "replay-cache-bumps": {"task": "issues.tasks.replay_cache_bumps", "schedule": 30.0},
    # Backstop of notifications: events and digests whose own task was lost (broker down) go out within a minute.
    "notifications-backstop": {"task": "notifications.tasks.notifications_backstop", "schedule": 60.0},
    # Jobs whose lease lapsed (their worker died, or a chunk task's message was lost with its worker: the
    # filesystem broker never redelivers, Redis only after its visibility timeout) are resumed: the rest of the
    # file is planned and the chunks not written are queued again (imports/chunks.py).
    "recover-import-jobs": {"task": "imports.tasks.recover_jobs", "schedule": 60.0, "args": (0,)},
}
