"""Worklog adapters: the timesheet/report hot path, JSON as pydantic writes it, streaming exports.

Personas: alice (admin of DEMO) and carol (viewer in DEMO) log work on DEMO issues; bob logs on OPS only
and, scoped by project membership, sees none of DEMO's worklogs.
"""

from __future__ import annotations

import datetime as dt

import orjson
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from pydantic import TypeAdapter

from issues.permissions import visible_project_ids
from worklogs.adapters import WORKLOGS, iter_worklog_row_dicts, iter_worklog_rows_json, worklog_row_dicts
from worklogs.models import Worklog
from worklogs.schemas import WorklogOut
from worklogs.services import worklog_add

# Users are joined into the row query on SQLite and loaded by one batched query on PostgreSQL.
USERS_QUERY = 0 if connection.vendor == "sqlite" else 1
START = dt.datetime(2026, 3, 2, 9, 0, 0, 500, tzinfo=dt.UTC)


@pytest.fixture
def worklogs(project_a, project_b, make_issue, alice, bob, carol):
    a1 = make_issue(project_a, summary="Timesheet «ü»")
    a2 = make_issue(project_a, summary="Second")
    b1 = make_issue(project_b, summary="Ops", reporter=bob)
    made = []
    for i in range(9):
        made.append(
            worklog_add(
                issue=[a1, a2][i % 2],
                author=alice,
                time_spent=900 * (i + 1),
                started=START + dt.timedelta(hours=i),
                comment=f'work {i} "q" é' if i % 3 else "",
                check_permission=False,
            )
        )
    made.append(worklog_add(issue=b1, author=bob, time_spent=3600, started=START, check_permission=False))
    # An author who was deleted later: the worklog stays, author null.
    orphan = worklog_add(issue=a1, author=carol, time_spent=60, started=START, check_permission=False)
    Worklog.objects.filter(pk=orphan.pk).update(author=None)
    return made


def rows():
    return Worklog.objects.order_by("started", "id")


# The columns a timesheet cell or time report needs.
TIMESHEET_FIELDS = ("id", "issue_id", "issue_key", "author", "started", "time_spent")


def test_json_is_what_pydantic_writes_for_the_schema(worklogs):
    trusted = WORKLOGS.json(rows(), validate=False)
    adapter = TypeAdapter(list[WorklogOut])
    assert adapter.dump_json(adapter.validate_json(trusted)) == trusted
    data = orjson.loads(trusted)
    assert data[0]["started"] == "2026-03-02T09:00:00.000500Z"
    assert sum(1 for d in data if d["author"] is None) == 1


def test_timesheet_fields_read_only_their_columns(worklogs):
    with CaptureQueriesContext(connection) as ctx:
        data = worklog_row_dicts(rows(), fields=TIMESHEET_FIELDS)
    query = ctx.captured_queries[0]
    assert len(ctx.captured_queries) == 1 + USERS_QUERY
    selected = query["sql"].split(" FROM ")[0]
    assert "comment" not in selected and '"created"' not in selected
    assert set(data[0]) == set(TIMESHEET_FIELDS)


def test_list_is_two_queries(worklogs, django_assert_num_queries):
    with django_assert_num_queries(1 + USERS_QUERY):  # worklogs with their issue keys (and their authors)
        data = worklog_row_dicts(rows())
    assert {d["author"]["display_name"] for d in data if d["author"]} == {"Alice Adams", "Bob Brown"}


def test_instances_give_the_same_rows_as_querysets(worklogs):
    # The worklog list passes loaded instances (with their issue): same dicts, users in one query.
    instances = list(rows().select_related("issue", "author__profile"))
    assert worklog_row_dicts(instances) == worklog_row_dicts(rows())


def test_scoping_stays_with_the_callers_queryset(worklogs, bob):
    # bob is only in OPS: his scoped queryset yields only the OPS worklog.
    scoped = Worklog.objects.filter(issue__project_id__in=visible_project_ids(bob))
    assert [d["issue_key"] for d in worklog_row_dicts(scoped, fields=("issue_key",))] == ["OPS-1"]


def test_streaming_export_equals_the_whole(worklogs):
    whole = WORKLOGS.json(rows())
    assert b"".join(iter_worklog_rows_json(rows(), chunk_size=3)) == whole
    lines = b"".join(iter_worklog_rows_json(rows(), chunk_size=3, lines=True)).splitlines()
    assert [orjson.loads(x) for x in lines] == orjson.loads(whole)
    assert list(iter_worklog_row_dicts(rows(), chunk_size=2)) == worklog_row_dicts(rows())
    assert list(iter_worklog_row_dicts(rows(), fields=("id",), chunk_size=4)) == [{"id": w.pk} for w in rows()]


def test_streaming_pulls_rows_lazily(worklogs, django_assert_max_num_queries):
    pieces = iter_worklog_rows_json(rows(), chunk_size=2)
    with django_assert_max_num_queries(2):  # the first chunk and its authors only
        first = next(pieces)
    assert first.startswith(b"[{") and not first.endswith(b"]")
