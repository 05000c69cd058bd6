"""The import writer (imports/writer.py): upserts, history, parent links and invalidation of one chunk.

Jobs run in-process. alice (admin of DEMO) imports into DEMO; admin_user (staff) may add global lookups.
"""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db.models import Sum

from imports import services, writer
from imports.models import Job
from imports.tests.conftest import jira_issue, write_jira_json
from issues.models import Comment, History, Issue, Membership, Role, Status
from worklogs.models import Worklog, WorklogRollup
from worklogs.services import rollup_differences


def run(job: Job) -> Job:
    services.job_run(job_id=job.pk)
    job.refresh_from_db()
    return job


def counts() -> tuple[int, int, int]:
    return Issue.objects.count(), Worklog.objects.count(), Comment.objects.count()


@pytest.mark.django_db
def test_importing_twice_changes_nothing_and_a_changed_file_updates_with_history(tmp_path, project_a, alice):
    path = write_jira_json(tmp_path / "a.json", [jira_issue(n) for n in range(1, 11)])
    run(services.import_job_create(user=alice, paths=[path], enqueue=False))
    before = counts()
    again = run(services.import_job_create(user=alice, paths=[path], enqueue=False))
    assert (again.created_count, again.updated_count, again.unchanged_count, again.worklogs_count) == (0, 0, 10, 0)
    assert counts() == before
    changed = [jira_issue(n) for n in range(1, 11)]
    changed[0]["fields"]["summary"] = "Renamed"
    changed[1]["fields"]["worklog"]["worklogs"][0]["timeSpentSeconds"] = 3600
    write_jira_json(path, changed)
    third = run(services.import_job_create(user=alice, paths=[path], enqueue=False))
    assert (third.created_count, third.updated_count, third.unchanged_count) == (0, 2, 8)
    assert History.objects.filter(issue__key="DEMO-1", field="summary", to_value="Renamed").exists()
    assert Issue.objects.get(key="DEMO-2").time_spent == 5400
    assert counts() == before


@pytest.mark.django_db
def test_the_time_rollup_follows_created_changed_and_moved_worklogs(tmp_path, project_a, alice):
    path = write_jira_json(tmp_path / "a.json", [jira_issue(n) for n in range(1, 6)])
    run(services.import_job_create(user=alice, paths=[path], enqueue=False))
    assert rollup_differences() == []
    assert WorklogRollup.objects.aggregate(n=Sum("count"))["n"] == 10
    run(services.import_job_create(user=alice, paths=[path], enqueue=False))  # unchanged: nothing added twice
    assert rollup_differences() == []
    changed = [jira_issue(n) for n in range(1, 6)]
    changed[0]["fields"]["worklog"]["worklogs"][0]["timeSpentSeconds"] = 3600  # longer
    changed[1]["fields"]["worklog"]["worklogs"][0]["started"] = "2024-02-01T08:00:00.000+0000"  # another bucket
    changed[2]["fields"]["worklog"]["worklogs"] += changed[3]["fields"]["worklog"]["worklogs"]  # moved
    changed[3]["fields"]["worklog"]["worklogs"] = []
    write_jira_json(path, changed)
    run(services.import_job_create(user=alice, paths=[path], enqueue=False))
    assert rollup_differences() == []
    assert WorklogRollup.objects.aggregate(n=Sum("count"))["n"] == 10


@pytest.mark.django_db
def test_only_staff_imports_add_global_lookups(tmp_path, project_a, alice, admin_user):
    # Statuses, types and priorities are shared by every project: alice (project admin, not staff) may not add them.
    path = write_jira_json(tmp_path / "p.json", [jira_issue(1, priority={"name": "Blocker"})])
    job = run(services.import_job_create(user=alice, paths=[path], enqueue=False))
    assert job.failed_count == 1 and "Blocker" in job.errors.get().message
    Membership.objects.create(project=project_a, user=admin_user, role=Role.MEMBER)  # staff, and a member of DEMO
    job = run(services.import_job_create(user=admin_user, paths=[path], enqueue=False))
    assert job.created_count == 1 and Issue.objects.get(key="DEMO-1").priority.name == "Blocker"


@pytest.mark.django_db
def test_external_ids_already_imported_are_found(tmp_path, project_a, alice):
    # The look-ups by external id (issue ids, worklog ids) must find rows imported by an earlier job.
    first = write_jira_json(tmp_path / "1.json", [jira_issue(1), jira_issue(2)])
    run(services.import_job_create(user=alice, paths=[first], enqueue=False))
    clash = jira_issue(50)
    clash["id"] = "10001"  # DEMO-1's Jira id
    moved = jira_issue(2)
    moved["fields"]["worklog"]["worklogs"].append({**jira_issue(1)["fields"]["worklog"]["worklogs"][0]})
    second = write_jira_json(tmp_path / "2.json", [clash, moved])
    job = run(services.import_job_create(user=alice, paths=[second], enqueue=False))
    assert job.failed_count == 1
    assert "Issue id 10001 was imported before as DEMO-1" in job.errors.get().message
    assert Worklog.objects.get(external_id="100").issue.key == "DEMO-2"  # moved, not duplicated
    assert Issue.objects.get(key="DEMO-1").time_spent == 1800 and Issue.objects.get(key="DEMO-2").time_spent == 5400


@pytest.mark.django_db
def test_import_history_reads_as_the_issue_services_write_it(tmp_path, project_a, alice):
    # Status, resolution and assignee changes read as issue_update writes them: names, not ids.
    path = write_jira_json(tmp_path / "a.json", [jira_issue(1)])
    run(services.import_job_create(user=alice, paths=[path], enqueue=False))
    done = jira_issue(1, status={"name": "Done", "statusCategory": {"key": "done"}}, assignee=None)
    write_jira_json(path, [done])
    assert run(services.import_job_create(user=alice, paths=[path], enqueue=False)).updated_count == 1
    rows = set(History.objects.filter(issue__key="DEMO-1").values_list("field", "from_value", "to_value"))
    assert {("status", "In Progress", "Done"), ("resolution", "", "Done"), ("assignee", "Jira User 1", "")} <= rows
    issue = Issue.objects.get(key="DEMO-1")
    assert issue.resolution.name == "Done" and issue.resolved.isoformat() == "2024-01-16T10:30:00+00:00"


@pytest.mark.django_db
def test_parent_in_another_project_is_a_row_error_whenever_the_parent_comes(
    tmp_path, project_a, project_b, alice, bob, make_issue
):
    # alice is admin of DEMO and member of OPS; an OPS parent exists before the import, a DEMO parent comes later.
    Membership.objects.create(project=project_b, user=alice, role=Role.MEMBER)
    ops_parent = make_issue(project_b, reporter=bob)
    early = jira_issue(2, parent={"key": ops_parent.key})
    late = jira_issue(3, parent={"key": "DEMO-4"})
    parent = jira_issue(4)
    path = write_jira_json(tmp_path / "p.json", [early, late, parent])
    job = run(services.import_job_create(user=alice, paths=[path], enqueue=False, options={"chunk_size": 1}))
    errors = {e.issue_key: e for e in job.errors.all()}
    assert set(errors) == {"DEMO-2"} and errors["DEMO-2"].field == "parent"
    assert "OPS-1 is in another project" in errors["DEMO-2"].message and errors["DEMO-2"].record == 1
    assert Issue.objects.get(key="DEMO-2").parent is None
    assert Issue.objects.get(key="DEMO-3").parent.key == "DEMO-4"  # linked after the whole file


# --- what an import may touch: only rows in projects the importer may edit -------------------------------------
# alice administers DEMO; bob is a member of OPS only (DEMO is invisible to him); admin_user is a superuser
# member of nothing.


def _import_demo(tmp_path, alice) -> None:
    """alice imports DEMO-1 with worklogs 100, 101 and comment 190 (jira_issue's ids)."""
    run(
        services.import_job_create(
            user=alice, paths=[write_jira_json(tmp_path / "demo.json", [jira_issue(1)])], enqueue=False
        )
    )


def _ops_record(**fields) -> dict:
    record = jira_issue(7, project="OPS", worklogs=0, comments=0, **fields)
    record["id"] = "77777"  # no clash of Jira issue ids: only the worklog / comment ids collide
    return record


@pytest.mark.django_db
def test_an_import_cannot_take_over_a_worklog_of_a_project_the_importer_cannot_change(
    tmp_path, project_a, project_b, alice, bob
):
    _import_demo(tmp_path, alice)
    before = Worklog.objects.values("issue_id", "author_id", "comment", "time_spent").get(external_id="100")
    forged = {"id": "100", "author": {"accountId": "acc-bob"}, "started": "2024-01-15T12:00:00.000+0000",
              "timeSpentSeconds": 60, "comment": "rewritten"}  # fmt: skip
    path = write_jira_json(tmp_path / "ops.json", [_ops_record(worklog={"worklogs": [forged]})])
    job = run(services.import_job_create(user=bob, paths=[path], enqueue=False))
    assert Worklog.objects.values("issue_id", "author_id", "comment", "time_spent").get(external_id="100") == before
    error = job.errors.get()
    assert (error.issue_key, error.message) == ("OPS-7", "worklog 100 already exists in a project you cannot change")
    assert not Issue.objects.filter(key="OPS-7").exists()  # nothing of the record is written
    assert job.failed_count == 1 and job.worklogs_count == 0


@pytest.mark.django_db
def test_an_import_cannot_take_over_a_comment_of_a_project_the_importer_cannot_change(
    tmp_path, project_a, project_b, alice, bob
):
    _import_demo(tmp_path, alice)
    before = Comment.objects.values("issue_id", "author_id", "body").get(external_id="190")
    forged = {
        "id": "190",
        "author": {"accountId": "acc-bob"},
        "body": "rewritten",
        "created": "2024-01-15T13:00:00.000+0000",
    }
    path = write_jira_json(tmp_path / "ops.json", [_ops_record(comment={"comments": [forged]})])
    job = run(services.import_job_create(user=bob, paths=[path], enqueue=False))
    assert Comment.objects.values("issue_id", "author_id", "body").get(external_id="190") == before
    error = job.errors.get()
    assert (error.issue_key, error.message) == ("OPS-7", "comment 190 already exists in a project you cannot change")
    assert not Issue.objects.filter(key="OPS-7").exists()


@pytest.mark.django_db
@pytest.mark.parametrize("chunk_size", [1, 1000], ids=["parent-in-its-own-chunk", "one-chunk"])
def test_a_parent_the_importer_cannot_change_is_not_found(tmp_path, project_a, project_b, alice, bob, chunk_size):
    # bob gives OPS issues DEMO-1 (exists, invisible to him) and DEMO-99 (exists nowhere) as parents: the same
    # answer for both, nothing linked, DEMO-1 lists no sub-task.
    _import_demo(tmp_path, alice)
    records = [_ops_record(parent={"key": "DEMO-1"}), jira_issue(8, project="OPS", parent={"key": "DEMO-99"})]
    records[1]["id"] = "88888"
    path = write_jira_json(tmp_path / "ops.json", records)
    job = run(services.import_job_create(user=bob, paths=[path], enqueue=False, options={"chunk_size": chunk_size}))
    messages = {e.issue_key: e.message for e in job.errors.all()}
    # Sub-tasks whose parent is refused are kept, as Tasks (a sub-task needs a parent), and the message says so.
    orphan = " Imported as a Task without a parent."
    assert messages == {
        "OPS-7": "Parent DEMO-1 not found: it is neither in the file nor in a project you may change." + orphan,
        "OPS-8": "Parent DEMO-99 not found: it is neither in the file nor in a project you may change." + orphan,
    }
    assert Issue.objects.get(key="OPS-7").parent_id is None
    assert Issue.objects.get(key="OPS-7").type.name == "Task"
    assert not Issue.objects.filter(parent__key="DEMO-1").exists()


@pytest.mark.django_db
def test_no_import_message_names_an_issue_the_importer_cannot_see(tmp_path, project_a, project_b, alice, bob):
    # OPS-7 carries DEMO-1's Jira issue id (10001): refused, without naming DEMO-1.
    _import_demo(tmp_path, alice)
    record = _ops_record()
    record["id"] = "10001"
    job = run(
        services.import_job_create(user=bob, paths=[write_jira_json(tmp_path / "o.json", [record])], enqueue=False)
    )
    message = job.errors.get().message
    assert message == "Issue id 10001 was imported before into a project you cannot change." and "DEMO" not in message
    assert not Issue.objects.filter(key="OPS-7").exists()


@pytest.mark.django_db
def test_an_unknown_project_and_a_forbidden_one_get_the_same_message(tmp_path, project_a, bob):
    path = write_jira_json(tmp_path / "p.json", [_ops_record(), jira_issue(2), jira_issue(3, project="NOPE")])
    job = run(services.import_job_create(user=bob, paths=[path], enqueue=False))
    messages = {e.issue_key: e.message for e in job.errors.all()}
    assert messages["DEMO-2"] == "Project DEMO does not exist or you may not import into it."
    assert messages["NOPE-3"] == "Project NOPE does not exist or you may not import into it."


@pytest.mark.django_db
def test_a_superuser_without_membership_may_not_import_into_a_project(tmp_path, project_a, admin_user, make_issue):
    # admin_user gets 404 on DEMO's pages: an import by him changes nothing there, by key or with --project.
    make_issue(project_a, summary="Original")
    path = write_jira_json(tmp_path / "a.json", [jira_issue(1), jira_issue(2)])
    job = run(services.import_job_create(user=admin_user, paths=[path], enqueue=False))
    assert job.failed_count == 2 and job.created_count == 0
    assert Issue.objects.get(key="DEMO-1").summary == "Original" and not Issue.objects.filter(key="DEMO-2").exists()
    with pytest.raises(ValidationError, match="Project DEMO does not exist"):
        services.import_job_create(user=admin_user, paths=[path], enqueue=False, project_key="DEMO")


@pytest.mark.django_db
def test_moves_by_import_invalidate_the_previous_issue_too(
    tmp_path, project_a, alice, monkeypatch, django_capture_on_commit_callbacks
):
    # DEMO-1 holds worklog 100, comment 190 and is the parent of DEMO-3; the second file moves the worklog and
    # the comment to DEMO-2 and DEMO-3 under DEMO-2: DEMO-1's page (total, comments, sub-tasks) is stale too.
    first = [
        jira_issue(1),
        jira_issue(2, worklogs=0, comments=0),
        jira_issue(3, worklogs=0, comments=0, parent={"key": "DEMO-1"}),
    ]
    path = write_jira_json(tmp_path / "a.json", first)
    run(services.import_job_create(user=alice, paths=[path], enqueue=False))
    old = Issue.objects.get(key="DEMO-1")
    calls: list[set[int]] = []
    monkeypatch.setattr(writer.pagecache, "invalidate_on_commit", lambda ids, p: calls.append(set(ids)))
    moved = jira_issue(2, worklogs=0, comments=0)
    moved["fields"]["worklog"]["worklogs"] = jira_issue(1)["fields"]["worklog"]["worklogs"][:1]
    moved["fields"]["comment"]["comments"] = jira_issue(1)["fields"]["comment"]["comments"]
    for what, records in {
        "worklog and comment": [moved],
        "sub-task": [jira_issue(3, worklogs=0, comments=0, parent={"key": "DEMO-2"})],
    }.items():
        calls.clear()
        write_jira_json(path, records)
        with django_capture_on_commit_callbacks(execute=True):
            run(services.import_job_create(user=alice, paths=[path], enqueue=False))
        assert any(old.pk in ids for ids in calls), what
    assert Worklog.objects.get(external_id="100").issue.key == "DEMO-2"
    assert Comment.objects.get(external_id="190").issue.key == "DEMO-2"
    assert Issue.objects.get(key="DEMO-3").parent.key == "DEMO-2"


@pytest.mark.django_db
@pytest.mark.parametrize("chunk_size", [1, 1000], ids=["parent-in-an-earlier-chunk", "all-in-one-chunk"])
def test_import_obeys_the_hierarchy_rule_of_the_issue_services(tmp_path, project_a, alice, chunk_size):
    # The form, the API and the admin refuse a sub-task of a sub-task (issues.services.issue_parent_error); so
    # does an import. DEMO-2 is a sub-task of DEMO-1; DEMO-3 asks for DEMO-2 as its parent.
    records = [jira_issue(1), jira_issue(2, parent={"key": "DEMO-1"}), jira_issue(3, parent={"key": "DEMO-2"})]
    path = write_jira_json(tmp_path / "h.json", records)
    job = run(services.import_job_create(user=alice, paths=[path], enqueue=False, options={"chunk_size": chunk_size}))
    errors = {e.issue_key: e for e in job.errors.all()}
    assert set(errors) == {"DEMO-3"} and errors["DEMO-3"].field == "parent"
    assert "sub-tasks cannot have sub-tasks" in errors["DEMO-3"].message
    assert Issue.objects.get(key="DEMO-2").parent.key == "DEMO-1"
    assert Issue.objects.get(key="DEMO-3").parent is None  # the issue itself is imported, without the bad link


@pytest.mark.django_db
def test_import_refuses_to_make_an_issue_with_sub_tasks_a_sub_task(tmp_path, project_a, alice, make_issue):
    top = make_issue(project_a)  # DEMO-1
    make_issue(project_a, parent=top)  # DEMO-2, so DEMO-1 has sub-tasks
    other = make_issue(project_a)  # DEMO-3
    path = write_jira_json(tmp_path / "t.json", [jira_issue(1, parent={"key": other.key})])
    job = run(services.import_job_create(user=alice, paths=[path], enqueue=False))
    assert "an issue with sub-tasks cannot be a sub-task" in job.errors.get().message
    assert Issue.objects.get(pk=top.pk).parent_id is None


@pytest.mark.django_db
def test_a_chunk_invalidates_its_changed_issues_and_their_parents_once(
    tmp_path, project_a, alice, monkeypatch, django_capture_on_commit_callbacks
):
    path = write_jira_json(tmp_path / "a.json", [jira_issue(1), jira_issue(2, parent={"key": "DEMO-1"})])
    run(services.import_job_create(user=alice, paths=[path], enqueue=False))
    calls: list[tuple[set[int], set[int]]] = []
    monkeypatch.setattr(writer.pagecache, "invalidate_on_commit", lambda ids, p: calls.append((set(ids), set(p))))
    write_jira_json(path, [jira_issue(2, parent={"key": "DEMO-1"}, summary="Renamed child")])
    with django_capture_on_commit_callbacks(execute=True):
        run(services.import_job_create(user=alice, paths=[path], enqueue=False))
    child, parent = Issue.objects.get(key="DEMO-2"), Issue.objects.get(key="DEMO-1")
    assert calls == [({child.pk, parent.pk}, {project_a.pk})]


@pytest.mark.django_db
def test_records_in_an_unknown_done_status_added_by_staff_resolve(tmp_path, project_a, admin_user):
    # A done-category status the import adds is known as done for the rest of the job (admin_user: staff, DEMO member).
    Membership.objects.create(project=project_a, user=admin_user, role=Role.MEMBER)
    record = jira_issue(1, status={"name": "Shipped", "statusCategory": {"key": "done"}})
    path = write_jira_json(tmp_path / "s.json", [record])
    run(services.import_job_create(user=admin_user, paths=[path], enqueue=False))
    issue = Issue.objects.get(key="DEMO-1")
    assert issue.status == Status.objects.get(name="Shipped") and issue.resolution.name == "Done"


@pytest.mark.django_db
def test_imports_obey_the_issue_type_hierarchy(tmp_path, project_a, alice):
    # Jira's hierarchy (issues.services.issue_parent_error) with the types: Epic > Story/Task/Bug > Sub-task.
    records = [
        jira_issue(1, issuetype={"name": "Epic"}),
        jira_issue(2, issuetype={"name": "Story"}, parent={"key": "DEMO-1"}),  # a story in an epic
        jira_issue(3, issuetype={"name": "Sub-task"}, parent={"key": "DEMO-2"}),  # a sub-task of the story
        jira_issue(4, issuetype={"name": "Task"}),
        jira_issue(5, issuetype={"name": "Bug"}, parent={"key": "DEMO-4"}),  # a bug under a task: refused
        jira_issue(6, issuetype={"name": "Sub-task"}),  # a sub-task without a parent: refused
        jira_issue(7, issuetype={"name": "Sub-task"}, parent={"key": "DEMO-3"}),  # a sub-task's sub-task: refused
        jira_issue(8, parent={"key": "DEMO-4"}),  # a parent and no type: a sub-task
    ]
    records[7]["fields"].pop("issuetype")
    path = write_jira_json(tmp_path / "h.json", records)
    job = run(services.import_job_create(user=alice, paths=[path], enqueue=False))
    errors = {e.issue_key: e.message for e in job.errors.all()}
    assert set(errors) == {"DEMO-5", "DEMO-6", "DEMO-7"}, errors
    assert "only an Epic can be the parent of a Bug" in errors["DEMO-5"]
    assert errors["DEMO-6"] == "A sub-task needs a parent issue."
    assert "sub-tasks cannot have sub-tasks" in errors["DEMO-7"]
    parents = dict(Issue.objects.values_list("key", "parent__key"))
    assert parents["DEMO-2"] == "DEMO-1" and parents["DEMO-3"] == "DEMO-2" and parents["DEMO-8"] == "DEMO-4"
    assert parents["DEMO-5"] is None and parents["DEMO-7"] is None and "DEMO-6" not in parents
    assert Issue.objects.get(key="DEMO-8").type.is_subtask


@pytest.mark.django_db
def test_parent_links_changed_by_an_import_write_history(tmp_path, project_a, alice):
    # Found by the invariants test: a re-import that unlinks or relinks a sub-task changed `parent` silently.
    first = [jira_issue(1), jira_issue(2), jira_issue(3, parent={"key": "DEMO-1"})]
    run(services.import_job_create(user=alice, paths=[write_jira_json(tmp_path / "a.json", first)], enqueue=False))
    assert not History.objects.filter(field="parent").exists()  # created with its parent: no change to record
    moved = [jira_issue(1), jira_issue(2), jira_issue(3, parent={"key": "DEMO-2"})]
    run(services.import_job_create(user=alice, paths=[write_jira_json(tmp_path / "b.json", moved)], enqueue=False))
    unlinked = [jira_issue(3, issuetype={"name": "Task"})]
    run(services.import_job_create(user=alice, paths=[write_jira_json(tmp_path / "c.json", unlinked)], enqueue=False))
    rows = list(
        History.objects.filter(issue__key="DEMO-3", field="parent").order_by("pk").values_list("from_value", "to_value")
    )
    assert [(a.split(" ")[0], b.split(" ")[0]) for a, b in rows] == [("DEMO-1", "DEMO-2"), ("DEMO-2", "")]
    assert Issue.objects.get(key="DEMO-3").parent is None


@pytest.mark.django_db
def test_worklog_changes_by_an_import_write_history_on_existing_issues(tmp_path, project_a, alice):
    # Found by the invariants test: a worklog moved by an import changed both issues' time with no history.
    first = [jira_issue(1, worklogs=1), jira_issue(2, worklogs=0)]
    run(services.import_job_create(user=alice, paths=[write_jira_json(tmp_path / "a.json", first)], enqueue=False))
    assert not History.objects.filter(field="worklog").exists()  # created with the issue: part of its creation
    moved = jira_issue(2, worklogs=0)
    moved["fields"]["worklog"]["worklogs"] = jira_issue(1, worklogs=1)["fields"]["worklog"]["worklogs"]
    moved["fields"]["worklog"]["worklogs"][0]["timeSpentSeconds"] = 3600
    run(services.import_job_create(user=alice, paths=[write_jira_json(tmp_path / "b.json", [moved])], enqueue=False))
    rows = set(History.objects.filter(field="worklog").values_list("issue__key", "from_value", "to_value"))
    assert rows == {("DEMO-1", "30m", ""), ("DEMO-2", "", "1h")}
    assert Issue.objects.get(key="DEMO-1").time_spent == 0 and Issue.objects.get(key="DEMO-2").time_spent == 3600


# --- per-project workflows (issues.workflows): imports extend the importing project's only, or fail per row ------


@pytest.mark.django_db
def test_a_status_an_import_brings_joins_only_the_importing_projects_workflow(tmp_path, project_a, project_b, alice):
    from issues.workflows import workflow_for

    Status.objects.create(name="Selected for Development", category="todo", position=9)
    record = jira_issue(1, status={"name": "Selected for Development", "statusCategory": {"key": "new"}})
    job = run(
        services.import_job_create(user=alice, paths=[write_jira_json(tmp_path / "w.json", [record])], enqueue=False)
    )
    assert job.created_count == 1, list(job.errors.values_list("message", flat=True))
    names = lambda project: [s.name for s in workflow_for(project).steps]  # noqa: E731
    assert "Selected for Development" in names(project_a)  # alice administers DEMO: its workflow grows
    assert "Selected for Development" not in names(project_b)  # OPS's list is left alone


@pytest.mark.django_db
def test_an_import_moving_an_issue_where_the_workflow_forbids_is_a_row_error(tmp_path, project_a, alice):
    from issues.workflows import TransitionSpec, workflow_update

    path = write_jira_json(tmp_path / "m.json", [jira_issue(1)])  # DEMO-1 In Progress
    run(services.import_job_create(user=alice, paths=[path], enqueue=False))
    progress, done = Status.objects.get(name="In Progress"), Status.objects.get(name="Done")
    workflow_update(
        project=project_a,
        actor=None,
        steps=[(progress, None), (done, None)],
        transitions=[TransitionSpec(done, progress)],
    )
    write_jira_json(path, [jira_issue(1, status={"name": "Done", "statusCategory": {"key": "done"}})])
    job = run(services.import_job_create(user=alice, paths=[path], enqueue=False))
    assert job.failed_count == 1
    error = job.errors.get()
    assert (error.issue_key, error.field) == ("DEMO-1", "status")
    assert error.message == "DEMO's workflow does not allow moving from In Progress to Done."
    assert Issue.objects.get(key="DEMO-1").status == progress
