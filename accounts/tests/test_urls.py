"""Log in and log out (accounts/urls.py): Django's auth views with Taskra's login template.

Personas (conftest.py): alice is admin of DEMO and may open DEMO-1 once logged in; anonymous visitors
are sent to the login page from every other page.
"""

from __future__ import annotations

import pytest
from django.urls import reverse


@pytest.fixture
def issue(project_a, make_issue):
    return make_issue(project_a, summary="Fix the login page")


def test_login_page_renders_and_logs_in(client, alice, issue):
    browse = reverse("issues:browse", args=[issue.key])
    page = client.get(reverse("login") + f"?next={browse}")
    assert page.status_code == 200
    assert b'autocomplete="current-password"' in page.content
    response = client.post(reverse("login"), {"username": "alice", "password": "alice-pass-123", "next": browse})
    assert response.status_code == 302 and response["Location"] == browse
    assert client.get(browse).status_code == 200


def test_login_with_a_wrong_password_shows_an_error_and_keeps_the_username(client, alice):
    response = client.post(reverse("login"), {"username": "alice", "password": "nope"})
    assert response.status_code == 200
    assert b'role="alert"' in response.content
    assert b'value="alice"' in response.content


def test_logged_in_user_visiting_login_is_sent_on(client, alice):
    # redirect_authenticated_user: a second login form would only confuse.
    client.force_login(alice)
    response = client.get(reverse("login"))
    assert response.status_code == 302 and response["Location"] == reverse("worklogs:home")


def test_logout_ends_the_session(client, alice, issue):
    client.force_login(alice)
    response = client.post(reverse("logout"))
    assert response.status_code == 302
    assert client.get(reverse("issues:browse", args=[issue.key])).status_code == 302


def test_urls_are_where_the_templates_link_them():
    assert reverse("login") == "/accounts/login/"
    assert reverse("logout") == "/accounts/logout/"
