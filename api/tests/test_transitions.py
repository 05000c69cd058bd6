"""issue/{idOrKey}/transitions: every other status is a transition (id = the status id, as a string); POST moves
the issue through issue_update with optional fields (resolution) and update operations (a comment).

Personas: alice admin of DEMO (transitions), carol viewer (reads; POST 403), bob member of OPS only (404).
"""

from __future__ import annotations

import json

import pytest

from issues.models import Comment, History, Issue, Status

pytestmark = pytest.mark.django_db


def post(client, url, body, headers):
    return client.post(url, json.dumps(body), content_type="application/json", **headers)


@pytest.fixture
def issue(project_a, make_issue):
    return make_issue(project_a, summary="Move me")


def status_id(name: str) -> int:
    return Status.objects.get(name=name).pk


def test_transitions_list_every_other_status(client, issue, as_alice):
    body = client.get(f"/rest/api/2/issue/{issue.key}/transitions", **as_alice).json()
    assert [t["name"] for t in body["transitions"]] == ["In Progress", "In Review", "Done"]
    first = body["transitions"][0]
    assert first["id"] == str(status_id("In Progress")) and first["to"]["name"] == "In Progress"
    assert first["to"]["statusCategory"]["key"] == "indeterminate"
    one = client.get(f"/rest/api/2/issue/{issue.key}/transitions?transitionId={first['id']}", **as_alice).json()
    assert one["transitions"] == [first]


@pytest.mark.parametrize("as_int", [False, True])
def test_post_transition_by_string_or_int_id_is_204_and_recorded(client, issue, as_alice, as_int):
    target = status_id("In Progress")
    body = {"transition": {"id": target if as_int else str(target)}}
    assert post(client, f"/rest/api/2/issue/{issue.key}/transitions", body, as_alice).status_code == 204
    assert Issue.objects.get(pk=issue.pk).status_id == target
    assert History.objects.filter(issue=issue, field="status", to_value="In Progress").exists()


def test_transition_to_done_with_resolution_and_comment(client, issue, as_alice):
    body = {
        "transition": {"id": str(status_id("Done"))},
        "fields": {"resolution": {"name": "Won't Do"}},
        "update": {"comment": [{"add": {"body": "Not needed"}}]},
    }
    assert post(client, f"/rest/api/2/issue/{issue.key}/transitions", body, as_alice).status_code == 204
    moved = Issue.objects.select_related("resolution").get(pk=issue.pk)
    assert moved.status.name == "Done" and moved.resolution.name == "Won't Do" and moved.resolved is not None
    assert Comment.objects.get(issue=issue).body == "Not needed"
    # Done without a resolution gets the default one (the services' resolution rule); reopening clears it.
    reopen = {"transition": {"id": str(status_id("To Do"))}}
    assert post(client, f"/rest/api/2/issue/{issue.key}/transitions", reopen, as_alice).status_code == 204
    assert Issue.objects.get(pk=issue.pk).resolution_id is None


def test_bad_transitions_are_400(client, issue, as_alice):
    url = f"/rest/api/2/issue/{issue.key}/transitions"
    current = post(client, url, {"transition": {"id": str(issue.status_id)}}, as_alice)
    assert current.status_code == 400 and "is not valid for this issue" in current.json()["errorMessages"][0]
    assert post(client, url, {"transition": {"id": "999999"}}, as_alice).status_code == 400
    assert post(client, url, {}, as_alice).status_code == 400
    bad_field = {"transition": {"id": str(status_id("Done"))}, "fields": {"resolution": {"name": "Nope"}}}
    response = post(client, url, bad_field, as_alice)
    assert response.status_code == 400 and "resolution" in response.json()["errors"]
    assert Issue.objects.get(pk=issue.pk).status_id == issue.status_id


def test_viewer_403_outsider_404(client, issue, as_carol, as_bob):
    url = f"/rest/api/2/issue/{issue.key}/transitions"
    body = {"transition": {"id": str(status_id("Done"))}}
    assert client.get(url, **as_carol).status_code == 200
    assert post(client, url, body, as_carol).status_code == 403
    assert client.get(url, **as_bob).status_code == 404
    assert post(client, url, body, as_bob).status_code == 404
    assert Issue.objects.get(pk=issue.pk).status_id == issue.status_id
