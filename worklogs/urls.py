"""URL routes of the worklogs app: timesheet, worklog list and time reports."""

from django.urls import path

from worklogs import views

app_name = "worklogs"
urlpatterns = [
    # The home page (/): my work at a glance (worklogs/home.py).
    path("", views.home, name="home"),
    path("timesheet/", views.timesheet, name="timesheet"),
    path("timesheet/save/", views.timesheet_save, name="timesheet-save"),
    path("worklogs/", views.worklog_list_view, name="list"),
    path("reports/", views.time_report_view, name="reports"),
    path("reports/cross-project/", views.cross_project_view, name="cross-project"),
    path("reports/tickets/", views.tickets_view, name="tickets"),
]
