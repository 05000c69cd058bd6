"""URL routes of the issues app."""

from django.urls import path  # noqa: F401

app_name = "issues"
urlpatterns: list = []

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
