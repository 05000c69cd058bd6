"""The display-name rule (accounts.models): one rule for every place that shows a person.

Personas: alice administers DEMO and logs time there. Her name is varied per case: a profile name wins,
else her full name, else her username. Every reader (the Python function, the SQL expression, the adapters'
user refs, the navigator's assignee groups, the time report) must print the same name.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from django.contrib.auth import get_user_model

from accounts.adapters import load_user_refs, user_from_columns
from accounts.models import Profile, display_name, display_name_expression
from issues.models import Issue
from issues.selectors import navigator_group_counts
from worklogs.reports import time_report
from worklogs.selectors import WorklogFilter
from worklogs.services import worklog_add

User = get_user_model()

CASES = [
    # (profile display name, first name, last name, expected)
    ("Alice Adams", "Al", "Ice", "Alice Adams"),
    ("", "Al", "Ice", "Al Ice"),
    ("", "", "", "alice"),
]


def _function(user, issue) -> str:
    return display_name(User.objects.select_related("profile").get(pk=user.pk))


def _sql(user, issue) -> str:
    return User.objects.filter(pk=user.pk).annotate(shown=display_name_expression()).values_list("shown", flat=True)[0]


def _sql_through_a_relation(user, issue) -> str:
    rows = Issue.objects.filter(pk=issue.pk).annotate(shown=display_name_expression("assignee__"))
    return rows.values_list("shown", flat=True)[0]


def _adapter_user_ref(user, issue) -> str:
    return user_from_columns(*load_user_refs([user.pk])[user.pk])["display_name"]


def _navigator_group(user, issue) -> str:
    groups = navigator_group_counts(Issue.objects.filter(pk=issue.pk), "assignee")
    return groups[0]["label"]


def _time_report(user, issue) -> str:
    flt = WorklogFilter(start=dt.date(2026, 3, 2), end=dt.date(2026, 3, 8), tz=dt.UTC)
    return time_report(user=user, flt=flt, group="user").rows[0].label


READERS: list[Callable] = [_function, _sql, _sql_through_a_relation, _adapter_user_ref, _navigator_group, _time_report]


@pytest.mark.parametrize(("profile_name", "first", "last", "expected"), CASES)
@pytest.mark.parametrize("read", READERS, ids=lambda f: f.__name__.strip("_"))
def test_every_reader_shows_the_same_name(alice, project_a, make_issue, read, profile_name, first, last, expected):
    alice.first_name, alice.last_name = first, last
    alice.save(update_fields=["first_name", "last_name"])
    Profile.objects.filter(user=alice).update(display_name=profile_name)
    issue = make_issue(project_a, assignee=alice)
    worklog_add(issue=issue, author=alice, time_spent=3600, started=dt.datetime(2026, 3, 3, 9, tzinfo=dt.UTC))
    assert read(alice, issue) == expected


def test_display_name_of_nobody_is_empty():
    assert display_name(None) == ""
