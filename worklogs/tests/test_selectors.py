"""Worklog selectors (worklogs/selectors.py): filter resolution for the worklog list and reports, the tickets
report's filter, and the reads behind the pickers.

Personas: alice (Europe/Berlin) is admin of DEMO; bob is in OPS only (DEMO is invisible to him, exactly like a
missing project); carol is a DEMO viewer; dave is a member of DEMO and OPS.
"""

from __future__ import annotations

import datetime as dt

import pytest

from issues.models import Status
from worklogs.selectors import (
    ResolvedFilter,
    resolve_tickets_filter,
    resolve_worklog_filter,
    worklog_filter_choices,
    worklog_list,
)
from worklogs.tests.conftest import BERLIN, MON, RANGE


def data(**overrides) -> dict:
    """Return a WorklogFilterForm's cleaned data for the week of MON, narrowed by the overrides."""
    return {"user": [], "project": [], "jql": "", "start": MON, "end": MON + dt.timedelta(days=6), **overrides}


def tickets_data(**overrides) -> dict:
    """Return a TicketsForm's cleaned data (no narrowing), with the overrides."""
    base = {
        "project": "",
        "start": None,
        "end": None,
        "date_field": "updated",
        "status": [],
        "assignee": [],
        "reporter": [],
        "worklog_author": [],
    }
    return {**base, **overrides}


def authors_of(user, res: ResolvedFilter) -> set[str]:
    return {w.author.username for w in worklog_list(user=user, flt=res.flt)}


# --- resolve_worklog_filter ---------------------------------------------------------------------------------


def test_no_narrowing_covers_what_the_user_sees(dave, week_logs):
    # dave is in DEMO and OPS: the whole week of both, nothing from the week before.
    res = resolve_worklog_filter(user=dave, data=data(), tz=BERLIN)
    assert res.errors == [] and res.notices == []
    assert (res.flt.start, res.flt.end, res.flt.tz) == (MON, MON + dt.timedelta(days=6), BERLIN)
    assert authors_of(dave, res) == {"alice", "bob", "dave"}


def test_named_users_and_projects_narrow(dave, week_logs):
    res = resolve_worklog_filter(user=dave, data=data(user=["alice", "bob"], project=["ops"]), tz=BERLIN)
    assert [u.username for u in res.users] == ["alice", "bob"] and [p.key for p in res.projects] == ["OPS"]
    assert res.flt.project_ids == (res.projects[0].pk,)
    assert authors_of(dave, res) == {"bob"}


def test_unknown_names_are_notices_and_match_nothing(alice, week_logs):
    res = resolve_worklog_filter(user=alice, data=data(user=["zed"], project=["NOPE"]), tz=BERLIN)
    assert res.notices == [
        "No user 'zed' shares a project with you; left out.",
        "No project 'NOPE' that you are a member of; it shows nothing.",
    ]
    assert res.errors == [] and list(worklog_list(user=alice, flt=res.flt)) == []


def test_a_user_sharing_no_project_is_unknown(alice, bob, week_logs):
    # bob is only in OPS, alice only in DEMO: bob's name is unknown to alice, and so is OPS.
    res = resolve_worklog_filter(user=alice, data=data(user=["bob"]), tz=BERLIN)
    assert res.users == [] and res.notices == ["No user 'bob' shares a project with you; left out."]
    assert list(worklog_list(user=alice, flt=res.flt)) == []


def test_jql_narrows_to_its_issues(alice, week_logs, demo_issue):
    res = resolve_worklog_filter(user=alice, data=data(jql=f"key = {demo_issue.key}"), tz=BERLIN)
    assert res.jql == f"key = {demo_issue.key}"
    assert {w.issue_id for w in worklog_list(user=alice, flt=res.flt)} == {demo_issue.pk}


def test_bad_jql_is_an_error_and_no_filter(alice):
    res = resolve_worklog_filter(user=alice, data=data(jql="project == "), tz=BERLIN)
    assert res.flt is None and len(res.errors) == 1 and res.errors[0].startswith("JQL: ")


def test_choices_list_colleagues_and_visible_projects_with_the_chosen_marked(dave, carol, week_logs):
    res = resolve_worklog_filter(user=dave, data=data(user=["carol"], project=["DEMO"]), tz=BERLIN)
    choices = worklog_filter_choices(user=dave, chosen=res)
    # dave shares DEMO with alice and carol and OPS with bob.
    assert [(u, chosen) for u, _name, chosen in choices["user_choices"]] == [
        ("alice", False),
        ("bob", False),
        ("carol", True),
        ("dave", False),
    ]
    assert ("carol", "Carol Clark", True) in choices["user_choices"]
    assert choices["project_choices"] == [("DEMO", "Demo project", True), ("OPS", "Operations", False)]


def test_choices_are_a_fixed_number_of_queries(dave, week_logs, django_assert_num_queries):
    res = resolve_worklog_filter(user=dave, data=data(), tz=BERLIN)
    with django_assert_num_queries(2):
        worklog_filter_choices(user=dave, chosen=res)


# --- the same rules seen through the worklog list page ---------------------------------------------------


def test_unknown_user_and_project_are_notices(alice_client, week_logs):
    response = alice_client.get(f"/worklogs/?{RANGE}&user=zed&project=NOPE")
    notices = " ".join(response.context["notices"])
    assert "No user 'zed'" in notices and "No project 'NOPE'" in notices
    assert response.context["entries"] == []  # asked only for unknowns: nothing, never everything


def test_project_user_cannot_see_answers_like_a_missing_one(client, bob, week_logs):
    # bob asks for DEMO (exists, not his) and XYZ (missing): same notice, nothing of DEMO shown.
    client.force_login(bob)
    response = client.get(f"/worklogs/?{RANGE}&project=DEMO&project=XYZ")
    assert response.context["notices"] == [
        "No project 'DEMO' that you are a member of; it shows nothing.",
        "No project 'XYZ' that you are a member of; it shows nothing.",
    ]
    assert response.context["entries"] == []
    everything = client.get(f"/worklogs/?{RANGE}")
    assert {e["issue_key"] for e in everything.context["entries"]} == {"OPS-1"}


# --- resolve_tickets_filter ---------------------------------------------------------------------------------


def test_tickets_default_to_the_first_visible_project(dave, project_a, project_b):
    res = resolve_tickets_filter(user=dave, data=tickets_data(), tz=BERLIN)
    assert [p.key for p in res.projects] == ["DEMO", "OPS"] and res.project.key == "DEMO"
    assert res.flt.project_id == project_a.pk and res.empty is False and res.notices == []


def test_tickets_of_a_hidden_project_are_like_a_missing_one(bob, project_a, project_b):
    for key in ("demo", "XYZ"):
        res = resolve_tickets_filter(user=bob, data=tickets_data(project=key), tz=BERLIN)
        assert res.project is None and res.flt is None
        assert res.notices == [f"No project '{key.upper()}' that you are a member of; it shows nothing."]


def test_tickets_invalid_form_resolves_only_the_project_list(alice, project_a):
    res = resolve_tickets_filter(user=alice, data=None, tz=BERLIN)
    assert [p.key for p in res.projects] == ["DEMO"] and res.project is None and res.flt is None


def test_tickets_names_resolve_to_ids(alice, dave, project_a):
    doing = Status.objects.get(name="In Progress")
    res = resolve_tickets_filter(
        user=alice,
        data=tickets_data(status=["in progress"], assignee=["dave", "unassigned"], reporter=["alice"]),
        tz=BERLIN,
    )
    assert res.flt.status_ids == (doing.pk,)
    assert res.flt.assignee_ids == (dave.pk,) and res.flt.unassigned is True
    assert res.flt.reporter_ids == (alice.pk,) and res.empty is False and res.notices == []


@pytest.mark.parametrize(
    ("narrowing", "notice"),
    [
        ({"status": ["Nope"]}, "No status 'Nope'; left out."),
        ({"assignee": ["zed"]}, "No user 'zed' shares a project with you; left out."),
        ({"worklog_author": ["bob"]}, "No user 'bob' shares a project with you; left out."),  # bob: OPS only
    ],
)
def test_tickets_filters_that_all_fail_show_nothing(alice, bob, project_a, narrowing, notice):
    res = resolve_tickets_filter(user=alice, data=tickets_data(**narrowing), tz=BERLIN)
    assert res.empty is True and res.notices == [notice]


def test_tickets_unassigned_alone_is_not_a_failed_filter(alice, project_a):
    res = resolve_tickets_filter(user=alice, data=tickets_data(assignee=["None"]), tz=BERLIN)
    assert res.empty is False and res.flt.unassigned is True and res.notices == []
