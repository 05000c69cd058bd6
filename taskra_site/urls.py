"""Root URL configuration: each app owns its own urls module."""

from django.conf import settings
from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path, re_path

urlpatterns: list[URLPattern | URLResolver] = [
    path("admin/", admin.site.urls),
    path("accounts/tokens/", include("api.token_urls")),
    path("accounts/", include("accounts.urls")),
    # The Jira-compatible REST API (api/, docs/api.md): one set of views for v2, v3 and "latest" (= v2).
    re_path(r"^rest/api/(?P<version>2|3|latest)/", include("api.urls")),
    path("", include("issues.urls")),
    path("", include("worklogs.urls")),
    path("", include("notifications.urls")),
    path("", include("imports.urls")),
    path("", include("perf.urls")),
]

if settings.ENABLE_DEBUG_TOOLBAR:
    from debug_toolbar.toolbar import debug_toolbar_urls

    urlpatterns += debug_toolbar_urls()
