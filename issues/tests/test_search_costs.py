"""What the search pages cost in queries (issue #13): the navigator, JQL searches, keyset walks by a lookup's rank
and the admin's search by key, each the same for a few issues as for many (no query grows with the data)."""

from __future__ import annotations

import zoneinfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from issues import jql
from issues.jql import compile_checked, jql_queryset
from issues.keyset import LAST_PAGE, keyset_page
from issues.lookups import lookup_rows
from issues.models import CacheBump, Issue, Priority, Status
from issues.navigator_rows import navigator_rows_html
from issues.selectors import navigator_page, navigator_rows

NAV = "/issues/"


def queries(fn) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        fn()
    return [q["sql"] for q in captured.captured_queries]


def grow(make_issue, project, n: int, **kwargs) -> None:
    """Add n issues with mixed priorities and statuses (so walks and groups span several values)."""
    priorities = list(Priority.objects.order_by("rank"))
    statuses = list(Status.objects.exclude(name="Done").order_by("position"))
    for i in range(n):
        make_issue(
            project,
            summary=f"Reproduce crash {i}",
            priority=priorities[i % len(priorities)],
            status=statuses[i % len(statuses)],
            **kwargs,
        )


def request_queries(client, path: str, **params: str) -> list[str]:
    def run() -> None:
        response = client.get(path, params)
        assert response.status_code == 200, response.content[:500]

    run()  # warm: per-process rows, the text term's memo
    return queries(run)


# --------------------------------------------------------------------------- navigator page and JQL


@pytest.mark.parametrize(
    "jql_text",
    ["", 'assignee = "alice" AND status != Done', "text ~ reproduce", "project = DEMO ORDER BY priority DESC"],
)
def test_navigator_queries_do_not_grow_with_the_data(client, alice, project_a, make_issue, jql_text, settings):
    """Session, user, preference, projects, [values], count, page ids, lookups, rows, people, saved filters,
    statuses: the same list for 3 matching issues as for 60 (page cache off, as for every miss)."""
    settings.TASKRA_PAGE_CACHE = False
    client.force_login(alice)
    grow(make_issue, project_a, 3, assignee=alice)
    few = request_queries(client, NAV, jql=jql_text)
    grow(make_issue, project_a, 57, assignee=alice)
    many = request_queries(client, NAV, jql=jql_text)
    assert len(many) == len(few) <= 16, "\n".join(many)
    # One read of the user's projects serves the search and the filter form; no join of the lookup tables.
    assert not any(q.startswith('SELECT "issues_membership"."project_id"') for q in many)
    rows_query = next(q for q in many if '"issues_issue"."summary"' in q)
    assert "issues_priority" not in rows_query and "issues_status" not in rows_query


def test_navigator_cached_page_reads_five_queries(
    client, alice, project_a, make_issue, locmem_page_cache, django_capture_on_commit_callbacks
):
    """A page-cache hit: user, preference, projects, saved filters, statuses (no outbox check: the user query made
    it), for few issues as for many."""
    client.force_login(alice)
    with django_capture_on_commit_callbacks(execute=True):  # the writes commit: their bumps are applied
        grow(make_issue, project_a, 3)
    CacheBump.objects.all().delete()  # as after a replay: nothing waits in the outbox
    first = request_queries(client, NAV)
    with django_capture_on_commit_callbacks(execute=True):
        grow(make_issue, project_a, 57)
    CacheBump.objects.all().delete()
    client.get(NAV)  # the first read after the writes rebuilds the entry
    again = request_queries(client, NAV)
    assert len(first) == len(again) == 5, "\n".join(again)  # sessions come from the cache
    assert not any("issues_cachebump" in q and "auth_user" not in q for q in again)


def test_common_text_term_is_sampled_once_per_process(alice, project_a, make_issue):
    grow(make_issue, project_a, 30)
    first = queries(lambda: compile_checked("text ~ reproduce", user=alice))
    second = queries(lambda: compile_checked("text ~ reproduce", user=alice))
    assert compile_checked("text ~ reproduce", user=alice).walk
    assert len(first) == len(second) + 1  # the sample of recent issues, then the kept answer
    jql.reset_state()
    assert len(queries(lambda: compile_checked("text ~ reproduce", user=alice))) == len(first)


def test_rows_written_in_python_match_every_column(alice, project_a, make_issue):
    grow(make_issue, project_a, 3, labels=["a<b"])
    Issue.objects.filter(project=project_a).update(summary='<b>"x" & y</b>')
    columns = ["key", "summary", "project", "type", "status", "priority", "resolution", "assignee", "reporter",
               "labels", "duedate", "timespent", "created", "updated", "resolved"]  # fmt: skip
    ids = list(Issue.objects.filter(project=project_a).order_by("-id").values_list("id", flat=True))
    rows = navigator_rows(ids, columns=columns)
    html = navigator_rows_html(rows, columns, tz=zoneinfo.ZoneInfo("Asia/Kolkata"))
    assert html.count("<tr data-key=") == 3
    assert "&lt;b&gt;&quot;x&quot; &amp; y&lt;/b&gt;" in html and '<span class="label">a&lt;b</span>' in html
    assert "+05:30" in html  # dates read in the viewer's zone
    assert 'class="status status-' in html and "Unresolved" in html
    empty = navigator_rows_html([], columns, tz=zoneinfo.ZoneInfo("UTC"))
    assert empty.endswith("No issues match this search.</td></tr>")


# --------------------------------------------------------------------------- keyset walk by a lookup's rank


@pytest.mark.parametrize("order", ["ORDER BY priority DESC", "ORDER BY priority ASC, created DESC", "ORDER BY status"])
def test_walk_by_lookup_rank_pages_like_one_sorted_query(alice, project_a, make_issue, order):
    """Pages walked one rank value at a time (the navigator's choice for a result over the count cap): the same
    rows in the same order as the sorted query, forward, backward and from the last page."""
    grow(make_issue, project_a, 23)
    queryset = jql_queryset(f"project = DEMO {order}", user=alice)
    expected = list(queryset.values_list("id", flat=True))
    compiled = compile_checked(f"project = DEMO {order}", user=alice)
    base = Issue.objects.filter(project=project_a).only("id")
    seen, cursor, pages = [], None, []
    while True:
        page = keyset_page(base, compiled.order_by, cursor=cursor, size=4, walk_lookups=True)
        pages.append(page)
        seen += [row.pk for row in page.rows]
        if not page.next_cursor:
            break
        cursor = page.next_cursor
    assert seen == expected
    back = keyset_page(base, compiled.order_by, cursor=pages[-1].prev_cursor, size=4, walk_lookups=True)
    assert [row.pk for row in back.rows] == [row.pk for row in pages[-2].rows]
    last = keyset_page(base, compiled.order_by, cursor=LAST_PAGE, size=4, walk_lookups=True)
    assert [row.pk for row in last.rows] == expected[-4:]


def test_walk_reads_ranks_then_one_query_per_rank_spanned(alice, project_a, make_issue):
    grow(make_issue, project_a, 20)
    compiled = compile_checked("project = DEMO ORDER BY priority DESC", user=alice)
    base = Issue.objects.filter(project=project_a).only("id")

    # 20 issues over 5 priorities: a page of 3 fits in the first priority; one of 6 spans two.
    def walk(size: int) -> list[str]:
        return queries(lambda: keyset_page(base, compiled.order_by, cursor=None, size=size, walk_lookups=True))

    assert len(walk(3)) == 2  # the ranks, then the first priority's issues
    assert len(walk(6)) == 3  # ... and the second's
    assert "issues_priority" not in walk(3)[1]  # no join: the rank's ids are the filter
    # Without the walk (a result under the count cap): one sorted query.
    assert len(queries(lambda: keyset_page(base, compiled.order_by, cursor=None, size=3))) == 1


def test_navigator_page_by_priority_is_the_sorted_order(alice, project_a, make_issue, monkeypatch):
    monkeypatch.setattr("issues.selectors.NAVIGATOR_COUNT_CAP", 5)  # a result too large to count: the walk
    grow(make_issue, project_a, 12)
    result = navigator_page(user=alice, jql="project = DEMO ORDER BY priority DESC", size=50)
    expected = list(jql_queryset("project = DEMO ORDER BY priority DESC", user=alice).values_list("key", flat=True))
    assert [row["key"] for row in result.rows] == expected


# --------------------------------------------------------------------------- admin search by key


def test_admin_key_search_costs_the_same_at_any_size(admin_client, project_a, make_issue, settings):
    settings.TASKRA_PAGE_CACHE = False  # the same queries with or without a shared cache
    grow(make_issue, project_a, 3)
    key = Issue.objects.filter(project=project_a).order_by("number").values_list("key", flat=True).first()
    few = request_queries(admin_client, "/admin/issues/issue/", q=key.lower())
    grow(make_issue, project_a, 40)
    many = request_queries(admin_client, "/admin/issues/issue/", q=key.lower())
    assert len(few) == len(many), "\n".join(many)
    search = [q for q in many if '"issues_issue"."key" =' in q]
    assert search and all("UPPER" not in q and "LIKE" not in q for q in search)  # the unique index, no scan


def test_lookup_values_resolve_from_the_rows_each_process_keeps(alice, project_a, locmem_page_cache):
    """`status = Done AND priority = High`: no query for the names (issues.lookups keeps them current)."""
    lookup_rows()  # this process loads them once
    status, priority = Status.objects.order_by("position").first(), Priority.objects.order_by("rank").first()
    text = f'status = "{status.name}" AND priority = "{priority.name}"'
    assert queries(lambda: compile_checked(text, user=alice)) == []
    assert Issue.objects.filter(compile_checked(text, user=alice).q).count() == 0
    with pytest.raises(jql.JQLError, match="Did you mean"):
        compile_checked(f'status = "{status.name}x"', user=alice)
