"""One error-to-message helper and one JSON error shape (taskra_site.validation), through every JSON entry point.

Personas: alice administers DEMO (edits), carol is a DEMO viewer (may not edit), bob is only in OPS
(DEMO's issues answer like missing ones).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable

import pytest
from django import forms
from django.core.exceptions import ValidationError as DjangoValidationError
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from taskra_site.validation import apply_validation_errors_to_form, error_messages, json_error

MON = dt.date(2026, 3, 2)


# The REST API (/rest/api/2/...) answers in Jira's error shape instead: api/tests (test_browser_session.py,
# test_auth.py) check its 404, 403, 400 and bad-JQL answers.


def _export_bad_format(client, users, issue):
    client.force_login(users["alice"])
    return client.get("/issues/export", {"format": "xml"}), 400


def _timesheet_refused(client, users, issue):
    client.force_login(users["carol"])
    data = {"issue": issue.key, "day": MON.isoformat(), "time": "1h"}
    return client.post("/timesheet/save/", data, HTTP_ACCEPT="application/json"), 400


def _worklog_export_bad_range(client, users, issue):
    client.force_login(users["alice"])
    return client.get("/worklogs/", {"start": "2026-03-08", "end": "2026-03-01", "format": "json"}), 400


ENTRY_POINTS: list[Callable] = [
    _export_bad_format,
    _timesheet_refused,
    _worklog_export_bad_range,
]


@pytest.mark.parametrize("call", ENTRY_POINTS, ids=lambda f: f.__name__.strip("_"))
def test_every_json_error_has_one_shape(client, alice, bob, carol, project_a, project_b, make_issue, call):
    issue = make_issue(project_a, summary="Shape")
    response, status = call(client, {"alice": alice, "bob": bob, "carol": carol}, issue)
    assert response.status_code == status
    body = response.json()
    assert isinstance(body["message"], str) and body["message"]
    assert body["errors"], body
    for entry in body["errors"]:
        assert set(entry) == {"field", "loc", "message", "type"}
        assert isinstance(entry["message"], str) and entry["message"]
        assert entry["loc"] == ([entry["field"]] if entry["field"] else []) or "." in entry["field"]


def test_json_error_keeps_extra_keys_about_the_error():
    response = json_error("Bad query.", status=400, position=10, hint="Quote the value.")
    body = json.loads(response.content)
    assert body == {
        "message": "Bad query.",
        "errors": [{"field": "", "loc": [], "message": "Bad query.", "type": "invalid"}],
        "position": 10,
        "hint": "Quote the value.",
    }


class _Named(BaseModel):
    name: str


def _pydantic_error() -> PydanticValidationError:
    try:
        _Named.model_validate({})
    except PydanticValidationError as exc:
        return exc
    raise AssertionError("unreachable")


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (DjangoValidationError("Plain."), ["Plain."]),
        (DjangoValidationError(["One.", "Two."]), ["One.", "Two."]),
        (
            DjangoValidationError({"summary": "Summary is required.", "__all__": "Whole."}),
            ["Summary is required.", "Whole."],
        ),
        (_pydantic_error(), ["Field required"]),
    ],
)
def test_error_messages_reads_every_kind_of_validation_error(error, expected):
    assert error_messages(error) == expected


class _Form(forms.Form):
    summary = forms.CharField(required=False)


def test_form_errors_land_on_their_field_or_the_form():
    form = _Form({"summary": ""})
    assert form.is_valid()
    apply_validation_errors_to_form(form, DjangoValidationError({"summary": "Summary is required.", "parent": "No."}))
    assert form.errors["summary"] == ["Summary is required."]
    assert form.non_field_errors() == ["parent: No."]
