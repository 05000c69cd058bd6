"""URL names reversed once (taskra_site/links.py): the same text as reverse() and {% url %}, by any prefix.

Personas: alice (DEMO admin) is logged in for the page test; the menu is the same for every viewer.
"""

from __future__ import annotations

import pytest
from django.template import engines
from django.urls import clear_script_prefix, reverse, set_script_prefix

from taskra_site.links import NAV_URL_NAMES, issue_url, menu_urls


@pytest.fixture
def script_prefix():
    yield set_script_prefix
    clear_script_prefix()
    set_script_prefix("/")


def test_menu_urls_are_reverse_of_their_names():
    nav = menu_urls()
    assert {short: nav[short] for short in NAV_URL_NAMES} == {s: reverse(n) for s, n in NAV_URL_NAMES.items()}
    assert nav["issue_prefix"] + "DEMO-1" == reverse("issues:browse", args=["DEMO-1"])


@pytest.mark.parametrize("key", ["DEMO-1", "OPS-12345", "A_B-7"])
def test_issue_url_is_reverse_of_the_issue_page(key):
    assert issue_url(key) == reverse("issues:browse", args=[key])


def test_issue_url_quotes_like_reverse():
    # Keys never hold these, but the filter must not build a different URL than reverse() if one did.
    for odd in ("a b", "é", "x?y#z", "50%"):
        assert issue_url(odd) == reverse("issues:browse", args=[odd])


def test_a_script_prefix_is_honoured_per_prefix(script_prefix):
    assert issue_url("DEMO-1") == "/browse/DEMO-1"
    script_prefix("/taskra/")
    assert issue_url("DEMO-1") == "/taskra/browse/DEMO-1" == reverse("issues:browse", args=["DEMO-1"])
    assert menu_urls()["navigator"] == "/taskra/issues/"
    script_prefix("/")
    assert menu_urls()["navigator"] == "/issues/"


def test_the_filter_renders_what_url_renders():
    template = engines["django"].from_string("{% load links %}{{ key|issue_url }}|{% url 'issues:browse' key %}")
    first, second = template.render({"key": "DEMO-9"}).split("|")
    assert first == second == "/browse/DEMO-9"


def test_every_page_has_the_menu(client, alice):
    # The context processor feeds base.html: the menu links are the reversed names, on any page.
    client.force_login(alice)
    html = client.get(reverse("worklogs:timesheet")).content.decode()
    for short in ("navigator", "timesheet", "worklogs", "reports", "imports", "create", "logout"):
        assert f'"{reverse(NAV_URL_NAMES[short])}"' in html, short
    assert f'data-current-prefix="{reverse("issues:browse", args=["X"])[:-1]}"' in html


def test_a_new_urlconf_is_not_served_old_urls(settings):
    assert menu_urls()["navigator"] == "/issues/"
    settings.ROOT_URLCONF = "taskra_site.tests.urls_elsewhere"
    assert menu_urls()["navigator"] == "/elsewhere/issues/" == reverse("issues:navigator")
    assert issue_url("DEMO-1") == "/elsewhere/browse/DEMO-1"
