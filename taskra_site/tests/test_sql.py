"""The vendor SQL helpers give the same rows on PostgreSQL (COPY, arrays, LATERAL) and elsewhere (fallbacks).

Run on both CI databases: each test checks what the caller sees, whichever form ran.
"""

from __future__ import annotations

import os

import pytest
from django.conf import settings
from django.db import DatabaseError, connection, transaction

from issues.models import Issue, Label
from taskra_site import sql
from worklogs.models import Worklog

IS_POSTGRES = settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"

pytestmark = pytest.mark.django_db


def test_insert_rows_writes_plain_tuples(project_a, make_issue, alice):
    issue = make_issue(project_a)
    started = issue.created
    columns = (
        "issue_id",
        "author_id",
        "started",
        "time_spent",
        "comment",
        "created",
        "updated",
        "source",
        "external_id",
    )
    sql.insert_rows(
        Worklog,
        columns,
        [(issue.pk, alice.pk, started, 60 * n, f"w{n}", started, started, "t", f"x{n}") for n in (1, 2)],
    )
    sql.insert_rows(Worklog, columns, [])  # nothing to do
    # A binary COPY on PostgreSQL: the same rows, NULLs and non-ASCII text included.
    sql.insert_rows(
        Worklog,
        columns,
        [(issue.pk, None, started, 60 * n, f"w{n} é", started, started, "t", f"x{n}") for n in (3, 4)],
        binary=True,
    )
    assert sorted(Worklog.objects.values_list("external_id", "time_spent", "author_id", "started")) == [
        ("x1", 60, alice.pk, started),
        ("x2", 120, alice.pk, started),
        ("x3", 180, None, started),
        ("x4", 240, None, started),
    ]
    assert Worklog.objects.get(external_id="x4").comment == "w4 é"


def test_insert_links_skips_links_that_exist(project_a, make_issue):
    issue = make_issue(project_a, labels=["a"])
    a, b = Label.objects.get(name="a"), Label.objects.create(name="b")
    through = Issue.labels.through
    sql.insert_links(through, ("issue_id", "label_id"), [(issue.pk, a.pk), (issue.pk, b.pk)])
    assert sorted(issue.labels.values_list("name", flat=True)) == ["a", "b"]


def test_where_in_filters_by_many_values(project_a, make_issue):
    issues = [make_issue(project_a) for _ in range(3)]
    wanted = [issues[0].pk, issues[2].pk, 999_999]
    assert sorted(sql.where_in(Issue.objects.all(), "id", wanted).values_list("pk", flat=True)) == wanted[:2]
    assert not sql.where_in(Issue.objects.all(), "id", []).exists()


def test_rows_by_external_id_finds_one_row_per_id_of_the_source(project_a, make_issue):
    first, second = make_issue(project_a), make_issue(project_a)
    Issue.objects.filter(pk=first.pk).update(source="jira", external_id="10")
    Issue.objects.filter(pk=second.pk).update(source="other", external_id="10")  # same id, another source
    rows = sql.rows_by_external_id(Issue, "jira", ["10", "11"], ("external_id", "key"))
    assert [tuple(r) for r in rows] == [("10", first.key)]
    assert sql.rows_by_external_id(Issue, "jira", [], ("key",)) == []


def test_relax_commit_and_execute_without_jit_run_in_a_transaction(project_a, make_issue):
    issue = make_issue(project_a)
    with transaction.atomic():
        sql.relax_commit()
        rows = sql.execute_without_jit("SELECT key FROM issues_issue WHERE id = %s", [issue.pk])
    assert [tuple(r) for r in rows] == [(issue.key,)]


def test_fetch_pipelined_returns_each_statements_rows_in_one_query(project_a, make_issue, django_assert_num_queries):
    first, second = make_issue(project_a, summary="one"), make_issue(project_a, summary="two")
    statements = [
        ("SELECT key FROM issues_issue WHERE id = %s", (first.pk,)),
        ("SELECT summary FROM issues_issue WHERE id IN (%s, %s) ORDER BY summary", (first.pk, second.pk)),
        ("SELECT key FROM issues_issue WHERE id = %s", (-1,)),
    ]
    # One round trip on PostgreSQL (one entry in the query log and the request's timers); one query each elsewhere.
    with django_assert_num_queries(1 if sql.is_postgresql() else 3):
        found = sql.fetch_pipelined(statements)
    assert [[tuple(r) for r in rows] for rows in found] == [[(first.key,)], [("one",), ("two",)], []]
    assert sql.fetch_pipelined([]) == []


@pytest.mark.skipif(not IS_POSTGRES and not os.environ.get("CI"), reason="needs PostgreSQL (DATABASE_URL)")
def test_fetch_pipelined_prepares_a_repeated_statement_on_postgresql(project_a, make_issue):
    assert IS_POSTGRES, "CI must run this test on PostgreSQL"
    issue = make_issue(project_a)
    statement = "SELECT key FROM issues_issue WHERE id = %s AND number > %s"
    for _ in range(6):  # psycopg prepares a statement on its 5th run on a connection (prepare_threshold)
        assert sql.fetch_pipelined([(statement, (issue.pk, 0))]) == [[(issue.key,)]]
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements WHERE statement LIKE %s", ["%number > $2%"])
        assert cursor.fetchall(), "the repeated statement was not prepared"


def test_fetch_pipelined_raises_database_errors_as_djangos(project_a):
    with pytest.raises(DatabaseError), transaction.atomic():
        sql.fetch_pipelined([("SELECT no_such_column FROM issues_issue WHERE id = %s", (1,))])
