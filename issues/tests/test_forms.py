"""Forms of the issue pages: durations, labels, worklog start times, assignee/parent checks, one-time tokens.

Personas: alice (admin of DEMO) fills the forms; bob (OPS only) must never be offered as a DEMO assignee;
carol (viewer in DEMO) cannot pick DEMO as a project to create issues in.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest

from issues import idempotency
from issues.forms import DurationField, IssueForm, LabelsField, WorklogForm, editable_projects
from issues.models import IssueType, Priority

BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("2h 30m", 9000), ("90m", 5400), ("1d", 8 * 3600), ("1w", 40 * 3600), ("1.5h", 5400), (" 2h30m ", 9000)],
)
def test_duration_field_parses_jira_durations(text, seconds):
    assert DurationField().clean(text) == seconds


@pytest.mark.parametrize(
    ("text", "message"),
    [("2x", "unknown unit"), ("90", "without a unit"), ("-1h", "negative"), ("0m", "zero"), ("1h 1h", "twice")],
)
def test_duration_field_rejects_bad_text_with_a_reason(text, message):
    from django import forms

    with pytest.raises(forms.ValidationError) as info:
        DurationField().clean(text)
    assert message in " ".join(info.value.messages)


def test_duration_field_limits_and_zero():
    from django import forms

    assert DurationField(allow_zero=True).clean("0m") == 0
    assert DurationField(required=False).clean("") is None
    with pytest.raises(forms.ValidationError, match="at most 168h"):
        DurationField(max_seconds=7 * 24 * 3600).clean("169h")
    with pytest.raises(forms.ValidationError, match="at most 50 characters"):
        DurationField().clean("1h " * 30)


def test_duration_field_shows_seconds_as_text():
    assert DurationField().prepare_value(9000) == "2h 30m"
    assert DurationField().prepare_value("typed 2h") == "typed 2h"


def test_labels_field_splits_on_spaces_and_commas_and_dedupes():
    assert LabelsField(required=False).clean(" ui, backend  ui,,api ") == ["ui", "backend", "api"]
    assert LabelsField(required=False).clean("") == []


def test_worklog_form_reads_start_in_the_users_time_zone():
    form = WorklogForm(
        {"form_token": "a" * 32, "time_spent": "1h", "started_date": "2026-07-01", "started_time": "09:00",
         "adjust_estimate": "auto"},
        tz=BERLIN,
    )  # fmt: skip
    assert form.is_valid(), form.errors
    assert form.cleaned_data["started"] == dt.datetime(2026, 7, 1, 7, 0, tzinfo=dt.UTC)  # CEST is UTC+2


def test_worklog_form_reads_empty_start_as_now_in_the_users_time_zone():
    # The page's HTML is shared by the page cache, so the form carries no rendering time: empty means now.
    form = WorklogForm(tz=BERLIN)
    assert "started_date" not in form.initial and len(form.initial["form_token"]) == 32
    assert 'data-tz="Europe/Berlin"' in str(form["started_time"])
    before = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
    form = WorklogForm(
        {"form_token": "d" * 32, "time_spent": "1h", "started_date": "", "started_time": "", "adjust_estimate": "auto"},
        tz=BERLIN,
    )
    assert form.is_valid(), form.errors
    started = form.cleaned_data["started"]
    assert started.tzinfo == BERLIN
    assert before <= started <= dt.datetime.now(dt.UTC)


def test_worklog_edit_form_needs_a_start():
    class Row:
        started = dt.datetime(2026, 7, 1, 7, 0, tzinfo=dt.UTC)
        time_spent = 3600
        comment = ""

    form = WorklogForm({"time_spent": "1h", "started_date": "", "started_time": "", "adjust_estimate": "auto"},
                       tz=BERLIN, worklog=Row())  # fmt: skip
    assert not form.is_valid() and "started_date" in form.errors and "started_time" in form.errors
    assert WorklogForm(tz=BERLIN, worklog=Row()).initial["started_time"] == dt.time(9, 0)


def test_worklog_form_requires_a_new_estimate_when_asked_to_set_one():
    data = {"form_token": "b" * 32, "time_spent": "1h", "started_date": "2026-07-01", "started_time": "09:00",
            "adjust_estimate": "new", "new_estimate": ""}  # fmt: skip
    form = WorklogForm(data, tz=BERLIN)
    assert not form.is_valid()
    assert "new_estimate" in form.errors


def test_worklog_form_rejects_a_damaged_token():
    data = {"form_token": "<script>", "time_spent": "1h", "started_date": "2026-07-01", "started_time": "09:00",
            "adjust_estimate": "auto"}  # fmt: skip
    form = WorklogForm(data, tz=BERLIN)
    assert not form.is_valid() and "form_token" in form.errors


def _create_data(project, **kw):
    data = {"form_token": "c" * 32, "project": project.pk, "type": IssueType.objects.get(name="Task").pk,
            "summary": "A thing", "priority": Priority.objects.get(name="Medium").pk}  # fmt: skip
    data.update(kw)
    return data


def test_issue_form_offers_only_member_projects_and_their_members(alice, bob, carol, project_a, project_b):
    form = IssueForm(user=alice)
    assert list(form.fields["project"].queryset) == [project_a]
    assert set(form.fields["assignee"].queryset) == {alice, carol}
    assert bob not in form.fields["assignee"].queryset
    # carol is only a viewer: no project to create in.
    assert not editable_projects(carol).exists()
    assert list(IssueForm(user=bob).fields["project"].queryset) == [project_b]


def test_issue_form_rejects_another_projects_project_and_parent(alice, project_a, project_b, make_issue, bob):
    ops = make_issue(project_b, summary="ops", reporter=bob)
    form = IssueForm(_create_data(project_b), user=alice)
    assert not form.is_valid() and "project" in form.errors
    form = IssueForm(_create_data(project_a, parent=ops.key), user=alice)
    assert not form.is_valid() and "No issue OPS-1 in project DEMO" in form.errors["parent"][0]


def test_issue_form_cleans_for_the_service(alice, project_a, make_issue):
    parent = make_issue(project_a)
    form = IssueForm(
        _create_data(
            project_a,
            labels="a, b",
            parent="demo-1",
            original_estimate="1d 4h",
            due_date="2026-12-01",
            type=IssueType.objects.get(name="Sub-task").pk,
        ),
        user=alice,
    )
    assert form.is_valid(), form.errors
    data = form.service_data()
    assert data["parent"] == parent and data["labels"] == ["a", "b"] and data["original_estimate"] == 12 * 3600
    assert "status" not in data and "remaining_estimate" not in data


def test_issue_edit_form_starts_from_the_issue(alice, project_a, make_issue):
    issue = make_issue(project_a, summary="Edit me", labels=["x", "y"], original_estimate=5400)
    form = IssueForm(user=alice, issue=issue)
    assert "project" not in form.fields and "form_token" not in form.fields
    html = form.as_p()
    assert 'value="Edit me"' in html and 'value="1h 30m"' in html and 'value="x y"' in html


def test_one_time_token_is_claimed_once_and_released_on_failure(alice):
    token = idempotency.new_token()
    assert idempotency.claim(user_id=alice.pk, token=token) == (True, None)
    assert idempotency.claim(user_id=alice.pk, token=token) == (False, None)  # still pending
    idempotency.complete(user_id=alice.pk, token=token, url="/browse/DEMO-1")
    assert idempotency.claim(user_id=alice.pk, token=token) == (False, "/browse/DEMO-1")
    # Tokens are per user: another user's identical token is independent.
    assert idempotency.claim(user_id=alice.pk + 1, token=token) == (True, None)
    other = idempotency.new_token()
    idempotency.claim(user_id=alice.pk, token=other)
    idempotency.release(user_id=alice.pk, token=other)
    assert idempotency.claim(user_id=alice.pk, token=other) == (True, None)


# --- values the form cannot offer stay unless the user changes them --------------------------------------------
# bob is in OPS only: an imported DEMO issue assigned to him (or one assigned before he left DEMO) keeps him.


def _edit_data(issue, **kw):
    """Return the edit form as the browser posts it back unchanged (every field as rendered)."""
    form = IssueForm(user=None, issue=issue)
    data = {}
    for name, field in form.fields.items():
        value = form[name].value()
        data[name] = "" if value is None else field.prepare_value(value)
    data.update(kw)
    return {k: ("" if v is None else v) for k, v in data.items()}


def _assigned_outside(issue, user):
    # Written straight to the row: what imports and departures leave behind (the service refuses new non-members).
    type(issue).objects.filter(pk=issue.pk).update(assignee=user)
    issue.refresh_from_db()
    return issue


def test_edit_form_offers_the_current_non_member_assignee_labelled_as_such(alice, bob, project_a, make_issue):
    issue = _assigned_outside(make_issue(project_a), bob)
    form = IssueForm(user=alice, issue=issue)
    html = str(form["assignee"])
    assert f'<option value="{bob.pk}" selected>Bob Brown (not a member)</option>' in html
    assert "Alice Adams</option>" in html  # the members are still offered


def test_edit_form_keeps_a_non_member_assignee_unless_changed(alice, bob, project_a, make_issue):
    issue = _assigned_outside(make_issue(project_a), bob)
    form = IssueForm(_edit_data(issue, summary="Renamed"), user=alice, issue=issue)
    assert form.is_valid(), form.errors
    assert form.service_data()["assignee"] == bob


def test_edit_form_still_refuses_a_new_non_member_assignee(alice, bob, project_a, project_b, make_issue):
    issue = make_issue(project_a)
    form = IssueForm(_edit_data(issue, assignee=bob.pk), user=alice, issue=issue)
    assert not form.is_valid() and "assignee" in form.errors


def test_edit_form_keeps_a_parent_it_could_no_longer_pick(alice, bob, project_a, project_b, make_issue):
    # A parent in another project (left by an import before the rule) stays until the user changes it.
    issue = make_issue(project_a)
    ops = make_issue(project_b, reporter=bob)
    type(issue).objects.filter(pk=issue.pk).update(parent=ops)
    issue.refresh_from_db()
    form = IssueForm(_edit_data(issue, summary="Renamed"), user=alice, issue=issue)
    assert form.is_valid(), form.errors
    assert form.service_data()["parent"] == ops


# --- text is normalised to LF at the boundary ------------------------------------------------------------------


@pytest.mark.parametrize("posted", ["one\r\ntwo\r\n\r\nthree", "one\rtwo\r\rthree", "one\ntwo\n\nthree"])
def test_text_fields_store_lf_whatever_the_browser_posts(alice, project_a, make_issue, posted):
    from issues.forms import CommentEditForm, CommentForm

    issue = make_issue(project_a)
    form = IssueForm(_edit_data(issue, description=posted), user=alice, issue=issue)
    assert form.is_valid(), form.errors
    assert form.cleaned_data["description"] == "one\ntwo\n\nthree"
    for comment_form in (CommentForm({"form_token": "c" * 32, "body": posted}), CommentEditForm({"body": posted})):
        assert comment_form.is_valid() and comment_form.cleaned_data["body"] == "one\ntwo\n\nthree"
    worklog = WorklogForm({"form_token": "c" * 32, "time_spent": "1h", "comment": posted, "adjust_estimate": "auto",
                           "started_date": "2026-11-02", "started_time": "09:00"}, tz=BERLIN)  # fmt: skip
    assert worklog.is_valid(), worklog.errors
    assert worklog.cleaned_data["comment"] == "one\ntwo\n\nthree"


def test_create_form_refuses_a_sub_task_without_a_parent_and_a_bug_under_a_task(alice, project_a, make_issue):
    task = make_issue(project_a, summary="A task")
    form = IssueForm(_create_data(project_a, type=IssueType.objects.get(name="Sub-task").pk), user=alice)
    assert not form.is_valid() and form.errors["parent"] == ["A sub-task needs a parent issue."]
    form = IssueForm(_create_data(project_a, type=IssueType.objects.get(name="Bug").pk, parent=task.key), user=alice)
    assert not form.is_valid()
    assert form.errors["parent"] == [f"{task.key} is a Task: only an Epic can be the parent of a Bug."]
