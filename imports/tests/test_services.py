"""Import and bulk-update services run in-process (the Celery path is in test_live_worker.py)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile

from imports import services
from imports.models import Job, JobState
from imports.tests.conftest import jira_issue, write_jira_json
from issues.models import History, Issue, Project
from worklogs.models import Worklog


def run(job: Job) -> Job:
    services.job_run(job_id=job.pk)
    job.refresh_from_db()
    return job


def counts() -> tuple[int, int, int]:
    from issues.models import Comment

    return Issue.objects.count(), Worklog.objects.count(), Comment.objects.count()


@pytest.mark.django_db
def test_jira_json_import_creates_issues_worklogs_comments_and_raises_counter(tmp_path, project_a, alice, make_issue):
    # alice is admin of DEMO: she may import into it.
    path = write_jira_json(tmp_path / "a.json", [jira_issue(n) for n in (1, 2, 3, 17)])
    job = run(services.import_job_create(user=alice, paths=[path], enqueue=False, options={"chunk_size": 3}))
    assert job.state == JobState.SUCCEEDED, job.message
    assert (job.processed, job.created_count, job.updated_count, job.failed_count) == (4, 4, 0, 0)
    assert counts() == (4, 8, 4)
    issue = Issue.objects.select_related("status", "assignee__profile").get(key="DEMO-17")
    assert issue.number == 17 and issue.status.name == "In Progress" and issue.time_spent == 3600
    assert issue.description == "Text 17"
    assert issue.assignee.profile.account_id == "acc-2" and issue.assignee.email == "user2@jira.example"
    assert sorted(issue.labels.values_list("name", flat=True)) == ["batch1", "imported"]
    project_a.refresh_from_db()
    assert project_a.issue_counter == 17
    assert make_issue(project_a).key == "DEMO-18"  # later creates do not collide with imported keys


@pytest.mark.django_db
@pytest.mark.parametrize("reader_process", [True, False])
def test_malformed_records_become_row_errors_and_the_rest_imports(tmp_path, project_a, alice, reader_process):
    good = [jira_issue(n) for n in (1, 2, 3)]
    no_key = jira_issue(4)
    del no_key["key"]
    bad_date = jira_issue(5, created="yesterday-ish")
    zero = jira_issue(6)
    zero["fields"]["worklog"]["worklogs"][0]["timeSpentSeconds"] = 0
    negative = jira_issue(7)
    negative["fields"]["worklog"]["worklogs"][1]["timeSpentSeconds"] = -60
    unknown_status = jira_issue(8, status={"name": "Waiting for Godot"})
    wrong_user = jira_issue(9, assignee="alice")
    path = write_jira_json(
        tmp_path / "bad.json", [good[0], no_key, bad_date, zero, good[1], negative, unknown_status, wrong_user, good[2]]
    )
    options = {"reader_process": reader_process, "chunk_size": 4}
    job = run(services.import_job_create(user=alice, paths=[path], enqueue=False, options=options))
    assert job.state == JobState.SUCCEEDED_WITH_ERRORS
    assert (job.processed, job.created_count, job.failed_count) == (9, 3, 6)
    assert sorted(Issue.objects.values_list("key", flat=True)) == ["DEMO-1", "DEMO-2", "DEMO-3"]
    errors = {(e.record, e.field.split(".")[0]): e for e in job.errors.all()}
    assert (2, "key") in errors
    assert (3, "fields") in errors and "created" in errors[(3, "fields")].field
    assert errors[(4, "fields")].field == "fields.worklog.worklogs.0.timeSpentSeconds"
    assert "zero" in errors[(4, "fields")].message
    assert "negative" in errors[(6, "fields")].message
    assert errors[(7, "status")].issue_key == "DEMO-8" and "Waiting for Godot" in errors[(7, "status")].message
    assert errors[(8, "fields")].field.startswith("fields.assignee")


@pytest.mark.django_db
@pytest.mark.parametrize("reader_process", [True, False])
def test_truncated_file_fails_clearly_and_keeps_only_whole_chunks(tmp_path, project_a, alice, reader_process):
    path = write_jira_json(tmp_path / "t.json", [jira_issue(n) for n in range(1, 26)])
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * 0.7)])
    options = {"chunk_size": 5, "reader_process": reader_process}
    job = run(services.import_job_create(user=alice, paths=[path], enqueue=False, options=options))
    assert job.state == JobState.FAILED
    assert "truncated" in job.message
    # Chunks before the break are committed whole; nothing of the broken chunk is written.
    assert Issue.objects.count() == job.created_count == job.processed
    assert job.processed % 5 == 0 and 0 < job.processed < 25
    assert Worklog.objects.count() == 2 * job.processed


@pytest.mark.django_db
def test_non_json_file_fails_the_job(tmp_path, project_a, alice):
    path = tmp_path / "x.json"
    path.write_text('{"issues": [ this is not json')
    job = run(services.import_job_create(user=alice, paths=[path], enqueue=False, fmt="jira_json"))
    assert job.state == JobState.FAILED and "not valid JSON" in job.message
    assert Issue.objects.count() == 0


@pytest.mark.django_db
def test_several_pages_in_one_file_and_several_files(tmp_path, project_a, alice):
    page1 = {"startAt": 0, "issues": [jira_issue(1), jira_issue(2)]}
    page2 = {"startAt": 2, "issues": [jira_issue(3)]}
    (tmp_path / "pages.json").write_text(json.dumps(page1) + "\n" + json.dumps(page2))
    (tmp_path / "array.json").write_text(json.dumps([{"issues": [jira_issue(4)]}, {"issues": [jira_issue(5)]}]))
    job = run(
        services.import_job_create(user=alice, paths=[tmp_path / "pages.json", tmp_path / "array.json"], enqueue=False)
    )
    assert job.state == JobState.SUCCEEDED, job.message
    assert job.created_count == 5


CSV = (
    "Summary,Issue key,Issue id,Issue Type,Status,Status Category,Project key,Project name,Priority,Assignee,"
    "Assignee Id,Reporter,Created,Updated,Labels,Labels,Labels,Original Estimate,Log Work,Log Work,Comment\n"
    "First,DEMO-5,20005,Bug,Done,Done,DEMO,Demo,High,Jira User 1,acc-1,carol,15/Jan/24 10:30 AM,16/Jan/24 9:00 AM,"
    'one,two,,3600,"fixed it; really;15/Jan/24 11:00 AM;carol;1800",;2024-01-16 09:00;carol;600,'
    '"15/Jan/24 12:00 PM;carol;Looks good; ship it"\n'
    "Second,DEMO-6,20006,Task,To Do,,DEMO,Demo,,,,,not a date,,,,,,,,\n"
    "Third,DEMO-7,20007,Task,Shiny New,,DEMO,Demo,,,,,15/Jan/24 10:30 AM,,,,,,,,\n"
)


@pytest.mark.django_db
def test_jira_csv_with_repeated_columns_and_worklog_cells(tmp_path, project_a, alice, carol):
    path = tmp_path / "jira.csv"
    path.write_text(CSV)
    job = run(services.import_job_create(user=alice, paths=[path], enqueue=False, options={"timezone": "UTC"}))
    assert job.format == "jira_csv"
    assert (job.created_count, job.failed_count) == (1, 2)
    issue = Issue.objects.get(key="DEMO-5")
    assert sorted(issue.labels.values_list("name", flat=True)) == ["one", "two"]
    assert issue.original_estimate == 3600 and issue.time_spent == 2400
    assert sorted(Worklog.objects.values_list("comment", "time_spent")) == [("", 600), ("fixed it; really", 1800)]
    # "carol" names a username: alice is not staff, so no account is matched by it; one placeholder stands for her.
    authors = set(Worklog.objects.values_list("author_id", flat=True))
    assert len(authors) == 1 and carol.pk not in authors
    assert not get_user_model().objects.get(pk=authors.pop()).is_active
    assert issue.comments.get().body == "Looks good; ship it"
    errors = {e.issue_key: e for e in job.errors.all()}
    assert errors["DEMO-6"].field == "created" and errors["DEMO-6"].line == 3
    assert errors["DEMO-7"].field == "status"
    again = run(services.import_job_create(user=alice, paths=[path], enqueue=False))
    assert (again.created_count, again.updated_count, again.unchanged_count) == (0, 0, 1)


@pytest.mark.django_db
def test_jsonl_and_project_option(tmp_path, project_a, project_b, alice, bob, admin_user):
    lines = [
        {
            "key": "ABC-3",
            "summary": "a",
            "created": "2024-01-01T00:00:00Z",
            "worklogs": [{"started": "2024-01-01T09:00:00Z", "time_spent": "2h 30m"}],
        },
        {"key": "ABC-9", "summary": "b", "created": "2024-01-01T00:00:00Z", "parent": "ABC-3"},
    ]
    path = tmp_path / "x.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    job = run(services.import_job_create(user=alice, paths=[path], enqueue=False, project_key="DEMO"))
    assert job.state == JobState.SUCCEEDED, (job.message, list(job.errors.values_list("message", flat=True)))
    assert Issue.objects.get(key="DEMO-3").time_spent == 9000
    assert Issue.objects.get(key="DEMO-9").parent.key == "DEMO-3"
    # bob (OPS only) may not import into DEMO: refused before anything is queued.
    with pytest.raises(ValidationError):
        services.import_job_create(user=bob, paths=[path], enqueue=False, project_key="DEMO")
    # Without --project, unknown projects are row errors for non-staff users, and created for staff.
    job = run(services.import_job_create(user=bob, paths=[path], enqueue=False))
    assert job.failed_count == 2 and not Project.objects.filter(key="ABC").exists()
    job = run(services.import_job_create(user=admin_user, paths=[path], enqueue=False))
    assert job.created_count == 2 and Project.objects.get(key="ABC").issue_counter == 9


@pytest.mark.django_db
def test_bulk_apply_by_ids_only_touches_editable_projects(project_a, project_b, alice, bob, make_issue):
    demo = [make_issue(project_a) for _ in range(3)]
    ops = make_issue(project_b, reporter=bob)
    job = services.bulk_update_job_create(
        user=alice,
        issue_ids=[i.pk for i in demo] + [ops.pk],
        changes={"status": "Done", "priority": "Highest", "add_labels": ["x", "y"]},
        enqueue=False,
    )
    job = run(job)
    assert job.state == JobState.SUCCEEDED
    assert (job.total, job.processed, job.updated_count) == (3, 3, 3)
    for issue in Issue.objects.filter(pk__in=[i.pk for i in demo]).select_related("status", "resolution"):
        assert issue.status.name == "Done" and issue.resolution.name == "Done" and issue.resolved
        assert sorted(issue.labels.values_list("name", flat=True)) == ["x", "y"]
    assert History.objects.filter(field="status", to_value="Done").count() == 3
    ops.refresh_from_db()
    assert ops.status.name == "To Do"  # alice is not in OPS
    again = run(
        services.bulk_update_job_create(
            user=alice, issue_ids=[i.pk for i in demo], changes={"remove_labels": "x"}, enqueue=False
        )
    )
    assert again.updated_count == 3
    assert set(Issue.labels.through.objects.values_list("label__name", flat=True)) == {"y"}


@pytest.mark.django_db
def test_bulk_update_takes_issue_ids_as_the_text_checkboxes_send(project_a, alice, make_issue):
    # alice edits DEMO; the navigator posts the checked rows' ids as strings, and the service parses them.
    first, second = make_issue(project_a), make_issue(project_a)
    job = services.bulk_update_job_create(
        user=alice, issue_ids=[str(second.pk), str(first.pk), str(first.pk)], changes={"status": "Done"}, enqueue=False
    )
    assert job.options["ids"] == sorted({first.pk, second.pk})
    with pytest.raises(ValidationError, match="Issue ids must be numbers"):
        services.bulk_update_job_create(
            user=alice, issue_ids=["12", "DEMO-1"], changes={"status": "Done"}, enqueue=False
        )
    assert Job.objects.count() == 1


@pytest.mark.django_db
def test_an_upload_without_a_name_is_refused_before_anything_is_stored(alice, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    nameless = SimpleUploadedFile("a.jsonl", b'{"key": "DEMO-1"}\n')
    nameless.name = None
    with pytest.raises(ValidationError, match="no name or size"):
        services.import_job_create(user=alice, files=[nameless], enqueue=False)
    assert not Job.objects.exists() and not any(tmp_path.iterdir())


@pytest.mark.django_db
def test_bulk_update_rejects_bad_jql_and_empty_changes(project_a, alice):
    with pytest.raises(ValidationError, match="JQL"):
        services.bulk_update_job_create(user=alice, jql="status = = Done", changes={"status": "Done"}, enqueue=False)
    with pytest.raises(ValidationError, match="at least one change"):
        services.bulk_update_job_create(user=alice, jql="project = DEMO", changes={}, enqueue=False)
    with pytest.raises(ValidationError, match="Unknown status"):
        services.bulk_update_job_create(user=alice, jql="project = DEMO", changes={"status": "Nope"}, enqueue=False)
    assert not Job.objects.exists()


@pytest.mark.django_db
def test_export_then_import_into_an_empty_database_gives_the_same_issues(
    tmp_path, project_a, alice, carol, admin_user, make_issue
):
    import datetime as dt

    from imports.exporters import export_jsonl
    from issues.models import Comment
    from issues.services import comment_add
    from worklogs.services import worklog_add

    parent = make_issue(project_a, summary="Parent", labels=["a", "b"], original_estimate=7200, assignee=carol)
    child = make_issue(project_a, summary="Child", parent=parent)
    for minutes in (30, 45):
        worklog_add(
            issue=parent,
            author=alice,
            time_spent=minutes * 60,
            started=dt.datetime(2024, 5, 1, 9, tzinfo=dt.UTC),
            comment=f"{minutes}m",
            check_permission=False,
        )
    comment_add(issue=child, author=carol, body="hello", check_permission=False)

    def snapshot():
        issues = sorted(
            Issue.objects.values_list(
                "key",
                "summary",
                "status__name",
                "type__name",
                "priority__name",
                "assignee__username",
                "reporter__username",
                "parent__key",
                "original_estimate",
                "remaining_estimate",
                "time_spent",
                "created",
                "updated",
            )
        )
        worklogs = sorted(
            Worklog.objects.values_list("issue__key", "author__username", "started", "time_spent", "comment")
        )
        comments = sorted(Comment.objects.values_list("issue__key", "author__username", "body", "created"))
        labels = sorted(Issue.labels.through.objects.values_list("issue__key", "label__name"))
        return issues, worklogs, comments, labels

    before = snapshot()
    path = tmp_path / "export.jsonl"
    with open(path, "wb") as out:
        assert export_jsonl(issues=Issue.objects.all(), out=out) == 2
    Issue.objects.all().delete()
    Project.objects.all().delete()
    assert Worklog.objects.count() == 0
    job = run(services.import_job_create(user=admin_user, paths=[path], enqueue=False))
    assert job.state == JobState.SUCCEEDED, (job.message, list(job.errors.values_list("message", flat=True)))
    assert snapshot() == before


def test_detect_format():
    from imports.parsers import detect_format

    assert detect_format(b'{"expand":"names","issues":[{"key":"A-1"}]}') == "jira_json"
    assert detect_format(b'[{"issues": []}]') == "jira_json"
    assert detect_format(b'{"key": "AB-1", "summary": "x"}\n{"key": "AB-2"}') == "taskra_jsonl"
    assert detect_format(b"Summary,Issue key,Status\nx,AB-1,Done\n") == "jira_csv"
    assert detect_format(b"\x89PNG\r\n") is None
    assert detect_format(b"name,age\nx,1\n") is None


def test_adf_to_text():
    from imports.schemas import adf_to_text

    doc = {
        "type": "doc",
        "content": [
            {
                "type": "paragraph",
                "content": [{"type": "text", "text": "Hello "}, {"type": "mention", "attrs": {"text": "@bob"}}],
            },
            {
                "type": "bulletList",
                "content": [
                    {
                        "type": "listItem",
                        "content": [{"type": "paragraph", "content": [{"type": "text", "text": "one"}]}],
                    }
                ],
            },
        ],
    }
    assert adf_to_text(doc) == "Hello @bob\n\n- one"


def test_memory_stays_flat_reading_a_large_file(tmp_path: Path):
    # The reader yields records one by one: a 20,000-issue file never becomes one Python list.
    import tracemalloc

    from imports.parsers import read_records

    path = write_jira_json(tmp_path / "big.json", [jira_issue(n) for n in range(1, 20001)])
    tracemalloc.start()
    count = sum(1 for _ in read_records("jira_json", [path]))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert count == 20000
    assert peak < path.stat().st_size / 5, (peak, path.stat().st_size)


def test_reader_process_stops_when_the_writer_stops_early(tmp_path):
    # A cancelled job stops reading after the current chunk: the reader process must not outlive it.
    from imports import parsers

    path = write_jira_json(tmp_path / "r.json", [jira_issue(n) for n in range(1, 30)])
    reader = parsers.ReaderProcess("jira_json", [path], skip=3, size=4)
    chunks = iter(reader)
    first = next(chunks)
    assert (first.last, first.count, len(first.result.records)) == (7, 4, 4)
    assert first.result.records[0][0].data is None  # only record numbers cross to the writer
    chunks.close()
    assert not reader.alive()
    everything = list(parsers.ReaderProcess("jira_json", [path], size=4))
    assert [c.last for c in everything] == [c.last for c in parsers.validated_chunks("jira_json", [path], size=4)]
    assert everything[-1].last == 29 and everything[-1].bytes_done == path.stat().st_size


@pytest.mark.django_db
def test_running_jobs_lease_wait_is_until_the_earliest_lease_expires(alice):
    # recover_jobs sleeps this long before its next look: the first lease to lapse decides, not the last.
    now = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)
    for seconds in (300, 30, 120):
        Job.objects.create(user=alice, state=JobState.RUNNING, lease_until=now + dt.timedelta(seconds=seconds))
    # A finished job's leftover lease and a running job without a lease yet do not count.
    Job.objects.create(user=alice, state=JobState.SUCCEEDED, lease_until=now + dt.timedelta(seconds=5))
    Job.objects.create(user=alice, state=JobState.RUNNING, lease_until=None)
    assert services.running_jobs_lease_wait(now=now) == 31
    # A lease already lapsed means "look again at once" (plus the one-second margin), never a negative wait.
    assert services.running_jobs_lease_wait(now=now + dt.timedelta(seconds=60)) == 1


@pytest.mark.django_db
def test_running_jobs_lease_wait_is_none_without_running_jobs(alice):
    Job.objects.create(user=alice, state=JobState.FAILED, lease_until=dt.datetime(2026, 11, 27, tzinfo=dt.UTC))
    assert services.running_jobs_lease_wait(now=dt.datetime(2026, 11, 27, tzinfo=dt.UTC)) is None


@pytest.mark.django_db
def test_mapping_a_placeholder_reassigns_only_rows_the_mapper_may_edit(
    tmp_path, project_a, project_b, alice, bob, carol
):
    # Jira User 1 (acc-1) is one placeholder in alice's DEMO import and in bob's OPS import. alice maps it to carol:
    # DEMO's rows move, OPS's (bob's project, invisible to alice) stay, and bob's later imports still write the
    # placeholder (alice's word binds alice's imports only).
    demo = write_jira_json(tmp_path / "d.json", [jira_issue(1)])
    ops = jira_issue(1, project="OPS")
    ops["id"] = "20001"
    ops["fields"]["worklog"]["worklogs"] = []
    ops["fields"]["comment"]["comments"] = []
    ops_path = write_jira_json(tmp_path / "o.json", [ops])
    job = run(services.import_job_create(user=alice, paths=[demo], enqueue=False))
    run(services.import_job_create(user=bob, paths=[ops_path], enqueue=False))
    placeholder = Issue.objects.get(key="OPS-1").reporter
    assert Issue.objects.get(key="DEMO-1").reporter == placeholder
    with pytest.raises(ValidationError, match="No such account that you share a project with"):
        services.placeholder_map(job=job, placeholder_id=placeholder.pk, account="bob", actor=alice)
    count = services.placeholder_map(job=job, placeholder_id=placeholder.pk, account="carol", actor=alice)
    assert count == 2 + 2 + 1  # reporter, assignee, two worklogs, one comment
    assert Issue.objects.get(key="DEMO-1").reporter == carol and Issue.objects.get(key="OPS-1").reporter == placeholder
    run(services.import_job_create(user=bob, paths=[ops_path], enqueue=False))
    assert Issue.objects.get(key="OPS-1").reporter == placeholder
    with pytest.raises(PermissionDenied):
        services.placeholder_map(job=job, placeholder_id=placeholder.pk, account="bob", actor=bob)


@pytest.mark.django_db
@pytest.mark.parametrize("reader_process", [True, False])
def test_overflowing_key_deep_description_and_deep_array_fail_only_their_records(
    tmp_path, project_a, alice, reader_process
):
    # alice (admin of DEMO) imports five records; three are bad in ways that once stopped the whole job:
    # a key number past int4, an ADF description 5,000 nodes deep, an array 100,000 levels deep.
    depth = 100_000
    texts = [
        json.dumps(jira_issue(1)),
        json.dumps(jira_issue(2**31)),
        json.dumps(jira_issue(3, description="ADF")).replace(
            '"description": "ADF"',
            '"description": '
            + "".join(['{"type": "paragraph", "content": ['] * 5000)
            + '{"type": "text", "text": "x"}'
            + "]}" * 5000,
        ),
        json.dumps(jira_issue(4, customfield_1="DEEP")).replace('"DEEP"', "[" * depth + "]" * depth),
        json.dumps(jira_issue(5)),
    ]
    path = tmp_path / "bad.json"
    path.write_text('{"issues": [' + ", ".join(texts) + "]}")
    options = {"reader_process": reader_process, "chunk_size": 2}
    job = run(services.import_job_create(user=alice, paths=[path], enqueue=False, options=options))
    assert job.state == JobState.SUCCEEDED_WITH_ERRORS, job.message
    assert (job.processed, job.created_count, job.failed_count) == (5, 2, 3)
    assert sorted(Issue.objects.values_list("key", flat=True)) == ["DEMO-1", "DEMO-5"]
    errors = {e.record: e for e in job.errors.all()}
    assert errors[2].field == "key" and "2147483647" in errors[2].message
    assert "nested deeper than 200 levels" in errors[3].message and errors[3].issue_key == "DEMO-3"
    assert "nested deeper than 200 levels" in errors[4].message and errors[4].issue_key == "DEMO-4"


@pytest.mark.django_db
def test_bulk_change_skips_and_reports_issues_their_workflow_does_not_let_move(project_a, alice, make_issue):
    from issues.models import Status
    from issues.workflows import TransitionSpec, workflow_update

    todo, progress, done = (Status.objects.get(name=n) for n in ("To Do", "In Progress", "Done"))
    workflow_update(
        project=project_a,
        actor=None,
        steps=[(todo, None), (progress, None), (done, None)],
        transitions=[TransitionSpec(todo, progress), TransitionSpec(progress, done)],
    )
    waiting, started = make_issue(project_a), make_issue(project_a, status=progress)
    job = run(
        services.bulk_update_job_create(
            user=alice, issue_ids=[waiting.pk, started.pk], changes={"status": "Done"}, enqueue=False
        )
    )
    assert (job.processed, job.updated_count, job.failed_count) == (2, 1, 1)
    error = job.errors.get()
    assert (error.issue_key, error.field) == (waiting.key, "status")
    assert error.message == "DEMO's workflow does not allow moving from To Do to Done. Not changed."
    assert Issue.objects.get(pk=waiting.pk).status == todo and Issue.objects.get(pk=started.pk).status == done
