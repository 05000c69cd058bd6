"""Custom fields in the REST API: customfield_NNNNN in an issue's fields, ?fields=, expand=names/schema, GET field.

Personas: alice admin of DEMO; bob member of OPS only.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from issues.custom_fields import value_parts
from issues.models import CustomField, CustomFieldValue, Issue

pytestmark = pytest.mark.django_db


def put_value(issue: Issue, field: CustomField, *values: str) -> None:
    CustomFieldValue.objects.create(issue=issue, field=field, **value_parts(field.type, list(values))._asdict())


@pytest.fixture
def issues(project_a, make_issue):
    points = CustomField.objects.create(jira_id="customfield_10010", name="Story Points", type="number")
    team = CustomField.objects.create(jira_id="customfield_10011", name="Team", type="select")
    platforms = CustomField.objects.create(jira_id="customfield_10012", name="Platforms", type="multiselect")
    site = CustomField.objects.create(name="Site", type="url")  # known by name only (a CSV brought it)
    one, two = make_issue(project_a, summary="One"), make_issue(project_a, summary="Two")
    put_value(one, points, "5")
    put_value(one, team, "Core")
    put_value(one, platforms, "Linux", "Mac")
    put_value(one, site, "https://example.com")
    put_value(two, points, "2.5")
    return one, two, site


def test_issue_fields_carry_custom_fields_as_jira_shows_them(client, issues, as_alice):
    one, _two, site = issues
    fields = client.get(f"/rest/api/2/issue/{one.key}", **as_alice).json()["fields"]
    assert fields["customfield_10010"] == 5.0
    assert fields["customfield_10011"] == {"value": "Core"}
    assert fields["customfield_10012"] == [{"value": "Linux"}, {"value": "Mac"}]
    assert fields[f"customfield_{site.pk}"] == "https://example.com"


def test_fields_parameter_names_custom_fields_and_expand_names_them(client, issues, as_alice):
    one = issues[0]
    url = f"/rest/api/2/issue/{one.key}?fields=summary,customfield_10010,customfield_10099&expand=names,schema"
    body = client.get(url, **as_alice).json()
    assert set(body["fields"]) == {"summary", "customfield_10010", "customfield_10099"}
    assert body["fields"]["customfield_10099"] is None  # asked for, unknown: null, as Jira answers
    assert body["names"]["customfield_10010"] == "Story Points"
    assert body["schema"]["customfield_10010"] == {
        "type": "number",
        "custom": "com.atlassian.jira.plugin.system.customfieldtypes:float",
        "customId": 10010,
    }
    only_system = client.get(f"/rest/api/2/issue/{one.key}?fields=summary", **as_alice).json()["fields"]
    assert set(only_system) == {"summary"}


def test_search_pages_load_custom_fields_in_one_query(client, issues, project_a, make_issue, as_alice):
    def search() -> dict:
        return client.get("/rest/api/2/search?jql=project=DEMO ORDER BY key", **as_alice).json()

    search()  # the first request of a token records its use
    with CaptureQueriesContext(connection) as few:
        search()
    points = CustomField.objects.get(jira_id="customfield_10010")
    for n in range(5):  # more issues with values: the same queries
        put_value(make_issue(project_a, summary=f"more {n}"), points, str(n))
    with CaptureQueriesContext(connection) as many:
        body = search()
    assert len(many) == len(few)
    assert [i["fields"].get("customfield_10010") for i in body["issues"][:2]] == [5.0, 2.5]


def test_field_list_has_the_custom_fields(client, issues, as_alice):
    found = {f["id"]: f for f in client.get("/rest/api/2/field", **as_alice).json()}
    assert found["customfield_10011"]["custom"] is True and found["customfield_10011"]["name"] == "Team"
    assert found["customfield_10011"]["clauseNames"] == ["cf[10011]", "Team"]
    assert found["summary"]["custom"] is False


def test_custom_values_of_issues_one_cannot_see_do_not_exist(client, issues, as_bob):
    assert client.get(f"/rest/api/2/issue/{issues[0].key}", **as_bob).status_code == 404
