"""Django admin for projects, issues and their lookups.

Writes that affect history, keys, time spent or cached pages go through issues.services;
changelists never COUNT a million-row table (see taskra_site.pagination.EstimatedCountPaginator).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import transaction
from django.db.models import Model, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html_join

from accounts.models import display_name
from issues import pagecache
from issues.durations import format_duration
from issues.lookups import lookup_rows
from issues.models import (
    Attachment,
    CacheBump,
    Comment,
    CustomField,
    CustomFieldValue,
    ExportJob,
    History,
    Issue,
    IssueKeyAlias,
    IssueLink,
    IssueLinkType,
    IssueType,
    Label,
    Membership,
    NavigatorPreference,
    Priority,
    Project,
    Resolution,
    SavedFilter,
    Status,
    WorkflowStatus,
    WorkflowTransition,
)
from issues.rollups import issue_children_changing_send
from issues.services import (
    EDITABLE_FIELDS,
    attachment_delete,
    comment_add,
    comment_update,
    custom_field_update,
    default_priority,
    default_status,
    default_type,
    issue_create,
    issue_delete,
    issue_link_delete,
    issue_parent_check,
    issue_update,
)
from taskra_site.pagination import EstimatedCountPaginator
from taskra_site.validation import apply_validation_errors_to_form


class DeletesHistoryMixin(admin.ModelAdmin):
    """Let deleting an issue (or project) take its changelog along.

    History rows cannot be deleted one by one in the admin, and Django would otherwise refuse any
    delete that cascades to them ("your account doesn't have permission to delete: history").
    """

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> tuple[Any, Any, set[str], Any]:
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        perms_needed = set(perms_needed) - {str(History._meta.verbose_name)}
        return deleted, counts, perms_needed, protected


class BigTableAdmin(admin.ModelAdmin):
    """Changelist settings for tables that grow to millions of rows."""

    paginator = EstimatedCountPaginator
    show_full_result_count = False
    list_per_page = 50
    # Newest first on the primary key index; also orders autocomplete results (unordered pages can repeat rows).
    ordering = ("-pk",)


class LookupAdmin(admin.ModelAdmin):
    """Statuses, types, priorities and resolutions: small tables shown on every issue page.

    Saving or deleting one makes every cached page stale through the post_save/post_delete receivers of issues.signals.
    """


@admin.register(Status)
class StatusAdmin(LookupAdmin):
    list_display = ("name", "category", "position")
    list_editable = ("position",)
    list_filter = ("category",)
    search_fields = ("name",)


@admin.register(IssueType)
class IssueTypeAdmin(LookupAdmin):
    list_display = ("name", "icon", "is_subtask", "position", "description")
    list_editable = ("position",)
    list_filter = ("is_subtask",)
    search_fields = ("name",)


@admin.register(Priority)
class PriorityAdmin(LookupAdmin):
    list_display = ("name", "rank", "color")
    list_editable = ("rank",)
    search_fields = ("name",)


@admin.register(Resolution)
class ResolutionAdmin(LookupAdmin):
    list_display = ("name", "position", "description")
    list_editable = ("position",)
    search_fields = ("name",)


@admin.register(CustomField)
class CustomFieldAdmin(LookupAdmin):
    """The site's custom fields (brought by imports): rename one, or change its type (values re-read)."""

    list_display = ("name", "jira_id", "type", "created")
    list_filter = ("type",)
    search_fields = ("name", "jira_id")
    fields = ("name", "jira_id", "type")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        return ("jira_id",) if obj is not None else ()

    def save_model(self, request: HttpRequest, obj: CustomField, form: Any, change: bool) -> None:
        if not change:
            super().save_model(request, obj, form, change)
            return
        misfits = custom_field_update(field=obj, name=obj.name, field_type=obj.type)
        if misfits:
            self.message_user(
                request,
                f"{misfits} value(s) do not fit the type {obj.get_type_display()}: their text is kept, not their "
                "typed value.",
                level="warning",
            )


@admin.register(CustomFieldValue)
class CustomFieldValueAdmin(BigTableAdmin):
    """Issues' custom-field values, to look up: imports write them (typed by their field: issues.custom_fields)."""

    list_display = ("issue", "field", "text")
    list_select_related = ("issue", "field")
    list_filter = ("field",)
    raw_id_fields = ("issue",)
    readonly_fields = ("issue", "field", "text", "values", "number", "date", "moment")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Label)
class LabelAdmin(admin.ModelAdmin):
    list_display = ("name",)
    search_fields = ("name",)
    paginator = EstimatedCountPaginator
    show_full_result_count = False


class MembershipInline(admin.TabularInline):
    """Existing members: change the role or remove. The user is shown, not a widget, so that
    the page costs the same few queries for 5 or 500 members (an autocomplete widget queries per row)."""

    model = Membership
    extra = 0
    fields = ("user", "display_name", "role")
    readonly_fields = ("user", "display_name")
    verbose_name_plural = "members"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("user__profile", "project").order_by("user__username")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="Display name")
    def display_name(self, obj: Membership) -> str:
        return display_name(obj.user) if obj.pk else ""


class NewMembershipInline(admin.TabularInline):
    """Blank rows to add members, with users found by autocomplete."""

    model = Membership
    extra = 3
    fields = ("user", "role")
    autocomplete_fields = ("user",)
    verbose_name_plural = "add members"
    can_delete = False

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).none()


class WorkflowStatusFormSet(forms.BaseInlineFormSet):
    """The workflow's statuses: one that issues of the project are in cannot be removed (they would be stranded)."""

    def clean(self) -> None:
        super().clean()
        if self.instance.pk is None:
            return
        kept = {
            form.cleaned_data["status"].pk
            for form in self.forms
            if form.cleaned_data.get("status") and not form.cleaned_data.get("DELETE")
        }
        if not kept:
            raise ValidationError("A workflow needs at least one status.")
        stranded = sorted(
            Status.objects.filter(
                pk__in=self.instance.issues.exclude(status_id__in=kept).values("status_id")
            ).values_list("name", flat=True)
        )
        if stranded:
            raise ValidationError(f"Issues of this project are in {', '.join(stranded)}: move them first.")


class WorkflowStatusInline(admin.TabularInline):
    """The project's workflow: its statuses in board order, each with its board column's WIP limit."""

    model = WorkflowStatus
    formset = WorkflowStatusFormSet
    extra = 0
    fields = ("status", "position", "wip_limit")
    ordering = ("position", "id")
    verbose_name_plural = "workflow: statuses (board columns, in order)"


class WorkflowTransitionInline(admin.TabularInline):
    """The moves the project's workflow allows; an empty "from" is Jira's global transition (from any status)."""

    model = WorkflowTransition
    extra = 0
    fields = ("from_status", "to_status", "name")
    verbose_name_plural = "workflow: transitions (empty from = from any status)"


@admin.register(WorkflowStatus)
class WorkflowStatusAdmin(admin.ModelAdmin):
    """Every project's workflow statuses in one list (each project's page edits its own inline)."""

    list_display = ("project", "status", "position", "wip_limit")
    list_select_related = ("project", "status")
    list_filter = ("status",)
    search_fields = ("project__key",)
    autocomplete_fields = ("project",)


@admin.register(WorkflowTransition)
class WorkflowTransitionAdmin(admin.ModelAdmin):
    """Every project's allowed transitions in one list; an empty "from" is from any status."""

    list_display = ("project", "from_status", "to_status", "name")
    list_select_related = ("project", "from_status", "to_status")
    search_fields = ("project__key", "name")
    autocomplete_fields = ("project",)


@admin.register(Project)
class ProjectAdmin(DeletesHistoryMixin, admin.ModelAdmin):
    list_display = ("key", "name", "lead", "issue_counter", "created")
    list_select_related = ("lead",)
    search_fields = ("key", "name")
    autocomplete_fields = ("lead",)
    readonly_fields = ("issue_counter", "created")
    inlines = (MembershipInline, NewMembershipInline, WorkflowStatusInline, WorkflowTransitionInline)

    def get_readonly_fields(self, request: HttpRequest, obj: Project | None = None) -> tuple[str, ...]:
        # Issue keys embed the project key: renaming it would orphan every existing key.
        if obj is not None:
            return (*self.readonly_fields, "key")
        return self.readonly_fields

    # Project and membership saves and deletes retire cached pages through issues.signals (post_save/post_delete).


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("user", "project", "role")
    list_select_related = ("user", "project")
    list_filter = ("role", "project")
    search_fields = ("user__username", "user__profile__display_name", "project__key")
    autocomplete_fields = ("user", "project")
    # Membership decides visibility: saves and deletes (one by one or in bulk: Django sends post_delete for each
    # row while receivers are connected) retire cached pages through issues.signals.


class IssueAdminForm(forms.ModelForm):
    """Check what issue_create / issue_update would reject, so the admin shows a form error instead of a 500."""

    class Meta:
        model = Issue
        fields = (
            "project",
            "summary",
            "description",
            "type",
            "status",
            "resolution",
            "priority",
            "labels",
            "parent",
            "assignee",
            "reporter",
            "due_date",
            "original_estimate",
            "remaining_estimate",
        )

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        parent, issue_type = data.get("parent"), data.get("type")
        project = data.get("project") or (self.instance.project if self.instance.project_id else None)
        if project is None or issue_type is None:
            return data
        # The form copied its values onto self.instance: compare with the stored row (no query for a new issue).
        stored = Issue.objects.filter(pk=self.instance.pk).values_list("parent_id", "type_id").first()
        parent_id = parent.pk if parent is not None else None
        if stored is None or (parent_id, issue_type.pk) != stored:
            try:
                issue_parent_check(
                    issue=Issue.objects.get(pk=self.instance.pk) if stored is not None else None,
                    parent=parent,
                    project_id=project.pk,
                    issue_type=issue_type,
                )
            except ValidationError as exc:
                apply_validation_errors_to_form(self, exc)
        return data


# An issue key as typed in a search box: project key, dash, number (surrounding spaces allowed).
ISSUE_KEY_TERM = re.compile(r"\s*([A-Za-z][A-Za-z0-9_]*)-([0-9]{1,9})\s*")


class ProjectKeyFilter(admin.ListFilter):
    """Narrow a list of rows with a `project` (issues, worklogs) to one project by its key, typed in a box.

    Django's project filter lists every project as a link: a query for all of them and a query string built per
    link on every changelist page, growing with the site (137 projects at 1,000,000 issues, bench/admin_search.py).
    A key box costs the same for 5 or 5,000 projects and needs no query of its own.
    """

    title = "project"
    parameter_name = "project"
    template = "admin/issues/project_key_filter.html"

    def __init__(self, request: HttpRequest, params: dict[str, list[str]], model: Any, model_admin: Any) -> None:
        super().__init__(request, params, model, model_admin)
        values = params.pop(self.parameter_name, None)
        self.key = values[-1].strip().upper() if values else ""
        if self.key:
            self.used_parameters[self.parameter_name] = self.key

    def has_output(self) -> bool:
        return True

    def expected_parameters(self) -> list[str | None]:
        return [self.parameter_name]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        return queryset.filter(project__key=self.key) if self.key else queryset

    def choices(self, changelist: Any) -> Any:
        # One "choice": what the template needs to draw the box and keep the changelist's other parameters.
        kept = [(name, value) for name, value in changelist.params.items() if name != self.parameter_name]
        yield {
            "name": self.parameter_name,
            "value": self.key,
            "kept": kept,
            "clear": changelist.get_query_string(remove=[self.parameter_name]),
        }


class LookupListFilter(admin.RelatedFieldListFilter):
    """Filter by type, status, priority or resolution with the rows kept per process (issues.lookups).

    Django's related filter reads its table on every changelist page: four queries per page for tables that change
    once in a blue moon. issues.lookups keeps them per process, retired by the global generation that any save
    or delete of one bumps (one cache read); without a shared cache the table is read as before.
    """

    def field_choices(self, field: Any, request: HttpRequest, model_admin: Any) -> Any:
        # One read of the generation per page, not one per filter.
        if not hasattr(request, "_issue_lookup_rows"):
            request._issue_lookup_rows = lookup_rows()  # type: ignore[attr-defined]
        rows = request._issue_lookup_rows  # type: ignore[attr-defined]
        if rows is None or field.name not in rows:
            return super().field_choices(field, request, model_admin)
        # The rows come in the model's own ordering (position or rank, then name), as Django's filter lists them.
        return [(pk, str(row)) for pk, row in rows[field.name].items()]


@admin.register(Issue)
class IssueAdmin(DeletesHistoryMixin, BigTableAdmin):
    form = IssueAdminForm
    actions: list[Any] = []  # imports/admin.py adds the bulk change (a background job of the imports app)
    list_display = ("key", "summary", "type", "status", "priority", "assignee", "time_spent_display", "updated")
    list_select_related = ("type", "status", "priority", "assignee")
    list_filter = (
        ProjectKeyFilter,
        ("type", LookupListFilter),
        "status__category",
        ("status", LookupListFilter),
        ("priority", LookupListFilter),
        ("resolution", LookupListFilter),
    )
    # A term shaped like an issue key is answered by get_search_results with one probe of the unique key
    # index; any other term searches summaries (a scan, like Django's default search).
    search_fields = ("summary",)
    autocomplete_fields = ("assignee", "reporter", "parent", "labels")
    readonly_fields = (
        "key",
        "number",
        "time_spent_display",
        "resolved",
        "created",
        "updated",
        "source",
        "external_id",
        "related_links",
    )
    fieldsets = (
        (None, {"fields": ("project", "key", "number", "summary", "description")}),
        ("Details", {"fields": ("type", "status", "resolution", "resolved", "priority", "labels", "parent")}),
        ("People", {"fields": ("assignee", "reporter")}),
        ("Dates and time", {"fields": ("due_date", "original_estimate", "remaining_estimate", "time_spent_display")}),
        ("Record", {"fields": ("created", "updated", "source", "external_id", "related_links")}),
    )
    add_fieldsets = (
        (None, {"fields": ("project", "summary", "description")}),
        ("Details", {"fields": ("type", "status", "priority", "labels", "parent")}),
        ("People", {"fields": ("assignee", "reporter")}),
        ("Dates and time", {"fields": ("due_date", "original_estimate", "remaining_estimate")}),
    )

    @admin.display(description="Time spent", ordering="time_spent")
    def time_spent_display(self, obj: Issue) -> str:
        return format_duration(obj.time_spent)

    @admin.display(description="Related")
    def related_links(self, obj: Issue) -> str:
        if not obj.pk:
            return "-"
        links = (
            ("admin:worklogs_worklog_changelist", "Worklogs"),
            ("admin:issues_comment_changelist", "Comments"),
            ("admin:issues_history_changelist", "History"),
        )
        return format_html_join(
            " · ", '<a href="{}?issue__id__exact={}">{}</a>', ((reverse(u), obj.pk, name) for u, name in links)
        )

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str) -> tuple[QuerySet, bool]:
        """Return the issue with this key for a key-shaped term ("demo-0042" finds DEMO-42), else summary matches.

        Keys are stored upper-case with the plain number, so the normalised key is an exact match on the unique
        index; Django's case-insensitive "=key" compares UPPER(key) and scans the table (plus the summary scan
        it ORs in).
        """
        match = ISSUE_KEY_TERM.fullmatch(search_term)
        if match is None:
            return super().get_search_results(request, queryset, search_term)
        return queryset.filter(key=f"{match.group(1).upper()}-{int(match.group(2))}"), False

    def get_fieldsets(self, request: HttpRequest, obj: Issue | None = None) -> Any:
        return self.add_fieldsets if obj is None else self.fieldsets

    def get_readonly_fields(self, request: HttpRequest, obj: Issue | None = None) -> tuple[str, ...]:
        # Moving an issue would need a new key in the other project: not an admin field edit.
        return (*self.readonly_fields, "project") if obj is not None else self.readonly_fields

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        # Query-string initials are text; ours are primary keys, which the choice fields take as well.
        initial: dict[str, Any] = dict(super().get_changeform_initial_data(request))
        initial.setdefault("reporter", request.user.pk)
        defaults: tuple[tuple[str, Callable[[], Model]], ...] = (
            ("type", default_type),
            ("status", default_status),
            ("priority", default_priority),
        )
        for name, default in defaults:
            # An empty lookup table leaves the choice blank: the form makes the admin pick (or add) one.
            if name not in initial:
                with contextlib.suppress(ImproperlyConfigured):
                    initial[name] = default().pk
        return initial

    def save_model(self, request: HttpRequest, obj: Issue, form: forms.ModelForm, change: bool) -> None:
        data = form.cleaned_data
        label_names = [label.name for label in data.get("labels") or ()]
        if not change:
            created = issue_create(
                project=data["project"],
                reporter=data.get("reporter"),
                summary=data["summary"],
                description=data.get("description", ""),
                type=data.get("type"),
                status=data.get("status"),
                priority=data.get("priority"),
                assignee=data.get("assignee"),
                labels=label_names,
                parent=data.get("parent"),
                due_date=data.get("due_date"),
                original_estimate=data.get("original_estimate"),
                remaining_estimate=data.get("remaining_estimate"),
                check_permission=False,  # admin access is governed by Django's model permissions
            )
            for field in Issue._meta.concrete_fields:
                setattr(obj, field.attname, getattr(created, field.attname))
            obj._state.adding = False
            obj._state.db = created._state.db
            return
        # The form already copied its values onto obj; the service must diff against the stored row.
        stored = Issue.objects.select_related(
            "type", "status", "priority", "resolution", "assignee__profile", "reporter__profile", "parent"
        ).get(pk=obj.pk)
        changes = {name: data[name] for name in form.changed_data if name in EDITABLE_FIELDS}
        if "labels" in form.changed_data:
            changes["labels"] = label_names
        issue_update(issue=stored, actor=request.user, data=changes, check_permission=False)
        for field in Issue._meta.concrete_fields:
            setattr(obj, field.attname, getattr(stored, field.attname))

    def save_related(self, request: HttpRequest, form: forms.ModelForm, formsets: Any, change: bool) -> None:
        # Labels were written (with history) by the service; form.save_m2m() would write them again.
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    def delete_model(self, request: HttpRequest, obj: Issue) -> None:
        issue_delete(issue=obj, actor=None)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        with transaction.atomic():
            rows = list(queryset.order_by().values_list("pk", "project_id", "parent_id"))
            rollups_after = issue_children_changing_send(issue_ids=[r[0] for r in rows])
            queryset.delete()
            rollups_after()
            # A parent's page lists its sub-tasks: it goes stale too.
            issue_ids = {r[0] for r in rows} | {r[2] for r in rows if r[2] is not None}
            pagecache.invalidate_on_commit(issue_ids, {r[1] for r in rows})  # bulk delete: no signals


@admin.register(Comment)
class CommentAdmin(BigTableAdmin):
    list_display = ("id", "issue", "author", "short_body", "created", "updated")
    list_select_related = ("issue", "author")
    list_filter = ("issue__project",)
    search_fields = ("=issue__key", "body")
    autocomplete_fields = ("issue", "author")
    readonly_fields = ("created", "updated", "source", "external_id")
    fields = ("issue", "author", "body", "created", "updated", "source", "external_id")

    @admin.display(description="Body")
    def short_body(self, obj: Comment) -> str:
        return obj.body if len(obj.body) <= 80 else obj.body[:79] + "…"

    def get_readonly_fields(self, request: HttpRequest, obj: Comment | None = None) -> tuple[str, ...]:
        return (*self.readonly_fields, "issue", "author") if obj is not None else self.readonly_fields

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        initial: dict[str, Any] = dict(super().get_changeform_initial_data(request))
        initial.setdefault("author", request.user.pk)
        return initial

    def save_model(self, request: HttpRequest, obj: Comment, form: forms.ModelForm, change: bool) -> None:
        # The form's required body is stripped, so the services' "empty comment" check cannot fire here.
        if change:
            stored = Comment.objects.get(pk=obj.pk)
            saved = comment_update(comment=stored, actor=None, body=form.cleaned_data["body"])
        else:
            saved = comment_add(
                issue=form.cleaned_data["issue"],
                author=form.cleaned_data["author"],
                body=form.cleaned_data["body"],
                check_permission=False,  # admin access is governed by Django's model permissions
            )
        for field in Comment._meta.concrete_fields:
            setattr(obj, field.attname, getattr(saved, field.attname))
        obj._state.adding = False

    def delete_model(self, request: HttpRequest, obj: Comment) -> None:
        self.delete_queryset(request, Comment.objects.filter(pk=obj.pk))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        with transaction.atomic():
            rows = list(queryset.order_by().values_list("issue_id", "issue__project_id"))
            queryset.delete()
            pagecache.invalidate_on_commit({r[0] for r in rows}, {r[1] for r in rows})  # bulk delete: no signals


@admin.register(History)
class HistoryAdmin(BigTableAdmin):
    """The changelog is an audit trail: viewable, never edited by hand."""

    list_display = ("issue", "field", "from_value", "to_value", "author", "created")
    list_select_related = ("issue", "author")
    list_filter = ("field",)
    search_fields = ("=issue__key",)
    raw_id_fields = ("issue", "author")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: History | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: History | None = None) -> bool:
        return False


@admin.register(SavedFilter)
class SavedFilterAdmin(admin.ModelAdmin):
    list_display = ("name", "owner", "shared_with", "created")
    list_select_related = ("owner", "shared_with")
    list_filter = ("shared_with",)
    search_fields = ("name", "jql", "owner__username")
    autocomplete_fields = ("owner", "shared_with")
    readonly_fields = ("created",)


@admin.register(NavigatorPreference)
class NavigatorPreferenceAdmin(admin.ModelAdmin):
    """The navigator columns and sort each user chose last; deleting one resets that user to the defaults."""

    list_display = ("user", "columns", "sort", "direction")
    list_select_related = ("user",)
    search_fields = ("user__username",)
    autocomplete_fields = ("user",)


@admin.register(CacheBump)
class CacheBumpAdmin(admin.ModelAdmin):
    """Page-cache bumps waiting to reach Redis (docs/cache.md, the outbox): visible to operators, never edited.

    Rows normally live for a moment; old ones mean Redis is not answering. Deleting one would lose its bump.
    """

    list_display = ("id", "created", "keys")
    ordering = ("id",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: CacheBump | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: CacheBump | None = None) -> bool:
        return False


@admin.register(ExportJob)
class ExportJobAdmin(admin.ModelAdmin):
    """Background exports (issues/export_jobs.py): operators see them and why one failed; they are not edited.

    Their files belong to their owners (downloaded from the job page) and are deleted by the hourly expiry.
    """

    list_display = ("id", "owner", "kind", "format", "state", "rows", "created", "expires", "expired")
    list_select_related = ("owner",)
    list_filter = ("state", "kind", "expired")
    search_fields = ("owner__username",)
    ordering = ("-id",)
    readonly_fields = [f.name for f in ExportJob._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: ExportJob | None = None) -> bool:
        return False


@admin.register(IssueLinkType)
class IssueLinkTypeAdmin(admin.ModelAdmin):
    """Kinds of issue links (Jira's Blocks, Cloners, Duplicate, Relates come with migration 0005)."""

    list_display = ("name", "outward", "inward")
    search_fields = ("name", "outward", "inward")


class _ServiceDeletesOnly(admin.ModelAdmin):
    """Rows made by the product only: listed, never added or changed here; deleted through the service."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        # One by one through the service: history, page-cache invalidation and (attachments) file deletion.
        with transaction.atomic():
            for obj in queryset:
                self.delete_model(request, obj)


@admin.register(IssueLink)
class IssueLinkAdmin(_ServiceDeletesOnly):
    list_display = ("id", "outward_issue", "type", "inward_issue", "created")
    list_select_related = ("outward_issue", "type", "inward_issue")
    search_fields = ("outward_issue__key", "inward_issue__key")

    def delete_model(self, request: HttpRequest, obj: IssueLink) -> None:
        issue_link_delete(link=obj, actor=None)  # the admin's permissions govern: staff tool (issues.permissions)


@admin.register(Attachment)
class AttachmentAdmin(_ServiceDeletesOnly):
    list_display = ("id", "filename", "issue", "content_type", "size", "author", "created")
    list_select_related = ("issue", "author")
    search_fields = ("filename", "issue__key")

    def delete_model(self, request: HttpRequest, obj: Attachment) -> None:
        attachment_delete(attachment=obj, actor=None)


@admin.register(IssueKeyAlias)
class IssueKeyAliasAdmin(admin.ModelAdmin):
    """Keys issues had before they moved to another project (they keep resolving)."""

    list_display = ("key", "issue", "created")
    list_select_related = ("issue",)
    search_fields = ("key", "issue__key")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
