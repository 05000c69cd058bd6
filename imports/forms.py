"""Forms of the imports app: the upload form and the bulk-change form."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile

from imports.models import JobFormat
from imports.services import upload_quota_check
from issues.models import Priority, Status
from issues.permissions import editable_project_ids
from issues.workflows import statuses_of_projects


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    widget = MultipleFileInput

    def clean(self, data: Any, initial: Any = None) -> list[UploadedFile]:
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(d, initial) for d in data]
        return [single(data, initial)]


class UploadForm(forms.Form):
    # The metaclass moves declared fields into base_fields, so this never shadows Form.files at run time;
    # "files" stays the POST field name the upload page and API clients send.
    files = MultipleFileField(  # type: ignore[assignment]  # see above
        label="File(s)",
        help_text="Jira JSON (one issue or search result pages), Jira CSV export, Jira XML export, "
        "Jira site backup (.zip with entities.xml), or Taskra JSON Lines.",
    )
    format = forms.ChoiceField(
        choices=[("", "Detect automatically"), *[(v, label) for v, label in JobFormat.choices if v]],
        required=False,
    )
    project = forms.CharField(
        max_length=10, required=False, help_text="Import every issue into this project (keys keep their numbers)."
    )
    timezone = forms.CharField(
        max_length=64, required=False, initial="UTC", help_text="Time zone of CSV dates and of a site backup's dates."
    )
    dry_run = forms.BooleanField(
        required=False,
        label="Dry run",
        help_text="Only check the file: show what would be created, updated and rejected, and write nothing.",
    )

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_files(self) -> list[UploadedFile]:
        files = self.cleaned_data["files"]
        try:
            # Who may upload at all, the size of one file and the person's quota of stored uploads.
            upload_quota_check(user=self.user, sizes=[f.size or 0 for f in files])
        except ValidationError as exc:
            if exc.code == "no_project":
                self.add_error(None, exc)
                return files
            raise
        return files


class BulkChangeForm(forms.Form):
    status = forms.ModelChoiceField(
        Status.objects.all(), required=False, empty_label="(keep)", to_field_name="name", label="Transition to"
    )
    priority = forms.ModelChoiceField(
        Priority.objects.all(), required=False, empty_label="(keep)", to_field_name="name"
    )
    assignee = forms.CharField(required=False, help_text="Username, or 'none' to unassign.")
    add_labels = forms.CharField(required=False, help_text="Space-separated labels to add.")
    remove_labels = forms.CharField(required=False, help_text="Space-separated labels to remove.")

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The statuses of the projects the user may change issues in (their workflows); an issue whose own
        # project's workflow refuses the move is skipped and reported by the job (issues.bulk).
        status = self.fields["status"]
        assert isinstance(status, forms.ModelChoiceField)
        status.queryset = statuses_of_projects(editable_project_ids(user))

    def changes(self) -> dict[str, object]:
        data = self.cleaned_data
        return {
            "status": data["status"].name if data.get("status") else None,
            "priority": data["priority"].name if data.get("priority") else None,
            "assignee": data.get("assignee") or None,
            "add_labels": (data.get("add_labels") or "").split(),
            "remove_labels": (data.get("remove_labels") or "").split(),
        }
