"""What REST searches cost in queries (issue #13): the same for a few matching issues as for many, with the
caller's projects read once for the page, the total and the visibility filter."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

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
