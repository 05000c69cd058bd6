"""Schemas: Duration parsing/formatting, IssueKey, partial updates, JSON input and the validation helper."""

from __future__ import annotations

import json

import pytest
from django import forms
from django.core.exceptions import ValidationError as DjangoValidationError
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from issues.schemas import (
    MAX_DURATION_SECONDS,
    CommentCreate,
    Duration,
    IssueCreate,
    IssueKey,
    IssueUpdate,
    format_duration,
    parse_duration,
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


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("2h 30m", 2 * H + 30 * 60),
        ("1d 4h", 12 * H),
        ("90m", 90 * 60),
        ("1.5h", 90 * 60),
        ("1,5h", 90 * 60),
        ("1w", 40 * H),
        ("1w 2d 3h 4m", 40 * H + 16 * H + 3 * H + 4 * 60),
        ("2h30m", 9000),
        ("  3h  ", 3 * H),
        ("2 hours 15 minutes", 2 * H + 15 * 60),
        ("4H", 4 * H),
        ("0.5m", 30),
    ],
)
def test_parse_duration_reads_jira_style_text(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2x", "unknown unit 'x'"),
        ("-1h", "negative"),
        ("", "empty"),
        ("   ", "empty"),
        ("0m", "zero"),
        ("99999w", "too long"),
        ("90", "number without a unit"),
        ("1h 1h", "gives 'h' twice"),
        ("h", "not understood"),
        ("2h and 3m", "not understood near 'and'"),
        ("1h -30m", "not understood near '-'"),
    ],
)
def test_parse_duration_rejects_bad_text_with_a_clear_message(text, message):
    with pytest.raises(ValueError, match=message):
        parse_duration(text)


def test_parse_duration_allows_zero_only_when_asked():
    assert parse_duration("0m", allow_zero=True) == 0


def test_parse_duration_follows_work_time_settings(settings):
    settings.TASKRA_HOURS_PER_DAY = 6
    settings.TASKRA_DAYS_PER_WEEK = 4
    assert parse_duration("1d") == 6 * H
    assert parse_duration("1w") == 24 * H
    assert format_duration(24 * H + 6 * H + 60) == "1w 1d 1m"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(9000, "2h 30m"), (0, "0m"), (None, ""), (60, "1m"), (20, "1m"), (8 * H, "1d"), (41 * H, "1w 1h"), (90, "2m")],
)
def test_format_duration_writes_jira_style_text(seconds, text):
    assert format_duration(seconds) == text


@given(st.integers(min_value=1, max_value=MAX_DURATION_SECONDS // 60))
def test_format_then_parse_round_trips_whole_minutes(minutes):
    assert parse_duration(format_duration(minutes * 60)) == minutes * 60


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
