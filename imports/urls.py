"""URL routes of the imports app."""

from django.urls import path

from imports import views

app_name = "imports"
urlpatterns: list = [
    path("imports/", views.index, name="index"),
    path("imports/bulk/", views.bulk, name="bulk"),
    path("imports/<int:job_id>/", views.detail, name="detail"),
    path("imports/<int:job_id>/progress.json", views.progress, name="progress"),
    path("imports/<int:job_id>/cancel", views.cancel, name="cancel"),
    path("imports/<int:job_id>/people", views.people, name="people"),
    path("imports/<int:job_id>/errors.csv", views.errors_csv, name="errors_csv"),
]
