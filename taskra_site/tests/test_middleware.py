"""Unstorable characters (NUL, unpaired surrogates) are refused at the edge with a clear 400, never a 500.

PostgreSQL cannot store NUL in text; before this middleware each site below reached the database and answered
500 there (SQLite stored the NUL silently). Every test runs on the database the suite runs on (SQLite, or
PostgreSQL with DATABASE_URL), and nothing is written.

Personas (conftest.py): alice is admin of DEMO and sends every request; admin is the superuser (admin search).
"""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from imports.models import Job
from issues.models import Comment, Issue
from taskra_site.textguard import find_unstorable, unstorable_message
from worklogs.models import Worklog

NUL = "\x00"


@pytest.fixture
def issue(project_a, make_issue):
    return make_issue(project_a, summary="Fix the login page")


@pytest.fixture
def alice_client(alice) -> Client:
    client = Client()
    client.force_login(alice)
    return client


def _assert_refused_page(response) -> None:
    assert response.status_code == 400
    assert b"cannot be stored" in response.content


def _assert_refused_json(response, *, field: str) -> None:
    assert response.status_code == 400
    body = response.json()
    assert "cannot be stored" in body["message"]
    assert body["errors"][0]["field"] == field
    assert body["errors"][0]["type"] == "unstorable_character"


def test_find_unstorable_names_nul_and_unpaired_surrogates():
    assert find_unstorable("plain text, emoji \U0001f600 and umlauts") is None
    assert find_unstorable("a\x00b") == "NUL"
    assert find_unstorable("a\ud800b") == "an unpaired surrogate"
    assert find_unstorable("\udfff") == "an unpaired surrogate"
    assert "cannot be stored" in unstorable_message("summary", "NUL")


def test_issue_view_path_with_nul_answers_400(alice_client, issue):
    _assert_refused_page(alice_client.get("/browse/DEMO-1%00"))


def test_navigator_jql_with_nul_answers_400(alice_client, issue):
    _assert_refused_page(alice_client.get("/issues/", {"jql": f"summary ~ 'a{NUL}'"}))


def test_navigator_sort_with_nul_answers_400(alice_client, issue):
    _assert_refused_page(alice_client.get("/issues/", {"sort": f"summary{NUL}"}))


def _assert_refused_jira(response, *, field: str) -> None:
    # The REST API answers in Jira's error shape, naming the field.
    assert response.status_code == 400
    body = response.json()
    assert "cannot be stored" in body["errors"][field]


def test_search_api_answers_400_in_the_jira_error_shape(alice_client, issue):
    _assert_refused_jira(alice_client.get("/rest/api/2/search", {"jql": f"text ~ x{NUL}"}), field="jql")


def test_json_api_body_with_nul_answers_400_naming_the_field(alice_client, issue):
    response = alice_client.put(
        "/rest/api/2/issue/DEMO-1",
        data=json.dumps({"fields": {"summary": f"new{NUL}"}}),
        content_type="application/json",
    )
    _assert_refused_jira(response, field="summary")
    issue.refresh_from_db()
    assert issue.summary == "Fix the login page"


def test_json_api_body_with_unpaired_surrogate_answers_400(alice_client, issue):
    response = alice_client.put(
        "/rest/api/2/issue/DEMO-1", data=b'{"fields": {"description": "x\\ud800y"}}', content_type="application/json"
    )
    assert response.status_code == 400  # the JSON parser refuses the lone surrogate: Jira's 400, never a 500
    assert response.json()["errorMessages"]


def test_issue_create_form_with_nul_answers_400(alice_client, project_a):
    response = alice_client.post("/issues/new", {"project": project_a.pk, "summary": f"New{NUL}", "form_token": "t"})
    _assert_refused_page(response)
    assert not Issue.objects.exists()


def test_issue_edit_form_with_nul_answers_400(alice_client, issue):
    _assert_refused_page(alice_client.post("/browse/DEMO-1/edit", {"summary": "x", "description": f"d{NUL}"}))
    issue.refresh_from_db()
    assert issue.description == ""


def test_comment_with_nul_answers_400(alice_client, issue):
    _assert_refused_page(alice_client.post("/browse/DEMO-1/comments", {"body": f"hi{NUL}", "form_token": "t"}))
    assert not Comment.objects.exists()


def test_worklog_form_with_nul_answers_400(alice_client, issue):
    response = alice_client.post(
        "/browse/DEMO-1/worklogs",
        {"time_spent": "1h", "started_date": "2026-03-02", "started_time": "09:00", "comment": f"c{NUL}"},
    )
    _assert_refused_page(response)
    assert not Worklog.objects.exists()


def test_timesheet_cell_with_nul_answers_400(alice_client, issue):
    response = alice_client.post("/timesheet/save/", {"t_DEMO-1_2026-03-02": f"1h{NUL}", "o_DEMO-1_2026-03-02": ""})
    _assert_refused_page(response)
    assert not Worklog.objects.exists()


def test_timesheet_cell_name_with_nul_answers_400(alice_client, issue):
    response = alice_client.post("/timesheet/save/", {f"t_DEMO{NUL}-1_2026-03-02": "1h"})
    _assert_refused_page(response)


def test_admin_search_with_nul_answers_400(admin_user, issue):
    client = Client()
    client.force_login(admin_user)
    _assert_refused_page(client.get("/admin/issues/issue/", {"q": f"x{NUL}"}))


def test_import_upload_filename_with_nul_is_never_stored(alice_client, project_a):
    # Django's multipart parser drops unprintable characters from file names: the job keeps "a.jsonl".
    upload = SimpleUploadedFile(f"a{NUL}.jsonl", b'{"key": "DEMO-1"}\n', content_type="application/json")
    response = alice_client.post("/imports/", {"files": upload, "project": "DEMO"})
    assert response.status_code in (302, 400)
    assert all(NUL not in job.file_name and NUL not in job.file_path for job in Job.objects.all())


def test_import_form_field_with_nul_answers_400(alice_client, project_a):
    upload = SimpleUploadedFile("a.jsonl", b'{"key": "DEMO-1"}\n', content_type="application/json")
    response = alice_client.post("/imports/", {"files": upload, "project": f"DEMO{NUL}"})
    _assert_refused_page(response)
    assert not Job.objects.exists()


def test_session_cookie_with_nul_answers_400_not_500(db):
    client = Client()
    client.cookies["sessionid"] = f"abcdefgh{NUL}ijkl"
    _assert_refused_page(client.get("/accounts/login/"))


def test_login_form_with_nul_answers_400(db):
    _assert_refused_page(Client().post("/accounts/login/", {"username": f"alice{NUL}", "password": "x"}))


def test_clean_requests_pass_through(alice_client, issue):
    assert alice_client.get("/browse/DEMO-1").status_code == 200
    assert alice_client.get("/issues/", {"jql": "summary ~ 'login \U0001f600'"}).status_code == 200
    assert alice_client.get("/rest/api/2/search", {"jql": "project = DEMO"}).status_code == 200
