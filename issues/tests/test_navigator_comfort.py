"""Navigator comfort: page ranges and Last page on keyset pages, remembered columns and sort, JQL autocomplete.

Personas: alice administers DEMO (and only sees DEMO); bob is in OPS only; carol is a DEMO viewer.
"""

from __future__ import annotations

import base64
import datetime as dt
import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from issues.keyset import LAST_PAGE
from issues.models import Label, NavigatorPreference

NAV = "/issues/"


@pytest.fixture
def seven(project_a, make_issue):
    """Seven DEMO issues created an hour apart (DEMO-1 oldest), so the default order is DEMO-7 .. DEMO-1."""
    issues = [make_issue(project_a, summary=f"Issue {i}") for i in range(1, 8)]
    base = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    for i, issue in enumerate(issues):
        type(issue).objects.filter(pk=issue.pk).update(created=base + dt.timedelta(hours=i))
    return issues


def keys(response) -> list[str]:
    assert response.status_code == 200, response.content[:2000]
    return [row["key"] for row in response.context["result"].rows]


def test_pages_say_which_rows_they_hold_of_how_many(client, alice, seven):
    client.force_login(alice)
    first = client.get(NAV, {"size": "3"})
    assert first.context["result"].range_text == "1\u20133 of 7"
    assert first.context["result"].page_text == "Page 1 of 3"
    second = client.get(NAV + first.context["page_links"]["next"])
    assert second.context["result"].range_text == "4\u20136 of 7"
    assert "Page 2 of 3" in second.content.decode()
    back = client.get(NAV + second.context["page_links"]["prev"])
    assert keys(back) == keys(first)
    assert back.context["result"].range_text == "1\u20133 of 7"


def test_last_page_lines_up_with_pages_counted_from_the_start(client, alice, seven):
    client.force_login(alice)
    first = client.get(NAV, {"size": "3"})
    assert "cursor=last" in first.context["page_links"]["last"]
    last = client.get(NAV + first.context["page_links"]["last"])
    # 7 issues in pages of 3: the last page holds the seventh alone (the oldest, DEMO-1), as page 3.
    assert keys(last) == ["DEMO-1"]
    assert last.context["result"].range_text == "7\u20137 of 7"
    assert last.context["result"].page_text == "Page 3 of 3"
    assert last.context["page_links"]["next"] is None and last.context["page_links"]["last"] is None
    previous = client.get(NAV + last.context["page_links"]["prev"])
    assert keys(previous) == ["DEMO-4", "DEMO-3", "DEMO-2"]
    assert previous.context["result"].range_text == "4\u20136 of 7"


def test_last_page_of_an_uncounted_result_says_last(client, alice, seven, settings, monkeypatch):
    monkeypatch.setattr("issues.selectors.NAVIGATOR_COUNT_CAP", 5)
    client.force_login(alice)
    last = client.get(NAV, {"size": "3", "cursor": LAST_PAGE})
    assert keys(last) == ["DEMO-3", "DEMO-2", "DEMO-1"]
    assert last.context["result"].range_text == "Last 3 of more than 5"
    assert last.context["result"].page_text == ""


def test_a_tampered_page_position_is_refused(client, alice, seven):
    client.force_login(alice)
    first = client.get(NAV, {"size": "3"})
    cursor = first.context["result"].next_cursor
    payload = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    payload["p"] = -5
    bad = base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")
    response = client.get(NAV, {"size": "3", "cursor": bad})
    assert response.status_code == 400
    assert "damaged" in response.content.decode()


def test_chosen_columns_are_remembered_for_the_next_search(client, alice, seven):
    client.force_login(alice)
    response = client.get(NAV, {"remember": "columns", "columns": ["key", "summary", "labels"]})
    assert response.context["column_ids"] == ["key", "summary", "labels"]
    later = client.get(NAV, {"jql": "project = DEMO"})
    assert later.context["column_ids"] == ["key", "summary", "labels"]
    # Columns asked for by a link without remember=columns are used once and not remembered.
    client.get(NAV, {"columns": ["key", "status"]})
    assert NavigatorPreference.objects.get(user=alice).columns == "key,summary,labels"


def test_a_column_sort_is_remembered_unless_the_jql_orders_itself(client, alice, seven):
    client.force_login(alice)
    first = client.get(NAV)
    summary_header = next(c for c in first.context["columns"] if c["id"] == "summary")
    assert "remember=sort" in summary_header["sort_url"]
    client.get(NAV + summary_header["sort_url"])
    again = client.get(NAV, {"jql": "project = DEMO"})
    assert again.context["result"].sort == "summary"
    assert keys(again)[:2] == ["DEMO-1", "DEMO-2"]  # "Issue 1", "Issue 2" ...
    own = client.get(NAV, {"jql": "project = DEMO ORDER BY created DESC"})
    assert keys(own)[0] == "DEMO-7"
    # A text search for the words "order by" is not an ORDER BY clause.
    words = client.get(NAV, {"jql": 'text ~ "order by"'})
    assert words.context["state"]["sort"] == "summary"


def test_a_bad_sort_is_not_remembered(client, alice, seven):
    client.force_login(alice)
    response = client.get(NAV, {"sort": "nonsense", "remember": "sort"})
    assert response.status_code == 400
    assert not NavigatorPreference.objects.filter(user=alice).exists()


def test_preferences_are_per_user(client, alice, carol, seven):
    # alice's remembered columns do not change what carol (a DEMO viewer) sees.
    client.force_login(alice)
    client.get(NAV, {"remember": "columns", "columns": ["key", "summary"]})
    client.force_login(carol)
    assert client.get(NAV).context["column_ids"] != ["key", "summary"]


def test_remembered_preferences_cost_no_extra_query(client, alice, seven):
    # The preference is read by primary key on every navigator page, whether one is saved or not.
    client.force_login(alice)
    client.get(NAV)  # warm the lookups
    with CaptureQueriesContext(connection) as without:
        client.get(NAV, {"jql": "project = DEMO"})
    client.get(NAV, {"remember": "columns", "columns": ["key", "summary"]})
    with CaptureQueriesContext(connection) as with_preference:
        client.get(NAV, {"jql": "project = DEMO AND summary ~ issue"})
    assert len(with_preference) == len(without) <= 16


# --------------------------------------------------------------------------- JQL autocomplete (REST)

AUTOCOMPLETE = "/rest/api/2/jql/autocompletedata"
SUGGEST = "/rest/api/2/jql/autocompletedata/suggestions"


def test_autocomplete_data_lists_fields_functions_and_words(client, alice):
    client.force_login(alice)
    body = client.get(AUTOCOMPLETE).json()
    fields = {f["value"]: f for f in body["visibleFieldNames"]}
    assert {"project", "status", "assignee", "labels", "created"} <= set(fields)
    assert fields["created"]["orderable"] == "true" and fields["text"]["orderable"] == "false"
    assert "in" in fields["status"]["operators"] and "~" in fields["summary"]["operators"]
    assert "currentUser()" in [f["value"] for f in body["visibleFunctionNames"]]
    assert "order" in body["jqlReservedWords"]


def test_autocomplete_needs_a_login(client):
    assert client.get(AUTOCOMPLETE).status_code == 401


def test_project_suggestions_are_only_the_users_projects(client, alice, bob, project_a, project_b):
    # alice is in DEMO only, bob in OPS only: neither learns the other's project.
    client.force_login(alice)
    assert client.get(SUGGEST, {"fieldName": "project", "fieldValue": ""}).json()["results"] == [
        {"value": "DEMO", "displayName": "DEMO - Demo project"}
    ]
    client.force_login(bob)
    assert client.get(SUGGEST, {"fieldName": "project", "fieldValue": "d"}).json()["results"] == []


def test_user_suggestions_are_people_sharing_a_project(client, alice, bob, carol, project_a, project_b):
    client.force_login(alice)
    values = [r["value"] for r in client.get(SUGGEST, {"fieldName": "assignee", "fieldValue": ""}).json()["results"]]
    # alice shares DEMO with carol; bob (OPS only) is not offered.
    assert values[0] == "currentUser()"
    assert "carol" in values and "alice" in values and "bob" not in values
    named = client.get(SUGGEST, {"fieldName": "assignee", "fieldValue": "Carol"}).json()["results"]
    assert named == [{"value": "carol", "displayName": "Carol Clark (carol)"}]


def test_label_suggestions_come_only_from_visible_projects(client, alice, project_a, project_b, make_issue):
    make_issue(project_a, summary="a", labels=["frontend"])
    make_issue(project_b, summary="b", labels=["secret-ops"])
    Label.objects.get_or_create(name="unused")
    client.force_login(alice)
    values = [r["value"] for r in client.get(SUGGEST, {"fieldName": "labels", "fieldValue": ""}).json()["results"]]
    assert values == ["frontend"]


def test_choice_category_and_unknown_field_suggestions(client, alice, project_a):
    client.force_login(alice)
    statuses = [r["value"] for r in client.get(SUGGEST, {"fieldName": "status", "fieldValue": "in"}).json()["results"]]
    assert "In Progress" in statuses and "Done" not in statuses
    category = client.get(SUGGEST, {"fieldName": "statusCategory", "fieldValue": "prog"}).json()["results"]
    assert category == []  # category words start with the prefix: "in progress", "inprogress", ...
    category = client.get(SUGGEST, {"fieldName": "category", "fieldValue": "in"}).json()["results"]
    assert category == [{"value": '"In Progress"', "displayName": "In Progress"}]
    resolution = client.get(SUGGEST, {"fieldName": "resolution", "fieldValue": "un"}).json()["results"]
    assert resolution[0]["value"] == "Unresolved"
    assert client.get(SUGGEST, {"fieldName": "nonsense", "fieldValue": "x"}).json() == {"results": []}
    assert client.get(SUGGEST, {"fieldName": "created", "fieldValue": "2"}).json() == {"results": []}
