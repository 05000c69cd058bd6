"""The issue fields table (issues.fields): every derived table follows it, and a sort is one declaration.

Personas: alice administers DEMO and searches it; the issues below vary every sortable value, with some
empty ones (no assignee, no due date, no resolution) that must sort last in both directions.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from django.urls import reverse

from issues import fields
from issues.fields import FIELDS_BY_NAME, ISSUE_FIELDS, IssueField
from issues.jql import JQLError, compile_jql, jql_queryset
from issues.keyset import keyset_page
from issues.models import Priority, Resolution, Status
from issues.selectors import navigator_page
from issues.services import issue_update

SORTABLE = [f.name for f in ISSUE_FIELDS if f.sortable]


@pytest.fixture
def varied(project_a, make_issue, alice, carol):
    """Seven DEMO issues whose sortable values differ and are sometimes empty."""
    made = []
    priorities = list(Priority.objects.order_by("rank"))
    for i in range(7):
        issue = make_issue(
            project_a,
            summary=f"Issue {'gfedcba'[i]}",
            assignee=(alice, carol, None)[i % 3],
            priority=priorities[i % len(priorities)],
            due_date=dt.date(2026, 3, 1 + i) if i % 2 else None,
            parent=made[0] if i in (3, 5) else None,
            original_estimate=(i % 4) * 3600,
        )
        made.append(issue)
    done = Status.objects.filter(category="done").first()
    issue_update(issue=made[2], actor=alice, data={"status": done, "resolution": Resolution.objects.first()})
    return made


def test_derived_tables_come_from_the_table():
    sortable = {f.name for f in ISSUE_FIELDS if f.sortable}
    assert set(fields.SORT_FIELDS) == sortable
    assert set(fields.PATH_TYPES) == {"id"} | {path for f in ISSUE_FIELDS for path, _kind, _inv in f.sort}
    assert {c for c, (_label, sort) in fields.NAVIGATOR_COLUMNS.items() if sort} == {
        f.name for f in ISSUE_FIELDS if f.column and f.sortable
    }
    assert [label for _field, label in fields.EXPORT_COLUMNS] == [f.export_label for f in ISSUE_FIELDS if f.export]


@pytest.mark.parametrize("name", SORTABLE)
@pytest.mark.parametrize("direction", ["asc", "desc"])
def test_every_sortable_field_sorts_in_jql_and_pages_by_keyset(alice, varied, name, direction):
    compiled = compile_jql(f"project = DEMO ORDER BY {name} {direction}", user=alice)
    expected_paths = [path for path, _kind, _inv in FIELDS_BY_NAME[name].sort]
    assert [o.lstrip("-") for o in compiled.order_by[: len(expected_paths)]] == expected_paths
    ordered = jql_queryset(f"project = DEMO ORDER BY {name} {direction}", user=alice)
    everything = list(ordered.values_list("pk", flat=True))
    assert len(everything) == len(varied)
    # Two-row pages, walked forward with cursors, give the same rows in the same order as one query.
    paged, cursor = [], None
    base = ordered.order_by().only("id")
    while True:
        page = keyset_page(base, compiled.order_by, cursor=cursor, size=2)
        paged.extend(row.pk for row in page.rows)
        if not page.next_cursor:
            break
        cursor = page.next_cursor
    assert paged == everything


@pytest.mark.parametrize("name", [f.name for f in ISSUE_FIELDS if f.column and f.sortable])
def test_every_sortable_column_sorts_on_the_navigator(client, alice, varied, name):
    client.force_login(alice)
    response = client.get(reverse("issues:navigator"), {"jql": "project = DEMO", "sort": name, "dir": "desc"})
    assert response.status_code == 200
    assert response.context["result"].sort == name


def test_a_new_sort_is_one_table_entry(monkeypatch, client, alice, varied):
    # Time spent is a column that does not sort. Declaring its sort path in the table is the whole change:
    # the tables JQL, keyset cursors and the navigator read are derived from it.
    table = tuple(
        dataclasses.replace(f, sort=(("time_spent", "int", False),)) if f.name == "timespent" else f
        for f in ISSUE_FIELDS
    )
    for derived, build in (
        (fields.SORT_FIELDS, fields.sort_fields),
        (fields.PATH_TYPES, fields.path_types),
        (fields.NAVIGATOR_COLUMNS, fields.navigator_columns),
    ):
        for key, value in build(table).items():
            monkeypatch.setitem(derived, key, value)
    compiled = compile_jql("ORDER BY timespent DESC", user=alice)
    assert compiled.order_by == ["-time_spent", "-id"]
    base = jql_queryset("project = DEMO", user=alice).order_by().only("id")
    first = keyset_page(base, compiled.order_by, cursor=None, size=3)
    second = keyset_page(base, compiled.order_by, cursor=first.next_cursor, size=3)  # the cursor's type checks
    assert len(first.rows) == len(second.rows) == 3 and not {r.pk for r in first.rows} & {r.pk for r in second.rows}
    result = navigator_page(user=alice, jql="project = DEMO", sort="timespent", direction="desc", size=3)
    assert result.sort == "timespent" and len(result.rows) == 3


def test_an_unsortable_field_is_refused_everywhere(alice):
    assert not FIELDS_BY_NAME["labels"].sortable
    with pytest.raises(JQLError, match="Cannot sort by 'labels'"):
        compile_jql("ORDER BY labels", user=alice)


def test_issue_field_defaults_make_a_plain_column():
    plain = IssueField("x", "X")
    assert plain.column and not plain.sortable and not plain.export
