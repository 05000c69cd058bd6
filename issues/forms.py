"""Forms of the issue pages: create/edit issue, inline edits, comments and worklogs.

Forms only parse and check input; the views hand cleaned data to issues.services / worklogs.services.
Invalid input comes back as field errors with what was typed kept (bound forms re-render raw data).
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from django.urls import reverse_lazy

from accounts.models import display_name
from issues.durations import MAX_DURATION_SECONDS, format_duration, parse_duration
from issues.idempotency import new_token
from issues.models import Issue, IssueLinkType, IssueType, Priority, Project, Resolution, Status
from issues.permissions import editable_project_ids
from issues.schemas import normalize_newlines
from issues.selectors import members_of
from issues.services import issue_assignee_check, issue_parent_check
from issues.workflows import workflow_for
from taskra_site.validation import apply_validation_errors_to_form
from worklogs.services import MAX_WORKLOG_SECONDS, AdjustEstimate

User = get_user_model()

# The Markdown editors' Preview tab (static/js/preview.js) posts to this view (issues.views.browse.markdown_preview).
PREVIEW_URL = reverse_lazy("issues:preview")
_LABEL_SPLIT = re.compile(r"[\s,]+")


def _choices_of(form: forms.BaseForm, name: str) -> forms.ModelChoiceField:
    """Return the form's model choice field `name`, to narrow its queryset (form.fields is typed as plain Fields)."""
    field = form.fields[name]
    assert isinstance(field, forms.ModelChoiceField), f"{name} is not a model choice field"
    return field


def _typed_text(value: Any) -> str:
    """Return what was typed, stripped ("" when empty), as CharField.to_python would for these fields."""
    return "" if value in forms.Field.empty_values else str(value).strip()


class DurationField(forms.Field):
    """A Jira-style duration ("2h 30m", "1d", "90m") in, seconds out: the one duration field of every form.

    With allow_zero, "0" and "-" also mean zero (a cleared estimate).
    """

    def __init__(self, *, allow_zero: bool = False, max_seconds: int = MAX_DURATION_SECONDS, **kwargs: Any) -> None:
        self.allow_zero = allow_zero
        self.max_seconds = max_seconds
        # No max_length: its validator would run on the cleaned seconds (an int); the text is checked below.
        super().__init__(**kwargs)
        self.widget.attrs.setdefault("maxlength", "50")
        self.widget.attrs.setdefault("placeholder", "e.g. 2h 30m")
        self.widget.attrs.setdefault("autocomplete", "off")

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            return format_duration(value)
        return value

    def to_python(self, value: Any) -> int | None:
        # A text input (Field's default widget) that cleans into seconds, not a CharField: its value is an int.
        text = _typed_text(value)
        if not text:
            return None
        if len(text) > 50:
            raise forms.ValidationError("A duration has at most 50 characters, e.g. 1w 2d 3h 30m.", code="max_length")
        if self.allow_zero and text.strip() in ("0", "-"):
            return 0
        try:
            seconds = parse_duration(text, allow_zero=self.allow_zero)
        except ValueError as exc:
            raise forms.ValidationError(str(exc), code="invalid") from None
        if seconds > self.max_seconds:
            raise forms.ValidationError(f"Too long: at most {self.max_seconds // 3600}h.", code="max_value")
        return seconds


class LabelsField(forms.Field):
    """Labels typed as words separated by spaces or commas."""

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return " ".join(value)
        return value

    def to_python(self, value: Any) -> list[str]:
        text = _typed_text(value)
        if "\x00" in text:  # the built-in validator would only see the cleaned list
            raise forms.ValidationError("Labels cannot contain null characters.", code="null_characters_not_allowed")
        names = [n for n in _LABEL_SPLIT.split(text.strip()) if n]
        too_long = [n for n in names if len(n) > 100]
        if too_long:
            raise forms.ValidationError("A label can have at most 100 characters.")
        return list(dict.fromkeys(names))


class TextField(forms.CharField):
    """Free text (summary, description, comment, worklog comment) with LF line ends, whatever the browser posts.

    Browsers post textarea line breaks as CRLF; stored text and API text use LF (schemas.normalize_newlines),
    so an untouched description compares equal and history records no phantom change.
    """

    def to_python(self, value: Any) -> str | None:
        text = super().to_python(value)
        return normalize_newlines(text) if isinstance(text, str) else text


class UserChoiceField(forms.ModelChoiceField):
    """A user picked among the project's members, plus a current value that is not one (labelled as such)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.outsider_ids: set[int] = set()

    def keep_current(self, *, members: QuerySet, current_id: int | None) -> None:
        """Offer the project's `members`, and the current user `current_id` even when not an active member.

        A form must not drop a value it cannot offer: an imported assignee, or one who left the project, is
        shown as "Name (not a member)" and stays unless the user picks someone else.
        """
        if current_id is not None and not members.filter(pk=current_id).exists():
            self.outsider_ids = {current_id}
            members = (
                User.objects.filter(Q(pk=current_id) | Q(pk__in=members.order_by().values("pk")))
                .select_related("profile")
                .order_by("profile__display_name", "username")
            )
        self.queryset = members

    def label_from_instance(self, obj: Any) -> str:
        if obj.pk in self.outsider_ids:
            return f"{display_name(obj)} ({'not a member' if obj.is_active else 'inactive'})"
        return display_name(obj)


class TokenMixin(forms.Form):
    """A hidden one-time token so a double submit creates one record (see issues.idempotency)."""

    form_token = forms.CharField(widget=forms.HiddenInput, max_length=64)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial.setdefault("form_token", new_token())

    def clean_form_token(self) -> str:
        token = self.cleaned_data["form_token"]
        if not re.fullmatch(r"[0-9a-fA-F-]{8,64}", token):
            raise forms.ValidationError("This form is damaged; reload the page and try again.")
        return token


def editable_projects(user: Any) -> QuerySet[Project]:
    """Return the projects where the user may create issues (member or admin)."""
    return Project.objects.filter(pk__in=editable_project_ids(user)).only("id", "key", "name")


class IssueForm(TokenMixin):
    """Create (with a project choice) or edit an issue."""

    project = forms.ModelChoiceField(queryset=Project.objects.none(), empty_label=None)
    type = forms.ModelChoiceField(queryset=IssueType.objects.all(), empty_label=None, label="Issue type")
    summary = TextField(max_length=255)
    description = TextField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 8, "data-markdown-preview": PREVIEW_URL}),
        help_text="Markdown: **bold**, _italic_, lists, `code`.",
    )
    status = forms.ModelChoiceField(queryset=Status.objects.all(), empty_label=None)
    resolution = forms.ModelChoiceField(queryset=Resolution.objects.all(), required=False, empty_label="Unresolved")
    priority = forms.ModelChoiceField(queryset=Priority.objects.all(), empty_label=None)
    assignee = UserChoiceField(queryset=User.objects.none(), required=False, empty_label="Unassigned")
    labels = LabelsField(required=False, help_text="Separate labels with spaces or commas.")
    parent = forms.CharField(required=False, max_length=32, label="Parent issue", help_text="Key, e.g. DEMO-12.")
    due_date = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    original_estimate = DurationField(required=False, allow_zero=True)
    remaining_estimate = DurationField(required=False, allow_zero=True)

    def __init__(self, *args: Any, user: Any, issue: Issue | None = None, **kwargs: Any) -> None:
        self.user = user
        self.issue = issue
        if issue is not None:
            initial = kwargs.setdefault("initial", {})
            initial.update(
                {
                    "project": issue.project_id,
                    "type": issue.type_id,
                    "summary": issue.summary,
                    "description": issue.description,
                    "status": issue.status_id,
                    "resolution": issue.resolution_id,
                    "priority": issue.priority_id,
                    "assignee": issue.assignee_id,
                    "labels": list(issue.labels.order_by("name").values_list("name", flat=True)),
                    "parent": issue.parent.key if issue.parent is not None else "",
                    "due_date": issue.due_date,
                    "original_estimate": issue.original_estimate,
                    "remaining_estimate": issue.remaining_estimate,
                }
            )
        super().__init__(*args, **kwargs)
        if issue is None:
            _choices_of(self, "project").queryset = editable_projects(user)
            _choices_of(self, "assignee").queryset = members_of(editable_projects(user).values("id"))
            del self.fields["status"], self.fields["resolution"], self.fields["remaining_estimate"]
            if not self.is_bound:
                medium = Priority.objects.filter(name="Medium").values_list("pk", flat=True).first()
                task = IssueType.objects.filter(name="Task").values_list("pk", flat=True).first()
                self.initial.setdefault("priority", medium)
                self.initial.setdefault("type", task)
        else:
            # Editing never creates a record, so it needs no one-time token.
            del self.fields["project"], self.fields["form_token"]
            # The project's workflow statuses (moves it refuses are form errors from issue_update).
            status_ids = [issue.status_id, *workflow_for(issue.project).status_ids]
            _choices_of(self, "status").queryset = Status.objects.filter(pk__in=status_ids)
            assignee = self.fields["assignee"]
            assert isinstance(assignee, UserChoiceField)
            assignee.keep_current(members=members_of([issue.project_id]), current_id=issue.assignee_id)

    def project_obj(self) -> Project:
        return self.issue.project if self.issue is not None else self.cleaned_data["project"]

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        project = self.issue.project if self.issue is not None else data.get("project")
        if project is None:
            return data
        try:
            issue_assignee_check(
                project_id=project.pk,
                assignee=data.get("assignee"),
                current_id=self.issue.assignee_id if self.issue is not None else None,
            )
        except ValidationError as exc:
            apply_validation_errors_to_form(self, exc)
        key = (data.get("parent") or "").strip().upper()
        data["parent"] = None
        current = self.issue.parent if self.issue is not None else None
        if current is not None and key == current.key:
            data["parent"] = current  # kept as it is, wherever it is (rows older than the rules)
        elif key:
            candidates = Issue.objects.filter(key=key, project_id=project.pk)
            parent = candidates.only("id", "key", "project_id", "parent_id").first()
            if parent is None:
                self.add_error("parent", f"No issue {key} in project {project.key}.")
            else:
                data["parent"] = parent
        issue_type = data.get("type")
        if issue_type is not None and "parent" not in self.errors:
            moved = (data["parent"].pk if data["parent"] is not None else None) != (
                self.issue.parent_id if self.issue is not None else None
            )
            if self.issue is None or moved or issue_type.pk != self.issue.type_id:
                try:
                    issue_parent_check(
                        issue=self.issue, parent=data["parent"], project_id=project.pk, issue_type=issue_type
                    )
                except ValidationError as exc:
                    apply_validation_errors_to_form(self, exc)
        return data

    def service_data(self) -> dict[str, Any]:
        """Return the cleaned values as keyword arguments for issue_create / the data of issue_update."""
        names = [
            "type", "summary", "description", "status", "resolution", "priority", "assignee", "labels", "parent",
            "due_date", "original_estimate", "remaining_estimate",
        ]  # fmt: skip
        return {n: self.cleaned_data[n] for n in names if n in self.fields}


class CommentForm(TokenMixin):
    body = TextField(
        label="Comment",
        max_length=65535,
        widget=forms.Textarea(attrs={"rows": 4, "placeholder": "Add a comment…", "data-markdown-preview": PREVIEW_URL}),
    )


class CommentEditForm(forms.Form):
    body = TextField(
        label="Comment",
        max_length=65535,
        widget=forms.Textarea(attrs={"rows": 6, "data-markdown-preview": PREVIEW_URL}),
    )


class WorklogForm(TokenMixin):
    """Log work: "2h 30m", a start date and time in the user's time zone, a comment, and what to do to the estimate."""

    time_spent = DurationField(
        label="Time spent",
        max_seconds=MAX_WORKLOG_SECONDS,
        widget=forms.TextInput(attrs={"data-shortcut-target": "log-work", "placeholder": "e.g. 2h 30m"}),
    )
    # Left empty they mean "now" in the user's time zone: the issue page's HTML is shared through the page cache,
    # so it must not carry the time it was rendered at; taskra.js fills in the current time ([data-default-now]).
    started_date = forms.DateField(
        label="Date started", widget=forms.DateInput(attrs={"type": "date", "data-default-now": "date"})
    )
    started_time = forms.TimeField(
        label="Time started", widget=forms.TimeInput(attrs={"type": "time", "data-default-now": "time"})
    )
    comment = TextField(required=False, max_length=10000, widget=forms.Textarea(attrs={"rows": 2}))
    adjust_estimate = forms.ChoiceField(
        label="Remaining estimate",
        choices=[
            (AdjustEstimate.AUTO.value, "Adjust automatically"),
            (AdjustEstimate.LEAVE.value, "Leave unchanged"),
            (AdjustEstimate.NEW.value, "Set to"),
        ],
        initial=AdjustEstimate.AUTO.value,
        widget=forms.RadioSelect,
    )
    new_estimate = DurationField(label="New remaining estimate", required=False, allow_zero=True)

    def __init__(self, *args: Any, tz: zoneinfo.ZoneInfo, worklog: Any = None, **kwargs: Any) -> None:
        self.tz = tz
        initial = kwargs.setdefault("initial", {})
        if worklog is not None:
            local = worklog.started.astimezone(tz)
            initial.update(
                {"time_spent": worklog.time_spent, "comment": worklog.comment, "started_date": local.date(),
                 "started_time": local.time().replace(second=0, microsecond=0)}
            )  # fmt: skip
        super().__init__(*args, **kwargs)
        if worklog is not None:
            # Editing never creates a record, so it needs no token.
            del self.fields["form_token"]
        else:
            self.fields["started_date"].required = False
            self.fields["started_time"].required = False
            self.fields["started_date"].widget.attrs["data-tz"] = str(tz)
            self.fields["started_time"].widget.attrs["data-tz"] = str(tz)

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        day, time = data.get("started_date"), data.get("started_time")
        now = dt.datetime.now(self.tz)
        if day is None and "started_date" not in self.errors and not self.fields["started_date"].required:
            day = now.date()
        if time is None and "started_time" not in self.errors and not self.fields["started_time"].required:
            time = now.time().replace(second=0, microsecond=0)
        if day is not None and time is not None:
            data["started"] = dt.datetime.combine(day, time).replace(tzinfo=self.tz)
        if data.get("adjust_estimate") == AdjustEstimate.NEW and data.get("new_estimate") is None:
            self.add_error("new_estimate", "Give the new remaining estimate, e.g. 4h.")
        return data


class StatusForm(forms.Form):
    status = forms.ModelChoiceField(queryset=Status.objects.all(), empty_label=None)


class PriorityForm(forms.Form):
    priority = forms.ModelChoiceField(queryset=Priority.objects.all(), empty_label=None)


class AssigneeForm(forms.Form):
    assignee = UserChoiceField(queryset=User.objects.none(), required=False, empty_label="Unassigned")

    def __init__(self, *args: Any, project_id: int, current_id: int | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        assignee = self.fields["assignee"]
        assert isinstance(assignee, UserChoiceField)
        # The current assignee stays a valid choice (sending it back is no change), member or not.
        assignee.keep_current(members=members_of([project_id]), current_id=current_id)


class LabelsForm(forms.Form):
    labels = LabelsField(required=False)


class SummaryForm(forms.Form):
    summary = TextField(max_length=255)


class DescriptionForm(forms.Form):
    description = TextField(required=False, max_length=65535)


INLINE_FORMS: dict[str, type[forms.Form]] = {
    "summary": SummaryForm,
    "description": DescriptionForm,
    "status": StatusForm,
    "priority": PriorityForm,
    "assignee": AssigneeForm,
    "labels": LabelsForm,
}


LINK_DIRECTIONS = ("outward", "inward")


class IssueLinkForm(forms.Form):
    """Link this issue to another: a type and direction ("<type id>:outward" reads "this issue blocks KEY"), a key."""

    link_type = forms.CharField(max_length=40)
    issue = forms.CharField(max_length=32)

    def clean_link_type(self) -> tuple[IssueLinkType, str]:
        raw = self.cleaned_data["link_type"]
        pk, _sep, direction = raw.partition(":")
        found = IssueLinkType.objects.filter(pk=int(pk)).first() if pk.isdigit() and len(pk) < 19 else None
        if found is None or direction not in LINK_DIRECTIONS:
            raise ValidationError("Choose a kind of link.")
        return found, direction

    def clean_issue(self) -> str:
        return self.cleaned_data["issue"].strip().upper()


class MoveForm(forms.Form):
    """Move an issue to another project where the user may create issues."""

    project = forms.ModelChoiceField(queryset=Project.objects.none(), empty_label=None, label="Move to project")

    def __init__(self, *args: Any, user: Any, issue: Issue, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _choices_of(self, "project").queryset = editable_projects(user).exclude(pk=issue.project_id)
