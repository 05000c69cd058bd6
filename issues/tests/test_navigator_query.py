"""Reading the navigator's query string (issues/navigator_query.py), without rendering a page.

Personas: alice administers DEMO; bob is in OPS only. The page-level behaviour (redirects, notices, errors
on the page) is in test_navigator.py; here the parsing rules are checked one by one.
"""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from django.http import QueryDict

from issues.models import SavedFilter
from issues.navigator_query import (
    NavigatorQuery,
    filter_state,
    filters_to_jql,
    has_basic_filters,
    page_size,
    parse_navigator_query,
    quote_jql,
)
from issues.selectors import NAVIGATOR_PAGE_SIZE, NavigatorError


def qd(query: str) -> QueryDict:
    return QueryDict(query)


def test_filters_to_jql_quotes_everything():
    params = QueryDict(mutable=True)
    params.setlist("label", ['a"b', "c\\d"])
    assert filters_to_jql(params) == 'labels IN ("a\\"b", "c\\\\d")'


def test_quote_jql_escapes_backslashes_before_quotes():
    assert quote_jql('say "hi" \\o/') == '"say \\"hi\\" \\\\o/"'


def test_filters_to_jql_joins_fields_and_dedupes_values():
    params = qd("project=DEMO&status=Done&status=Done&status=To+Do&text=+needle+&type=")
    assert filters_to_jql(params) == 'project = "DEMO" AND status IN ("Done", "To Do") AND text ~ "needle"'


@pytest.mark.parametrize(
    ("value", "clause"),
    [
        ("me", "assignee = currentUser()"),
        ("currentUser()", "assignee = currentUser()"),
        ("Unassigned", "assignee IS EMPTY"),
        ("none", "assignee IS EMPTY"),
        ("bob", 'assignee = "bob"'),
    ],
)
def test_filters_to_jql_user_words(value, clause):
    assert filters_to_jql(qd(urlencode({"assignee": value}))) == clause


def test_empty_form_is_empty_jql():
    assert filters_to_jql(qd("project=&text=++")) == ""


def test_basic_filters_are_detected_by_mode_or_any_field():
    assert has_basic_filters(qd("mode=basic"))
    assert has_basic_filters(qd("label=ui"))
    assert has_basic_filters(qd("text=x"))
    assert not has_basic_filters(qd("jql=project+%3D+DEMO&sort=key"))


def test_filter_state_echoes_the_form():
    state = filter_state(qd("status=Done&status=To+Do&text=abc"))
    assert state["status"] == ["Done", "To Do"] and state["text"] == "abc" and state["project"] == []


@pytest.mark.parametrize(("raw", "size"), [(None, NAVIGATOR_PAGE_SIZE), ("", NAVIGATOR_PAGE_SIZE), ("25", 25)])
def test_page_size(raw, size):
    assert page_size(raw) == size


def test_page_size_keeps_four_digits_and_refuses_words():
    assert page_size("123456") == 1234  # the selector caps it; no giant int from a giant string
    for raw in ("-1", "ten", "1.5"):
        with pytest.raises(NavigatorError):
            page_size(raw)


@pytest.mark.django_db
def test_parse_reads_sort_group_cursor_and_size(alice):
    query = parse_navigator_query(
        qd("jql=project+%3D+DEMO&sort=key&dir=desc&group=status&cursor=abc&size=10&columns=key&columns=summary"),
        user=alice,
        saved=None,
    )
    assert query == NavigatorQuery(
        jql="project = DEMO",
        columns=["key", "summary"],
        sort="key",
        direction="desc",
        group_by="status",
        cursor="abc",
        size="10",
    )


@pytest.mark.django_db
def test_empty_parameters_are_none(alice):
    query = parse_navigator_query(qd("sort=&dir=&group=&cursor="), user=alice, saved=None)
    assert (query.jql, query.sort, query.direction, query.group_by, query.cursor, query.size) == (
        "",
        None,
        None,
        None,
        None,
        "",
    )
    assert query.error is None and query.issue_key is None and query.notice is None


@pytest.mark.django_db
def test_basic_filters_replace_the_jql(alice):
    query = parse_navigator_query(qd("jql=type+%3D+Bug&mode=basic&label=ui"), user=alice, saved=None)
    assert query.jql == 'labels = "ui"'


@pytest.mark.django_db
def test_an_issue_key_opens_the_issue_unless_paging(alice):
    assert parse_navigator_query(qd("jql=+demo-3+"), user=alice, saved=None).issue_key == "DEMO-3"
    paging = parse_navigator_query(qd("jql=DEMO-3&cursor=abc"), user=alice, saved=None)
    assert paging.issue_key is None


@pytest.mark.django_db
def test_plain_words_become_a_text_search_with_a_notice(alice):
    query = parse_navigator_query(qd("jql=export+slow"), user=alice, saved=None)
    assert query.jql == 'text ~ "export slow"'
    assert query.notice == "'export slow' is not JQL, so issues containing those words are shown."
    # Valid JQL without operators (a lone ORDER BY) and text with JQL syntax stay as typed.
    assert parse_navigator_query(qd("jql=order+by+key"), user=alice, saved=None).notice is None
    broken = parse_navigator_query(qd("jql=stauts+%3D+Done"), user=alice, saved=None)
    assert broken.jql == "stauts = Done" and broken.notice is None


@pytest.mark.django_db
def test_saved_filter_brings_its_jql_and_columns_unless_overridden(alice, project_a):
    saved = SavedFilter.objects.create(owner=alice, name="Mine", jql="project = DEMO", columns=["key", "status"])
    query = parse_navigator_query(qd(f"filter={saved.pk}"), user=alice, saved=saved)
    assert (query.jql, query.columns, query.error) == ("project = DEMO", ["key", "status"], None)
    own = parse_navigator_query(qd(f"filter={saved.pk}&jql=type+%3D+Bug&columns=summary"), user=alice, saved=saved)
    assert (own.jql, own.columns) == ("type = Bug", ["summary"])


@pytest.mark.django_db
def test_a_saved_filter_the_user_may_not_open_is_an_error(bob):
    # The view looked the filter up for bob and found nothing he may see (missing or alice's private one).
    query = parse_navigator_query(qd("filter=12345"), user=bob, saved=None)
    assert isinstance(query.error, NavigatorError)
    assert str(query.error) == "That saved filter does not exist or is not shared with you."
