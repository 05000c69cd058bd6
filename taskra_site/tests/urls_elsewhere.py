"""A urlconf mounting Taskra under /elsewhere/, for test_links.py."""

from django.urls import include, path

urlpatterns = [path("elsewhere/", include("taskra_site.urls"))]
