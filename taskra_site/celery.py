"""Celery application: settings come from Django's CELERY_* settings."""

import os

from celery import Celery
from celery.schedules import crontab

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "taskra_site.settings")

app = Celery("taskra")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Periodic tasks, sent by Celery beat: `celery -A taskra_site beat` beside the workers, or a worker with -B
# (`make run` does that). Tasks are named, not imported: this module imports no app.
app.conf.beat_schedule = {
    # Uploaded import files past IMPORT_RETENTION_DAYS are deleted (imports/tasks.py), hourly.
    "expire-import-files": {"task": "imports.tasks.expire_import_files", "schedule": crontab(minute=17)},
}
