"""Schemas: the Duration type, IssueKey, partial updates, JSON input and the validation helper."""

from __future__ import annotations

import json

import pytest
from django import forms
from django.core.exceptions import ValidationError as DjangoValidationError
from pydantic import BaseModel, ValidationError

from issues.schemas import (
    MAX_ISSUE_NUMBER,
    CommentCreate,
    Duration,
    IssueCreate,
    IssueKey,
    IssueUpdate,
)
from taskra_site.validation import (
    BodyError,
    apply_validation_errors_to_form,
    errors_by_field,
    parse_body,
    validation_error_response,
)
from worklogs.schemas import WorklogCreate, WorklogUpdate

H = 3600


class _Timed(BaseModel):
    spent: Duration


@pytest.mark.parametrize("value", ["2x", "-1h", "", "0m", "99999w", -5, 0, True, 2**40, [1]])
def test_duration_field_rejects_bad_values_at_its_path(value):
    with pytest.raises(ValidationError) as info:
        _Timed(spent=value)
    (error,) = info.value.errors()
    assert error["loc"] == ("spent",)
    assert "Duration" in error["msg"]


def test_duration_field_takes_text_or_seconds():
    assert _Timed(spent="1d 4h").spent == 12 * H
    assert _Timed(spent=900).spent == 900
    assert _Timed.model_validate_json(b'{"spent": "2h 30m"}').spent == 9000


def test_issue_key_is_upper_cased_and_checked():
    class M(BaseModel):
        key: IssueKey

    assert M(key=" demo-12 ").key == "DEMO-12"
    for bad in ("DEMO", "DEMO-0", "1A-3", "DEMO-12a", "D-1"):
        with pytest.raises(ValidationError):
            M(key=bad)


def test_issue_update_keeps_only_the_fields_sent():
    payload = IssueUpdate.model_validate_json(
        b'{"summary": " New title ", "assignee": null, "original_estimate": "1d"}'
    )
    assert payload.changes() == {"summary": "New title", "assignee": None, "original_estimate": 8 * H}


def test_issue_update_reports_every_bad_field_with_its_path():
    with pytest.raises(ValidationError) as info:
        IssueUpdate.model_validate_json(
            b'{"summary": null, "labels": ["ok", "two words"], "remaining_estimate": "2x", "colour": "red"}'
        )
    paths = {".".join(map(str, e["loc"])) for e in info.value.errors()}
    assert paths == {"summary", "labels.1", "remaining_estimate", "colour"}


def test_issue_create_needs_project_and_summary():
    with pytest.raises(ValidationError) as info:
        IssueCreate.model_validate_json(b'{"project": "not a key!", "summary": "   "}')
    assert {e["loc"] for e in info.value.errors()} == {("project",), ("summary",)}
    ok = IssueCreate.model_validate_json(b'{"project": "demo", "summary": "Fix it", "parent": "demo-4"}')
    assert (ok.project, ok.parent, ok.labels) == ("DEMO", "DEMO-4", [])


def test_worklog_create_needs_time_zone_and_the_estimate_its_mode_asks_for():
    with pytest.raises(ValidationError) as info:
        WorklogCreate.model_validate_json(
            b'{"started": "2026-01-05T09:00:00", "time_spent": "0m", "adjust_estimate": "new"}'
        )
    fields = errors_by_field(info.value)
    assert set(fields) == {"started", "time_spent"}
    with pytest.raises(ValidationError, match="needs new_estimate"):
        WorklogCreate.model_validate_json(
            b'{"started": "2026-01-05T09:00:00Z", "time_spent": "1h", "adjust_estimate": "new"}'
        )
    ok = WorklogCreate.model_validate_json(b'{"started": "2026-01-05T09:00:00+01:00", "time_spent": "1h 30m"}')
    assert ok.time_spent == 5400
    assert WorklogUpdate.model_validate_json(b'{"comment": "x"}').changes() == {"comment": "x"}


def test_validation_error_response_is_a_400_with_field_paths():
    with pytest.raises(BodyError) as info:
        parse_body(IssueUpdate, b'{"labels": ["a", ""], "original_estimate": "-1h"}')
    response = info.value.response
    assert response.status_code == 400
    body = json.loads(response.content)
    assert [e["field"] for e in body["errors"]] == ["labels.1", "original_estimate"]
    assert body["errors"][1]["message"].startswith("Duration '-1h' is negative")
    assert body["message"].startswith("Invalid input: labels.1: ")


def test_invalid_json_body_is_a_400_not_a_500():
    with pytest.raises(BodyError) as info:
        parse_body(CommentCreate, b'{"body": ')
    assert info.value.response.status_code == 400
    assert json.loads(info.value.response.content)["errors"][0]["type"] == "json_invalid"


def test_django_validation_errors_use_the_same_body():
    response = validation_error_response(DjangoValidationError({"summary": "Summary is required."}))
    assert json.loads(response.content)["errors"] == [
        {"field": "summary", "loc": ["summary"], "message": "Summary is required.", "type": "invalid"}
    ]


class _IssueForm(forms.Form):
    summary = forms.CharField(required=False)
    labels = forms.CharField(required=False)


def test_form_errors_land_on_their_fields():
    form = _IssueForm(data={})
    assert form.is_valid()
    with pytest.raises(ValidationError) as info:
        IssueUpdate.model_validate({"summary": "", "labels": ["x y"], "colour": 1})
    apply_validation_errors_to_form(form, info.value)
    assert form.errors["summary"]
    assert form.errors["labels"][0].startswith("labels.0: ")
    assert form.non_field_errors()[0].startswith("colour: ")


def test_issue_keys_whose_number_overflows_the_column_are_refused():
    # Issue numbers are int4: the largest fits, the next is a clear error before any database sees it.
    class Ref(BaseModel):
        key: IssueKey

    assert Ref(key=f"demo-{MAX_ISSUE_NUMBER}").key == f"DEMO-{MAX_ISSUE_NUMBER}"
    with pytest.raises(ValidationError, match=f"too large: at most {MAX_ISSUE_NUMBER}"):
        Ref(key=f"DEMO-{MAX_ISSUE_NUMBER + 1}")


def test_worklog_comments_are_stored_with_lf():
    started = "2026-11-20T10:00:00+03:00"
    assert WorklogCreate(started=started, time_spent="1h", comment="a\r\nb\rc").comment == "a\nb\nc"
    assert WorklogUpdate(comment="x\r\ny").comment == "x\ny"
