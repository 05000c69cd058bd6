"""issueLink, issueLink/{id}, issueLinkType and fields.issuelinks: Jira's shapes over the link services.

Personas: alice admin of DEMO, carol viewer of DEMO (reads; writes 403), bob member of OPS only (DEMO's issues,
and links to them, are 404 / invisible for him).
"""

from __future__ import annotations

import json

import pytest

from issues.models import IssueLink, IssueLinkType, Membership, Role
from issues.services import issue_link_create

pytestmark = pytest.mark.django_db

API = "/rest/api/2"


def post(client, url, body, headers):
    return client.post(url, json.dumps(body), content_type="application/json", **headers)


@pytest.fixture
def pair(project_a, make_issue):
    return make_issue(project_a, summary="Blocker"), make_issue(project_a, summary="Blocked")


def test_link_types_are_listed(client, as_alice):
    body = client.get(f"{API}/issueLinkType", **as_alice).json()
    blocks = next(t for t in body["issueLinkTypes"] if t["name"] == "Blocks")
    assert (blocks["outward"], blocks["inward"]) == ("blocks", "is blocked by")
    assert client.get(f"{API}/issueLinkType/{blocks['id']}", **as_alice).json()["name"] == "Blocks"


def test_create_read_and_delete_a_link_as_jira_reads_it(client, as_alice, pair):
    one, two = pair
    body = {"type": {"name": "Blocks"}, "inwardIssue": {"key": one.key}, "outwardIssue": {"key": two.key}}
    response = post(client, f"{API}/issueLink", body, as_alice)
    assert response.status_code == 201
    link = IssueLink.objects.get()
    assert (link.outward_issue_id, link.inward_issue_id) == (one.pk, two.pk)  # "one blocks two"
    got = client.get(f"{API}/issueLink/{link.pk}", **as_alice).json()
    assert (got["inwardIssue"]["key"], got["outwardIssue"]["key"], got["type"]["name"]) == (one.key, two.key, "Blocks")
    fields = client.get(f"{API}/issue/{one.key}?fields=issuelinks", **as_alice).json()["fields"]
    assert [(entry["type"]["outward"], entry["outwardIssue"]["key"]) for entry in fields["issuelinks"]] == [
        ("blocks", two.key)
    ]
    back = client.get(f"{API}/issue/{two.key}?fields=issuelinks", **as_alice).json()["fields"]["issuelinks"]
    assert back[0]["inwardIssue"]["key"] == one.key
    assert client.delete(f"{API}/issueLink/{link.pk}", **as_alice).status_code == 204
    assert not IssueLink.objects.exists()


def test_bad_bodies_and_viewers(client, as_alice, as_carol, pair):
    one, two = pair
    body = {"type": {"name": "Blocks"}, "inwardIssue": {"key": one.key}, "outwardIssue": {"key": two.key}}
    assert post(client, f"{API}/issueLink", body, as_carol).status_code == 403  # carol is a viewer
    response = post(client, f"{API}/issueLink", {**body, "type": {"name": "Nope"}}, as_alice)
    assert response.status_code == 404 and "Nope" in response.json()["errorMessages"][0]
    response = post(client, f"{API}/issueLink", {**body, "outwardIssue": {"key": one.key}}, as_alice)
    assert response.status_code == 400 and "itself" in json.dumps(response.json())
    assert post(client, f"{API}/issueLink", {"type": {"name": "Blocks"}}, as_alice).status_code == 400
    assert not IssueLink.objects.exists()


def test_issues_and_links_the_caller_cannot_see_are_not_found(
    client, as_alice, as_bob, pair, project_b, make_issue, alice
):
    # alice (in DEMO and, here, OPS) links OPS-1 to DEMO-1; bob (OPS only) sees OPS-1 without the link.
    one, _two = pair
    ops = make_issue(project_b, summary="Ops")
    Membership.objects.create(project=project_b, user=alice, role=Role.MEMBER)
    relates = IssueLinkType.objects.get(name="Relates")
    link = issue_link_create(actor=alice, link_type=relates, outward_issue=ops, inward_issue=one)
    fields = client.get(f"{API}/issue/{ops.key}?fields=issuelinks", **as_bob).json()["fields"]
    assert fields["issuelinks"] == []
    assert client.get(f"{API}/issueLink/{link.pk}", **as_bob).status_code == 404
    assert client.delete(f"{API}/issueLink/{link.pk}", **as_bob).status_code == 404
    body = {"type": {"name": "Blocks"}, "inwardIssue": {"key": ops.key}, "outwardIssue": {"key": one.key}}
    response = post(client, f"{API}/issueLink", body, as_bob)
    assert response.status_code == 404
    assert IssueLink.objects.count() == 1
