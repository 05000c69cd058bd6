"""End to end in headless Chromium: click-to-edit the summary, link issues, attach an image and see its thumbnail,
move the issue to another project and open its old key.

Personas: alice (admin of DEMO, member of OPS here) drives the browser. Screenshots in docs/screenshots/.
Run: .venv/bin/pytest issues/tests/test_e2e_collab_edit.py -q -m e2e
"""

from __future__ import annotations

import importlib
import io
import re

import pytest
from django.core.files.storage import FileSystemStorage
from PIL import Image

from conftest import SCREENSHOTS as SHOTS

pytestmark = pytest.mark.e2e


@pytest.fixture
def demo(transactional_db, alice, project_a, project_b, make_issue, monkeypatch, tmp_path):
    from django.apps import apps

    from issues.models import Attachment, Membership, Role
    from issues.tests.conftest import reset_all

    reset_all()
    importlib.import_module("issues.migrations.0002_jira_defaults").seed(apps, None)
    importlib.import_module("issues.migrations.0005_collab_edit_issue_links").seed_link_types(apps, None)
    storage = FileSystemStorage(location=str(tmp_path))
    for name in ("file", "thumbnail"):
        monkeypatch.setattr(Attachment._meta.get_field(name), "storage", storage)
    Membership.objects.create(project=project_b, user=alice, role=Role.MEMBER)
    issue = make_issue(project_a, summary="Login page rejects valid passwords", description="Users report **401**.")
    make_issue(project_a, summary="Session cookie missing on staging")
    return issue


def test_edit_in_place_link_attach_and_move(plain_http_server, browser, demo, tmp_path):
    from playwright.sync_api import expect

    base = plain_http_server.url
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if "Content Security Policy" in msg.text else None)
    page.goto(f"{base}/accounts/login/")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill("alice-pass-123")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base}/")  # logging in lands on the home page

    # Click-to-edit the summary: click the title, type, Enter.
    page.goto(f"{base}/browse/DEMO-1")
    page.locator("#issue-summary").click()
    field = page.locator("#summary-input")
    expect(field).to_be_visible()
    field.fill("Login rejects valid passwords after a reset")
    field.press("Enter")
    expect(page.locator("#issue-summary")).to_contain_text("Login rejects valid passwords after a reset")

    # Link DEMO-1 "blocks" DEMO-2; DEMO-2's page shows the other side.
    page.locator(".add-link summary").click()
    page.locator("#link-type").select_option(label="blocks")
    page.locator("#link-issue").fill("DEMO-2")
    page.get_by_role("button", name="Link", exact=True).click()
    expect(page.locator("#links")).to_contain_text("DEMO-2")

    # Attach an image: choosing the file uploads it (as dropping does); the page shows its thumbnail.
    png = tmp_path / "screenshot.png"
    out = io.BytesIO()
    Image.new("RGB", (640, 400), (30, 90, 200)).save(out, format="PNG")
    png.write_bytes(out.getvalue())
    page.locator("#attach-files").set_input_files(str(png))
    thumb = page.locator("#attachments img.thumbnail")
    expect(thumb).to_be_visible()
    expect(thumb).to_have_js_property("naturalWidth", 240)  # the 240 px thumbnail loaded, not the original
    page.screenshot(path=str(SHOTS / "issue-links-attachments.png"), full_page=True)

    page.goto(f"{base}/browse/DEMO-2")
    expect(page.locator("#links")).to_contain_text("is blocked by")

    # Move DEMO-1 to OPS, then open the old key: it redirects to the new one.
    page.goto(f"{base}/browse/DEMO-1/move")
    page.locator("#id_project").select_option(label="OPS: Operations")
    page.locator("#confirm-move").click()
    page.wait_for_url(re.compile(r".*/browse/OPS-\d+$"))
    new_url = page.url
    page.screenshot(path=str(SHOTS / "issue-moved.png"))
    page.goto(f"{base}/browse/DEMO-1")
    assert page.url == new_url
    expect(page.locator("#attachments img.thumbnail")).to_be_visible()  # attachments move with the issue
    assert not errors, errors
