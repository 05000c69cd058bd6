from django.apps import AppConfig


class IssuesConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "issues"

    def ready(self) -> None:
        # Page-cache invalidation safety net for writes that bypass the services (admin, scripts).
        from issues.cache import connect_signals

        connect_signals()
