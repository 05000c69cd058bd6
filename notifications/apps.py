from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "notifications"

    def ready(self) -> None:
        # Imported here: app modules load only once the registry is ready. Notifications subscribe to the issue
        # services' events (issues.events): the services cannot import this app, which sits above them.
        from accounts.backends import user_load_annotations
        from issues import events
        from notifications.selectors import UNREAD_ATTRIBUTE, unread_count_expression
        from notifications.services import event_record, fan_out_enqueue

        events.subscribe(record=event_record, flush=fan_out_enqueue)
        # The bell's count rides on the per-request user query: no query of its own on any page.
        user_load_annotations[UNREAD_ATTRIBUTE] = unread_count_expression
