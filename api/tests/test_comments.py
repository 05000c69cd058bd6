"""issue/{idOrKey}/comment and issue/{idOrKey}/comment/{id}: Jira's shapes over the comment services.

Personas: alice admin of DEMO (edits her own comments, deletes any), dave member of DEMO (edits and
deletes his own only), carol viewer of DEMO (reads; writes 403), bob member of OPS only (DEMO's issues and
their comments are 404 for him).
"""

from __future__ import annotations

import json

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext

from api.services import api_token_create
from api.tests.conftest import basic
from issues.models import Comment, Membership, Role
from issues.services import comment_add

pytestmark = pytest.mark.django_db


def send(client, method, url, body, headers):
    return getattr(client, method)(url, json.dumps(body), content_type="application/json", **headers)


@pytest.fixture
def issue(project_a, make_issue):
    return make_issue(project_a, summary="Talk about it")


@pytest.fixture
def dave(project_a):
    user = get_user_model().objects.create_user("dave", "dave@example.com", "dave-pass-123")
    Membership.objects.create(project=project_a, user=user, role=Role.MEMBER)
    return user


@pytest.fixture
def as_dave(dave):
    return basic("dave", api_token_create(user=dave, label="dave")[1])


def test_post_then_list_comments_in_jiras_shape(client, issue, alice, as_alice):
    response = send(client, "post", f"/rest/api/2/issue/{issue.key}/comment", {"body": "Looks *good*"}, as_alice)
    assert response.status_code == 201
    created = response.json()
    assert created["body"] == "Looks *good*" and created["author"]["name"] == "alice"
    assert created["self"] == f"http://testserver/rest/api/2/issue/{issue.pk}/comment/{created['id']}"
    assert created["created"].endswith("+0000")
    listed = client.get(f"/rest/api/2/issue/{issue.key}/comment", **as_alice).json()
    assert listed["total"] == 1 and listed["startAt"] == 0 and listed["comments"] == [created]
    one = client.get(f"/rest/api/2/issue/{issue.pk}/comment/{created['id']}", **as_alice).json()
    assert one == created


def test_v3_bodies_are_atlassian_documents(client, issue, as_alice):
    doc = {"type": "doc", "version": 1,
           "content": [{"type": "paragraph", "content": [{"type": "text", "text": "From ADF"}]}]}  # fmt: skip
    created = send(client, "post", f"/rest/api/3/issue/{issue.key}/comment", {"body": doc}, as_alice).json()
    assert created["body"]["type"] == "doc"
    assert Comment.objects.get(pk=created["id"]).body == "From ADF"
    assert client.get(f"/rest/api/2/issue/{issue.key}/comment/{created['id']}", **as_alice).json()["body"] == "From ADF"


def test_comment_list_pages_and_orders(client, issue, alice, as_alice):
    for n in range(5):
        comment_add(issue=issue, author=alice, body=f"c{n}")
    url = f"/rest/api/2/issue/{issue.key}/comment"
    page = client.get(f"{url}?startAt=1&maxResults=2", **as_alice).json()
    assert (page["startAt"], page["maxResults"], page["total"]) == (1, 2, 5)
    assert [c["body"] for c in page["comments"]] == ["c1", "c2"]
    newest = client.get(f"{url}?orderBy=-created&maxResults=1", **as_alice).json()
    assert [c["body"] for c in newest["comments"]] == ["c4"]
    assert client.get(f"{url}?orderBy=author", **as_alice).status_code == 400


def test_comment_list_is_a_fixed_number_of_queries(client, issue, alice, as_alice):
    url = f"/rest/api/2/issue/{issue.key}/comment"
    client.get(url, **as_alice)  # warm: last_used written
    counts = []
    for _ in range(2):
        for n in range(3):
            comment_add(issue=issue, author=alice, body=f"more {n}")
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url, **as_alice).status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1]  # no query per comment


def test_empty_comment_is_400(client, issue, as_alice):
    response = send(client, "post", f"/rest/api/2/issue/{issue.key}/comment", {"body": "  "}, as_alice)
    assert response.status_code == 400
    assert response.json()["errors"] == {"comment": "Comment body can not be empty!"}


def test_author_edits_own_comment_and_deletes_it_admin_deletes_any(client, issue, alice, dave, as_alice, as_dave):
    mine = send(client, "post", f"/rest/api/2/issue/{issue.key}/comment", {"body": "dave's"}, as_dave).json()
    url = f"/rest/api/2/issue/{issue.key}/comment/{mine['id']}"
    edited = send(client, "put", url, {"body": "dave's, edited"}, as_dave)
    assert edited.status_code == 200 and edited.json()["body"] == "dave's, edited"
    # As in the browser, nobody edits another's words, not even alice (project admin); she may delete them.
    assert send(client, "put", url, {"body": "moderated"}, as_alice).status_code == 403
    hers = comment_add(issue=issue, author=alice, body="alice's")
    other = f"/rest/api/2/issue/{issue.key}/comment/{hers.pk}"
    assert send(client, "put", other, {"body": "x"}, as_dave).status_code == 403
    assert client.delete(other, **as_dave).status_code == 403
    assert client.delete(url, **as_alice).status_code == 204  # the admin deletes dave's comment
    mine_again = comment_add(issue=issue, author=dave, body="again")
    assert client.delete(f"/rest/api/2/issue/{issue.key}/comment/{mine_again.pk}", **as_dave).status_code == 204
    assert client.delete(other, **as_alice).status_code == 204
    assert not Comment.objects.filter(issue=issue).exists()


def test_viewer_reads_but_may_not_write_and_outsider_gets_404(client, issue, alice, as_carol, as_bob):
    existing = comment_add(issue=issue, author=alice, body="hello")
    base = f"/rest/api/2/issue/{issue.key}/comment"
    assert client.get(base, **as_carol).json()["total"] == 1
    assert send(client, "post", base, {"body": "mine"}, as_carol).status_code == 403
    assert send(client, "put", f"{base}/{existing.pk}", {"body": "x"}, as_carol).status_code == 403
    assert client.delete(f"{base}/{existing.pk}", **as_carol).status_code == 403
    for response in (
        client.get(base, **as_bob),
        client.get(f"{base}/{existing.pk}", **as_bob),
        send(client, "post", base, {"body": "x"}, as_bob),
        client.delete(f"{base}/{existing.pk}", **as_bob),
    ):
        assert response.status_code == 404
    assert Comment.objects.get(pk=existing.pk).body == "hello"


def test_comment_of_another_issue_is_404(client, issue, project_a, make_issue, alice, as_alice):
    other = make_issue(project_a, summary="Other")
    theirs = comment_add(issue=other, author=alice, body="elsewhere")
    assert client.get(f"/rest/api/2/issue/{issue.key}/comment/{theirs.pk}", **as_alice).status_code == 404
    assert client.get(f"/rest/api/2/issue/{issue.key}/comment/nope", **as_alice).status_code == 404
