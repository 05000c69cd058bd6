from django.apps import AppConfig
from django.db.models.signals import post_save


class WorklogsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "worklogs"

    def ready(self) -> None:
        # Imported here: app modules load only once the registry is ready. A worklog shows on its issue's page,
        # so saving one retires that page through the issue app's receiver (worklogs sit above issues).
        # Importing worklogs.exports registers the worklog list's export jobs (issues.export_jobs.WRITERS).
        # Issue moves and deletes ask the time rollup (worklogs.models.WorklogRollup) to follow (issues.rollups).
        from issues.rollups import issue_children_changing
        from issues.signals import on_issue_child_saved
        from worklogs import exports  # noqa: F401
        from worklogs.models import Worklog
        from worklogs.services import worklog_rollup_issues_changing

        post_save.connect(on_issue_child_saved, sender=Worklog, dispatch_uid="taskra_cache_Worklog_save")
        issue_children_changing.connect(worklog_rollup_issues_changing, dispatch_uid="taskra_worklog_rollup")
