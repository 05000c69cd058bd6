"""Operations URLs: /metrics for Prometheus, /perf/ for staff."""

from django.urls import path

from perf import views

app_name = "perf"
urlpatterns = [
    path("metrics", views.metrics_view, name="metrics"),
    path("perf/", views.perf_page, name="page"),
]
