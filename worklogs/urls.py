"""URL routes of the worklogs app."""

from django.urls import path  # noqa: F401

app_name = "worklogs"
urlpatterns: list = []
