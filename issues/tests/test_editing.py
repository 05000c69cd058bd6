"""Editing comfort on the issue page: click-to-edit summary and description, "Assign to me", deleting comments.

Personas: alice is admin of DEMO, carol a viewer in DEMO; dave (made here) is a member of DEMO.
"""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from issues.models import Comment, History, Issue, Membership, Role
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
        (dave.pk, "dave: Dave says"),
        (alice.pk, "Alice Adams: Alice says"),
    ]
