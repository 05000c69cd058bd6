"""Attachments: upload (sniffed types, forged types refused, size limit, quota), download rules, thumbnails,
deletion with the issue. Files go to a temporary storage directory per test.

Personas: alice is admin of DEMO, carol a viewer in DEMO, bob a member of OPS only (an outsider to DEMO).
"""

from __future__ import annotations

import io

import pytest
from django.core.files.storage import FileSystemStorage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from PIL import Image

from issues.models import Attachment, History, Membership, Role
from issues.services import attachment_add, attachment_files_storage, issue_delete


@pytest.fixture(autouse=True)
def _attachment_dir(monkeypatch, tmp_path):
    # The model's file fields hold the storage built from settings at start-up: point them at a temporary directory.
    storage = FileSystemStorage(location=str(tmp_path))
    for name in ("file", "thumbnail"):
        monkeypatch.setattr(Attachment._meta.get_field(name), "storage", storage)


def png_bytes(size=(64, 48)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(out, format="PNG")
    return out.getvalue()


def upload(client, key, *files):
    return client.post(f"/browse/{key}/attachments", {"files": list(files)})


def test_upload_several_files_with_sniffed_types_and_a_thumbnail(client, project_a, make_issue, alice):
    issue = make_issue(project_a)
    client.force_login(alice)
    response = upload(
        client,
        issue.key,
        SimpleUploadedFile("shot.png", png_bytes(), content_type="image/png"),
        SimpleUploadedFile("page.html", b"<script>alert(1)</script>", content_type="text/html"),
    )
    assert response.status_code == 302
    image, html = Attachment.objects.order_by("id")
    assert (image.content_type, image.width, image.height, bool(image.thumbnail)) == ("image/png", 64, 48, True)
    assert html.content_type == "text/plain"  # never served as HTML
    page = client.get(f"/browse/{issue.key}").content.decode()
    assert f"/attachments/{image.pk}/thumbnail" in page and "page.html" in page
    assert set(History.objects.filter(field="attachment").values_list("to_value", flat=True)) == {
        "shot.png",
        "page.html",
    }


def test_download_headers_inline_only_for_images(client, project_a, make_issue, alice):
    issue = make_issue(project_a)
    client.force_login(alice)
    upload(client, issue.key, SimpleUploadedFile("shot.png", png_bytes()), SimpleUploadedFile("x.html", b"<b>hi</b>"))
    image, html = Attachment.objects.order_by("id")
    got = client.get(f"/attachments/{image.pk}/shot.png")
    assert got["Content-Type"] == "image/png" and not got["Content-Disposition"].startswith("attachment")
    assert got["X-Content-Type-Options"] == "nosniff"
    got = client.get(f"/attachments/{html.pk}/x.html")
    assert got["Content-Type"].startswith("text/plain")
    assert got["Content-Disposition"].startswith("attachment")
    assert "sandbox" in got["Content-Security-Policy"]
    thumb = client.get(f"/attachments/{image.pk}/thumbnail")
    assert thumb["Content-Type"] == "image/png"
    assert Image.open(io.BytesIO(b"".join(thumb.streaming_content))).size == (64, 48)


def test_outsider_gets_404_on_attachment_urls(client, project_a, make_issue, alice, bob):
    issue = make_issue(project_a)
    (attachment,) = attachment_add(issue=issue, author=alice, uploads=[SimpleUploadedFile("a.png", png_bytes())])
    client.force_login(bob)  # OPS only
    assert client.get(f"/attachments/{attachment.pk}/a.png").status_code == 404
    assert client.get(f"/attachments/{attachment.pk}/thumbnail").status_code == 404
    assert client.post(f"/attachments/{attachment.pk}/delete").status_code == 404
    assert client.get(f"/attachments/{attachment.pk + 1000}/a.png").status_code == 404  # the same as a missing one


def test_forged_image_and_oversized_files_are_refused(client, project_a, make_issue, alice, settings):
    issue = make_issue(project_a)
    client.force_login(alice)
    response = upload(client, issue.key, SimpleUploadedFile("cat.png", b"<html>not a cat</html>", "image/png"))
    assert response.status_code == 400
    assert "cat.png" in response.content.decode() and "is not an image" in response.content.decode()
    settings.TASKRA_ATTACHMENT_MAX_BYTES = 1024
    response = upload(client, issue.key, SimpleUploadedFile("big.txt", b"x" * 2048))
    assert response.status_code == 400 and "at most 1.0" in response.content.decode()
    assert not Attachment.objects.exists()
    assert not list(attachment_files_storage().listdir(".")[1])  # nothing left in storage


def test_quota_counts_what_the_person_already_attached(project_a, make_issue, alice, settings):
    from django.core.exceptions import ValidationError

    issue = make_issue(project_a)
    settings.TASKRA_ATTACHMENT_USER_QUOTA_BYTES = 3000
    attachment_add(issue=issue, author=alice, uploads=[SimpleUploadedFile("a.txt", b"a" * 2000)])
    with pytest.raises(ValidationError, match="quota"):
        attachment_add(issue=issue, author=alice, uploads=[SimpleUploadedFile("b.txt", b"b" * 2000)])


def test_decompression_bomb_is_refused(project_a, make_issue, alice, settings):
    from django.core.exceptions import ValidationError

    settings.TASKRA_ATTACHMENT_MAX_PIXELS = 10_000
    issue = make_issue(project_a)
    with pytest.raises(ValidationError, match="pixels"):
        attachment_add(issue=issue, author=alice, uploads=[SimpleUploadedFile("huge.png", png_bytes((200, 100)))])


def test_viewer_cannot_attach_and_member_deletes_only_own(client, project_a, make_issue, alice, carol, bob):
    issue = make_issue(project_a)
    client.force_login(carol)  # viewer
    assert upload(client, issue.key, SimpleUploadedFile("a.txt", b"hello")).status_code == 403
    Membership.objects.create(project=project_a, user=bob, role=Role.MEMBER)
    (mine,) = attachment_add(issue=issue, author=alice, uploads=[SimpleUploadedFile("a.txt", b"hello")])
    client.force_login(bob)  # member, not the author
    assert client.post(f"/attachments/{mine.pk}/delete").status_code == 403
    client.force_login(alice)
    assert client.post(f"/attachments/{mine.pk}/delete").status_code == 302
    assert not Attachment.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_deleting_the_issue_deletes_its_files_after_commit(project_a, make_issue, alice):
    issue = make_issue(project_a)
    (attachment,) = attachment_add(issue=issue, author=alice, uploads=[SimpleUploadedFile("a.png", png_bytes())])
    storage = attachment_files_storage()
    names = [attachment.file.name, attachment.thumbnail.name]
    assert all(storage.exists(n) for n in names)
    with transaction.atomic():
        issue_delete(issue=issue, actor=alice)
        assert all(storage.exists(n) for n in names)  # not before the commit: a rollback keeps them
    assert not any(storage.exists(n) for n in names)
