"""Custom fields from every Jira format kept as custom-field values; what Jira JSON carries beyond them counted.

Personas: alice is admin of DEMO (she may not add site-wide look-ups, custom fields among them); the command line
(no user) may. Files come from imports.tests.jira_files.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.test import override_settings

from imports import chunks, services
from imports.models import ImportChunk, JobState
from imports.tests import jira_files
from imports.tests.conftest import jira_issue, write_jira_json
from imports.tests.test_formats import import_file
from issues.models import CustomField, CustomFieldType, CustomFieldValue, Issue
from issues.tests.conftest import reset_all


def values_of(key: str) -> dict[str, str]:
    return dict(CustomFieldValue.objects.filter(issue__key=key).values_list("field__name", "text"))


# --------------------------------------------------------------------------------------------- Jira CSV


@pytest.mark.django_db
def test_csv_custom_field_columns_become_values_and_a_second_run_changes_nothing(tmp_path, project_a):
    rows = [{"key": "DEMO-1", "id": "100", "points": "5"}, {"key": "DEMO-2", "id": "101"}]
    path = jira_files.cloud_csv(tmp_path / "c.csv", rows)
    job = import_file(path)  # the command line may add the field
    assert job.state == JobState.SUCCEEDED, list(job.errors.values_list("message", flat=True))
    field = CustomField.objects.get()
    assert (field.name, field.jira_id, field.type) == ("Story Points", "", CustomFieldType.TEXT)
    assert values_of("DEMO-1") == {"Story Points": "5"} and values_of("DEMO-2") == {}
    assert "custom field 'Story Points'" not in str(job.summary.get("not_kept"))
    again = import_file(path)
    assert (again.created_count, again.updated_count, again.unchanged_count) == (0, 0, 2)
    assert CustomFieldValue.objects.count() == 1


@pytest.mark.django_db
def test_csv_value_a_typed_field_cannot_take_is_a_row_error_naming_field_and_value(tmp_path, project_a, alice):
    # An administrator made Story Points a number field before; alice imports into DEMO.
    CustomField.objects.create(name="Story Points", type=CustomFieldType.NUMBER)
    rows = [{"key": "DEMO-1", "id": "100", "points": "five"}, {"key": "DEMO-2", "id": "101", "points": "2.5"}]
    job = import_file(jira_files.cloud_csv(tmp_path / "c.csv", rows), alice)
    assert job.state == JobState.SUCCEEDED_WITH_ERRORS
    error = job.errors.get()
    assert (error.issue_key, error.field) == ("DEMO-1", "custom_fields.Story Points")
    assert error.message == "Custom field 'Story Points' (Number) takes a number (e.g. 3 or 2.5), got 'five'."
    assert not Issue.objects.filter(key="DEMO-1").exists()  # rejected like any record with a bad value
    assert CustomFieldValue.objects.values_list("issue__key", "number").get() == ("DEMO-2", 2.5)
    # Emptying the cell in the source empties the value; a file without the column leaves it alone.
    job = import_file(jira_files.cloud_csv(tmp_path / "d.csv", [{"key": "DEMO-2", "id": "101"}]), alice)
    assert job.state == JobState.SUCCEEDED and job.updated_count == 1
    assert not CustomFieldValue.objects.exists()


# --------------------------------------------------------------------------------------------- Jira XML


@pytest.mark.django_db
def test_xml_custom_fields_keep_their_jira_id(tmp_path, project_a):
    path = jira_files.rss_xml(tmp_path / "search.xml", [{"key": "DEMO-1", "id": "201", "summary": "One"}])
    job = import_file(path)
    assert job.state == JobState.SUCCEEDED, list(job.errors.values_list("message", flat=True))
    field = CustomField.objects.get()
    assert (field.jira_id, field.name) == ("customfield_10016", "Story Points")
    assert values_of("DEMO-1") == {"Story Points": "3"}
    assert "custom field values" not in job.summary.get("not_kept", {})


# --------------------------------------------------------------------------------------------- Jira site backup


@pytest.mark.django_db
def test_site_backup_custom_fields_typed_by_jira_type_options_resolved(tmp_path):
    job = import_file(jira_files.backup_zip(tmp_path / "b.zip"))
    assert job.state == JobState.SUCCEEDED, list(job.errors.values_list("message", flat=True))
    fields = {f.name: (f.jira_id, f.type) for f in CustomField.objects.all()}
    assert fields == {
        "Story Points": ("customfield_10010", "number"),
        "Team": ("customfield_10011", "select"),
        "Platforms": ("customfield_10012", "multiselect"),
        "Go live": ("customfield_10013", "date"),
    }
    rows = {
        v.field.name: (v.text, v.values, v.number, v.date)
        for v in CustomFieldValue.objects.select_related("field").filter(issue__key="DEMO-1")
    }
    assert rows == {
        "Story Points": ("5", ["5"], 5.0, None),
        "Team": ("Core", ["Core"], None, None),
        "Platforms": ("Linux, Mac", ["Linux", "Mac"], None, None),
        "Go live": ("2024-03-01", ["2024-03-01"], None, dt.date(2024, 3, 1)),
    }
    assert not any("custom field" in kind for kind in job.summary["not_kept"])
    again = import_file(jira_files.backup_zip(tmp_path / "b.zip"))
    assert (again.created_count, again.updated_count, again.unchanged_count) == (0, 0, 4)
    assert CustomFieldValue.objects.count() == 4


# --------------------------------------------------------------------------------------------- Jira JSON


def _issue_with_extras() -> dict:
    return jira_issue(
        1,
        customfield_10010=3.0,
        customfield_10011={"self": "https://jira.example/rest/api/2/customFieldOption/1", "value": "Core", "id": "1"},
        customfield_10012=None,
        customfield_10013=[{"value": "Linux"}, {"value": "Mac"}],
        customfield_10014={"accountId": "acc-9", "displayName": "Dee Dev"},
        environment="Production",
        fixVersions=[{"name": "1.0"}, {"name": "1.1"}],
        versions=[{"name": "0.9"}],
        components=[{"name": "API"}],
        votes={"votes": 2, "hasVoted": False},
        watches={"watchCount": 3, "isWatching": False},
        timetracking={"originalEstimate": "2h", "originalEstimateSeconds": 7200},
        aggregateprogress={"progress": 0, "total": 0},
        issuelinks=[],
        security={"name": "Internal"},
    )


@pytest.mark.django_db
def test_json_custom_fields_are_kept_and_unmapped_fields_counted_by_kind(tmp_path, project_a):
    issue = _issue_with_extras()
    issue["names"] = {"customfield_10010": "Story Points", "customfield_10011": "Team"}  # expand=names
    issue["changelog"] = {"histories": [{"items": [{"field": "status"}, {"field": "assignee"}]}]}
    path = tmp_path / "DEMO-1.json"
    path.write_text(json.dumps(issue))
    job = import_file(path)
    assert job.state == JobState.SUCCEEDED, list(job.errors.values_list("message", flat=True))
    fields = {f.jira_id: (f.name, f.type) for f in CustomField.objects.all()}
    assert fields == {
        "customfield_10010": ("Story Points", "number"),
        "customfield_10011": ("Team", "select"),
        "customfield_10013": ("customfield_10013", "multiselect"),  # no name in the file: its id until one comes
        "customfield_10014": ("customfield_10014", "user"),
    }
    assert values_of("DEMO-1") == {
        "Story Points": "3",
        "Team": "Core",
        "customfield_10013": "Linux, Mac",
        "customfield_10014": "Dee Dev",
    }
    # Counted by kind, one per value: nothing dropped silently. Estimates (timetracking) and progress repeat
    # what Taskra keeps or computes; an empty list (issuelinks) is nothing.
    assert job.summary["not_kept"] == {
        "environment": 1,
        "fix versions": 2,
        "affects versions": 1,
        "components": 1,
        "votes": 2,
        "watchers": 3,
        "security levels": 1,
        "change history entries": 2,
    }


@pytest.mark.django_db
def test_json_search_page_counts_extras_per_chunk_and_a_second_run_changes_nothing(tmp_path, project_a):
    issues = [jira_issue(n, customfield_10010=n, components=[{"name": "API"}]) for n in (1, 2, 3)]
    path = write_jira_json(tmp_path / "page.json", issues)
    job = import_file(path)
    assert job.state == JobState.SUCCEEDED, list(job.errors.values_list("message", flat=True))
    assert job.summary["not_kept"] == {"components": 3}
    assert sorted(CustomFieldValue.objects.values_list("number", flat=True)) == [1.0, 2.0, 3.0]
    again = import_file(path)
    assert again.unchanged_count == 3 and CustomFieldValue.objects.count() == 3
    # A value emptied in Jira (null) goes here too.
    issues[0]["fields"]["customfield_10010"] = None
    job = import_file(write_jira_json(tmp_path / "page2.json", issues))
    assert job.updated_count == 1 and CustomFieldValue.objects.count() == 2


@pytest.mark.django_db
def test_json_custom_field_the_site_lacks_is_counted_for_who_may_not_add_one(tmp_path, project_a, alice):
    CustomField.objects.create(jira_id="customfield_10011", name="Team", type=CustomFieldType.SELECT)
    path = write_jira_json(tmp_path / "page.json", [_issue_with_extras()])
    job = import_file(path, alice)
    assert job.state == JobState.SUCCEEDED, list(job.errors.values_list("message", flat=True))
    assert values_of("DEMO-1") == {"Team": "Core"}  # the field that exists takes its value
    assert CustomField.objects.count() == 1
    not_kept = job.summary["not_kept"]
    for field_id in ("customfield_10010", "customfield_10013", "customfield_10014"):
        assert not_kept[f"custom field '{field_id}' (no such field here: an administrator adds it)"] == 1


@pytest.mark.django_db
def test_chunk_tasks_count_json_extras_and_store_custom_fields_too(tmp_path, project_a, settings):
    # A search page cut into chunk tasks (imports.chunks), run here one after the other: the same summary.
    settings.IMPORTS_CHUNK_SIZE = 2
    issues = [jira_issue(n, customfield_10010=n, components=[{"name": "API"}]) for n in (1, 2, 3)]
    path = write_jira_json(tmp_path / "page.json", issues)
    job = services.import_job_create(user=None, paths=[path], enqueue=False, options={})
    claim = services.job_claim(job_id=job.pk, owner="test")
    chunks.import_plan(job=claim.job, owner="test", sources=services.job_sources(claim.job), queue=None)
    planned = list(ImportChunk.objects.filter(job=job).order_by("index").values_list("pk", flat=True))
    assert len(planned) == 2
    for chunk_id in planned:
        chunks.chunk_run(chunk_id=chunk_id, owner="test")
    job.refresh_from_db()
    assert job.created_count == 3 and job.summary["not_kept"] == {"components": 3}
    assert sorted(CustomFieldValue.objects.values_list("number", flat=True)) == [1.0, 2.0, 3.0]


@pytest.mark.django_db
def test_a_changed_value_alone_retires_the_cached_issue_page(
    tmp_path, project_a, alice, client, django_capture_on_commit_callbacks
):
    # Only the custom field changes between the two files: the issue row is unchanged, its cached page is not.
    caches = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "cf-page-cache"}}
    with override_settings(CACHES=caches, TASKRA_PAGE_CACHE=True):
        reset_all()
        with django_capture_on_commit_callbacks(execute=True):
            import_file(write_jira_json(tmp_path / "a.json", [jira_issue(1, customfield_10010=3)]))
        client.force_login(alice)
        assert ">3</dd>" in client.get("/browse/DEMO-1").content.decode()  # cached now
        with django_capture_on_commit_callbacks(execute=True):
            job = import_file(write_jira_json(tmp_path / "b.json", [jira_issue(1, customfield_10010=8)]))
        assert job.updated_count == 1
        page = client.get("/browse/DEMO-1").content.decode()
        reset_all()
    assert ">8</dd>" in page and ">3</dd>" not in page
