"""URL names reversed once (taskra_site/links.py): the same text as reverse() and {% url %}, by any prefix."""

from __future__ import annotations

import pytest
from django.template import engines
from django.urls import clear_script_prefix, reverse, set_script_prefix

from taskra_site.links import cached_url, issue_url


@pytest.fixture
def script_prefix():
    yield set_script_prefix
    clear_script_prefix()
    set_script_prefix("/")


@pytest.mark.parametrize(
    "name",
    ["issues:navigator", "issues:create", "worklogs:timesheet", "worklogs:list", "worklogs:reports", "imports:index"],
)
def test_cached_url_is_reverse(name):
    assert cached_url(name) == reverse(name)


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
    assert cached_url("issues:navigator") == "/taskra/issues/"
    script_prefix("/")
    assert cached_url("issues:navigator") == "/issues/"


def test_template_tags_render_what_url_renders():
    template = engines["django"].from_string(
        "{% load links %}{% cached_url 'worklogs:timesheet' %}|{{ key|issue_url }}|{% url 'issues:browse' key %}"
    )
    first, second, third = template.render({"key": "DEMO-9"}).split("|")
    assert first == reverse("worklogs:timesheet")
    assert second == third == "/browse/DEMO-9"
