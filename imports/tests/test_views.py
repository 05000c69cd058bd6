"""Import pages, the bulk form, the admin action and the import_issues command (jobs run in-process here).

alice (admin of DEMO) owns the jobs; bob (OPS only) gets 404 on them; carol (viewer in DEMO) may not
bulk-change DEMO issues; admin_user (superuser) uses the admin.
"""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from imports import services
from imports.models import Job, JobState
from imports.tests.conftest import jira_issue, write_jira_json
from issues.models import Comment, Issue, Membership, Role
from worklogs.models import Worklog


@pytest.mark.django_db
def test_index_lists_only_own_jobs_with_bounded_queries(client, alice, bob, project_a, django_assert_max_num_queries):
    for _ in range(5):
        Job.objects.create(user=alice, file_name="a.json")
    Job.objects.create(user=bob, file_name="bobs-secret.json")
    client.force_login(alice)
    with django_assert_max_num_queries(8):
        response = client.get("/imports/")
    assert response.status_code == 200
    assert response.content.count(b"a.json") == 5 and b"bobs-secret" not in response.content


@pytest.mark.django_db
def test_other_users_jobs_answer_404_and_cancel_needs_owner(client, alice, bob):
    job = Job.objects.create(user=alice)
    client.force_login(bob)
    assert client.get(f"/imports/{job.pk}/").status_code == 404
    assert client.post(f"/imports/{job.pk}/cancel").status_code == 404
    job.refresh_from_db()
    assert not job.cancel_requested
    client.force_login(alice)
    assert client.post(f"/imports/{job.pk}/cancel").status_code == 302
    job.refresh_from_db()
    assert job.state == JobState.CANCELLED  # still queued: cancelled at once
    assert client.get(f"/imports/{job.pk}/progress.json").json()["state"] == "cancelled"


@pytest.mark.django_db
def test_pages_require_login(client):
    assert client.get("/imports/").status_code == 302


@pytest.mark.django_db
def test_bulk_form_shows_errors_and_queues_nothing_for_bad_jql(client, alice, project_a):
    client.force_login(alice)
    response = client.post("/imports/bulk/", {"jql": "status = = x", "status": "Done", "action": "run"})
    assert response.status_code == 400 and b"JQL" in response.content
    response = client.post("/imports/bulk/", {"jql": "project = DEMO", "action": "run"})
    assert response.status_code == 400 and b"at least one change" in response.content
    assert not Job.objects.exists()


@pytest.mark.django_db
def test_viewer_bulk_change_changes_nothing(client, carol, project_a, make_issue, django_capture_on_commit_callbacks):
    # carol is a viewer in DEMO: the job runs but her selection holds no issue she may edit.
    issue = make_issue(project_a)
    job = services.bulk_update_job_create(user=carol, issue_ids=[issue.pk], changes={"status": "Done"}, enqueue=False)
    services.job_run(job_id=job.pk)
    job.refresh_from_db()
    issue.refresh_from_db()
    assert (job.state, job.total, job.updated_count) == (JobState.SUCCEEDED, 0, 0)
    assert issue.status.name == "To Do"


@pytest.mark.django_db
def test_admin_bulk_change_action_previews_then_queues_a_job(
    client, admin_user, project_a, project_b, make_issue, bob, django_capture_on_commit_callbacks
):
    # The admin (a DEMO member: the membership rule holds for superusers too) selects two DEMO issues and one OPS
    # issue. The action asks for the changes, shows what will change (2 issues; OPS left out), and queues the job
    # only on Confirm, as the navigator's bulk change does.
    Membership.objects.create(project=project_a, user=admin_user, role=Role.MEMBER)
    issues = [make_issue(project_a) for _ in range(2)] + [make_issue(project_b, reporter=bob)]
    client.force_login(admin_user)
    ids = [str(i.pk) for i in issues]
    form = client.post("/admin/issues/issue/", {"action": "bulk_change_issues", "_selected_action": ids})
    assert form.status_code == 200 and b"Preview changes" in form.content
    data = {
        "action": "bulk_change_issues",
        "_selected_action": ids,
        "apply": "1",
        "priority": "",
        "assignee": "none",
        "add_labels": "triaged",
    }
    preview = client.post("/admin/issues/issue/", data)
    html = preview.content.decode()
    assert preview.status_code == 200 and not Job.objects.exists()
    assert "2 issues will change." in html and "1 selected issue in projects you may not edit is left out." in html
    assert issues[0].key in html and issues[2].key not in html and "triaged" in html
    assert 'name="confirm"' in html and "Confirm: change 2 issues" in html
    response = client.post("/admin/issues/issue/", {**data, "confirm": "1"})
    assert response.status_code == 302, response.content[:500]
    job = Job.objects.get(kind="bulk_update")
    assert job.source == "admin" and job.options["ids"] == sorted(int(i) for i in ids)


@pytest.mark.django_db
def test_import_issues_command_runs_in_process(tmp_path, project_a):
    path = write_jira_json(tmp_path / "a.json", [jira_issue(n) for n in range(1, 6)])
    out = io.StringIO()
    call_command("import_issues", str(path), "--project", "DEMO", stdout=out)
    text = out.getvalue()
    assert "Succeeded: 5 records, 5 created" in text and "100.0%" in text
    assert Issue.objects.count() == 5
    with pytest.raises(CommandError, match="not a Jira JSON export"):
        (tmp_path / "x.json").write_bytes(b"\x00\x01")
        call_command("import_issues", str(tmp_path / "x.json"), stdout=io.StringIO())


# --- the mapping screen: Jira users of a job -> existing accounts -----------------------------------------------


@pytest.mark.django_db
def test_mapping_screen_maps_placeholders_and_reassigns_the_rows(
    client, tmp_path, alice, bob, carol, project_a, project_b, monkeypatch, django_capture_on_commit_callbacks
):
    # alice's import meets Jira User 1 (acc-1), a placeholder. She may map it to carol (they share DEMO), not to
    # bob (no shared project: the same words as an account that does not exist).
    path = write_jira_json(tmp_path / "a.json", [jira_issue(1)])
    job = services.import_job_create(user=alice, paths=[path], enqueue=False)
    services.job_run(job_id=job.pk)
    issue = Issue.objects.get(key="DEMO-1")
    placeholder = issue.reporter
    assert not placeholder.is_active and issue.assignee_id == placeholder.pk
    client.force_login(alice)
    page = client.get(f"/imports/{job.pk}/")
    assert b"Jira User 1" in page.content and b"acc-1" in page.content
    url = f"/imports/{job.pk}/people"
    answers = {}
    for who in ("bob", "nobody-at-all"):
        response = client.post(url, {"placeholder": placeholder.pk, "account": who})
        answers[who] = (response.status_code, response.context["map_error"])
    assert answers["bob"] == answers["nobody-at-all"] and answers["bob"][0] == 400
    calls: list[set[int]] = []
    monkeypatch.setattr(services.pagecache, "invalidate_on_commit", lambda ids, p: calls.append(set(ids)))
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {"placeholder": placeholder.pk, "account": "carol"})
    assert response.status_code == 302
    issue.refresh_from_db()
    assert (issue.reporter_id, issue.assignee_id) == (carol.pk, carol.pk)
    assert set(Worklog.objects.filter(issue=issue).values_list("author_id", flat=True)) == {carol.pk}
    assert set(Comment.objects.filter(issue=issue).values_list("author_id", flat=True)) == {carol.pk}
    assert calls and issue.pk in calls[0]
    # alice's next import of acc-1 writes carol.
    write_jira_json(path, [jira_issue(4)])
    services.job_run(job_id=services.import_job_create(user=alice, paths=[path], enqueue=False).pk)
    assert Issue.objects.get(key="DEMO-4").reporter_id == carol.pk
    # bob may not see, let alone map, alice's job.
    client.force_login(bob)
    assert client.post(url, {"placeholder": placeholder.pk, "account": "bob"}).status_code == 404


@pytest.mark.django_db
def test_placeholders_are_listed_read_only_in_the_admin(client, tmp_path, admin_user, alice, project_a):
    path = write_jira_json(tmp_path / "a.json", [jira_issue(1)])
    services.job_run(job_id=services.import_job_create(user=alice, paths=[path], enqueue=False).pk)
    client.force_login(admin_user)
    response = client.get("/admin/imports/placeholder/")
    assert response.status_code == 200 and b"acc-1" in response.content


@pytest.mark.django_db
def test_job_page_and_progress_show_the_seconds_per_stage(client, alice):
    # alice owns the job: she sees where its time went (summed over chunks); a stage not reached shows a dash.
    job = Job.objects.create(user=alice, stage_seconds={"plan": 1.5, "validate": 2.25, "write": 3.0})
    client.force_login(alice)
    page = client.get(f"/imports/{job.pk}/").content.decode()
    assert 'id="stage-validate">2.25 s<' in page and 'id="stage-read">–<' in page
    stages = client.get(f"/imports/{job.pk}/progress.json").json()["stages"]
    assert stages == [
        {"stage": "plan", "seconds": 1.5},
        {"stage": "read", "seconds": None},
        {"stage": "validate", "seconds": 2.25},
        {"stage": "write", "seconds": 3.0},
    ]
