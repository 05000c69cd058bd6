"""Django admin: every page loads with few queries, and edits go through the services.

Personas: admin_user is a superuser who is a member of no project (admin access comes from
Django's model permissions, not project roles); alice administers DEMO, bob is in OPS.
"""

from __future__ import annotations

import datetime as dt
import os

import pytest
from django.conf import settings
from django.contrib import admin
from django.contrib.auth.models import Group
from django.db import connection, transaction
from django.db.models import Sum
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from issues.models import (
    CacheBump,
    Comment,
    CustomField,
    CustomFieldValue,
    ExportJob,
    History,
    Issue,
    Label,
    Membership,
    NavigatorPreference,
    Priority,
    Project,
    SavedFilter,
    Status,
)
from issues.services import comment_add, issue_update
from taskra_site.pagination import EstimatedCountPaginator
from worklogs.models import Worklog
from worklogs.services import worklog_add

H = 3600
IS_POSTGRES = settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


@pytest.fixture
def filled(project_a, project_b, make_issue, alice, bob, monkeypatch, tmp_path):
    """A few rows in every table the admin shows (attachment files in a temporary directory)."""
    from django.core.files.storage import FileSystemStorage

    from issues.models import Attachment

    for name in ("file", "thumbnail"):
        monkeypatch.setattr(Attachment._meta.get_field(name), "storage", FileSystemStorage(location=str(tmp_path)))
    started = timezone.now().replace(microsecond=0) - dt.timedelta(hours=5)
    parent = make_issue(project_a, summary="Parent", labels=["backend"], original_estimate=8 * H)
    child = make_issue(project_a, summary="Child", parent=parent, assignee=alice)
    ops = make_issue(project_b, summary="Ops thing", reporter=bob)
    issue_update(issue=child, actor=alice, data={"priority": Priority.objects.get(name="High")})
    for seconds in (H, 2 * H):
        worklog_add(issue=parent, author=alice, time_spent=seconds, started=started)
    comment_add(issue=parent, author=alice, body="First!")
    Group.objects.create(name="Support")
    SavedFilter.objects.create(owner=alice, name="Mine", jql="assignee = currentUser()", shared_with=project_a)
    NavigatorPreference.objects.create(user=alice, columns="key,summary", sort="priority", direction="desc")
    CacheBump.objects.create(keys=f"gen:issue:{parent.pk}")  # a page-cache bump waiting for Redis
    from django.core.files.base import ContentFile

    from issues.models import Attachment, IssueKeyAlias, IssueLink, IssueLinkType

    IssueLink.objects.create(type=IssueLinkType.objects.get(name="Blocks"), outward_issue=parent, inward_issue=child)
    IssueKeyAlias.objects.create(key="OLD-1", issue=parent)
    attachment = Attachment(issue=parent, author=alice, filename="a.txt", content_type="text/plain", size=2)
    attachment.file.save("a.txt", ContentFile(b"hi"), save=False)
    attachment.created = started
    attachment.save()
    ExportJob.objects.create(owner=alice, kind="issues", format="csv", params={"jql": "project = DEMO"})
    points = CustomField.objects.create(jira_id="customfield_10010", name="Story Points", type="number")
    CustomFieldValue.objects.create(issue=parent, field=points, text="5", values=["5"], number=5.0)
    return {"parent": parent, "child": child, "ops": ops}


def admin_urls() -> list[tuple[str, str]]:
    """Return (model label, admin url name prefix) for every registered model of our apps."""
    found = []
    for model in admin.site._registry:
        if model._meta.app_label in {"accounts", "issues", "worklogs", "auth"}:
            found.append((model._meta.label, f"admin:{model._meta.app_label}_{model._meta.model_name}"))
    return sorted(found)


def test_every_model_of_our_apps_is_registered():
    from django.apps import apps

    for app_label in ("accounts", "issues", "worklogs"):
        for model in apps.get_app_config(app_label).get_models():
            assert admin.site.is_registered(model), model


@pytest.mark.parametrize(("label", "prefix"), admin_urls())
def test_changelist_loads_with_bounded_queries(admin_client, filled, django_assert_max_num_queries, label, prefix):
    url = reverse(f"{prefix}_changelist")
    # Session, user, the page (one query, related rows joined), the capped count, filter choices.
    with django_assert_max_num_queries(12):
        response = admin_client.get(url)
    assert response.status_code == 200, label


@pytest.mark.parametrize(("label", "prefix"), admin_urls())
def test_change_and_add_pages_load(admin_client, filled, django_assert_max_num_queries, label, prefix):
    from django.apps import apps

    model = apps.get_model(label)
    obj = model.objects.order_by("pk").first()
    assert obj is not None, f"fixture has no {label}"
    with django_assert_max_num_queries(25):
        response = admin_client.get(reverse(f"{prefix}_change", args=[obj.pk]))
    assert response.status_code == 200, label
    # The changelog, the cache outbox, and rows only the product makes (links, attachments, moved keys, export
    # jobs, the time rollup, custom-field values from imports): not by hand.
    if label not in {
        "issues.History",
        "issues.CustomFieldValue",
        "issues.CacheBump",
        "issues.IssueLink",
        "issues.Attachment",
        "issues.IssueKeyAlias",
        "issues.ExportJob",
        "worklogs.WorklogRollup",
    }:
        assert admin_client.get(reverse(f"{prefix}_add")).status_code == 200, label


def test_issue_changelist_does_not_count_the_table(admin_client, filled):
    with CaptureQueriesContext(connection) as ctx:
        response = admin_client.get(reverse("admin:issues_issue_changelist"))
    assert response.status_code == 200
    assert "DEMO-1" in response.text and "3h" in response.text  # formatted time spent
    # Counts of the issue table only: the per-request user query carries the bell's capped unread count.
    counts = [q["sql"] for q in ctx.captured_queries if "COUNT(" in q["sql"].upper() and '"issues_issue"' in q["sql"]]
    # show_full_result_count is off: at most the paginator's own (capped or estimated) count remains.
    assert len(counts) <= 1
    assert all("LIMIT" in sql.upper() for sql in counts)


def test_issue_change_page_uses_autocomplete_not_option_lists(admin_client, filled):
    response = admin_client.get(reverse("admin:issues_issue_change", args=[filled["child"].pk]))
    html = response.text
    # Users and issues are fetched on demand: the page embeds no <option> per user or issue.
    assert "admin-autocomplete" in html
    assert html.count("<option") < 40


def test_user_search_finds_display_name(admin_client, filled):
    response = admin_client.get(reverse("admin:auth_user_changelist"), {"q": "Adams"})
    assert response.status_code == 200
    assert ">alice<" in response.text
    assert ">bob<" not in response.text


def issue_form(issue: Issue, **changes) -> dict:
    data = {
        "summary": issue.summary,
        "description": issue.description,
        "type": issue.type_id,
        "status": issue.status_id,
        "resolution": issue.resolution_id or "",
        "priority": issue.priority_id,
        "labels": list(issue.labels.values_list("pk", flat=True)),
        "parent": issue.parent_id or "",
        "assignee": issue.assignee_id or "",
        "reporter": issue.reporter_id or "",
        "due_date": issue.due_date or "",
        "original_estimate": issue.original_estimate or "",
        "remaining_estimate": issue.remaining_estimate if issue.remaining_estimate is not None else "",
        "_save": "Save",
    }
    data.update(changes)
    return data


def test_admin_issue_edit_goes_through_issue_update(admin_client, admin_user, filled, bob):
    issue = filled["child"]
    done = Status.objects.get(name="Done")
    History.objects.all().delete()

    response = admin_client.post(
        reverse("admin:issues_issue_change", args=[issue.pk]),
        issue_form(issue, summary="Renamed in admin", status=done.pk, assignee=bob.pk),
    )

    assert response.status_code == 302, response.content[:2000]
    issue.refresh_from_db()
    assert (issue.summary, issue.status_id, issue.assignee_id) == ("Renamed in admin", done.pk, bob.pk)
    # Only the changed fields got history, by the admin user; the status change resolved the issue.
    rows = set(History.objects.filter(issue=issue).values_list("field", "from_value", "to_value", "author"))
    assert rows == {
        ("summary", "Child", "Renamed in admin", admin_user.pk),
        ("status", "To Do", "Done", admin_user.pk),
        ("resolution", "", "Done", admin_user.pk),
        ("assignee", "Alice Adams", "Bob Brown", admin_user.pk),
    }
    assert issue.resolution.name == "Done" and issue.resolved is not None


def test_admin_issue_labels_edit_writes_history_once(admin_client, filled):
    issue = filled["parent"]
    ui = Label.objects.create(name="ui")
    History.objects.all().delete()
    response = admin_client.post(
        reverse("admin:issues_issue_change", args=[issue.pk]), issue_form(issue, labels=[ui.pk])
    )
    assert response.status_code == 302
    assert list(issue.labels.values_list("name", flat=True)) == ["ui"]
    assert list(History.objects.values_list("field", "from_value", "to_value")) == [("labels", "backend", "ui")]


def test_admin_issue_parent_in_other_project_is_a_form_error(admin_client, filled):
    issue = filled["child"]
    response = admin_client.post(
        reverse("admin:issues_issue_change", args=[issue.pk]), issue_form(issue, parent=filled["ops"].pk)
    )
    assert response.status_code == 200
    assert "A sub-task must be in its parent" in response.text
    assert Issue.objects.get(pk=issue.pk).parent_id == filled["parent"].pk


def test_admin_issue_add_allocates_the_next_key(admin_client, admin_user, filled, project_a, alice):
    data = issue_form(
        filled["parent"], summary="Made in admin", labels=[], parent="", assignee=alice.pk, remaining_estimate=""
    )
    data["project"] = project_a.pk
    response = admin_client.post(reverse("admin:issues_issue_add"), data)
    assert response.status_code == 302, response.content[:3000]
    created = Issue.objects.get(summary="Made in admin")
    assert created.key == "DEMO-3"
    project_a.refresh_from_db()
    assert project_a.issue_counter == 3
    assert created.time_spent == 0 and created.remaining_estimate == created.original_estimate


def worklog_form(worklog: Worklog | None = None, **changes) -> dict:
    data = {
        "started_0": (worklog.started if worklog else timezone.now()).strftime("%Y-%m-%d"),
        "started_1": (worklog.started if worklog else timezone.now()).strftime("%H:%M:%S"),
        "time_spent": worklog.time_spent if worklog else H,
        "comment": worklog.comment if worklog else "",
        "adjust_estimate": "auto",
        "_save": "Save",
    }
    data.update(changes)
    return data


def sums(issue: Issue) -> tuple[int, int]:
    stored = Issue.objects.get(pk=issue.pk).time_spent
    return stored, Worklog.objects.filter(issue=issue).aggregate(s=Sum("time_spent"))["s"] or 0


def test_admin_worklog_add_edit_delete_keep_time_spent(admin_client, filled, alice):
    issue = filled["parent"]
    assert sums(issue) == (3 * H, 3 * H)

    response = admin_client.post(
        reverse("admin:worklogs_worklog_add"), worklog_form(issue=issue.pk, author=alice.pk, time_spent=1800)
    )
    assert response.status_code == 302, response.content[:3000]
    assert sums(issue) == (3 * H + 1800, 3 * H + 1800)

    worklog = Worklog.objects.order_by("pk").first()
    response = admin_client.post(
        reverse("admin:worklogs_worklog_change", args=[worklog.pk]), worklog_form(worklog, time_spent=4 * H)
    )
    assert response.status_code == 302, response.content[:3000]
    assert sums(issue) == (6 * H + 1800, 6 * H + 1800)
    # auto: the estimate of 8h went down by every logged second.
    assert Issue.objects.get(pk=issue.pk).remaining_estimate == 8 * H - (6 * H + 1800)

    response = admin_client.post(reverse("admin:worklogs_worklog_delete", args=[worklog.pk]), {"post": "yes"})
    assert response.status_code == 302
    assert sums(issue) == (2 * H + 1800, 2 * H + 1800)


def test_admin_worklog_zero_time_is_a_form_error(admin_client, filled):
    worklog = Worklog.objects.first()
    response = admin_client.post(
        reverse("admin:worklogs_worklog_change", args=[worklog.pk]), worklog_form(worklog, time_spent=0)
    )
    assert response.status_code == 200
    assert "more than zero" in response.text
    assert sums(filled["parent"]) == (3 * H, 3 * H)


def test_admin_bulk_delete_action_recalculates_time_spent(
    admin_client, filled, alice, bumps, django_capture_on_commit_callbacks
):
    issue, other = filled["parent"], filled["child"]
    worklog_add(issue=other, author=alice, time_spent=H, started=timezone.now())
    doomed = list(Worklog.objects.filter(issue=issue).order_by("pk").values_list("pk", flat=True))[:1]
    doomed.append(Worklog.objects.get(issue=other).pk)
    bumps.clear()

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            reverse("admin:worklogs_worklog_changelist"),
            {"action": "delete_selected", "_selected_action": doomed, "post": "yes"},
        )

    assert response.status_code == 302
    assert sums(issue) == (2 * H, 2 * H)
    assert sums(other) == (0, 0)
    # Bumped once, after the commit (pagecache.invalidate_on_commit): both issues and their project.
    assert bumps.issues() == {issue.pk: 1, other.pk: 1}
    assert bumps.projects() == {issue.project_id: 1}


def test_history_is_read_only(admin_client, filled):
    row = History.objects.first()
    assert admin_client.get(reverse("admin:issues_history_add")).status_code == 403
    response = admin_client.post(reverse("admin:issues_history_change", args=[row.pk]), {"field": "x"})
    assert response.status_code == 403
    assert History.objects.get(pk=row.pk).field != "x"


def test_admin_comment_add_uses_service(admin_client, filled, bob):
    issue = filled["parent"]
    # bob is not a DEMO member, but the admin may post on his behalf (e.g. fixing an import).
    response = admin_client.post(
        reverse("admin:issues_comment_add"), {"issue": issue.pk, "author": bob.pk, "body": "  via admin  "}
    )
    assert response.status_code == 302, response.content[:2000]
    assert Comment.objects.filter(issue=issue, author=bob, body="via admin").exists()


def test_project_key_is_read_only_once_created(admin_client, filled, project_a):
    response = admin_client.get(reverse("admin:issues_project_change", args=[project_a.pk]))
    assert response.status_code == 200
    assert 'name="key"' not in response.text
    assert Membership.objects.filter(project=project_a).count() == 2


def test_new_user_in_admin_gets_exactly_one_profile(admin_client):
    response = admin_client.post(
        reverse("admin:auth_user_add"),
        {"username": "erin", "password1": "erin-pass-123!x", "password2": "erin-pass-123!x", "usable_password": "true"},
    )
    assert response.status_code == 302, response.content[:2000]
    from accounts.models import Profile

    assert Profile.objects.filter(user__username="erin").count() == 1


def test_paginator_caps_filtered_counts(project_a, make_issue, monkeypatch):
    for _ in range(6):
        make_issue(project_a)
    monkeypatch.setattr(EstimatedCountPaginator, "CAP", 4)
    qs = Issue.objects.filter(project=project_a).order_by("-pk")
    with CaptureQueriesContext(connection) as ctx:
        EstimatedCountPaginator(qs, 2).count  # noqa: B018 - evaluating the property runs the queries
    # Counting stopped after CAP + 1 rows; beyond the cap: the cap itself (or, on PostgreSQL, a larger estimate).
    assert any("LIMIT 5" in q["sql"].upper() for q in ctx.captured_queries)
    assert not any("COUNT(" in q["sql"].upper() and "LIMIT" not in q["sql"].upper() for q in ctx.captured_queries)
    paginator = EstimatedCountPaginator(qs, 2)
    assert paginator.count == 4 or (IS_POSTGRES and paginator.count > 4)
    assert paginator.count_prefix == ("more than " if paginator.count == 4 else "about ")
    monkeypatch.setattr(EstimatedCountPaginator, "CAP", 100)
    exact = EstimatedCountPaginator(qs, 2)
    assert (exact.count, exact.count_prefix) == (6, "")


def test_changelist_says_when_the_count_is_capped(admin_client, filled, monkeypatch):
    monkeypatch.setattr(EstimatedCountPaginator, "CAP", 2)
    text = admin_client.get(reverse("admin:issues_issue_changelist")).text
    assert "more than 2 issues" in text or (IS_POSTGRES and "about " in text)
    monkeypatch.setattr(EstimatedCountPaginator, "CAP", 10_000)
    text = admin_client.get(reverse("admin:issues_issue_changelist")).text
    assert "3 issues" in text and "more than" not in text


@pytest.mark.skipif(not IS_POSTGRES and not os.environ.get("CI"), reason="needs PostgreSQL (DATABASE_URL)")
def test_paginator_estimates_unfiltered_count_on_postgres(project_a, make_issue, monkeypatch):
    assert IS_POSTGRES, "CI must run this test on PostgreSQL"
    for _ in range(20):
        make_issue(project_a)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE issues_issue")
    monkeypatch.setattr(EstimatedCountPaginator, "ESTIMATE_ABOVE", 1)
    with CaptureQueriesContext(connection) as ctx:
        count = EstimatedCountPaginator(Issue.objects.order_by("-pk"), 5).count
    assert count == 20  # ANALYZE of a tiny table samples every row
    assert not any("COUNT(" in q["sql"].upper() for q in ctx.captured_queries)
    assert any("reltuples" in q["sql"] for q in ctx.captured_queries)


def test_project_admin_lists_projects(admin_client, filled):
    response = admin_client.get(reverse("admin:issues_project_changelist"))
    assert {"DEMO", "OPS"} <= {p.key for p in Project.objects.all()}
    assert "Demo project" in response.text


def test_big_changelists_issue_no_query_per_row(admin_client, filled, project_a, make_issue, alice):
    urls = [
        reverse(f"admin:{name}_changelist")
        for name in ("issues_issue", "worklogs_worklog", "issues_comment", "issues_history", "auth_user")
    ]

    def query_counts() -> list[int]:
        counts = []
        for url in urls:
            with CaptureQueriesContext(connection) as ctx:
                assert admin_client.get(url).status_code == 200
            counts.append(len(ctx.captured_queries))
        return counts

    query_counts()  # warm: the first requests replay the fixture's cache bumps and load the kept lookup rows
    before = query_counts()
    for n in range(10):
        issue = make_issue(project_a, summary=f"More {n}", assignee=alice)
        worklog_add(issue=issue, author=alice, time_spent=H, started=timezone.now())
        comment_add(issue=issue, author=alice, body="more")
        issue_update(issue=issue, actor=alice, data={"summary": f"Even more {n}"})
    assert query_counts() == before


def test_autocomplete_finds_users_by_display_name_and_issues_by_key(admin_client, filled):
    url = reverse("admin:autocomplete")
    users = admin_client.get(
        url, {"app_label": "issues", "model_name": "issue", "field_name": "assignee", "term": "Brown"}
    ).json()
    assert [r["text"] for r in users["results"]] == ["bob"]
    issues = admin_client.get(
        url, {"app_label": "issues", "model_name": "issue", "field_name": "parent", "term": "DEMO-1"}
    ).json()
    assert [r["id"] for r in issues["results"]] == [str(filled["parent"].pk)]


def test_project_page_costs_the_same_for_more_members(admin_client, filled, project_a):
    url = reverse("admin:issues_project_change", args=[project_a.pk])
    admin_client.get(url)  # warm: the first request after the fixture's writes replays their page-cache bumps
    with CaptureQueriesContext(connection) as ctx:
        assert admin_client.get(url).status_code == 200
    before = len(ctx.captured_queries)
    from django.contrib.auth import get_user_model

    for n in range(8):
        user = get_user_model().objects.create_user(f"member{n}", password="member-pass-123")
        Membership.objects.create(project=project_a, user=user)
    with CaptureQueriesContext(connection) as ctx:
        response = admin_client.get(url)
    assert "member7" in response.text
    assert len(ctx.captured_queries) == before


def _workflow_inline_data(project, **changes):
    """Return the project page's workflow inlines as they are (the statuses and transitions kept unchanged)."""
    data = {}
    for prefix, rows, fields in (
        (
            "workflow_statuses",
            project.workflow_statuses.order_by("position", "id"),
            ("status", "position", "wip_limit"),
        ),
        ("workflow_transitions", project.workflow_transitions.order_by("id"), ("from_status", "to_status", "name")),
    ):
        rows = list(rows)
        data |= {f"{prefix}-TOTAL_FORMS": len(rows), f"{prefix}-INITIAL_FORMS": len(rows)}
        data |= {f"{prefix}-MIN_NUM_FORMS": 0, f"{prefix}-MAX_NUM_FORMS": 1000}
        for i, row in enumerate(rows):
            data |= {f"{prefix}-{i}-id": row.pk, f"{prefix}-{i}-project": project.pk}
            for name in fields:
                value = getattr(row, f"{name}_id" if name.endswith("status") else name)
                data[f"{prefix}-{i}-{name}"] = "" if value is None else value
    return data | changes


def test_project_workflow_inline_keeps_statuses_issues_are_in(admin_client, project_a, make_issue):
    make_issue(project_a)  # in To Do, the first status of the default workflow
    data = {"name": project_a.name, "description": "", "lead": project_a.lead_id, "_save": "Save"}
    data |= {"memberships-TOTAL_FORMS": 0, "memberships-INITIAL_FORMS": 0, "memberships-2-TOTAL_FORMS": 0}
    data |= {"memberships-2-INITIAL_FORMS": 0}
    data |= _workflow_inline_data(project_a, **{"workflow_statuses-0-DELETE": "on"})
    response = admin_client.post(reverse("admin:issues_project_change", args=[project_a.pk]), data)
    assert response.status_code == 200
    assert "Issues of this project are in To Do: move them first." in response.text


def test_project_inlines_change_a_role_and_add_a_member(admin_client, filled, project_a, carol, bob):
    carols = Membership.objects.get(project=project_a, user=carol)
    others = list(Membership.objects.filter(project=project_a).exclude(pk=carols.pk).order_by("user__username"))
    existing = sorted([carols, *others], key=lambda m: m.user.username)
    data = {
        "name": project_a.name,
        "description": "",
        "lead": project_a.lead_id,
        "_save": "Save",
        "memberships-TOTAL_FORMS": len(existing),
        "memberships-INITIAL_FORMS": len(existing),
        "memberships-MIN_NUM_FORMS": 0,
        "memberships-MAX_NUM_FORMS": 1000,
        "memberships-2-TOTAL_FORMS": 1,
        "memberships-2-INITIAL_FORMS": 0,
        "memberships-2-MIN_NUM_FORMS": 0,
        "memberships-2-MAX_NUM_FORMS": 1000,
        "memberships-2-0-user": bob.pk,
        "memberships-2-0-role": "member",
        "memberships-2-0-project": project_a.pk,
    }
    for i, membership in enumerate(existing):
        data[f"memberships-{i}-id"] = membership.pk
        data[f"memberships-{i}-project"] = project_a.pk
        data[f"memberships-{i}-role"] = "member" if membership.pk == carols.pk else membership.role
    data |= _workflow_inline_data(project_a)

    response = admin_client.post(reverse("admin:issues_project_change", args=[project_a.pk]), data)

    assert response.status_code == 302, response.content[-3000:]
    roles = dict(Membership.objects.filter(project=project_a).values_list("user__username", "role"))
    assert roles == {"alice": "admin", "carol": "member", "bob": "member"}


def test_admin_bulk_delete_of_issues_invalidates_them_and_their_parents(
    admin_client, filled, bumps, django_capture_on_commit_callbacks
):
    child, ops = filled["child"], filled["ops"]
    bumps.clear()
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            reverse("admin:issues_issue_changelist"),
            {"action": "delete_selected", "_selected_action": [child.pk, ops.pk], "post": "yes"},
        )
    assert response.status_code == 302
    assert set(Issue.objects.values_list("key", flat=True)) == {"DEMO-1"}
    assert bumps.issues() == {child.pk: 1, ops.pk: 1, filled["parent"].pk: 1}
    assert bumps.projects() == {child.project_id: 1, ops.project_id: 1}


def test_admin_deletes_one_issue_with_its_history(admin_client, filled):
    child = filled["child"]
    assert History.objects.filter(issue=child).exists()
    url = reverse("admin:issues_issue_delete", args=[child.pk])
    assert admin_client.get(url).status_code == 200
    response = admin_client.post(url, {"post": "yes"})
    assert response.status_code == 302
    assert not Issue.objects.filter(pk=child.pk).exists()
    assert not History.objects.filter(issue_id=child.pk).exists()


def test_admin_deletes_a_project_with_everything_in_it(admin_client, filled, project_a):
    response = admin_client.post(reverse("admin:issues_project_delete", args=[project_a.pk]), {"post": "yes"})
    assert response.status_code == 302
    assert set(Issue.objects.values_list("key", flat=True)) == {"OPS-1"}
    assert not Worklog.objects.exists() and not History.objects.exists()


def test_issue_search_by_key_is_an_exact_key_lookup(admin_client, filled):
    # Any case, leading zeros and spaces: the normalised key is compared with "=" on the unique key index,
    # never UPPER(key) (which no index serves) and never ORed with the summary scan.
    url = reverse("admin:issues_issue_changelist")
    with CaptureQueriesContext(connection) as ctx:
        response = admin_client.get(url, {"q": " demo-01 "})
    assert response.status_code == 200
    assert [row.key for row in response.context["cl"].result_list] == ["DEMO-1"]
    searches = [q["sql"] for q in ctx.captured_queries if "DEMO-1" in q["sql"]]
    assert searches and all("UPPER" not in sql and "LIKE" not in sql.upper() for sql in searches)
    assert all('"issues_issue"."key" = ' in sql for sql in searches)
    # A term that is not a key still searches summaries.
    response = admin_client.get(url, {"q": "parent"})
    assert [row.key for row in response.context["cl"].result_list] == ["DEMO-1"]


@pytest.fixture
def issue_admin(db):
    """A staff member whose admin access is the issue admin's model permissions (a group), not a superuser."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission

    user = get_user_model().objects.create_user("dana", "dana@example.com", "dana-pass-123", is_staff=True)
    group = Group.objects.create(name="Issue administrators")
    group.permissions.add(*Permission.objects.filter(codename__in=("view_issue", "change_issue")))
    user.groups.add(group)
    return user


def test_issue_search_by_key_costs_the_same_for_more_projects(client, issue_admin, filled, alice):
    client.force_login(issue_admin)
    url = reverse("admin:issues_issue_changelist")

    def search() -> tuple[int, str]:
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(url, {"q": "DEMO-1"})
        assert response.status_code == 200
        assert [row.key for row in response.context["cl"].result_list] == ["DEMO-1"]
        return len(ctx.captured_queries), response.text

    search()  # warm: the first request after the fixture's writes replays their page-cache bumps
    before, _ = search()
    for n in range(20):
        Project.objects.create(key=f"P{n}", name=f"Project {n}", lead=alice)
    after, text = search()
    # The project filter is a key box: no query listing projects, no link per project.
    assert after == before
    assert 'name="project"' in text and "P19" not in text
    # Session, user, the staff member's permissions (user's and group's), the page, the capped count, and one
    # query per lookup filter (type, status, priority, resolution): the same at any data size.
    assert after <= 10, after


def test_project_key_filter_narrows_the_issue_list(admin_client, filled):
    url = reverse("admin:issues_issue_changelist")
    response = admin_client.get(url, {"project": " ops "})
    assert response.status_code == 200
    assert [row.key for row in response.context["cl"].result_list] == ["OPS-1"]
    assert 'value="OPS"' in response.text  # the box shows the key it filters on
    # Combined with a search: the box keeps the search term, the search form keeps the project.
    response = admin_client.get(url, {"project": "DEMO", "q": "child"})
    assert [row.key for row in response.context["cl"].result_list] == ["DEMO-2"]
    assert '<input type="hidden" name="q" value="child">' in response.text
    assert '<input type="hidden" name="project" value="DEMO">' in response.text
    # A key no project has lists nothing (never a 500).
    response = admin_client.get(url, {"project": "NOPE"})
    assert response.status_code == 200 and list(response.context["cl"].result_list) == []


def test_staff_without_the_issue_permission_cannot_search_issues(client, filled):
    from django.contrib.auth import get_user_model

    staff = get_user_model().objects.create_user("erin", "erin@example.com", "erin-pass-123", is_staff=True)
    client.force_login(staff)
    response = client.get(reverse("admin:issues_issue_changelist"), {"q": "DEMO-1"})
    assert response.status_code == 403


def test_issue_list_filters_read_the_kept_lookup_rows(
    client, issue_admin, filled, locmem_page_cache, django_capture_on_commit_callbacks
):
    client.force_login(issue_admin)
    url = reverse("admin:issues_issue_changelist")
    client.get(url, {"q": "DEMO-1"})  # warm: the lookup rows are loaded once per process
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url, {"q": "DEMO-1"})
    assert response.status_code == 200
    lookup_tables = ("issues_issuetype", "issues_status", "issues_priority", "issues_resolution")
    assert not [q["sql"] for q in ctx.captured_queries if any(f'FROM "{t}"' in q["sql"] for t in lookup_tables)]
    assert "?priority__id__exact=" in response.text and ">High</a>" in response.text
    # A new status retires the kept rows when it commits (the global generation): the next page lists it.
    # (A savepoint of its own: the fixture's writes hold the test transaction's batch of bumps.)
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        Status.objects.create(name="Blocked", category="in_progress", position=99)
    text = client.get(url, {"q": "DEMO-1"}).text
    assert ">Blocked</a>" in text, text[text.find("By status") : text.find("By status") + 1500]


def test_worklog_list_filters_by_the_worklogs_own_project_key(admin_client, filled):
    url = reverse("admin:worklogs_worklog_changelist")
    demo = admin_client.get(url, {"project": "demo"})
    assert demo.status_code == 200 and len(demo.context["cl"].result_list) == 2  # the fixture's two on DEMO-1
    assert list(admin_client.get(url, {"project": "OPS"}).context["cl"].result_list) == []
