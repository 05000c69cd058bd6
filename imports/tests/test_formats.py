"""Every Jira export format end to end: shapes, parents, what is not kept, truncated files, dry runs, error CSV.

Personas: alice is admin of DEMO (imports into it); bob is a member of OPS only; admin_user is a superuser who
is a member of nothing. Files come from imports.tests.jira_files (built here, tiny).
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from imports import parsers, services
from imports.models import Job, JobError, JobState
from imports.tests import jira_files
from imports.tests.conftest import jira_issue
from issues.models import Comment, History, Issue, IssueLink, Label, Project, Resolution, Status
from issues.workflows import workflow_for
from worklogs.models import Worklog


def run(job: Job) -> Job:
    services.job_run(job_id=job.pk)
    job.refresh_from_db()
    return job


def import_file(path: Path, user=None, **options) -> Job:
    return run(services.import_job_create(user=user, paths=[path], enqueue=False, options=options))


def records_of(fmt: str, path: Path) -> list:
    return [rec for chunk in parsers.validated_chunks(fmt, [path]) for _, rec in chunk.result.records]


# --------------------------------------------------------------------------------------------- Jira JSON shapes


@pytest.mark.django_db
def test_single_issue_json_imports_its_one_issue(tmp_path, project_a, alice):
    # What GET /rest/api/2/issue/DEMO-7 returns: one issue, no "issues" array (it was "Succeeded", 0 processed).
    path = jira_files.single_issue_json(tmp_path / "DEMO-7.json")
    assert parsers.detect_format(path.read_bytes(), path.name) == "jira_json"
    job = import_file(path, alice)
    assert job.state == JobState.SUCCEEDED, job.message
    assert (job.processed, job.created_count) == (1, 1)
    issue = Issue.objects.get(key="DEMO-7")
    assert issue.summary == "Imported issue 7" and issue.worklogs.count() == 2


def test_only_search_pages_are_cut_into_chunk_tasks(tmp_path):
    # The byte scanner finds records in `issues` arrays; single issues and lists of issues go to the one-process
    # reader, which knows every shape (otherwise a worker would report 0 processed for DEMO-7.json).
    single = jira_files.single_issue_json(tmp_path / "DEMO-7.json")
    page = tmp_path / "page.json"
    page.write_text(json.dumps({"startAt": 0, "issues": [jira_issue(1)]}))
    pages = tmp_path / "pages.json"
    pages.write_text(json.dumps([{"startAt": 0, "issues": [jira_issue(2)]}]))
    plain = tmp_path / "issues.json"
    plain.write_text(json.dumps([jira_issue(3)]))
    assert not parsers.splits_into_chunks("jira_json", [single])
    assert not parsers.splits_into_chunks("jira_json", [page, plain])
    assert parsers.splits_into_chunks("jira_json", [page, pages])
    assert parsers.splits_into_chunks("taskra_jsonl", [single])
    assert not parsers.splits_into_chunks("jira_json", [tmp_path / "missing.json"])


def test_json_lists_of_issues_and_of_pages_are_read(tmp_path):
    issues = [jira_issue(n) for n in (1, 2)]
    pages = tmp_path / "pages.json"
    pages.write_text(json.dumps([{"startAt": 0, "issues": issues[:1]}, {"startAt": 1, "issues": issues[1:]}]))
    plain = tmp_path / "issues.json"
    plain.write_text(json.dumps(issues))
    concatenated = tmp_path / "two.json"
    concatenated.write_text(json.dumps(issues[0]) + "\n" + json.dumps(issues[1]))
    for path in (pages, plain, concatenated):
        assert [r.key for r in records_of("jira_json", path)] == ["DEMO-1", "DEMO-2"], path.name


@pytest.mark.django_db
def test_a_file_without_issues_fails_with_a_clear_message(tmp_path, project_a, alice):
    path = tmp_path / "empty.json"
    path.write_text(json.dumps({"startAt": 0, "maxResults": 50, "total": 0, "issues": []}))
    job = import_file(path, alice)
    assert job.state == JobState.FAILED
    assert job.message.startswith("empty.json holds no issues:") and "Nothing was imported" in job.message


# --------------------------------------------------------------------------------------------- Jira CSV


@pytest.mark.django_db
def test_cloud_csv_keeps_parent_links_by_issue_id(tmp_path, project_a, alice):
    # Cloud's `Parent` column holds the parent's issue id: a sub-task before its parent, one after it, and one
    # whose parent was imported by an earlier file (found by its Jira issue id).
    first = jira_files.cloud_csv(tmp_path / "first.csv", [{"key": "DEMO-1", "id": "100"}])
    assert import_file(first, alice).state == JobState.SUCCEEDED
    rows = [
        {"key": "DEMO-3", "id": "102", "parent": "101", "type": "Sub-task", "parent_summary": "Issue DEMO-2"},
        {"key": "DEMO-2", "id": "101", "sprints": ["Sprint 1", "Sprint 2"], "versions": ["1.0", "1.1"]},
        {"key": "DEMO-4", "id": "103", "parent": "100", "type": "Sub-task", "points": "5", "component": "API"},
    ]
    job = import_file(jira_files.cloud_csv(tmp_path / "cloud.csv", rows), alice)
    assert job.state == JobState.SUCCEEDED, list(job.errors.values_list("message", flat=True))
    parents = dict(Issue.objects.filter(parent__isnull=False).values_list("key", "parent__key"))
    assert parents == {"DEMO-3": "DEMO-2", "DEMO-4": "DEMO-1"}
    # Repeated columns count every value; a custom field the site lacks (alice may not add one) by name.
    assert job.summary["not_kept"] == {
        "CSV column 'Sprint'": 2,
        "CSV column 'Fix Version/s'": 2,
        "CSV column 'Component/s'": 1,
        "custom field 'Story Points' (no such field here: an administrator adds it)": 1,
    }


@pytest.mark.django_db
def test_csv_parent_id_found_nowhere_is_reported(tmp_path, project_a, alice):
    path = jira_files.cloud_csv(
        tmp_path / "c.csv", [{"key": "DEMO-5", "id": "105", "parent": "999", "type": "Sub-task"}]
    )
    job = import_file(path, alice)
    assert job.state == JobState.SUCCEEDED_WITH_ERRORS
    error = job.errors.get()
    assert (error.issue_key, error.field) == ("DEMO-5", "parent")
    assert error.message.startswith("Parent id 999 not found")
    assert Issue.objects.get(key="DEMO-5").type.name == "Task"  # kept, as a standard issue without a parent


# --------------------------------------------------------------------------------------------- Jira XML


@pytest.mark.django_db
def test_xml_export_imports_items_and_counts_what_it_does_not_keep(tmp_path, project_a, alice):
    items = [
        {"key": "DEMO-2", "id": "202", "summary": "Child", "parent": "DEMO-1", "parent_id": "201", "type": "Sub-task"},
        {"key": "DEMO-1", "id": "201", "summary": "Parent"},
    ]
    path = jira_files.rss_xml(tmp_path / "search.xml", items)
    assert parsers.detect_format(path.read_bytes(), path.name) == "jira_xml"
    job = import_file(path, alice)
    assert job.state == JobState.SUCCEEDED, list(job.errors.values_list("message", flat=True))
    child = Issue.objects.select_related("parent", "status").get(key="DEMO-2")
    assert child.parent.key == "DEMO-1" and child.status.name == "In Progress"
    assert child.description == "Line one\nLine & two" and child.original_estimate == 7200
    assert child.comments.get().body == "A comment"
    assert job.summary["not_kept"] == {
        "components": 2,
        "fix versions": 2,
        "custom field 'Story Points' (no such field here: an administrator adds it)": 2,
    }


# --------------------------------------------------------------------------------------------- Jira site backup


@pytest.mark.django_db
def test_site_backup_imports_both_projects_with_their_rows(tmp_path):
    # The command line (no user) may create projects: both of the backup's projects are made.
    path = jira_files.backup_zip(tmp_path / "JIRA-backup-20240101.zip")
    assert parsers.detect_format(path.read_bytes()[:65536], path.name) == "jira_backup"
    job = import_file(path)
    assert job.state == JobState.SUCCEEDED, list(job.errors.values_list("message", flat=True))
    assert (job.processed, job.created_count, job.worklogs_count, job.comments_count) == (4, 4, 4, 1)
    assert set(Project.objects.values_list("key", flat=True)) == {"DEMO", "OPS"}
    sub = Issue.objects.select_related("parent", "status", "resolution", "reporter").get(key="OPS-2")
    assert sub.parent.key == "OPS-1" and sub.status.name == "Closed" and sub.resolution.name == "Fixed"
    assert sub.reporter.email == "ann@server.example" or sub.reporter.username.startswith("ann")
    assert Issue.objects.get(key="DEMO-2").parent.key == "DEMO-1"
    assert Status.objects.get(name="In Review").category == "in_progress"
    assert Comment.objects.get().issue.key == "DEMO-1"  # the comment came before its issue in the file
    assert set(Label.objects.get(name="backup").issues.values_list("key", flat=True)) == {
        "DEMO-1",
        "DEMO-2",
        "OPS-1",
        "OPS-2",
    }
    assert Issue.objects.get(key="DEMO-1").time_spent == 1800
    # Change history is imported with the issues it belongs to; the rest is counted, not dropped.
    assert History.objects.filter(issue__key="DEMO-1", field="status").count() == 1
    # DEMO gets the backup's workflow (its statuses in step order, its transitions); OPS keeps Taskra's default,
    # which grows by the statuses its issues are in.
    assert [s.name for s in workflow_for(Project.objects.get(key="DEMO")).steps] == ["Open", "In Review", "Closed"]
    demo = workflow_for(Project.objects.get(key="DEMO"))
    assert demo.error(Status.objects.get(name="Open"), Status.objects.get(name="In Review")) is None
    assert demo.error(Status.objects.get(name="Open"), Status.objects.get(name="Closed")) is not None
    ops = [s.name for s in workflow_for(Project.objects.get(key="OPS")).steps]
    assert {"In Review", "Closed"} <= set(ops)
    assert job.summary["workflows"]["DEMO"]["result"].startswith("applied: 3 statuses, 4 transitions")
    assert job.summary["workflows"]["OPS"] == {"statuses": ["Closed", "In Review"]}
    # The Blocks link (DEMO-1 blocks OPS-1) is kept; the sub-task links became parents.
    link = IssueLink.objects.select_related("type", "outward_issue", "inward_issue").get()
    assert (link.type.name, link.outward_issue.key, link.inward_issue.key) == ("Blocks", "DEMO-1", "OPS-1")
    not_kept = job.summary["not_kept"]
    assert not_kept["attachments (metadata)"] == 4 and not_kept["workflows no project of the backup uses"] == 1
    # A second run changes nothing.
    again = import_file(path)
    assert (again.created_count, again.updated_count, again.unchanged_count) == (0, 0, 4)
    assert History.objects.filter(issue__key="DEMO-1", field="status").count() == 1


@pytest.mark.django_db
def test_site_backup_writes_only_into_projects_the_importer_may_edit(client, tmp_path, project_a, project_b, alice):
    # alice may edit DEMO, not OPS (bob's): OPS rows are refused without writing or naming anything of OPS.
    # Statuses and resolutions are the site's: an administrator added the backup's before (alice may not).
    Status.objects.get_or_create(name="Closed", defaults={"category": "done"})
    Status.objects.get_or_create(name="Open", defaults={"category": "todo"})
    Resolution.objects.get_or_create(name="Fixed")
    job = import_file(jira_files.backup_zip(tmp_path / "b.zip"), alice)
    assert job.state == JobState.SUCCEEDED_WITH_ERRORS
    assert set(Issue.objects.values_list("key", flat=True)) == {"DEMO-1", "DEMO-2"}
    messages = set(job.errors.values_list("message", flat=True))
    assert messages == {"Project OPS does not exist or you may not import into it."}
    # alice is DEMO's admin: its workflow is the backup's. The job page shows it and what was not kept.
    assert job.summary["workflows"]["DEMO"]["result"].startswith("applied:")
    assert not IssueLink.objects.exists()  # DEMO-1 blocks OPS-1: OPS is not hers
    client.force_login(alice)
    page = client.get(reverse("imports:detail", args=[job.pk])).content.decode()
    assert "In the file, not kept by Taskra" in page and "attachments (metadata)" in page
    assert "Review workflow" in page and "applied: 3 statuses" in page


# --------------------------------------------------------------------------------------------- truncated files


def _truncated(tmp_path: Path, fmt: str) -> Path:
    if fmt == "jira_json":
        data = json.dumps({"issues": [jira_issue(1), jira_issue(2)]}).encode()
        path = tmp_path / "t.json"
    elif fmt == "taskra_jsonl":
        line = b'{"key": "DEMO-1", "summary": "One", "created": "2024-01-01T09:00:00Z"}\n'
        data = line + line.replace(b"-1", b"-2")
        path = tmp_path / "t.jsonl"
    elif fmt == "jira_csv":
        data = jira_files.cloud_csv(tmp_path / "full.csv", [{"key": "DEMO-1", "id": "1"}, {"key": "DEMO-2", "id": "2"}])
        data = data.read_bytes()
        path = tmp_path / "t.csv"
    elif fmt == "jira_xml":
        data = jira_files.rss_xml(
            tmp_path / "full.xml", [{"key": "DEMO-1", "id": "1", "summary": "A"}] * 2
        ).read_bytes()
        path = tmp_path / "t.xml"
    else:
        data = jira_files.entities_xml()
        path = tmp_path / "entities.xml"
    cut = len(data) * 3 // 4
    path.write_bytes(data[:cut])
    return path


@pytest.mark.parametrize("fmt", ["jira_json", "taskra_jsonl", "jira_csv", "jira_xml", "jira_backup"])
def test_a_truncated_file_says_at_which_record_and_byte_it_ends(tmp_path, fmt):
    path = _truncated(tmp_path, fmt)
    with pytest.raises(parsers.SourceError) as raised:
        for _ in parsers.read_records(fmt, [path]):
            pass
    message = str(raised.value)
    assert message.startswith(f"{path.name} is truncated: it ends at byte {path.stat().st_size:,}, in the middle of ")
    assert " record " in message or " row " in message, message
    assert "premature" not in message.lower() and "^" not in message and "\n" not in message


def test_a_truncated_backup_zip_is_refused_in_words(tmp_path):
    whole = jira_files.backup_zip(tmp_path / "b.zip").read_bytes()
    path = tmp_path / "cut.zip"
    path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(parsers.SourceError, match=r"cut.zip is not a readable zip file .*truncated upload"):
        list(parsers.read_records("jira_backup", [path]))


# --------------------------------------------------------------------------------------------- row errors


@pytest.mark.django_db
def test_row_errors_name_the_value_and_what_is_accepted(tmp_path, project_a, alice):
    lines = [
        {"key": "DEMO-1", "summary": "A", "created": "2024-01-01T09:00:00Z", "status_category": "started"},
        {"key": "DEMO-2", "summary": "B", "created": "2024-01-01T09:00:00Z", "status": "Closed?"},
    ]
    path = tmp_path / "e.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    job = import_file(path, alice)
    first, second = job.errors.order_by("record")
    assert (first.record, first.line, first.issue_key, first.field) == (1, 1, "DEMO-1", "status_category")
    assert first.message == "Input should be 'todo', 'in_progress' or 'done'; got 'started'"
    assert (second.issue_key, second.field) == ("DEMO-2", "status")
    assert second.message.startswith("status 'Closed?' is not one of: To Do, In Progress, ")
    assert "Give its category" in second.message


@pytest.mark.django_db
def test_error_csv_download_is_the_owners_and_formula_safe(client, tmp_path, project_a, alice, bob, admin_user):
    line = {"key": "DEMO-1", "summary": "A", "created": "2024-01-01T09:00:00Z", "status_category": "=HYPERLINK(1)"}
    path = tmp_path / "e.jsonl"
    path.write_text(json.dumps(line) + "\n")
    job = import_file(path, alice)
    url = reverse("imports:errors_csv", args=[job.pk])
    # Someone else's job, a superuser included (the rows quote the uploader's data): 404.
    for other in (bob, admin_user):
        client.force_login(other)
        assert client.get(url).status_code == 404
    client.force_login(alice)
    response = client.get(url)
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == ["record", "line", "issue_key", "field", "message"]
    assert rows[1][:4] == ["1", "1", "DEMO-1", "status_category"]
    assert rows[1][4].endswith("got '=HYPERLINK(1)'")
    page = client.get(reverse("imports:detail", args=[job.pk]))
    assert url in page.content.decode()


# --------------------------------------------------------------------------------------------- dry run


def _table_counts() -> dict[str, int]:
    models = (Issue, Comment, Worklog, History, Label, Project, Status, JobError, get_user_model())
    return {m.__name__: m._default_manager.count() for m in models}


@pytest.mark.django_db
def test_dry_run_writes_nothing_and_says_what_it_would_do(tmp_path, admin_user, project_a, alice):
    # A backup by the command (may create projects and statuses) and a file with a bad row, both dry runs.
    before = _table_counts()
    job = import_file(jira_files.backup_zip(tmp_path / "b.zip"), dry_run=True, chunk_size=1)
    assert job.state == JobState.SUCCEEDED, list(job.errors.values_list("message", flat=True))
    assert (job.processed, job.created_count, job.worklogs_count) == (4, 4, 4)
    assert job.message.startswith("Dry run: nothing was written")
    assert _table_counts() == before
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        '{"key": "DEMO-1", "summary": "A", "created": "2024-01-01T09:00:00Z"}\n'
        '{"key": "DEMO-2", "summary": "", "created": "2024-01-01T09:00:00Z"}\n'
    )
    job = import_file(bad, alice, dry_run=True)
    assert (job.created_count, job.failed_count) == (1, 1)
    counts = _table_counts()
    assert counts.pop("JobError") == before.pop("JobError") + 1  # the rejected row is reported
    assert counts == before
