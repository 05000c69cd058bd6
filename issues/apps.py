from django.apps import AppConfig
from django.db.models.signals import post_migrate, post_save


class IssuesConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "issues"

    def ready(self) -> None:
        # Imported here, not at the top: receivers import models and tasks, which need the app registry ready.
        from accounts.backends import user_load_annotations
        from issues.defaults import ensure_jira_defaults
        from issues.models import Project
        from issues.pagecache.generations import OUTBOX_PROBE, outbox_probe
        from issues.signals import connect_signals
        from issues.workflows import on_project_created

        connect_signals()
        # The page cache's outbox check rides on the per-request user query (no round trip of its own).
        user_load_annotations[OUTBOX_PROBE] = outbox_probe
        # Lookups must exist for issue_create's defaults even after a flush (transactional tests do one).
        # Every new project starts with Jira's default workflow (admin, imports, tests alike).
        post_save.connect(on_project_created, sender=Project, dispatch_uid="taskra_project_workflow")
        post_migrate.connect(ensure_jira_defaults, sender=self, dispatch_uid="taskra_jira_defaults")
