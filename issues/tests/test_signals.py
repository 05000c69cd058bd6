"""Page-cache invalidation by signal receivers (issues.signals): local-memory cache, and the bump count on Redis too.

Personas: alice is admin of DEMO, bob a member of OPS only.

Tests that write after a cached read use `lookups` (a transactional test): a write bumps the generations
when it commits, which the rolled-back transaction of a plain `db` test never does.
"""

from __future__ import annotations

import pytest

from issues import pagecache
from issues.tests.conftest import IN_CI, REDIS_URL, Builder


@pytest.mark.usefixtures("locmem_page_cache")
def test_model_save_outside_services_invalidates(lookups, project_a, make_issue):
    # lookups: a transactional test, so every write commits (and bumps) as it would in production.
    # What an admin form or a script does: a plain save(), no service.
    issue = make_issue(project_a, summary="Admin before")
    build = Builder("before")
    pagecache.get_or_build("issue", [issue.pk], build, issue_id=issue.pk)
    issue.summary = "Admin after"
    issue.save()
    build.value = "after"
    assert pagecache.get_or_build("issue", [issue.pk], build, issue_id=issue.pk) == "after"


@pytest.mark.usefixtures("locmem_page_cache")
def test_subtask_change_invalidates_parent_page(project_a, make_issue, alice, django_capture_on_commit_callbacks):
    from issues.services import issue_update

    parent = make_issue(project_a, summary="Parent")
    sub = make_issue(project_a, summary="Child", parent=parent)
    build = Builder("child v1")
    pagecache.get_or_build("issue", [parent.pk], build, issue_id=parent.pk)
    with django_capture_on_commit_callbacks(execute=True):
        issue_update(issue=sub, actor=alice, data={"summary": "Child v2"})
    build.value = "child v2"
    assert pagecache.get_or_build("issue", [parent.pk], build, issue_id=parent.pk) == "child v2"


@pytest.mark.usefixtures("locmem_page_cache")
def test_status_rename_invalidates_everything(lookups, project_a, make_issue):
    issue = make_issue(project_a)
    build = Builder("Open")
    pagecache.get_or_build("issue", [issue.pk], build, issue_id=issue.pk)
    status = issue.status
    status.name = status.name + " (renamed)"
    status.save()
    build.value = "renamed"
    assert pagecache.get_or_build("issue", [issue.pk], build, issue_id=issue.pk) == "renamed"


@pytest.fixture(params=["locmem", "redis"])
def page_cache_backend(request: pytest.FixtureRequest) -> str:
    """Run the test on the local-memory cache (forced on) and on a real Redis."""
    if request.param == "redis":
        if not REDIS_URL and not IN_CI:
            pytest.skip("REDIS_URL is not set (runs in CI on a real Redis)")
        request.getfixturevalue("redis_prefix")
    else:
        request.getfixturevalue("locmem_page_cache")
    return request.param


def test_each_write_bumps_each_affected_issue_once(page_cache_backend, lookups, project_a, make_issue, alice, bumps):
    # alice (admin of DEMO) writes through every entry point; lookups makes the test transactional, so each
    # write commits as in production. Exactly one bump (one round trip) per write, each affected counter once.
    from django.contrib import admin
    from django.db import transaction
    from django.utils import timezone

    from issues.bulk import issue_bulk_change
    from issues.models import Comment, Priority
    from issues.services import comment_add, comment_update, issue_update
    from worklogs.services import worklog_add, worklog_delete, worklog_update

    def one_bump(issues: dict[int, int], projects: dict[int, int]) -> None:
        assert len(bumps.calls) == 1, bumps.calls
        assert bumps.issues() == issues
        assert bumps.projects() == projects
        bumps.clear()

    demo = project_a.pk
    bumps.clear()
    issue = make_issue(project_a, summary="Counted", labels=["backend", "urgent"])
    one_bump({issue.pk: 1}, {demo: 1})
    issue_update(issue=issue, actor=alice, data={"summary": "Counted twice?"})
    one_bump({issue.pk: 1}, {demo: 1})
    issue_update(issue=issue, actor=alice, data={"labels": ["backend"]})  # a label change
    one_bump({issue.pk: 1}, {demo: 1})
    sub = make_issue(project_a, summary="Sub-task", parent=issue)
    one_bump({sub.pk: 1, issue.pk: 1}, {demo: 1})  # the parent's page lists its sub-tasks
    issue_update(issue=sub, actor=alice, data={"summary": "Sub-task renamed"})
    one_bump({sub.pk: 1, issue.pk: 1}, {demo: 1})

    comment = comment_add(issue=issue, author=alice, body="first")
    one_bump({issue.pk: 1}, {demo: 1})
    comment_update(comment=comment, actor=alice, body="second")
    one_bump({issue.pk: 1}, {demo: 1})
    admin.site._registry[Comment].delete_model(None, Comment.objects.get(pk=comment.pk))  # the only comment delete
    one_bump({issue.pk: 1}, {demo: 1})

    worklog = worklog_add(issue=issue, author=alice, time_spent=3600, started=timezone.now())
    one_bump({issue.pk: 1}, {demo: 1})
    worklog_update(worklog=worklog, actor=alice, time_spent=7200)
    one_bump({issue.pk: 1}, {demo: 1})
    worklog_delete(worklog=worklog, actor=alice)
    one_bump({issue.pk: 1}, {demo: 1})

    others = [make_issue(project_a, summary=f"bulk {i}") for i in range(3)]
    bumps.clear()
    priority = Priority.objects.exclude(pk=issue.priority_id).first()
    with transaction.atomic():  # one chunk of the bulk-change job (imports.services._bulk_update_run)
        issue_bulk_change(issue_ids=[issue.pk, *(o.pk for o in others)], changes={"priority": priority.pk}, actor=alice)
    # The sub-task's page is untouched: only its parent changed, and a parent is not shown on its sub-tasks' pages.
    one_bump({issue.pk: 1, **{o.pk: 1 for o in others}}, {demo: 1})
