"""URL routes of notifications: the list, settings, mark read, watch/unwatch, unsubscribe."""

from django.urls import path

from notifications import views

app_name = "notifications"
urlpatterns = [
    path("notifications/", views.notification_list, name="list"),
    path("notifications/read", views.mark_read, name="read"),
    path("notifications/settings", views.notification_settings, name="settings"),
    path("notifications/unsubscribe/<str:token>", views.unsubscribe, name="unsubscribe"),
    path("browse/<str:key>/watch", views.watch, name="watch"),
    path("browse/<str:key>/watchers", views.watchers, name="watchers"),
]
