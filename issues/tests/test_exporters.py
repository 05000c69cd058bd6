"""The navigator's CSV export: the same bytes on SQLite (csv module) and PostgreSQL (COPY), the owner's rows only.

On PostgreSQL issues.exporters formats every cell in SQL; these tests hold it to the Python writer byte for
byte, on text chosen to break CSV (quotes, commas, line breaks, formula starts, backslashes, non-ASCII), and
check that a job whose export fails midway is marked failed with no file, and that the queries an export makes
do not grow with its rows.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.core.files.storage import default_storage
from django.db import DatabaseError, connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from issues import export_jobs, exporters
from issues.export_jobs import export_job_run, issue_csv_pieces, issue_export_queryset
from issues.exporters import RowCount
from issues.models import ExportJob, Issue, Label, Membership, Resolution, Role
from taskra_site import timing

pytestmark = pytest.mark.django_db
POSTGRES = connection.vendor == "postgresql"
T0 = dt.datetime(2026, 11, 20, 8, 15, tzinfo=dt.UTC)

# Each one breaks a naive CSV writer or its formula escaping.
TRICKY = [
    'Comma, "quotes" and\nnewline',
    '=HYPERLINK("http://evil","click")',
    "+1 plus",
    "-1 minus",
    "@at sign",
    "\tTab first",
    "\rCR first",
    "CRLF\r\ninside",
    "back\\slash \\. \\N and \\",
    "Ünïcødé ✓ 日本語",
    " leading and trailing spaces ",
    '"quoted"',
    "'already quoted",
    "semi;colon|pipe",
]


def _csv(queryset, *, python: bool = False, monkeypatch=None) -> bytes:
    if python:
        monkeypatch.setattr(export_jobs, "copy_supported", lambda qs: False)
    pieces = issue_csv_pieces(queryset)
    body = b"".join(p.encode() if isinstance(p, str) else p for p in pieces)
    if python:
        monkeypatch.undo()
    return body


@pytest.fixture
def tricky_issues(alice, bob, carol, project_a, make_issue):
    """Issues of DEMO with every field filled in awkward ways; alice sees them all."""
    User = get_user_model()
    plain = User.objects.create_user("plain.user")  # no names at all: shown by username
    named = User.objects.create_user("named", first_name="Nora", last_name="Named")  # full name, no display name
    formula = User.objects.create_user("formula")
    formula.profile.display_name = "=cmd|' /C calc'!A0"
    formula.profile.save()
    for user in (plain, named, formula):
        Membership.objects.create(project=project_a, user=user, role=Role.MEMBER)
    labels = [Label.objects.create(name=n) for n in ("zeta", "alpha", "=sum(A1)", "b,c", 'q"uote')]
    resolution = Resolution.objects.order_by("id").first()
    people = [None, alice, carol, plain, named, formula]
    parent = make_issue(project_a, summary="Parent")
    made = [parent]
    for n, summary in enumerate(TRICKY):
        issue = make_issue(
            project_a,
            summary=summary,
            assignee=people[n % len(people)],
            reporter=people[(n + 1) % len(people)] or alice,
            parent=parent if n % 4 == 1 else None,
            due_date=dt.date(2026, 12, 1) + dt.timedelta(days=n) if n % 2 else None,
            original_estimate=None if n % 3 == 0 else n * 3600,
            remaining_estimate=0 if n % 3 == 1 else None,
        )
        issue.labels.set(labels[: n % (len(labels) + 1)])
        made.append(issue)
    for n, issue in enumerate(made):
        # Whole seconds, microseconds, and microseconds with leading zeros (encode_datetime writes all six).
        micro = (0, 123456, 500)[n % 3]
        created = T0 + dt.timedelta(hours=n, microseconds=micro)
        Issue.objects.filter(pk=issue.pk).update(
            created=created,
            updated=created + dt.timedelta(minutes=5),
            resolved=created + dt.timedelta(days=1) if n % 2 else None,
            resolution=resolution if n % 2 else None,
            time_spent=n * 60,
        )
    return made


@pytest.mark.skipif(not POSTGRES, reason="the COPY path runs on PostgreSQL (DATABASE_URL)")
@pytest.mark.parametrize("sort", ["", "key", "summary", "assignee", "updated"])
def test_copy_writes_the_same_bytes_as_the_python_writer(alice, tricky_issues, monkeypatch, sort):
    queryset = issue_export_queryset(user=alice, params={"jql": "", "sort": sort, "dir": "desc"})
    python = _csv(queryset, python=True, monkeypatch=monkeypatch)
    fast = _csv(queryset)
    assert fast == python
    assert python.count(b"\r\n") > len(tricky_issues)  # line breaks inside quoted cells came through too


# What both paths write for three issues (alice's view): the exact bytes, on SQLite and on PostgreSQL.
EXPECTED = (
    "Key,Summary,Project,Type,Status,Status category,Priority,Resolution,Assignee,Reporter,Labels,Parent,"
    "Due date,Original estimate (s),Remaining estimate (s),Time spent (s),Created,Updated,Resolved\r\n"
    'DEMO-3,"\'=SUM(1,2) ""x""",DEMO,Task,To Do,todo,Medium,,Alice Adams,Carol Clark,\'=b b\'z,,2026-12-03,,0,'
    "120,2026-11-20T10:15:00.000500Z,2026-11-20T10:20:00.000500Z,\r\n"
    "DEMO-2,Two,DEMO,Sub-task,To Do,todo,Medium,Done,,Alice Adams,a,DEMO-1,,7200,7200,60,"
    "2026-11-20T09:15:00.123456Z,2026-11-20T09:20:00.123456Z,2026-11-21T09:15:00.123456Z\r\n"
    "DEMO-1,One,DEMO,Task,To Do,todo,Medium,,,Alice Adams,,,,,,0,2026-11-20T08:15:00Z,2026-11-20T08:20:00Z,\r\n"
)


def test_export_bytes_are_the_same_on_every_database(alice, carol, project_a, make_issue):
    one = make_issue(project_a, summary="One")
    two = make_issue(project_a, summary="Two", parent=one, original_estimate=7200)
    three = make_issue(project_a, summary='=SUM(1,2) "x"', assignee=alice, reporter=carol, remaining_estimate=0)
    three.due_date = dt.date(2026, 12, 3)
    three.save(update_fields=["due_date"])
    two.labels.set([Label.objects.create(name="a")])
    three.labels.set([Label.objects.create(name="b'z"), Label.objects.create(name="=b")])
    done = Resolution.objects.get(name="Done")
    for n, issue in enumerate((one, two, three)):
        created = T0 + dt.timedelta(hours=n, microseconds=(0, 123456, 500)[n])
        Issue.objects.filter(pk=issue.pk).update(
            created=created,
            updated=created + dt.timedelta(minutes=5),
            resolved=created + dt.timedelta(days=1) if n == 1 else None,
            resolution=done if n == 1 else None,
            time_spent=n * 60,
        )
    queryset = issue_export_queryset(user=alice, params={"jql": "", "sort": "created", "dir": "desc"})
    assert _csv(queryset).decode() == EXPECTED


def test_job_export_holds_only_the_owners_projects(alice, bob, project_a, project_b, make_issue, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    for n in range(3):
        make_issue(project_a, summary=f"Demo {n}")
    make_issue(project_b, summary="Ops secret", reporter=bob)
    for jql in ("", "project = DEMO OR summary ~ secret", "ORDER BY key"):
        job = ExportJob.objects.create(owner=alice, kind="issues", format="csv", params={"jql": jql})
        done = export_job_run(job_id=job.pk)
        assert done is not None and done.state == ExportJob.State.DONE, done and done.error
        with default_storage.open(done.file, "rb") as f:
            body = f.read()
        assert done.rows == 3 and done.project_ids == [project_a.pk]
        assert b"OPS" not in body and b"Ops secret" not in body
        assert body.count(b"\r\n") == 4  # header and 3 rows
    # bob's own export holds only OPS.
    job = ExportJob.objects.create(owner=bob, kind="issues", format="csv", params={"jql": ""})
    done = export_job_run(job_id=job.pk)
    assert done is not None and done.rows == 1 and done.project_ids == [project_b.pk]


def test_an_export_failing_midway_marks_the_job_failed_and_keeps_no_file(
    alice, project_a, make_issue, settings, tmp_path, monkeypatch
):
    settings.MEDIA_ROOT = tmp_path / "media"
    for n in range(3):
        make_issue(project_a, summary=f"Demo {n}")
    real_pieces = export_jobs.issue_csv_pieces

    def broken(queryset, counter=None):
        pieces = real_pieces(queryset, counter)
        yield next(pieces)  # the header is written, then the database goes away
        raise DatabaseError("server closed the connection unexpectedly")

    monkeypatch.setattr(export_jobs, "issue_csv_pieces", broken)
    job = ExportJob.objects.create(owner=alice, kind="issues", format="csv", params={"jql": ""})
    failed = export_job_run(job_id=job.pk)
    assert failed is not None and failed.state == ExportJob.State.FAILED
    assert "server closed the connection" in failed.error and not failed.file and failed.rows == 0
    assert not (tmp_path / "media" / "exports").exists()  # nothing half-written was stored


def test_an_inline_export_failing_midway_is_an_error_never_a_short_200(
    client, alice, project_a, make_issue, monkeypatch
):
    make_issue(project_a, summary="Demo")
    real_pieces = export_jobs.issue_csv_pieces

    def broken(queryset, counter=None):
        pieces = real_pieces(queryset, counter)
        yield next(pieces)
        raise DatabaseError("canceling statement due to statement timeout")

    monkeypatch.setattr("issues.views.navigator.issue_csv_pieces", broken)
    client.force_login(alice)
    client.raise_request_exception = False
    response = client.get(reverse("issues:export"), {"format": "csv"})
    assert response.status_code == 500


def test_inline_export_is_sent_whole_with_its_length(client, alice, project_a, make_issue):
    for n in range(3):
        make_issue(project_a, summary=f"Demo {n}")
    client.force_login(alice)
    response = client.get(reverse("issues:export"), {"format": "csv"})
    body = b"".join(response.streaming_content)
    assert response.status_code == 200 and int(response["Content-Length"]) == len(body)
    assert response["Content-Disposition"].startswith('attachment; filename="issues-')
    assert body.count(b"\r\n") == 4


@pytest.mark.skipif(not POSTGRES, reason="COPY is PostgreSQL's; elsewhere the rows come from a plain SELECT")
def test_export_copy_counts_in_the_request_sql_timing(alice, project_a, make_issue, monkeypatch):
    # COPY bypasses the cursor's execute() and so the perf middleware's execute wrapper: the request's SQL time
    # and query count (Server-Timing, /perf/) must still include the export's statement.
    make_issue(project_a, summary="Counted")
    seen: list[str] = []
    add_query = timing.add_query
    monkeypatch.setattr(timing, "add_query", lambda ns, sql: (seen.append(sql), add_query(ns, sql)))
    record = timing.start()
    try:
        body = _csv(issue_export_queryset(user=alice, params={"sort": "key"}))
    finally:
        timing.stop()
    assert b"Counted" in body
    assert [sql for sql in seen if sql.startswith("COPY (")], seen
    assert record.db_ns > 0


def _job_queries(owner) -> tuple[int, int]:
    job = ExportJob.objects.create(owner=owner, kind="issues", format="csv", params={"jql": "", "sort": "key"})
    with CaptureQueriesContext(connection) as queries:
        done = export_job_run(job_id=job.pk)
    assert done is not None and done.state == ExportJob.State.DONE
    copies = [q for q in queries.captured_queries if q["sql"].startswith("COPY (")]
    assert len(copies) == (1 if POSTGRES else 0)  # on PostgreSQL the rows come from one COPY
    return len(queries), done.rows


def test_export_job_queries_do_not_grow_with_its_rows(alice, project_a, make_issue, settings, tmp_path, monkeypatch):
    settings.MEDIA_ROOT = tmp_path / "media"
    # Small pieces, so the larger export spans many pieces on either path.
    monkeypatch.setattr(export_jobs, "CSV_FLUSH_ROWS", 2)
    monkeypatch.setattr(exporters, "COPY_BATCH_ROWS", 2)
    labels = [Label.objects.create(name=n) for n in ("x", "y")]
    for n in range(3):
        make_issue(project_a, summary=f"Demo {n}", assignee=alice).labels.set(labels)
    small = _job_queries(alice)
    for n in range(12):
        make_issue(project_a, summary=f"More {n}", assignee=alice).labels.set(labels)
    large = _job_queries(alice)
    assert (small[1], large[1]) == (3, 15)
    # PostgreSQL: one COPY whatever the rows; elsewhere labels and users are read once per adapter chunk
    # (adapters.DEFAULT_CHUNK_SIZE rows), one chunk in both exports here.
    assert small[0] == large[0]


def test_row_count_counts_what_was_written(alice, project_a, make_issue):
    for n in range(5):
        make_issue(project_a, summary=f"Demo {n}")
    counter = RowCount()
    body = b"".join(
        p.encode() if isinstance(p, str) else p
        for p in issue_csv_pieces(issue_export_queryset(user=alice, params={}), counter)
    )
    assert counter.rows == 5 == body.count(b"\r\n") - 1


def test_an_export_matching_nothing_is_the_header_alone(alice, project_a, make_issue):
    make_issue(project_a, summary="Demo")
    loner = get_user_model().objects.create_user("loner")  # member of no project: every query matches nothing
    for user, jql in ((loner, ""), (alice, "project = DEMO AND project != DEMO")):
        counter = RowCount()
        pieces = issue_csv_pieces(issue_export_queryset(user=user, params={"jql": jql}), counter)
        body = b"".join(p.encode() if isinstance(p, str) else p for p in pieces)
        assert body.startswith(b"Key,Summary,") and body.count(b"\r\n") == 1 and counter.rows == 0
