"""Authorization (issues.permissions): the role rules, and the same answer through every entry point.

Personas: alice administers DEMO; dave is a plain member of DEMO (edits, deletes nothing, changes only his own
worklogs); carol is a DEMO viewer (sees, changes nothing); bob is only in OPS (DEMO is invisible to him);
admin_user is a superuser who is a member of nothing (Django's admin works for him through model permissions).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.urls import reverse

from imports.models import Job
from imports.services import bulk_update_job_create
from issues.bulk import bulk_selection
from issues.models import Issue, Membership, Role
from issues.permissions import (
    can_admin_in,
    can_change_worklog,
    can_edit_in,
    can_see_in,
    editable_project_ids,
    is_site_admin,
    known_among,
    known_users_q,
    may_import_into,
    project_role,
    visible_project_ids,
)
from issues.services import issue_delete, issue_update
from worklogs.models import Worklog
from worklogs.services import worklog_add, worklog_update

STARTED = dt.datetime(2026, 3, 3, 9, tzinfo=dt.UTC)


@pytest.fixture
def dave(project_a):
    user = get_user_model().objects.create_user("dave", "dave@example.com", "dave-pass-123")
    Membership.objects.create(project=project_a, user=user, role=Role.MEMBER)
    return user


@pytest.fixture
def people(alice, bob, carol, dave):
    return {"alice": alice, "bob": bob, "carol": carol, "dave": dave}


@pytest.mark.parametrize(
    ("role", "see", "edit", "admin"),
    [(None, False, False, False), (Role.VIEWER, True, False, False), (Role.MEMBER, True, True, False),
     (Role.ADMIN, True, True, True)],
)  # fmt: skip
def test_role_table(role, see, edit, admin):
    assert (can_see_in(role), can_edit_in(role), can_admin_in(role)) == (see, edit, admin)


@pytest.mark.parametrize(
    ("role", "own", "allowed"),
    [(Role.ADMIN, False, True), (Role.ADMIN, True, True), (Role.MEMBER, True, True), (Role.MEMBER, False, False),
     (Role.VIEWER, True, False), (None, True, False)],
)  # fmt: skip
def test_worklog_change_rule(role, own, allowed):
    assert can_change_worklog(role, author_id=1 if own else 2, user_id=1) is allowed


def test_project_sets_follow_roles(people, project_a, project_b):
    assert set(visible_project_ids(people["carol"]).values_list("project_id", flat=True)) == {project_a.pk}
    assert not editable_project_ids(people["carol"]).exists()
    assert set(editable_project_ids(people["dave"]).values_list("project_id", flat=True)) == {project_a.pk}
    assert project_role(people["bob"], project_a.pk) is None


def test_site_admin_and_imports(admin_user, people, project_a):
    assert is_site_admin(admin_user) and not is_site_admin(people["alice"])
    assert may_import_into(None, project_a.pk)  # the command line: the system
    assert may_import_into(people["dave"], project_a.pk) and not may_import_into(people["carol"], project_a.pk)


def test_a_superuser_follows_the_membership_rule_in_the_product(client, admin_user, project_a, make_issue):
    # admin_user is a superuser and a member of nothing: DEMO's pages answer 404 to him, so no import, bulk
    # change, form or API call may change DEMO either (the Django admin stays the site admin's tool).
    issue = make_issue(project_a, summary="Original")
    assert not may_import_into(admin_user, project_a.pk)
    client.force_login(admin_user)
    assert client.get(f"/browse/{issue.key}").status_code == 404
    assert [edit(client, admin_user, issue) for edit in EDITS] == [False] * len(EDITS)
    assert Issue.objects.get(pk=issue.pk).summary == "Original"
    Membership.objects.create(project=project_a, user=admin_user, role=Role.MEMBER)
    assert may_import_into(admin_user, project_a.pk)  # as a member, like anyone


# --- editing an issue: member or admin, through every entry point -----------------------------------------------


def _edit_via_service(client, user, issue) -> bool:
    try:
        issue_update(issue=issue, actor=user, data={"summary": "Changed"})
    except PermissionDenied:
        return False
    return True


def _edit_via_form(client, user, issue) -> bool:
    client.force_login(user)
    form = {"type": issue.type_id, "summary": "Changed", "status": issue.status_id, "priority": issue.priority_id}
    return client.post(f"/browse/{issue.key}/edit", form).status_code == 302


def _edit_via_api(client, user, issue) -> bool:
    client.force_login(user)
    body = '{"fields": {"summary": "Changed"}}'
    return client.put(f"/rest/api/2/issue/{issue.key}", body, content_type="application/json").status_code == 204


def _edit_via_bulk_change(client, user, issue) -> bool:
    job = bulk_update_job_create(user=user, issue_ids=[issue.pk], changes={"priority": "High"}, enqueue=False)
    job = Job.objects.get(pk=job.pk)
    return bulk_selection(user=job.user, jql=job.options.get("jql")).filter(pk=issue.pk).exists()


EDITS: list[Callable] = [_edit_via_service, _edit_via_form, _edit_via_api, _edit_via_bulk_change]


@pytest.mark.parametrize("edit", EDITS, ids=lambda f: f.__name__.strip("_"))
@pytest.mark.parametrize(("who", "allowed"), [("alice", True), ("dave", True), ("carol", False), ("bob", False)])
def test_who_may_edit_an_issue(client, people, project_a, make_issue, edit, who, allowed):
    issue = make_issue(project_a, summary="Original")
    assert edit(client, people[who], issue) is allowed
    if edit is not _edit_via_bulk_change:  # the bulk job runs later: the selection is what it will touch
        assert (Issue.objects.get(pk=issue.pk).summary == "Changed") is allowed


def test_django_admin_edits_by_model_permission(client, admin_user, project_a, make_issue):
    # admin_user is a member of nothing: the admin's access comes from Django's model permissions.
    issue = make_issue(project_a, summary="Original")
    client.force_login(admin_user)
    assert client.get(reverse("admin:issues_issue_change", args=[issue.pk])).status_code == 200


# --- deleting an issue: project admins only -----------------------------------------------------------------------


def _delete_via_service(client, user, issue) -> bool:
    try:
        issue_delete(issue=issue, actor=user)
    except PermissionDenied:
        return False
    return True


def _delete_via_page(client, user, issue) -> bool:
    client.force_login(user)
    return client.post(f"/browse/{issue.key}/delete").status_code == 302


@pytest.mark.parametrize("delete", [_delete_via_service, _delete_via_page], ids=lambda f: f.__name__.strip("_"))
@pytest.mark.parametrize(("who", "allowed"), [("alice", True), ("dave", False), ("carol", False)])
def test_only_project_admins_delete(client, people, project_a, make_issue, delete, who, allowed):
    issue = make_issue(project_a)
    assert delete(client, people[who], issue) is allowed
    assert Issue.objects.filter(pk=issue.pk).exists() is not allowed


# --- changing a worklog: one's own as a member, any as an admin --------------------------------------------------


def _worklog_via_service(client, user, worklog) -> bool:
    try:
        worklog_update(worklog=worklog, actor=user, time_spent=7200)
    except PermissionDenied:
        return False
    return True


def _worklog_via_page(client, user, worklog) -> bool:
    client.force_login(user)
    return client.get(f"/browse/{worklog.issue.key}/worklogs/{worklog.pk}/edit").status_code == 200


def _worklog_via_list_links(client, user, worklog) -> bool:
    client.force_login(user)
    page = client.get("/worklogs/", {"start": "2026-03-02", "end": "2026-03-08"}).content.decode()
    return f"/worklogs/{worklog.pk}/edit" in page


WORKLOG_WRITES: list[Callable] = [_worklog_via_service, _worklog_via_page, _worklog_via_list_links]


@pytest.mark.parametrize("write", WORKLOG_WRITES, ids=lambda f: f.__name__.strip("_"))
@pytest.mark.parametrize(
    ("author", "who", "allowed"),
    [("dave", "dave", True), ("alice", "dave", False), ("dave", "alice", True), ("carol", "carol", False)],
)
def test_who_may_change_a_worklog(client, people, project_a, make_issue, write, author, who, allowed):
    issue = make_issue(project_a)
    worklog = worklog_add(issue=issue, author=people[author], time_spent=3600, started=STARTED, check_permission=False)
    assert write(client, people[who], Worklog.objects.select_related("issue").get(pk=worklog.pk)) is allowed


@pytest.mark.django_db
def test_known_among_follows_known_users_q(alice, bob, project_a, project_b, django_assert_num_queries):
    """alice (DEMO) knows herself and DEMO's members; bob (OPS only) is unknown to her until they share a project."""
    carol = get_user_model().objects.create_user("carol2", "carol2@example.com", "pw")
    Membership.objects.create(project=project_a, user=carol, role=Role.VIEWER)
    everyone = [alice.pk, bob.pk, carol.pk]
    with django_assert_num_queries(1):
        known = known_among(alice, everyone)
    assert known == {alice.pk, carol.pk}
    by_filter = get_user_model().objects.filter(known_users_q(alice), pk__in=everyone)
    assert known == set(by_filter.values_list("pk", flat=True))
    Membership.objects.create(project=project_b, user=alice, role=Role.MEMBER)
    assert known_among(alice, everyone) == {alice.pk, bob.pk, carol.pk}
    assert known_among(None, everyone) == set(everyone)
    with django_assert_num_queries(0):
        assert known_among(alice, []) == set()
