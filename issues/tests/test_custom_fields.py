"""Custom fields on the issue page, in JQL and in the admin (values come from imports: imports/tests).

Personas: alice admin of DEMO; bob member of OPS only (DEMO's issues and their values do not exist for him).
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from issues.custom_fields import value_parts
from issues.jql import JQLError, jql_queryset
from issues.models import CustomField, CustomFieldType, CustomFieldValue, Issue
from issues.services import custom_field_get_or_create, custom_field_update

pytestmark = pytest.mark.django_db
NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)


def put_value(issue: Issue, field: CustomField, *values: str) -> CustomFieldValue:
    parts = value_parts(field.type, list(values))
    return CustomFieldValue.objects.create(issue=issue, field=field, **parts._asdict())


@pytest.fixture
def fields() -> dict[str, CustomField]:
    return {
        "points": CustomField.objects.create(jira_id="customfield_10010", name="Story Points", type="number"),
        "team": CustomField.objects.create(jira_id="customfield_10011", name="Team", type="select"),
        "platforms": CustomField.objects.create(jira_id="customfield_10012", name="Platforms", type="multiselect"),
        "site": CustomField.objects.create(name="Site", type="url"),
        "live": CustomField.objects.create(jira_id="customfield_10013", name="Go live", type="date"),
    }


@pytest.fixture
def issues(project_a, make_issue, fields) -> list[Issue]:
    one = make_issue(project_a, summary="One")
    two = make_issue(project_a, summary="Two")
    make_issue(project_a, summary="Three")  # no values
    put_value(one, fields["points"], "5")
    put_value(one, fields["team"], "Core team")
    put_value(one, fields["platforms"], "Linux", "Mac")
    put_value(one, fields["site"], "https://example.com/a")
    put_value(two, fields["points"], "13")
    put_value(two, fields["live"], "2024-03-01")
    return [one, two]


def keys(text: str, user) -> list[str]:
    return sorted(jql_queryset(text, user=user, now=NOW).values_list("key", flat=True))


def test_issue_page_shows_the_values_in_one_query_whatever_their_number(
    client, settings, alice, issues, fields, project_a, make_issue
):
    settings.TASKRA_PAGE_CACHE = False  # count what building the page costs
    client.force_login(alice)
    page = client.get("/browse/DEMO-1").content.decode()
    assert 'id="h-custom-fields"' in page
    assert '<dt title="customfield_10010">Story Points</dt>' in page
    assert '<span class="label">Linux</span> <span class="label">Mac</span>' in page
    assert '<a href="https://example.com/a" rel="nofollow noopener">' in page
    with CaptureQueriesContext(connection) as few:
        client.get("/browse/DEMO-1")
    for n in range(6):  # more fields with values: the same queries
        put_value(issues[0], CustomField.objects.create(name=f"Extra {n}"), f"value {n}")
    with CaptureQueriesContext(connection) as many:
        assert "value 5" in client.get("/browse/DEMO-1").content.decode()
    assert len(many) == len(few)
    assert 'id="h-custom-fields"' not in client.get("/browse/DEMO-3").content.decode()  # none: no section


def test_a_url_that_is_not_a_web_address_is_shown_as_text(client, settings, alice, issues, fields):
    # A text field turned into a URL field keeps its values: one that is not http(s) never becomes a link.
    settings.TASKRA_PAGE_CACHE = False
    CustomFieldValue.objects.filter(field=fields["site"]).update(values=["javascript:alert(1)"])
    client.force_login(alice)
    page = client.get("/browse/DEMO-1").content.decode()
    assert "javascript:alert(1)" in page and 'href="javascript' not in page


def test_jql_on_custom_fields_by_id_and_by_name(alice, bob, issues):
    assert keys('cf[10010] = "5"', alice) == ["DEMO-1"]
    assert keys("cf[10010] > 6", alice) == ["DEMO-2"]
    assert keys('"Story Points" in (5, 13)', alice) == ["DEMO-1", "DEMO-2"]
    assert keys('Team ~ "core"', alice) == ["DEMO-1"]
    assert keys('"team" = "core team"', alice) == ["DEMO-1"]  # names and values as Jira compares them
    assert keys("Platforms = Mac", alice) == ["DEMO-1"]  # one of several values
    assert keys("Platforms = Ma", alice) == []
    assert keys("cf[10013] >= 2024-02-01", alice) == ["DEMO-2"]
    assert keys("cf[10010] is EMPTY", alice) == ["DEMO-3"]
    assert keys("cf[10010] != 5", alice) == ["DEMO-2"]  # != never matches an empty field, as in Jira
    assert keys('cf[10010] = "5"', bob) == []  # DEMO is not bob's
    with pytest.raises(JQLError, match="is not a number for the field 'cf\\[10010\\]'"):
        keys("cf[10010] > many", alice)
    with pytest.raises(JQLError, match="Unknown field 'cf\\[99\\]'"):
        keys("cf[99] = x", alice)
    with pytest.raises(JQLError):
        keys("Team > 3", alice)  # ranges only on number and date fields


def test_changing_a_fields_type_rereads_its_values(issues, fields):
    field = fields["points"]
    put_value(Issue.objects.get(key="DEMO-3"), CustomField.objects.get(pk=field.pk), "3")
    assert custom_field_update(field=field, name="Points", field_type=CustomFieldType.TEXT) == 0
    assert set(CustomFieldValue.objects.filter(field=field).values_list("number", flat=True)) == {None}
    CustomFieldValue.objects.filter(issue__key="DEMO-3", field=field).update(text="three", values=["three"])
    assert custom_field_update(field=field, name="Points", field_type=CustomFieldType.NUMBER) == 1
    rows = dict(CustomFieldValue.objects.filter(field=field).values_list("issue__key", "number"))
    assert rows == {"DEMO-1": 5.0, "DEMO-2": 13.0, "DEMO-3": None}  # the misfit keeps its text only
    assert CustomField.objects.get(pk=field.pk).name == "Points"


def test_admin_lists_and_edits_fields(client, admin_user, issues, fields):
    client.force_login(admin_user)
    listing = client.get("/admin/issues/customfield/").content.decode()
    assert "Story Points" in listing and "customfield_10010" in listing
    url = f"/admin/issues/customfield/{fields['team'].pk}/change/"
    response = client.post(url, {"name": "Squad", "type": "text"})
    assert response.status_code == 302
    assert CustomField.objects.values_list("name", "type", "jira_id").get(pk=fields["team"].pk) == (
        "Squad",
        "text",
        "customfield_10011",  # read-only: imports find the field by it
    )


def test_a_field_known_by_name_takes_the_jira_id_a_later_source_gives():
    bare = custom_field_get_or_create(field="Story Points", name="Story Points", field_type=None)
    assert (bare.jira_id, bare.type) == ("", "text")
    same = custom_field_get_or_create(field="customfield_10010", name="Story Points", field_type="number")
    assert same.pk == bare.pk and same.jira_id == "customfield_10010" and same.type == "text"  # its type kept
    # Known by id without a name (a search page without expand=names): a later source names it.
    nameless = custom_field_get_or_create(field="customfield_10020", name=None, field_type="labels")
    assert nameless.name == "customfield_10020"
    named = custom_field_get_or_create(field="customfield_10020", name="Sprint", field_type="labels")
    assert named.pk == nameless.pk and named.name == "Sprint"
    # A CSV naming the field finds the one field of that name.
    assert custom_field_get_or_create(field="sprint", name="sprint", field_type=None).pk == named.pk


def test_value_parts_by_type():
    assert value_parts("select", ["Europe", "Paris"]).text == "Europe - Paris"  # a cascading select
    assert value_parts("multiselect", ["A", "B"]).text == "A, B"
    assert value_parts("number", ["1,500"]).number == 1500.0
    assert value_parts("date", ["15/Jan/24"]).date == dt.date(2024, 1, 15)
    moment = value_parts("datetime", ["2024-01-15 10:30"], tz=dt.UTC).moment
    assert moment == dt.datetime(2024, 1, 15, 10, 30, tzinfo=dt.UTC)
    for kind, values, message in (
        ("number", ["1", "2"], "takes one value, got 2: '1, 2'"),
        ("number", ["inf"], "takes a number (e.g. 3 or 2.5), got 'inf'"),
        ("date", ["soon"], "takes a date (e.g. 2024-01-15 or 15/Jan/24), got 'soon'"),
        ("url", ["javascript:alert(1)"], "takes a web address (https://...), got 'javascript:alert(1)'"),
    ):
        with pytest.raises(ValueError, match=message.replace("(", "\\(").replace(")", "\\)").replace(".", "\\.")):
            value_parts(kind, values)
