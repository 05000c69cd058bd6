"""Editing comfort on the issue page: click-to-edit summary and description, "Assign to me", deleting comments.

Personas: alice is admin of DEMO, carol a viewer in DEMO; dave (made here) is a member of DEMO.
"""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from issues.models import Comment, History, Issue, IssueLink, Membership, Role
from issues.services import comment_add


@pytest.fixture
def dave(project_a):
    user = get_user_model().objects.create_user("dave", "dave@example.com", "dave-pass-123")
    Membership.objects.create(project=project_a, user=user, role=Role.MEMBER)
    return user


def test_summary_and_description_are_edited_in_place(client, project_a, make_issue, alice):
    issue = make_issue(project_a, summary="Old")
    client.force_login(alice)
    page = client.get(f"/browse/{issue.key}").content.decode()
    assert "data-inline-edit" in page and f"/browse/{issue.key}/set/summary" in page
    assert client.post(f"/browse/{issue.key}/set/summary", {"summary": "  New title "}).status_code == 302
    assert client.post(f"/browse/{issue.key}/set/description", {"description": "Line\r\nTwo"}).status_code == 302
    issue.refresh_from_db()
    assert (issue.summary, issue.description) == ("New title", "Line\nTwo")
    assert History.objects.filter(issue=issue, field="summary", to_value="New title").exists()
    response = client.post(f"/browse/{issue.key}/set/summary", {"summary": "   "})
    assert response.status_code == 400 and "This field is required." in response.content.decode()


def test_viewer_cannot_edit_in_place(client, project_a, make_issue, carol):
    issue = make_issue(project_a, summary="Old")
    client.force_login(carol)
    assert "data-inline-edit" not in client.get(f"/browse/{issue.key}").content.decode()
    assert client.post(f"/browse/{issue.key}/set/summary", {"summary": "Hacked"}).status_code == 403
    assert Issue.objects.get(pk=issue.pk).summary == "Old"


def test_assign_to_me(client, project_a, make_issue, dave, carol):
    issue = make_issue(project_a)
    client.force_login(dave)
    assert client.post(f"/browse/{issue.key}/assign-to-me").status_code == 302
    assert Issue.objects.get(pk=issue.pk).assignee == dave
    client.force_login(carol)  # a viewer may not
    assert client.post(f"/browse/{issue.key}/assign-to-me").status_code == 403


def test_member_deletes_only_own_comments_and_admin_any_with_history(client, project_a, make_issue, alice, dave):
    issue = make_issue(project_a)
    by_alice = comment_add(issue=issue, author=alice, body="Alice says")
    by_dave = comment_add(issue=issue, author=dave, body="Dave says")
    client.force_login(dave)
    assert client.post(f"/browse/{issue.key}/comments/{by_alice.pk}/delete").status_code == 403  # another's
    assert client.post(f"/browse/{issue.key}/comments/{by_dave.pk}/delete").status_code == 302  # his own
    client.force_login(alice)  # project admin: any comment
    assert client.post(f"/browse/{issue.key}/comments/{by_alice.pk}/delete").status_code == 302
    assert not Comment.objects.exists()
    deleted = History.objects.filter(issue=issue, field="comment").order_by("id")
    assert [(h.author_id, h.from_value) for h in deleted] == [
        (dave.pk, "Comment by dave"),
        (alice.pk, "Comment by Alice Adams"),
    ]


def test_clone_makes_a_linked_copy(client, project_a, make_issue, alice):
    issue = make_issue(project_a, summary="Original", labels=["ui"], description="Body")
    client.force_login(alice)
    response = client.post(f"/browse/{issue.key}/clone")
    copy = Issue.objects.exclude(pk=issue.pk).get()
    assert response.status_code == 302 and response["Location"] == f"/browse/{copy.key}"
    assert (copy.summary, copy.description, list(copy.labels.values_list("name", flat=True))) == (
        "CLONE - Original", "Body", ["ui"]
    )  # fmt: skip
    link = IssueLink.objects.get()
    assert (link.type.outward, link.outward_issue_id, link.inward_issue_id) == ("clones", copy.pk, issue.pk)


def test_move_gives_a_new_key_and_the_old_key_redirects(client, project_a, project_b, make_issue, alice, bob):
    # alice joins OPS as a member so that she may move DEMO issues there; bob (OPS) then sees the moved issue.
    Membership.objects.create(project=project_b, user=alice, role=Role.MEMBER)
    issue = make_issue(project_a, summary="Wandering", assignee=alice)
    sub = make_issue(project_a, summary="Part", parent=issue)
    old_key, old_sub_key = issue.key, sub.key
    client.force_login(alice)
    assert client.get(f"/browse/{old_key}/move").status_code == 200
    response = client.post(f"/browse/{old_key}/move", {"project": project_b.pk})
    issue.refresh_from_db()
    sub.refresh_from_db()
    assert response.status_code == 302 and issue.key.startswith("OPS-") and sub.key.startswith("OPS-")
    assert (issue.project_id, sub.project_id, sub.parent_id, issue.assignee_id) == (
        project_b.pk,
        project_b.pk,
        issue.pk,
        alice.pk,
    )
    assert client.get(f"/browse/{old_key}")["Location"] == f"/browse/{issue.key}"
    assert client.get(f"/browse/{old_sub_key.lower()}")["Location"] == f"/browse/{sub.key}"
    assert History.objects.filter(issue=issue, field="key", from_value=old_key, to_value=issue.key).exists()
    client.force_login(get_user_model().objects.get(username="carol"))  # DEMO viewer, not in OPS: a plain 404
    assert client.get(f"/browse/{old_key}").status_code == 404


def test_move_refuses_sub_tasks_and_projects_the_user_cannot_edit(client, project_a, project_b, make_issue, alice):
    issue = make_issue(project_a)
    sub = make_issue(project_a, parent=issue)
    client.force_login(alice)  # not a member of OPS
    response = client.post(f"/browse/{issue.key}/move", {"project": project_b.pk})
    assert response.status_code == 400 and Issue.objects.get(pk=issue.pk).project_id == project_a.pk
    assert client.get(f"/browse/{sub.key}/move").status_code == 200  # the page says to move the parent instead
    from django.core.exceptions import ValidationError

    from issues.services import issue_move

    Membership.objects.create(project=project_b, user=alice, role=Role.MEMBER)
    with pytest.raises(ValidationError, match="moves with its parent"):
        issue_move(issue=sub, actor=alice, project=project_b)
