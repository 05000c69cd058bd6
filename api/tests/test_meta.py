"""Server, caller and lookup endpoints: shapes as Jira documents them, paging, and who sees which users/projects.

Personas: alice admin of DEMO, carol viewer of DEMO, bob member of OPS only; dave shares no project with anyone.
"""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from api.fields import API_FIELDS
from api.schemas import JiraIssueFields
from issues.models import Membership, Project, Role

pytestmark = pytest.mark.django_db

JIRA_FIELD_IDS = {
    "summary", "status", "assignee", "reporter", "priority", "issuetype", "project", "labels", "created", "updated",
    "resolution", "resolutiondate", "duedate", "description", "comment", "worklog", "timetracking", "parent",
    "subtasks", "issuelinks", "attachment", "timeoriginalestimate", "timeestimate", "timespent",
}  # fmt: skip


def test_server_info_says_server_never_cloud(client, alice, as_alice):
    body = client.get("/rest/api/2/serverInfo", **as_alice).json()
    assert body["deploymentType"] == "Server"
    assert body["baseUrl"] == "http://testserver"
    assert body["versionNumbers"] == [int(p) for p in body["version"].split(".")]
    assert body["serverTitle"] == "Taskra"


def test_myself_shape(client, alice, as_alice):
    body = client.get("/rest/api/2/myself", **as_alice).json()
    assert body["accountId"] == str(alice.pk)
    assert body["emailAddress"] == "alice@example.com"
    assert body["displayName"] == "Alice Adams"
    assert body["active"] is True
    assert body["timeZone"] == "Europe/Berlin"
    assert body["groups"] == {"size": 0, "items": []}
    assert body["applicationRoles"]["items"][0]["key"] == "jira-software"


def test_mypermissions_follow_the_role_in_the_project(client, project_a, as_alice, as_carol):
    mine = client.get("/rest/api/2/mypermissions?projectKey=DEMO", **as_alice).json()["permissions"]
    viewer = client.get("/rest/api/2/mypermissions?projectKey=DEMO", **as_carol).json()["permissions"]
    assert mine["EDIT_ISSUES"]["havePermission"] and mine["DELETE_ISSUES"]["havePermission"]
    assert viewer["BROWSE_PROJECTS"]["havePermission"]
    assert not viewer["EDIT_ISSUES"]["havePermission"] and not viewer["DELETE_ISSUES"]["havePermission"]
    only = client.get("/rest/api/2/mypermissions?permissions=BROWSE_PROJECTS", **as_carol).json()["permissions"]
    assert set(only) == {"BROWSE_PROJECTS"}


def test_field_lists_jiras_system_fields(client, alice, as_alice):
    body = client.get("/rest/api/2/field", **as_alice).json()
    assert {f["id"] for f in body} == JIRA_FIELD_IDS
    by_id = {f["id"]: f for f in body}
    assert by_id["issuetype"]["name"] == "Issue Type"
    assert by_id["duedate"]["name"] == "Due Date"
    assert by_id["resolutiondate"]["name"] == "Resolved"
    assert by_id["labels"]["schema"] == {"type": "array", "items": "string", "system": "labels"}
    assert all(f["custom"] is False for f in body)


def test_fields_table_adapter_and_schema_agree():
    assert {f.id for f in API_FIELDS} == set(JiraIssueFields.model_fields) - {"id", "key"} == JIRA_FIELD_IDS


def test_projects_are_the_callers_only(client, project_a, project_b, as_bob):
    assert [p["key"] for p in client.get("/rest/api/2/project", **as_bob).json()] == ["OPS"]
    missing = client.get("/rest/api/2/project/DEMO", **as_bob)
    assert missing.status_code == 404
    assert missing.json() == {"errorMessages": ["No project could be found with key 'DEMO'."], "errors": {}}


def test_project_search_pages(client, alice, project_a, as_alice):
    for key in ("PA", "PB", "PC"):
        Membership.objects.create(project=Project.objects.create(key=key, name=f"P {key}"), user=alice)
    first = client.get("/rest/api/2/project/search?maxResults=3", **as_alice).json()
    assert [p["key"] for p in first["values"]] == ["DEMO", "PA", "PB"]
    assert (first["startAt"], first["maxResults"], first["total"], first["isLast"]) == (0, 3, 4, False)
    last = client.get("/rest/api/2/project/search?maxResults=3&startAt=3", **as_alice).json()
    assert [p["key"] for p in last["values"]] == ["PC"] and last["isLast"] is True
    bad = client.get("/rest/api/2/project/search?startAt=x", **as_alice)
    assert bad.status_code == 400 and bad.json()["errorMessages"]


def test_project_detail_by_key_or_id_has_issue_types_and_lead(client, project_a, as_alice):
    by_key = client.get("/rest/api/2/project/DEMO", **as_alice).json()
    by_id = client.get(f"/rest/api/2/project/{project_a.pk}", **as_alice).json()
    assert by_key == by_id
    assert by_key["id"] == str(project_a.pk) and by_key["key"] == "DEMO"
    assert {"Task", "Sub-task"} <= {t["name"] for t in by_key["issueTypes"]}
    assert by_key["lead"]["name"] == "alice"


def test_lookup_lists_have_jiras_shapes(client, alice, as_alice):
    statuses = client.get("/rest/api/2/status", **as_alice).json()
    done = next(s for s in statuses if s["name"] == "Done")
    assert done["statusCategory"]["key"] == "done" and done["statusCategory"]["id"] == 3
    assert isinstance(done["id"], str)
    types = client.get("/rest/api/2/issuetype", **as_alice).json()
    assert any(t["subtask"] for t in types) and all(isinstance(t["id"], str) for t in types)
    priorities = client.get("/rest/api/2/priority", **as_alice).json()
    assert priorities[0]["name"] == "Highest" and priorities[0]["statusColor"].startswith("#")
    resolutions = client.get("/rest/api/2/resolution", **as_alice).json()
    assert "Done" in {r["name"] for r in resolutions}


def test_user_search_finds_only_users_sharing_a_project(client, alice, bob, carol, project_a, project_b, as_alice):
    get_user_model().objects.create_user("dave", "dave@example.com", "x")
    found = client.get("/rest/api/2/user/search?query=a", **as_alice).json()
    # alice and carol share DEMO; bob (OPS) and dave (nothing) are not shown to alice.
    assert {u["name"] for u in found} == {"alice", "carol"}
    assert client.get("/rest/api/2/user/search?query=bob", **as_alice).json() == []
    assert client.get("/rest/api/2/user/search", **as_alice).status_code == 400


def test_user_by_account_id(client, alice, bob, carol, project_a, project_b, as_alice):
    body = client.get(f"/rest/api/2/user?accountId={carol.pk}", **as_alice).json()
    assert body["displayName"] == "Carol Clark" and body["accountId"] == str(carol.pk)
    hidden = client.get(f"/rest/api/2/user?accountId={bob.pk}", **as_alice)
    assert hidden.status_code == 404 and hidden.json()["errorMessages"]


def test_imported_jira_account_ids_are_kept(client, alice, carol, project_a, as_alice):
    carol.profile.account_id = "557058:carol"
    carol.profile.save()
    body = client.get("/rest/api/2/user?accountId=557058:carol", **as_alice).json()
    assert body["name"] == "carol" and body["accountId"] == "557058:carol"


def test_unsupported_paths_answer_jiras_404(client, alice, as_alice):
    response = client.get("/rest/api/2/dashboard", **as_alice)
    assert response.status_code == 404
    assert response.json()["errorMessages"][0].startswith("Taskra does not support GET")


def test_v3_and_latest_share_the_views(client, alice, as_alice):
    assert client.get("/rest/api/3/myself", **as_alice).json()["self"].startswith("http://testserver/rest/api/3/")
    assert client.get("/rest/api/latest/myself", **as_alice).status_code == 200


def test_membership_role_viewer_still_lists_project(client, project_a, as_carol):
    assert [p["key"] for p in client.get("/rest/api/2/project", **as_carol).json()] == ["DEMO"]
    assert Membership.objects.get(project=project_a, user__username="carol").role == Role.VIEWER
