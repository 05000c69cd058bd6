from django.apps import AppConfig


class WorklogsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "worklogs"
