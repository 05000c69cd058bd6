"""The page header ({% topbar %}, taskra_site/chrome.py): rendered once per user name, yet right for every request.

Personas: alice and bob are plain users, admin is staff; each must see their own name, and each request its own
CSRF token, although the header's HTML is kept between requests.
"""

from __future__ import annotations

import re

from django.test import Client
from django.urls import reverse

CSRF_RE = re.compile(
    r'<form method="post" action="/accounts/logout/" class="logout"><input type="hidden" '
    r'name="csrfmiddlewaretoken" value="([^"]+)">'
)


def header(client: Client) -> str:
    html = client.get(reverse("worklogs:timesheet")).content.decode()
    return html[html.index('<header class="topbar">') : html.index("</header>")]


def test_each_user_sees_their_own_name(alice, bob):
    for user, name in ((alice, "Alice Adams"), (bob, "Bob Brown"), (alice, "Alice Adams")):
        client = Client()
        client.force_login(user)
        html = header(client)
        assert f'title="Your profile ({user.username})" id="profile-link">{name}</a>' in html


def test_a_renamed_user_sees_the_new_name(client, alice):
    client.force_login(alice)
    assert "Alice Adams" in header(client)
    alice.profile.display_name = "Alice Ames"
    alice.profile.save(update_fields=["display_name"])
    assert "Alice Ames" in header(client)


def test_names_are_escaped(client, alice):
    alice.profile.display_name = '<script>alert("x")</script>'
    alice.profile.save(update_fields=["display_name"])
    client.force_login(alice)
    html = header(client)
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html


def test_every_request_gets_its_own_csrf_token_and_logout_works(alice):
    tokens = []
    for _ in range(2):
        client = Client(enforce_csrf_checks=True)
        client.force_login(alice)
        match = CSRF_RE.search(header(client))
        assert match, "the logout form carries a CSRF input"
        tokens.append(match.group(1))
        # The token in the cached header is this request's: logging out with it is accepted.
        response = client.post(reverse("logout"), {"csrfmiddlewaretoken": match.group(1)})
        assert response.status_code == 302
    assert tokens[0] != tokens[1]


def test_only_staff_see_the_admin_link(client, alice, admin_user):
    client.force_login(alice)
    assert 'href="/admin/"' not in header(client)
    client.force_login(admin_user)
    assert 'href="/admin/"' in header(client)


def test_the_login_page_has_no_menu(client):
    html = client.get(reverse("login")).content.decode()
    topbar = html[html.index('<header class="topbar">') : html.index("</header>")]
    assert "mainnav" not in topbar and "logout" not in topbar
