"""The upload form (imports/forms.py): size limits, the per-person quota of stored uploads, and who may upload.

Personas (conftest.py): alice is admin of DEMO and uploads; bob is a member of OPS; dora is in no project and
may not upload at all; admin_user (a superuser in no project) may import anywhere.
"""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from imports.forms import UploadForm
from imports.models import Job

LINE = b'{"key": "DEMO-1", "summary": "x"}\n'


def upload(size: int, name: str = "issues.jsonl") -> SimpleUploadedFile:
    body = (LINE * (size // len(LINE) + 1))[:size]
    return SimpleUploadedFile(name, body, content_type="application/json")


@pytest.fixture
def quota(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    settings.IMPORT_MAX_UPLOAD_BYTES = 4096
    settings.IMPORT_USER_QUOTA_BYTES = 10_000
    return settings


@pytest.fixture
def dora(db):
    return get_user_model().objects.create_user("dora", "dora@example.com", "dora-pass-123")


def form(user, *files: SimpleUploadedFile) -> UploadForm:
    return UploadForm({"project": "", "format": "", "timezone": "UTC"}, {"files": list(files)}, user=user)


def stored(user, size: int, **kw) -> Job:
    kw.setdefault("source", "upload")
    return Job.objects.create(user=user, file_size=size, file_path="imports/x/a.jsonl", **kw)


def test_a_file_over_the_size_limit_is_a_form_error(alice, project_a, quota):
    f = form(alice, upload(5000))
    assert not f.is_valid()
    assert "the limit is" in f.errors["files"][0]


def test_uploads_over_the_quota_are_a_form_error_naming_the_numbers(alice, project_a, quota):
    stored(alice, 7000)
    assert form(alice, upload(3000)).is_valid()
    f = form(alice, upload(2000), upload(2000))
    assert not f.is_valid()
    message = f.errors["files"][0]
    assert "quota" in message and "11.0 kB" in message and "10.0 kB" in message


def test_expired_and_other_peoples_uploads_do_not_count(alice, bob, project_a, project_b, quota):
    stored(bob, 9000)
    stored(alice, 9000, files_expired=True)
    stored(alice, 9000, source="command")  # files the server already had: nothing was stored for alice
    assert form(alice, upload(4000)).is_valid()


def test_a_user_in_no_project_may_not_upload(dora, quota):
    f = form(dora, upload(100))
    assert not f.is_valid()
    assert "member of a project" in f.non_field_errors()[0]
    client = Client()
    client.force_login(dora)
    page = client.get("/imports/")
    assert page.status_code == 200 and b"member of a project" in page.content
    assert b'id="import-form"' not in page.content
    response = client.post("/imports/", {"files": upload(100)})
    assert response.status_code == 400
    assert not Job.objects.exists()


def test_a_viewer_only_may_not_upload_but_a_superuser_may(carol, admin_user, project_a, quota):
    # carol only views DEMO: nothing she could import into.
    assert not form(carol, upload(100)).is_valid()
    assert form(admin_user, upload(100)).is_valid()


def test_the_upload_page_queues_a_job_within_the_quota(client, alice, project_a, quota):
    client.force_login(alice)
    response = client.post("/imports/", {"files": upload(3000), "project": "DEMO", "timezone": "UTC"})
    assert response.status_code == 302
    assert Job.objects.get().file_size == 3000
