"""URL routes of the issues app."""

from django.urls import path  # noqa: F401

app_name = "issues"
urlpatterns: list = []
