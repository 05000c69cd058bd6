"""The perf app: instruments template rendering and Celery tasks once the apps are loaded."""

from __future__ import annotations

from django.apps import AppConfig


class PerfConfig(AppConfig):
    name = "perf"
    verbose_name = "Performance"

    def ready(self) -> None:
        # Function-local: these modules import models, which must wait for the app registry.
        from perf import celery_metrics, instrument, middleware  # noqa: F401 - registers the query timer

        instrument.install_render_timing()
        celery_metrics.connect()
