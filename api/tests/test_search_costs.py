"""What REST searches cost in queries (issue #13): the same for a few matching issues as for many, with the
caller's projects read once for the page, the total and the visibility filter."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from issues.models import IssueLink, IssueLinkType
from issues.tests.conftest import locmem_page_cache  # noqa: F401 (a fixture)

pytestmark = pytest.mark.django_db

SEARCHES = [
    "/rest/api/2/search?jql=assignee = alice AND status != Done ORDER BY updated DESC&maxResults=50",
    "/rest/api/2/search?jql=text ~ reproduce&maxResults=50",
    "/rest/api/2/search/jql?jql=project = DEMO ORDER BY priority DESC&maxResults=50&fields=summary",
]


def search_queries(client, url: str, headers: dict[str, str]) -> list[str]:
    assert client.get(url, **headers).status_code == 200  # warm: per-process rows, the text term's memo
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, **headers)
    assert response.status_code == 200, response.content[:500]
    return [q["sql"] for q in captured.captured_queries]


@pytest.mark.parametrize("url", SEARCHES)
def test_search_queries_do_not_grow_with_the_data(client, project_a, make_issue, alice, as_alice, url, settings):
    settings.TASKRA_PAGE_CACHE = False  # every search pays the uncached path
    for n in range(3):
        make_issue(project_a, summary=f"Reproduce {n}", assignee=alice, labels=["x"])
    few = search_queries(client, url, as_alice)
    for n in range(60):
        make_issue(project_a, summary=f"Reproduce more {n}", assignee=alice, labels=["x"])
    many = search_queries(client, url, as_alice)
    assert len(many) == len(few), "\n".join(many)
    # The caller's projects: one read (with the JQL's project scope), not one per cache part and filter.
    assert sum('FROM "issues_project"' in q and "in_scope" in q for q in many) == 1
    assert not any(q.startswith('SELECT "issues_membership"."project_id"') for q in many)


def _link(one, two, name: str = "Relates") -> None:
    IssueLink.objects.create(type=IssueLinkType.objects.get(name=name), outward_issue=one, inward_issue=two)


@pytest.mark.usefixtures("locmem_page_cache")
def test_search_page_costs_a_fixed_list_of_queries_without_lookup_joins(
    client, project_a, project_b, make_issue, alice, bob, as_alice
):
    """Per request: token user, projects, page ids, total, rows (no lookup table joined), people, labels, links and
    the issues at their other ends, custom fields: the same list for 3 issues as for 60. Statuses, types, priorities
    and resolutions come from the rows kept per process (issues.lookups); sub-tasks and attachments, which no issue
    of the page has, cost no query (the row query says which issues have any)."""
    secret = make_issue(project_b, summary="Hidden", reporter=bob)
    first = make_issue(project_a, summary="Reproduce 0", assignee=alice, labels=["x"])
    _link(first, make_issue(project_a, summary="Reproduce linked", assignee=alice))
    _link(first, secret, "Blocks")
    for n in range(2):
        make_issue(project_a, summary=f"Reproduce {n + 1}", assignee=alice)
    url = "/rest/api/2/search?jql=assignee = alice ORDER BY created ASC&maxResults=50"
    few = search_queries(client, url + "&startAt=1", as_alice)  # a new page: ids and JSON read again
    for n in range(60):
        other = make_issue(project_a, summary=f"Reproduce more {n}", assignee=alice, labels=["x"])
        _link(other, first)
    many = search_queries(client, url + "&startAt=2", as_alice)
    assert len(many) == len(few), "\n".join(many)
    assert not any(q.startswith(('SELECT "issues_attachment"', 'SELECT "issues_issue"."parent_id"')) for q in many)
    if connection.vendor == "postgresql":  # SQLite joins the lookups and people into the row query (cheap there)
        assert len(many) == 10, "\n".join(many)
        rows = next(q for q in many if '"issues_issue"."summary"' in q and '"issues_issue"."description"' in q)
        for table in ("issues_status", "issues_priority", "issues_issuetype", "issues_resolution"):
            assert table not in rows, rows
    links = next(q for q in many if q.startswith('SELECT "issues_issuelink"'))
    assert '"issues_issue"' not in links  # the linked issues are read in a query of their own

    body = client.get(url, **as_alice).json()
    issue = next(i for i in body["issues"] if i["key"] == first.key)
    # bob's issue in OPS is linked to alice's, but alice may not see it: that link is left out.
    named = [e.get("outwardIssue") or e["inwardIssue"] for e in issue["fields"]["issuelinks"]]
    assert secret.key not in {n["key"] for n in named}
    assert len(named) == 61 and named[0]["key"] == "DEMO-2"
    assert named[0]["fields"]["status"]["name"] == "To Do"
    assert issue["fields"]["status"]["name"] == first.status.name
    assert issue["fields"]["priority"]["name"] == first.priority.name
    assert issue["fields"]["issuetype"]["name"] == first.type.name
    assert issue["fields"]["resolution"] is None
