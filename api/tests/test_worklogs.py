"""Worklogs through the API: issue/{idOrKey}/worklog, worklog/{id}, worklog/updated, worklog/list.

Jira's adjustEstimate (auto, new + newEstimate, leave, manual + reduceBy; DELETE: manual + increaseBy) maps
onto worklogs.services' one remaining-estimate rule. Personas: alice admin of DEMO (logs, changes any
worklog), carol viewer (reads; writes 403), bob member of OPS only (DEMO's worklogs are 404 / left out).
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext

from api.services import api_token_create
from api.tests.conftest import basic
from api.views import worklogs as views
from issues.models import Issue, Membership, Role
from worklogs.models import Worklog
from worklogs.services import worklog_add

pytestmark = pytest.mark.django_db

STARTED = "2026-11-20T10:00:00.000+0300"
WHEN = dt.datetime(2026, 11, 20, 7, 0, tzinfo=dt.UTC)


def send(client, method, url, body, headers):
    return getattr(client, method)(url, json.dumps(body), content_type="application/json", **headers)


@pytest.fixture
def issue(project_a, make_issue):
    return make_issue(project_a, summary="Estimate me", original_estimate=10 * 3600)


def remaining(issue) -> int | None:
    return Issue.objects.get(pk=issue.pk).remaining_estimate


def test_post_worklog_201_in_jiras_shape_auto_reduces_estimate(client, issue, as_alice):
    body = {"timeSpent": "1h 30m", "started": STARTED, "comment": "Pairing"}
    response = send(client, "post", f"/rest/api/2/issue/{issue.key}/worklog", body, as_alice)
    assert response.status_code == 201
    created = response.json()
    assert created["timeSpent"] == "1h 30m" and created["timeSpentSeconds"] == 5400
    assert created["started"] == "2026-11-20T07:00:00.000+0000" and created["comment"] == "Pairing"
    assert created["issueId"] == str(issue.pk) and created["author"]["name"] == "alice"
    assert created["self"] == f"http://testserver/rest/api/2/issue/{issue.pk}/worklog/{created['id']}"
    assert remaining(issue) == 10 * 3600 - 5400
    assert Issue.objects.get(pk=issue.pk).time_spent == 5400


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("adjustEstimate=leave", 10 * 3600),
        ("adjustEstimate=new&newEstimate=2h", 7200),
        ("adjustEstimate=manual&reduceBy=3h", 7 * 3600),
        ("", 9 * 3600),
    ],
)
def test_post_worklog_adjust_estimate_as_jira(client, issue, as_alice, query, expected):
    url = f"/rest/api/2/issue/{issue.key}/worklog?{query}"
    assert send(client, "post", url, {"timeSpentSeconds": 3600, "started": STARTED}, as_alice).status_code == 201
    assert remaining(issue) == expected


def test_bad_worklog_bodies_are_400_naming_jiras_fields(client, issue, as_alice):
    url = f"/rest/api/2/issue/{issue.key}/worklog"
    missing = send(client, "post", url, {"started": STARTED}, as_alice)
    assert missing.status_code == 400 and "timeLogged" in missing.json()["errors"]
    bad_time = send(client, "post", url, {"timeSpent": "soon", "started": STARTED}, as_alice)
    assert bad_time.status_code == 400 and "timeSpent" in bad_time.json()["errors"]
    naive = send(client, "post", url, {"timeSpent": "1h", "started": "2026-11-20T10:00:00"}, as_alice)
    assert naive.status_code == 400 and "started" in naive.json()["errors"]
    no_estimate = send(client, "post", f"{url}?adjustEstimate=new", {"timeSpent": "1h"}, as_alice)
    assert no_estimate.status_code == 400
    assert no_estimate.json()["errorMessages"] and not Worklog.objects.exists()


def test_list_pages_and_started_after(client, issue, alice, as_alice):
    for day in range(3):
        worklog_add(issue=issue, author=alice, time_spent=600, started=WHEN + dt.timedelta(days=day))
    url = f"/rest/api/2/issue/{issue.key}/worklog"
    page = client.get(f"{url}?startAt=1&maxResults=1", **as_alice).json()
    assert (page["startAt"], page["maxResults"], page["total"]) == (1, 1, 3)
    assert page["worklogs"][0]["started"].startswith("2026-11-21")
    after = int((WHEN + dt.timedelta(hours=12)).timestamp() * 1000)
    assert client.get(f"{url}?startedAfter={after}", **as_alice).json()["total"] == 2
    with CaptureQueriesContext(connection) as queries:
        client.get(url, **as_alice)
    for _ in range(3):
        worklog_add(issue=issue, author=alice, time_spent=600, started=WHEN)
    with CaptureQueriesContext(connection) as more:
        client.get(url, **as_alice)
    assert len(more) == len(queries)  # no query per worklog


def test_put_and_delete_worklog_with_estimates(client, issue, alice, as_alice):
    log = worklog_add(issue=issue, author=alice, time_spent=3600, started=WHEN)
    assert remaining(issue) == 9 * 3600
    url = f"/rest/api/2/issue/{issue.key}/worklog/{log.pk}"
    assert client.get(url, **as_alice).json()["timeSpentSeconds"] == 3600
    edited = send(client, "put", url, {"timeSpent": "2h", "comment": "more"}, as_alice)
    assert edited.status_code == 200 and edited.json()["timeSpentSeconds"] == 7200
    assert edited.json()["comment"] == "more" and remaining(issue) == 8 * 3600
    assert send(client, "put", f"{url}?adjustEstimate=new&newEstimate=5h", {"timeSpent": "3h"}, as_alice).json()
    assert remaining(issue) == 5 * 3600
    assert send(client, "put", f"{url}?adjustEstimate=manual", {"timeSpent": "1h"}, as_alice).status_code == 400
    assert client.delete(f"{url}?adjustEstimate=manual", **as_alice).status_code == 400  # needs increaseBy
    assert client.delete(f"{url}?adjustEstimate=manual&increaseBy=1h", **as_alice).status_code == 204
    assert remaining(issue) == 6 * 3600 and Issue.objects.get(pk=issue.pk).time_spent == 0
    other = worklog_add(issue=issue, author=alice, time_spent=600, started=WHEN)
    other_url = f"/rest/api/2/issue/{issue.key}/worklog/{other.pk}"
    assert client.delete(f"{other_url}?adjustEstimate=new&newEstimate=4h", **as_alice).status_code == 204
    assert remaining(issue) == 4 * 3600


def test_viewer_reads_may_not_write_outsider_404(client, issue, alice, as_carol, as_bob):
    log = worklog_add(issue=issue, author=alice, time_spent=600, started=WHEN)
    base = f"/rest/api/2/issue/{issue.key}/worklog"
    assert client.get(base, **as_carol).json()["total"] == 1
    assert send(client, "post", base, {"timeSpent": "1h"}, as_carol).status_code == 403
    assert send(client, "put", f"{base}/{log.pk}", {"timeSpent": "1h"}, as_carol).status_code == 403
    assert client.delete(f"{base}/{log.pk}", **as_carol).status_code == 403
    assert client.get(base, **as_bob).status_code == 404
    assert client.get(f"{base}/{log.pk}", **as_bob).status_code == 404
    assert send(client, "post", base, {"timeSpent": "1h"}, as_bob).status_code == 404
    assert Worklog.objects.get(pk=log.pk).time_spent == 600


def test_worklog_updated_and_list_show_only_visible_worklogs(
    client, issue, project_b, make_issue, alice, bob, as_alice
):
    mine = worklog_add(issue=issue, author=alice, time_spent=600, started=WHEN)
    hidden = worklog_add(issue=make_issue(project_b, reporter=bob), author=bob, time_spent=600, started=WHEN)
    since = int((mine.updated - dt.timedelta(seconds=1)).timestamp() * 1000)
    updated = client.get(f"/rest/api/2/worklog/updated?since={since}", **as_alice).json()
    assert [v["worklogId"] for v in updated["values"]] == [mine.pk]
    assert updated["since"] == since and updated["lastPage"] is True
    assert updated["until"] == int(mine.updated.timestamp() * 1000)
    listed = send(client, "post", "/rest/api/2/worklog/list", {"ids": [mine.pk, hidden.pk, 999999]}, as_alice)
    assert [w["id"] for w in listed.json()] == [str(mine.pk)]
    assert client.get("/rest/api/2/worklog/updated?since=soon", **as_alice).status_code == 400


def test_worklog_updated_pages_with_next_page(client, issue, alice, as_alice, monkeypatch):
    monkeypatch.setattr(views, "UPDATED_PAGE", 2)
    logs = [worklog_add(issue=issue, author=alice, time_spent=600, started=WHEN) for _ in range(3)]
    first = client.get("/rest/api/2/worklog/updated?since=0", **as_alice).json()
    assert [v["worklogId"] for v in first["values"]] == [logs[0].pk, logs[1].pk]
    assert first["lastPage"] is False and first["nextPage"].endswith(f"since={first['until']}")
    seen = {v["worklogId"] for v in first["values"]}
    second = client.get(first["nextPage"].replace("http://testserver", ""), **as_alice).json()
    seen |= {v["worklogId"] for v in second["values"]}
    assert logs[2].pk in seen


def test_member_changes_own_worklogs_admin_any(client, issue, alice, as_alice):
    # dave, a member of DEMO, edits and deletes his own worklogs only; alice (admin) deletes his.
    dave = get_user_model().objects.create_user("dave", "dave@example.com", "dave-pass-123")
    Membership.objects.create(project=issue.project, user=dave, role=Role.MEMBER)
    as_dave = basic("dave", api_token_create(user=dave, label="dave")[1])
    base = f"/rest/api/2/issue/{issue.key}/worklog"
    hers = worklog_add(issue=issue, author=alice, time_spent=600, started=WHEN)
    assert send(client, "put", f"{base}/{hers.pk}", {"timeSpent": "1h"}, as_dave).status_code == 403
    assert client.delete(f"{base}/{hers.pk}", **as_dave).status_code == 403
    his = send(client, "post", base, {"timeSpent": "20m", "started": STARTED}, as_dave).json()
    assert send(client, "put", f"{base}/{his['id']}", {"timeSpent": "30m"}, as_dave).json()["timeSpent"] == "30m"
    assert client.delete(f"{base}/{his['id']}", **as_alice).status_code == 204
    assert list(Worklog.objects.values_list("pk", flat=True)) == [hers.pk]


def test_v3_worklog_comments_are_atlassian_documents(client, issue, as_alice):
    doc = {"type": "doc", "version": 1,
           "content": [{"type": "paragraph", "content": [{"type": "text", "text": "In ADF"}]}]}  # fmt: skip
    body = {"timeSpent": "1h", "started": STARTED, "comment": doc}
    created = send(client, "post", f"/rest/api/3/issue/{issue.key}/worklog", body, as_alice).json()
    assert created["comment"]["type"] == "doc" and Worklog.objects.get().comment == "In ADF"
    v2 = client.get(f"/rest/api/2/issue/{issue.key}/worklog/{created['id']}", **as_alice).json()
    assert v2["comment"] == "In ADF"
