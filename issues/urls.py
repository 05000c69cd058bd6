"""URL routes of the issues app."""

from django.urls import path  # noqa: F401

app_name = "issues"
urlpatterns: list = []

# Issue pages (issues/views/browse.py): view, inline edit, create/edit, comments, worklogs, JSON API.
from issues.views import browse as browse_views  # noqa: E402

urlpatterns += [
    path("issues/new", browse_views.create, name="create"),
    path("browse/<str:key>", browse_views.browse, name="browse"),
    path("browse/<str:key>/edit", browse_views.edit, name="edit"),
    path("browse/<str:key>/delete", browse_views.remove, name="delete"),
    path("browse/<str:key>/set/<str:field>", browse_views.inline_edit, name="inline"),
    path("browse/<str:key>/comments", browse_views.comment_create, name="comment_add"),
    path("browse/<str:key>/comments/<int:comment_id>/edit", browse_views.comment_edit, name="comment_edit"),
    path("browse/<str:key>/worklogs", browse_views.worklog_create, name="worklog_add"),
    path("browse/<str:key>/worklogs/<int:worklog_id>/edit", browse_views.worklog_edit, name="worklog_edit"),
    path("browse/<str:key>/worklogs/<int:worklog_id>/delete", browse_views.worklog_remove, name="worklog_delete"),
    path("api/issues/<str:key>", browse_views.api_issue, name="api_issue"),
]

# Issue navigator (issues/views/navigator.py): search, exports, JSON search API, saved filters.
from issues.views import navigator as navigator_views  # noqa: E402

urlpatterns += [
    path("issues/", navigator_views.navigator, name="navigator"),
    path("issues/export", navigator_views.export, name="export"),
    path("api/search", navigator_views.search_api, name="search_api"),
    path("issues/filters", navigator_views.saved_filter_save, name="saved_filter_create"),
    path("issues/filters/<int:pk>", navigator_views.saved_filter_update_view, name="saved_filter_update"),
    path("issues/filters/<int:pk>/delete", navigator_views.saved_filter_delete_view, name="saved_filter_delete"),
]
