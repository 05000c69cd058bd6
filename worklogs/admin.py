"""Django admin for worklogs: every write goes through worklogs.services so issue totals stay right."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from issues.admin import BigTableAdmin, ProjectKeyFilter
from issues.durations import format_duration
from worklogs.models import Worklog, WorklogRollup
from worklogs.services import (
    MAX_WORKLOG_SECONDS,
    AdjustEstimate,
    worklog_add,
    worklog_delete,
    worklog_delete_many,
    worklog_update,
)


class WorklogAdminForm(forms.ModelForm):
    adjust_estimate = forms.ChoiceField(
        choices=[
            (AdjustEstimate.AUTO.value, "Adjust automatically (Jira's default)"),
            (AdjustEstimate.LEAVE.value, "Leave the remaining estimate unchanged"),
        ],
        initial=AdjustEstimate.AUTO.value,
        help_text="What this change does to the issue's remaining estimate.",
    )

    class Meta:
        model = Worklog
        fields = ("issue", "author", "started", "time_spent", "comment")

    def clean_time_spent(self) -> int:
        value = self.cleaned_data["time_spent"]
        if value <= 0:
            raise forms.ValidationError("Time spent must be more than zero.")
        if value > MAX_WORKLOG_SECONDS:
            raise forms.ValidationError("One worklog cannot exceed a week (168h).")
        return value


@admin.register(Worklog)
class WorklogAdmin(BigTableAdmin):
    form = WorklogAdminForm
    list_display = ("id", "issue", "author", "started", "time_spent_display", "short_comment")
    list_select_related = ("issue", "author")
    list_filter = (ProjectKeyFilter, "source")  # the worklog's own project, by key: no link per project
    search_fields = ("=issue__key", "=author__username", "comment")
    autocomplete_fields = ("issue", "author")
    readonly_fields = ("time_spent_display", "created", "updated", "source", "external_id")
    fields = (
        "issue",
        "author",
        "started",
        "time_spent",
        "time_spent_display",
        "adjust_estimate",
        "comment",
        "created",
        "updated",
        "source",
        "external_id",
    )
    actions = ("delete_selected",)

    @admin.display(description="Time spent (formatted)", ordering="time_spent")
    def time_spent_display(self, obj: Worklog) -> str:
        return format_duration(obj.time_spent) if obj.time_spent else "-"

    @admin.display(description="Comment")
    def short_comment(self, obj: Worklog) -> str:
        return obj.comment if len(obj.comment) <= 60 else obj.comment[:59] + "…"

    def get_readonly_fields(self, request: HttpRequest, obj: Worklog | None = None) -> tuple[str, ...]:
        # worklog_update cannot move a worklog to another issue or person: log it anew instead.
        return (*self.readonly_fields, "issue", "author") if obj is not None else self.readonly_fields

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        initial: dict[str, Any] = dict(super().get_changeform_initial_data(request))
        initial.setdefault("author", request.user.pk)
        return initial

    def save_model(self, request: HttpRequest, obj: Worklog, form: forms.ModelForm, change: bool) -> None:
        data = form.cleaned_data
        mode = AdjustEstimate(data.get("adjust_estimate") or AdjustEstimate.AUTO)
        # actor=None: admin rights come from Django's model permissions, not project roles.
        if change:
            # The form already copied its values onto obj; the service must see the stored worklog.
            stored = Worklog.objects.get(pk=obj.pk)
            saved = worklog_update(
                worklog=stored,
                actor=None,
                time_spent=data["time_spent"],
                started=data["started"],
                comment=data.get("comment", ""),
                adjust_estimate=mode,
                by=request.user,
            )
        else:
            saved = worklog_add(
                issue=data["issue"],
                author=data["author"],
                time_spent=data["time_spent"],
                started=data["started"],
                comment=data.get("comment", ""),
                adjust_estimate=mode,
                check_permission=False,
                by=request.user,
            )
        for field in Worklog._meta.concrete_fields:
            setattr(obj, field.attname, getattr(saved, field.attname))
        obj._state.adding = False

    def delete_model(self, request: HttpRequest, obj: Worklog) -> None:
        worklog_delete(worklog=obj, actor=None, adjust_estimate=AdjustEstimate.AUTO, by=request.user)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        """Delete many worklogs at once (worklog_delete_many: totals recomputed, history written, pages invalidated)."""
        worklog_delete_many(queryset=queryset, by=request.user)


@admin.register(WorklogRollup)
class WorklogRollupAdmin(BigTableAdmin):
    """The time reports' rollup, to look at only: the worklog writes keep it (`manage.py worklog_rollup`)."""

    list_display = ("project", "bucket", "seconds", "count")
    list_select_related = ("project",)
    list_filter = ("project",)
    ordering = ("-bucket",)
    actions = None  # no bulk delete of rows the worklog writes keep

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    # Deleting stays with the model permission: a project's deletion in the admin takes its rows with it.
