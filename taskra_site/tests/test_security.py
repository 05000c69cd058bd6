"""The Content-Security-Policy (taskra_site/security.py, sent by django-csp on every response).

Personas (conftest.py): alice is admin of DEMO and opens its pages; admin_user opens the Django admin. The
policy allows scripts, styles and images from the site only (plus TASKRA_CSP_IMAGE_HOSTS for images), so a
Markdown image from another host does not load and no inline script or style can run.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.test import Client, override_settings

from issues.rendering import render_markdown
from taskra_site.env import EnvError, env_csp_sources
from taskra_site.security import content_security_policy

BASE_DIR = Path(__file__).resolve().parents[2]


def directives(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    out = {}
    for part in header.split(";"):
        name, *values = part.split()
        out[name] = values
    return out


@pytest.fixture
def issue(project_a, make_issue):
    return make_issue(project_a, summary="Pictures", description="![x](https://evil.example/p.png)")


def test_every_page_sends_a_strict_policy(alice, admin_user, issue):
    client = Client()
    assert directives(client.get("/accounts/login/"))["default-src"] == ["'self'"]
    client.force_login(alice)
    for url in ("/issues/", "/browse/DEMO-1", "/timesheet/", "/imports/", "/rest/api/2/search"):
        policy = directives(client.get(url))
        assert policy["default-src"] == ["'self'"], url
        assert policy["script-src"] == ["'self'"], url
        assert policy["style-src"] == ["'self'"], url
        assert policy["img-src"] == ["'self'"], url
        assert policy["object-src"] == ["'none'"] and policy["frame-ancestors"] == ["'none'"], url
        assert policy["base-uri"] == ["'self'"] and policy["form-action"] == ["'self'"], url
    admin = Client()
    admin.force_login(admin_user)
    assert directives(admin.get("/admin/"))["script-src"] == ["'self'"]


def test_configured_image_hosts_are_allowed_for_images_only(alice, issue):
    policy = content_security_policy(image_hosts=["https://img.example.com"], debug_toolbar=False)
    with override_settings(CONTENT_SECURITY_POLICY=policy):
        client = Client()
        client.force_login(alice)
        found = directives(client.get("/browse/DEMO-1"))
    assert found["img-src"] == ["'self'", "https://img.example.com"]
    assert found["script-src"] == ["'self'"]


@pytest.mark.parametrize("raw", ["https://a.example; script-src *", "'unsafe-inline'", "https://a.example b", "*"])
def test_image_hosts_that_would_widen_the_policy_are_refused(raw):
    with pytest.raises(EnvError, match="TASKRA_CSP_IMAGE_HOSTS"):
        env_csp_sources("TASKRA_CSP_IMAGE_HOSTS", {"TASKRA_CSP_IMAGE_HOSTS": raw})
    assert env_csp_sources("TASKRA_CSP_IMAGE_HOSTS", {"TASKRA_CSP_IMAGE_HOSTS": "https://i.example,*.cdn.example"}) == [
        "https://i.example",
        "*.cdn.example",
    ]


def test_templates_have_no_inline_script_style_or_handler():
    # The policy would block them: behaviour lives in static/js, looks in static/css (values via data-* + JS).
    offenders = []
    for path in (BASE_DIR / "templates").rglob("*.html"):
        text = path.read_text(encoding="utf-8")
        if re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text) or re.search(r"<style\b|\sstyle=|\son[a-z]+=", text):
            offenders.append(path.relative_to(BASE_DIR).as_posix())
    assert offenders == []


def test_markdown_table_alignment_is_a_class_not_a_style():
    html = render_markdown("| a | b |\n|:--|--:|\n| 1 | 2 |")
    assert "style=" not in html
    assert 'class="align-left"' in html and 'class="align-right"' in html


def test_issue_page_has_no_style_attribute(alice, issue):
    client = Client()
    client.force_login(alice)
    page = client.get("/browse/DEMO-1").content.decode()
    assert " style=" not in page
    assert "data-width=" in page
