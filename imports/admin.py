"""Django admin of jobs, and the bulk-change admin action for issues.

`bulk_change_issues` joins IssueAdmin.actions from here (the end of this module): it starts an imports
job, and imports depends on issues, never the reverse. It refuses with a message if ever attached to
another model's changelist.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse

from imports import services
from imports.models import Job, JobError, JobState, Placeholder
from issues.admin import IssueAdmin
from issues.bulk import bulk_preview
from issues.models import Issue, Priority, Status


class JobErrorInline(admin.TabularInline):
    model = JobError
    extra = 0
    can_delete = False
    fields = ("record", "line", "issue_key", "field", "message")
    readonly_fields = fields
    max_num = 0
    show_change_link = False

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        # Big jobs can have many errors: the admin shows the first 200, the job page pages through all.
        qs = super().get_queryset(request)
        ids = list(qs.values_list("pk", flat=True)[:200])
        return qs.filter(pk__in=ids)


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "kind",
        "state",
        "user",
        "source",
        "format",
        "file_name",
        "processed",
        "created_count",
        "updated_count",
        "failed_count",
        "created",
    )
    list_filter = ("kind", "state", "format", "source")
    search_fields = ("file_name",)
    raw_id_fields = ("user",)
    readonly_fields = [f.name for f in Job._meta.fields]
    inlines = [JobErrorInline]
    actions = ["cancel_jobs", "rerun_jobs"]
    list_select_related = ("user",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # jobs come from the upload page, the command or the admin actions

    @admin.action(description="Cancel selected jobs")
    def cancel_jobs(self, request: HttpRequest, queryset: QuerySet) -> None:
        for job in queryset:
            services.job_cancel(job=job, actor=None)
        self.message_user(request, f"Asked {queryset.count()} job(s) to stop.")

    @admin.action(description="Run selected imports again (safe: imports are idempotent)")
    def rerun_jobs(self, request: HttpRequest, queryset: QuerySet) -> None:
        count = 0
        for job in queryset.filter(kind="import").exclude(state__in=[JobState.QUEUED, JobState.RUNNING]):
            new = services.import_job_create(
                user=job.user,
                paths=services.job_paths(job),
                fmt=job.format,
                project_key=job.options.get("project"),
                source="admin",
                options={k: v for k, v in job.options.items() if k in ("timezone", "chunk_size")},
            )
            count += 1
            self.message_user(request, f"Import #{new.pk} queued.")
        if not count:
            self.message_user(request, "Only finished imports can be run again.", messages.WARNING)


@admin.register(Placeholder)
class PlaceholderAdmin(admin.ModelAdmin):
    """People imports met who matched no account. Activate one on its user's page (active, set a password),
    or map it to an account on an import job's page; the mapping is recorded here."""

    list_display = ("account_id", "user", "mapped_to", "mapped_by", "mapped_at", "created")
    search_fields = ("account_id", "user__username", "user__profile__display_name")
    # Read-only: a mapping goes through imports.services.placeholder_map (it reassigns the rows too).
    readonly_fields = ("user", "account_id", "created", "mapped_to", "mapped_by", "mapped_at")
    list_select_related = ("user", "mapped_to", "mapped_by")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # imports create them


class AdminBulkChangeForm(forms.Form):
    status = forms.ModelChoiceField(Status.objects.all(), required=False, empty_label="(keep)", label="Transition to")
    priority = forms.ModelChoiceField(Priority.objects.all(), required=False, empty_label="(keep)")
    assignee = forms.CharField(required=False, help_text="Username, or 'none' to unassign.")
    add_labels = forms.CharField(required=False)
    remove_labels = forms.CharField(required=False)


def _is_issue_admin(modeladmin: Any) -> bool:
    return getattr(modeladmin, "model", None) is Issue


@admin.action(description="Bulk change selected issues (background job)")
def bulk_change_issues(modeladmin: Any, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
    """Ask for the changes, then start a bulk-update job over the selected issues."""
    if not _is_issue_admin(modeladmin):
        modeladmin.message_user(request, "Bulk change applies to issues only.", messages.ERROR)
        return None
    form = AdminBulkChangeForm(request.POST if "apply" in request.POST else None)
    preview = None
    if "apply" in request.POST and form.is_valid():
        data = form.cleaned_data
        changes = {
            "status": data["status"].name if data["status"] else None,
            "priority": data["priority"].name if data["priority"] else None,
            "assignee": data["assignee"] or None,
            "add_labels": data["add_labels"].split(),
            "remove_labels": data["remove_labels"].split(),
        }
        issue_ids = list(queryset.values_list("pk", flat=True))
        try:
            if "confirm" not in request.POST:
                # As the navigator's bulk change: the count, the first issues and the changes, then Confirm.
                preview = bulk_preview(user=request.user, changes=changes, issue_ids=issue_ids, jql=None)
            else:
                job = services.bulk_update_job_create(
                    user=request.user, issue_ids=issue_ids, changes=changes, source="admin"
                )
                modeladmin.message_user(request, f"Bulk change #{job.pk} queued.")
                return HttpResponseRedirect(job.get_absolute_url())
        except ValidationError as exc:
            form.add_error(None, exc)
    return TemplateResponse(
        request,
        "imports/admin_bulk_change.html",
        {
            **modeladmin.admin_site.each_context(request),
            "title": "Bulk change issues",
            "form": form,
            "queryset": queryset,
            "count": queryset.count(),
            "preview": preview,
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
            "opts": modeladmin.model._meta,
        },
    )


IssueAdmin.actions = [*IssueAdmin.actions, bulk_change_issues]
