"""Issue navigator (/issues/), exports, search API and saved filters, through the Django test client.

Personas: alice administers DEMO and sees only DEMO; bob is in OPS only and must get nothing of DEMO in
lists, exports, the API or saved filters; carol is a DEMO viewer; anonymous users are sent to log in.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from urllib.parse import parse_qs, urlencode, urlparse

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import NoReverseMatch, reverse
from django.utils.html import escape

from issues.models import IssueType, Priority, SavedFilter, Status

NAV = "/issues/"


@pytest.fixture
def demo(project_a, project_b, make_issue, alice, bob, carol):
    """Six DEMO issues and two OPS issues with distinct created times (DEMO-1 oldest)."""
    bug = IssueType.objects.get(name="Bug")
    high = Priority.objects.get(name="High")
    done = Status.objects.get(name="Done")
    in_progress = Status.objects.get(name="In Progress")
    issues = [
        make_issue(project_a, summary="Login crashes", type=bug, priority=high, assignee=alice, labels=["ui"]),
        make_issue(project_a, summary="Docs for export", status=in_progress, assignee=carol),
        make_issue(project_a, summary="Export, CSV = slow", status=done, labels=["perf", "ui"]),
        make_issue(project_a, summary="Unassigned task", reporter=carol),
        make_issue(project_a, summary="Another bug", type=bug, assignee=alice),
        make_issue(project_a, summary="Secret DEMO thing", description="needle in description"),
        make_issue(project_b, summary="OPS pager", reporter=bob, assignee=bob),
        make_issue(project_b, summary="OPS login outage", reporter=bob),
    ]
    base = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    for i, issue in enumerate(issues):
        type(issue).objects.filter(pk=issue.pk).update(created=base + dt.timedelta(hours=i))
    return issues


def page_keys(response) -> list[str]:
    assert response.status_code == 200, response.content[:2000]
    return [row["key"] for row in response.context["result"].rows]


def get(client, **params):
    return client.get(NAV, params)


# --------------------------------------------------------------------------- access


def test_anonymous_is_redirected_to_login(client, demo):
    for url in (NAV, reverse("issues:export") + "?format=csv"):
        response = client.get(url)
        assert response.status_code == 302
        assert "/accounts/login/" in response["Location"]
    assert client.get("/rest/api/2/search").status_code == 401  # the REST API answers clients, not login pages


def test_alice_sees_demo_only(client, alice, demo):
    client.force_login(alice)
    keys = page_keys(get(client))
    assert keys == ["DEMO-6", "DEMO-5", "DEMO-4", "DEMO-3", "DEMO-2", "DEMO-1"]  # created DESC by default


def test_bob_gets_nothing_of_demo(client, bob, demo):
    client.force_login(bob)
    assert page_keys(get(client)) == ["OPS-2", "OPS-1"]
    # DEMO does not exist for bob: the same error as a project that does not exist at all.
    hidden, missing = get(client, jql="project = DEMO"), get(client, jql="project = NOPE")
    assert hidden.status_code == missing.status_code == 400
    assert hidden.context["error"].message == "The value 'DEMO' does not exist for the field 'project' at column 11."
    assert hidden.context["error"].hint == missing.context["error"].hint
    assert page_keys(get(client, jql="key = DEMO-1")) == []
    assert page_keys(get(client, jql="text ~ needle")) == []
    response = client.get(reverse("issues:export"), {"format": "csv", "jql": "key in (DEMO-1, DEMO-2)"})
    assert "DEMO-" not in b"".join(response.streaming_content).decode()
    response = client.get(reverse("issues:export"), {"format": "json"})
    assert [r["key"] for r in json.loads(b"".join(response.streaming_content))] == ["OPS-2", "OPS-1"]
    response = client.get(
        "/rest/api/2/search", {"jql": "project = OPS or key in (DEMO-1, DEMO-2) order by created desc"}
    )
    assert [r["key"] for r in response.json()["issues"]] == ["OPS-2", "OPS-1"]
    response = client.get(reverse("issues:export"), {"format": "csv", "jql": "project = DEMO"})
    assert response.status_code == 400 and "does not exist" in response.json()["message"]


def test_rows_link_to_browse_and_have_bulk_checkboxes(client, alice, demo):
    client.force_login(alice)
    html = get(client).content.decode()
    assert 'href="/browse/DEMO-1"' in html
    assert f'name="issue" value="{demo[0].pk}"' in html
    assert 'id="bulk-form"' in html and 'action="/imports/bulk/"' in html
    try:
        reverse("imports:bulk")
    except NoReverseMatch:
        assert 'id="bulk-actions" hidden' in html  # no bulk endpoint: the actions bar stays hidden
    else:
        assert 'id="bulk-actions">' in html


def test_bulk_form_posts_checked_ids_to_the_bulk_page(client, alice, demo):
    try:
        url = reverse("imports:bulk")
    except NoReverseMatch:
        pytest.skip("the imports app has no bulk page in this tree")
    client.force_login(alice)
    response = client.post(url, {"issue": [demo[0].pk, demo[2].pk], "jql": "", "action": "edit"})
    assert response.status_code == 200
    assert "2 checked issues" in response.content.decode()


# --------------------------------------------------------------------------- basic filters = JQL


@pytest.mark.parametrize(
    ("params", "jql", "expected"),
    [
        ({"project": "DEMO"}, 'project = "DEMO"', ["DEMO-6", "DEMO-5", "DEMO-4", "DEMO-3", "DEMO-2", "DEMO-1"]),
        ({"status": "Done"}, 'status = "Done"', ["DEMO-3"]),
        ({"status": ["Done", "In Progress"]}, 'status IN ("Done", "In Progress")', ["DEMO-3", "DEMO-2"]),
        ({"category": "In Progress"}, 'statusCategory = "In Progress"', ["DEMO-2"]),
        ({"assignee": "me"}, "assignee = currentUser()", ["DEMO-5", "DEMO-1"]),
        ({"assignee": "unassigned"}, "assignee IS EMPTY", ["DEMO-6", "DEMO-4", "DEMO-3"]),
        ({"assignee": "carol"}, 'assignee = "carol"', ["DEMO-2"]),
        ({"reporter": "carol"}, 'reporter = "carol"', ["DEMO-4"]),
        ({"type": "Bug"}, 'type = "Bug"', ["DEMO-5", "DEMO-1"]),
        ({"priority": "High"}, 'priority = "High"', ["DEMO-1"]),
        ({"label": "ui"}, 'labels = "ui"', ["DEMO-3", "DEMO-1"]),
        ({"text": "export"}, 'text ~ "export"', ["DEMO-3", "DEMO-2"]),
        (
            {"type": "Bug", "assignee": "me", "text": 'say "hi"'},
            'assignee = currentUser() AND type = "Bug" AND text ~ "say \\"hi\\""',
            [],
        ),
    ],
)
def test_basic_filters_compile_to_jql_shown_in_box(client, alice, demo, params, jql, expected):
    client.force_login(alice)
    response = get(client, mode="basic", **params)
    assert page_keys(response) == expected
    assert response.context["jql"] == jql
    # The JQL box shows the same query, and running it from the box gives the same rows.
    assert f">{escape(jql)}</textarea>" in response.content.decode()
    assert page_keys(get(client, jql=jql)) == expected


# --------------------------------------------------------------------------- JQL box and errors


def test_jql_box_and_order_by(client, alice, demo):
    client.force_login(alice)
    assert page_keys(get(client, jql="project = DEMO and type = Bug order by created asc")) == ["DEMO-1", "DEMO-5"]


def test_bad_jql_shows_inline_error_and_keeps_text(client, alice, demo):
    client.force_login(alice)
    typed = "project = DEMO AND stauts = Done"
    response = get(client, jql=typed)
    assert response.status_code == 400
    html = response.content.decode()
    assert "Unknown field &#x27;stauts&#x27; at column 20." in html
    assert "Did you mean &#x27;status&#x27;?" in html
    assert f">{typed}</textarea>" in html
    assert 'data-error-position="20"' in html
    assert " " * 19 + "^" in html  # caret under the bad field


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"sort": "bogus"}, "Unknown sort column"),
        ({"sort": "created", "dir": "sideways"}, "sort direction"),
        ({"cursor": "not-a-cursor"}, "page link is damaged"),
        ({"cursor": "eyJvIjoiMTIzIiwidiI6WzFdfQ"}, "another sort order"),
        ({"columns": "key,nonsense"}, "Unknown column"),
        ({"group": "priority"}, "Cannot group by"),
        ({"filter": "abc"}, "does not exist"),
        ({"filter": "999999"}, "does not exist"),
        ({"size": "lots"}, "page size"),
    ],
)
def test_bad_parameters_give_a_clear_400(client, alice, demo, params, fragment):
    client.force_login(alice)
    response = get(client, **params)
    assert response.status_code == 400
    assert fragment in response.content.decode()


# --------------------------------------------------------------------------- sorting, columns, grouping


@pytest.mark.parametrize(
    ("sort", "direction", "first"),
    [
        ("key", "asc", "DEMO-1"),
        ("key", "desc", "DEMO-6"),
        ("summary", "asc", "DEMO-5"),  # "Another bug"
        ("priority", "desc", "DEMO-1"),  # High first
        ("status", "desc", "DEMO-3"),  # Done is last in the workflow
        ("assignee", "asc", "DEMO-1"),  # Alice Adams, then Carol Clark, then unassigned
        ("created", "asc", "DEMO-1"),
        ("updated", "desc", None),
        ("type", "asc", None),
        ("project", "asc", None),
        ("resolution", "asc", "DEMO-3"),
        ("duedate", "asc", None),
        ("reporter", "asc", None),
        ("resolved", "desc", "DEMO-3"),
    ],
)
def test_sort_by_any_column(client, alice, demo, sort, direction, first):
    client.force_login(alice)
    response = get(client, sort=sort, dir=direction)
    keys = page_keys(response)
    assert sorted(keys) == [f"DEMO-{i}" for i in range(1, 7)]
    if first:
        assert keys[0] == first
    assert response.context["result"].sort == sort


def test_sort_overrides_jql_order_and_header_toggles(client, alice, demo):
    client.force_login(alice)
    response = get(client, jql="order by created desc", sort="key", dir="asc")
    assert page_keys(response)[0] == "DEMO-1"
    key_header = next(c for c in response.context["columns"] if c["id"] == "key")
    assert key_header["mark"] == "▲"
    assert "dir=desc" in key_header["sort_url"]


def test_choose_columns(client, alice, demo):
    client.force_login(alice)
    response = get(client, columns=["summary", "labels", "timespent"])
    assert [c["id"] for c in response.context["columns"]] == ["key", "summary", "labels", "timespent"]
    html = response.content.decode()
    assert '<span class="label">perf</span>' in html
    assert 'class="col-assignee"' not in html


def test_group_by_status_with_counts(client, alice, demo):
    client.force_login(alice)
    response = get(client, group="status")
    result = response.context["result"]
    assert [(g["label"], g["count"]) for g in result.groups] == [("To Do", 4), ("In Progress", 1), ("Done", 1)]
    keys = page_keys(response)
    assert keys[-1] == "DEMO-3" and keys[-2] == "DEMO-2"  # rows come in group order
    assert '<tr class="group-row"><th colspan="10" scope="rowgroup">Done</th></tr>' in response.content.decode()


def test_group_by_assignee_with_counts(client, alice, demo):
    client.force_login(alice)
    response = get(client, group="assignee", jql="project = DEMO")
    groups = [(g["label"], g["count"]) for g in response.context["result"].groups]
    assert groups == [("Alice Adams", 2), ("Carol Clark", 1), ("Unassigned", 3)]
    keys = page_keys(response)
    assert keys[:2] == ["DEMO-5", "DEMO-1"] and keys[2] == "DEMO-2"


# --------------------------------------------------------------------------- pagination


def _cursor(url: str | None) -> str | None:
    if not url:
        return None
    return parse_qs(urlparse(url).query)["cursor"][0]


@pytest.mark.parametrize(
    "params",
    [{}, {"sort": "summary", "dir": "asc"}, {"sort": "assignee", "dir": "desc"}, {"group": "assignee"},
     {"sort": "priority", "dir": "asc"}, {"sort": "duedate", "dir": "asc"}],
)  # fmt: skip
def test_keyset_pages_cover_everything_once_both_ways(client, alice, demo, make_issue, project_a, params):
    for i in range(7):
        make_issue(project_a, summary=f"Filler {i % 3}", assignee=alice if i % 2 else None,
                   due_date=dt.date(2026, 12, 1 + i % 2) if i % 3 else None)  # fmt: skip
    client.force_login(alice)
    everything = page_keys(get(client, size="100", **params))
    assert len(everything) == 13
    seen: list[str] = []
    pages = []
    response = get(client, size="4", **params)
    while True:
        seen += page_keys(response)
        pages.append(response)
        next_url = response.context["page_links"]["next"]
        if not next_url:
            break
        response = client.get(NAV + next_url)
    assert seen == everything
    assert len(pages) == 4
    # Walk back from the last page with the previous links.
    back: list[str] = []
    response = pages[-1]
    back = page_keys(response) + back
    while response.context["page_links"]["prev"]:
        response = client.get(NAV + response.context["page_links"]["prev"])
        back = page_keys(response) + back
    assert back == everything


def test_count_and_page_size(client, alice, demo):
    client.force_login(alice)
    response = get(client, size="2")
    assert len(page_keys(response)) == 2
    assert response.context["result"].count == 6
    assert "6 issues" in response.content.decode()


def test_list_page_query_count_is_bounded(
    client, alice, demo, make_issue, project_a, django_assert_max_num_queries, django_capture_on_commit_callbacks
):
    """The page costs the same number of queries for 6 or 36 rows (no N+1), and stays small.

    Session, user, profile, memberships; page ids (keyset), rows, their users, labels (adapter); capped
    count; group counts; saved filters, projects, statuses, types, priorities (filter form).
    """
    client.force_login(alice)
    params = {"columns": "key,summary,labels,assignee,reporter,status,timespent", "group": "status"}
    # Another search first: the lookup rows a process keeps (issues.lookups) are read once, not per page.
    assert client.get(NAV, {"jql": "project = DEMO"}).status_code == 200
    with CaptureQueriesContext(connection) as few:
        assert len(page_keys(get(client, **params))) == 6
    with django_capture_on_commit_callbacks(execute=True):  # the writes commit, so the page cache sees them
        for i in range(30):
            make_issue(project_a, summary=f"More {i}", labels=[f"l{i % 4}"], assignee=alice if i % 2 else None)
    with django_assert_max_num_queries(16), CaptureQueriesContext(connection) as many:
        response = get(client, **params)
    assert len(page_keys(response)) == 36
    assert len(many.captured_queries) == len(few.captured_queries)
    with django_assert_max_num_queries(16):
        response = client.get(NAV + response.context["page_links"]["first"])
    assert response.status_code == 200


# --------------------------------------------------------------------------- exports


def _stream(response) -> bytes:
    assert response.status_code == 200
    assert response.streaming
    return b"".join(response.streaming_content)


def test_csv_export_of_current_query(client, alice, demo):
    client.force_login(alice)
    response = client.get(reverse("issues:export"), {"format": "csv", "jql": "labels = ui", "sort": "key"})
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment;" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(_stream(response).decode())))
    assert [r["Key"] for r in rows] == ["DEMO-1", "DEMO-3"]
    assert rows[0]["Summary"] == "Login crashes"
    assert rows[0]["Assignee"] == "Alice Adams"
    assert rows[0]["Labels"] == "ui"
    assert rows[1]["Labels"] == "perf ui"
    assert rows[1]["Status"] == "Done" and rows[1]["Resolution"] == "Done"
    assert rows[0]["Project"] == "DEMO"


def test_csv_export_neutralises_formulas(client, alice, project_a, make_issue):
    make_issue(project_a, summary='=HYPERLINK("http://evil")')
    client.force_login(alice)
    rows = list(csv.reader(io.StringIO(_stream(client.get(reverse("issues:export"), {"format": "csv"})).decode())))
    assert rows[1][1] == '\'=HYPERLINK("http://evil")'


FORMULA = '=HYPERLINK("http://evil.example/","x")'


def test_csv_export_escapes_every_text_column(client, alice, carol, project_a, make_issue):
    # Names, labels and summaries come from people (profiles, imports): each text column is escaped.
    alice.profile.display_name = FORMULA
    alice.profile.save()
    carol.profile.display_name = "@SUM(A1)"
    carol.profile.save()
    parent = make_issue(project_a, summary="+parent")
    make_issue(
        project_a, summary="-1+2", assignee=alice, reporter=carol, labels=[FORMULA.replace(" ", "")], parent=parent
    )
    client.force_login(alice)
    response = client.get(reverse("issues:export"), {"format": "csv", "jql": "parent is not empty"})
    rows = list(csv.DictReader(io.StringIO(_stream(response).decode())))
    assert len(rows) == 1
    row = rows[0]
    assert row["Assignee"] == "'" + FORMULA
    assert row["Reporter"] == "'@SUM(A1)"
    assert row["Labels"] == "'" + FORMULA.replace(" ", "")
    assert row["Summary"] == "'-1+2"
    formula_cells = [v for v in row.values() if v and v[0] in "=+-@\t\r"]
    assert formula_cells == []


def test_json_export_of_current_query(client, alice, demo):
    client.force_login(alice)
    response = client.get(reverse("issues:export"), {"format": "json", "jql": "assignee = currentUser() order by key"})
    assert response["Content-Type"] == "application/json"
    data = json.loads(_stream(response))
    assert [r["key"] for r in data] == ["DEMO-1", "DEMO-5"]
    assert data[0]["assignee"]["username"] == "alice"
    assert data[0]["labels"] == ["ui"]
    assert data[0]["project"]["key"] == "DEMO"


def test_json_export_empty_is_valid_json(client, alice, demo):
    client.force_login(alice)
    response = client.get(reverse("issues:export"), {"format": "json", "jql": "summary ~ nothingmatches"})
    assert json.loads(_stream(response)) == []


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"format": "xml"}, "Unknown export format"),
        ({"jql": "stauts = x"}, "Did you mean 'status'?"),
        ({"sort": "nope"}, "Unknown sort column"),
    ],
)
def test_export_bad_input_is_400_json(client, alice, demo, params, fragment):
    client.force_login(alice)
    response = client.get(reverse("issues:export"), params)
    assert response.status_code == 400
    assert fragment in response.json()["message"]


def test_export_links_carry_the_query(client, alice, demo):
    client.force_login(alice)
    response = get(client, jql="type = Bug", sort="key", dir="desc")
    query = parse_qs(urlparse(response.context["export_csv"]).query)
    assert query["jql"] == ["type = Bug"] and query["sort"] == ["key"] and query["format"] == ["csv"]
    rows = list(csv.DictReader(io.StringIO(_stream(client.get(response.context["export_csv"])).decode())))
    assert [r["Key"] for r in rows] == ["DEMO-5", "DEMO-1"]


# --------------------------------------------------------------------------- saved filters


def test_save_private_filter_and_open_it(client, alice, carol, demo):
    client.force_login(alice)
    response = client.post(
        reverse("issues:saved_filter_create"), {"name": "My bugs", "jql": "type = Bug", "columns": "key,summary"}
    )
    saved = SavedFilter.objects.get(name="My bugs")
    assert response.status_code == 302 and response["Location"] == f"{NAV}?filter={saved.pk}"
    assert saved.owner == alice and saved.shared_with is None and saved.columns == "key,summary"
    response = get(client, filter=saved.pk)
    assert page_keys(response) == ["DEMO-5", "DEMO-1"]
    assert [c["id"] for c in response.context["columns"]] == ["key", "summary"]
    # Private: carol (same project) neither lists nor opens it.
    client.force_login(carol)
    response = get(client)
    assert "My bugs" not in response.content.decode()
    assert get(client, filter=saved.pk).status_code == 400


def test_shared_filter_visible_to_project_members_only(client, alice, bob, carol, demo, project_a):
    client.force_login(alice)
    client.post(
        reverse("issues:saved_filter_create"),
        {"name": "Team open", "jql": "statusCategory != Done", "shared_with": project_a.pk},
    )
    saved = SavedFilter.objects.get(name="Team open")
    assert saved.shared_with == project_a
    client.force_login(carol)
    assert "Team open" in get(client).content.decode()
    assert len(page_keys(get(client, filter=saved.pk))) == 5
    # carol may use it but not change or delete it.
    assert client.post(reverse("issues:saved_filter_delete", args=[saved.pk])).status_code == 403
    assert client.post(reverse("issues:saved_filter_update", args=[saved.pk]), {"jql": "x = 1"}).status_code == 403
    client.force_login(bob)
    assert "Team open" not in get(client).content.decode()
    assert get(client, filter=saved.pk).status_code == 400
    assert client.post(reverse("issues:saved_filter_delete", args=[saved.pk])).status_code == 404
    assert SavedFilter.objects.filter(pk=saved.pk).exists()


def test_cannot_share_with_a_foreign_project_or_save_bad_jql(client, alice, demo, project_b):
    client.force_login(alice)
    client.post(reverse("issues:saved_filter_create"), {"name": "Sneaky", "jql": "", "shared_with": project_b.pk})
    client.post(reverse("issues:saved_filter_create"), {"name": "Broken", "jql": "stauts = Done"})
    client.post(reverse("issues:saved_filter_create"), {"name": "", "jql": "type = Bug"})
    assert not SavedFilter.objects.exists()
    response = get(client)
    assert response.status_code == 200


def test_duplicate_name_is_an_error_not_a_500(client, alice, demo):
    client.force_login(alice)
    url = reverse("issues:saved_filter_create")
    client.post(url, {"name": "Dup", "jql": "type = Bug"})
    response = client.post(url, {"name": "Dup", "jql": "type = Task"}, follow=True)
    assert response.status_code == 200
    assert "already have a filter named" in response.content.decode()
    assert SavedFilter.objects.filter(name="Dup").count() == 1


def test_update_and_delete_own_filter(client, alice, demo):
    client.force_login(alice)
    client.post(reverse("issues:saved_filter_create"), {"name": "Mine", "jql": "type = Bug"})
    saved = SavedFilter.objects.get(name="Mine")
    response = client.post(
        reverse("issues:saved_filter_update", args=[saved.pk]), {"name": "Mine", "jql": "status = Done"}
    )
    assert response.status_code == 302
    saved.refresh_from_db()
    assert saved.jql == "status = Done"
    assert page_keys(get(client, filter=saved.pk)) == ["DEMO-3"]
    # An explicit jql parameter wins over the saved one (editing a loaded filter).
    assert page_keys(get(client, filter=saved.pk, jql="type = Bug")) == ["DEMO-5", "DEMO-1"]
    client.post(reverse("issues:saved_filter_delete", args=[saved.pk]))
    assert not SavedFilter.objects.exists()


def test_saved_filter_get_is_not_allowed(client, alice, demo):
    client.force_login(alice)
    assert client.get(reverse("issues:saved_filter_create")).status_code == 405


def test_url_names():
    assert reverse("issues:navigator") == NAV
    assert reverse("issues:export") == "/issues/export"
    assert urlencode({"a": 1})


# --------------------------------------------------------------------------- quick search and display


def test_quick_search_with_an_issue_key_opens_the_issue(client, alice, demo):
    client.force_login(alice)
    response = get(client, jql="demo-3")
    assert response.status_code == 302 and response["Location"] == "/browse/DEMO-3"


def test_plain_words_search_text_and_show_the_jql(client, alice, demo):
    client.force_login(alice)
    response = get(client, jql="export slow")
    assert page_keys(response) == ["DEMO-3"]
    assert response.context["jql"] == 'text ~ "export slow"'
    assert "is not JQL" in response.content.decode()
    # A single unknown word with operators stays an error with a position.
    assert get(client, jql="stauts = Done").status_code == 400


def test_dates_show_in_the_users_time_zone(client, alice, demo):
    client.force_login(alice)  # Europe/Berlin: 2026-11-01 00:00 UTC is 01:00 there
    html = get(client, jql="key = DEMO-1").content.decode()
    assert "2026-11-01 01:00" in html


def test_sort_accepts_jql_aliases(client, alice, demo):
    client.force_login(alice)
    response = get(client, sort="issuetype", dir="desc")
    assert response.context["result"].sort == "type"
    assert len(page_keys(response)) == 6
