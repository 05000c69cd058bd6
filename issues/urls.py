"""URL routes of the issues app: issue pages, the navigator and saved filters."""

from django.urls import path

from issues.views import browse, export_jobs, navigator

app_name = "issues"
urlpatterns = [
    # Issue pages (issues/views/browse.py): view, inline edit, create/edit, comments, worklogs.
    path("issues/new", browse.create, name="create"),
    path("browse/<str:key>", browse.browse, name="browse"),
    path("browse/<str:key>/edit", browse.edit, name="edit"),
    path("browse/<str:key>/delete", browse.remove, name="delete"),
    path("browse/<str:key>/set/<str:field>", browse.inline_edit, name="inline"),
    path("browse/<str:key>/comments", browse.comment_create, name="comment_add"),
    path("browse/<str:key>/comments/<int:comment_id>/edit", browse.comment_edit, name="comment_edit"),
    path("browse/<str:key>/worklogs", browse.worklog_create, name="worklog_add"),
    path("browse/<str:key>/worklogs/<int:worklog_id>/edit", browse.worklog_edit, name="worklog_edit"),
    path("browse/<str:key>/worklogs/<int:worklog_id>/delete", browse.worklog_remove, name="worklog_delete"),
    # Issue navigator (issues/views/navigator.py): search, exports, saved filters.
    path("issues/", navigator.navigator, name="navigator"),
    path("issues/export", navigator.export, name="export"),
    path("issues/exports/<int:pk>", export_jobs.export_job, name="export_job"),
    path("issues/exports/<int:pk>/download", export_jobs.export_job_download, name="export_job_download"),
    path("issues/filters", navigator.saved_filter_save, name="saved_filter_create"),
    path("issues/filters/<int:pk>", navigator.saved_filter_update_view, name="saved_filter_update"),
    path("issues/filters/<int:pk>/delete", navigator.saved_filter_delete_view, name="saved_filter_delete"),
]
