"""attachment/{id}, attachment/content/{id} and fields.attachment: Jira's shapes, the issue's visibility rule.

Personas: alice admin of DEMO (attaches), bob member of OPS only (DEMO's attachments are 404 for him).
"""

from __future__ import annotations

import pytest
from django.core.files.storage import FileSystemStorage
from django.core.files.uploadedfile import SimpleUploadedFile

from issues.models import Attachment
from issues.services import attachment_add

pytestmark = pytest.mark.django_db
API = "/rest/api/2"


@pytest.fixture(autouse=True)
def _attachment_dir(monkeypatch, tmp_path):
    storage = FileSystemStorage(location=str(tmp_path))
    for name in ("file", "thumbnail"):
        monkeypatch.setattr(Attachment._meta.get_field(name), "storage", storage)


@pytest.fixture
def attached(project_a, make_issue, alice):
    issue = make_issue(project_a)
    (attachment,) = attachment_add(issue=issue, author=alice, uploads=[SimpleUploadedFile("notes.txt", b"hello")])
    return issue, attachment


def test_attachment_metadata_content_and_issue_field(client, as_alice, attached):
    issue, attachment = attached
    body = client.get(f"{API}/attachment/{attachment.pk}", **as_alice).json()
    assert (body["filename"], body["size"], body["mimeType"], body["author"]["name"]) == (
        "notes.txt", 5, "text/plain", "alice"
    )  # fmt: skip
    content = client.get(f"{API}/attachment/content/{attachment.pk}", **as_alice)
    assert b"".join(content.streaming_content) == b"hello"
    assert content["Content-Disposition"].startswith("attachment") and content["X-Content-Type-Options"] == "nosniff"
    fields = client.get(f"{API}/issue/{issue.key}?fields=attachment", **as_alice).json()["fields"]
    assert [a["filename"] for a in fields["attachment"]] == ["notes.txt"]


def test_outsider_gets_404(client, as_bob, attached):
    _issue, attachment = attached
    assert client.get(f"{API}/attachment/{attachment.pk}", **as_bob).status_code == 404
    assert client.get(f"{API}/attachment/content/{attachment.pk}", **as_bob).status_code == 404
    assert client.delete(f"{API}/attachment/{attachment.pk}", **as_bob).status_code == 404
    assert Attachment.objects.exists()


def test_upload_over_the_api_follows_the_browser_rules(client, as_alice, as_carol, project_a, make_issue, settings):
    issue = make_issue(project_a)
    url = f"{API}/issue/{issue.key}/attachments"
    response = client.post(url, {"file": [SimpleUploadedFile("a.txt", b"one"), SimpleUploadedFile("b.txt", b"two")]},
                           HTTP_X_ATLASSIAN_TOKEN="no-check", **as_alice)  # fmt: skip
    assert response.status_code == 200
    assert [a["filename"] for a in response.json()] == ["a.txt", "b.txt"]
    forged = client.post(url, {"file": SimpleUploadedFile("cat.png", b"<html>", "image/png")}, **as_alice)
    assert forged.status_code == 400 and "is not an image" in forged.json()["errors"]["files"]
    assert client.post(url, {"file": SimpleUploadedFile("c.txt", b"x")}, **as_carol).status_code == 403  # viewer
    assert client.post(url, {}, **as_alice).status_code == 400
    assert Attachment.objects.count() == 2
