"""Events -> notifications -> digests, through the real issue and worklog services.

alice (DEMO admin) reports the issues; carol (DEMO viewer) watches; dave (DEMO member) changes things; bob (OPS
only) may not see DEMO, so he never hears of it, even when mentioned.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail
from django.db import transaction

from issues import events
from issues.models import Membership, Status
from issues.services import comment_add, issue_update
from notifications import services
from notifications.models import Notification, NotificationSettings, PendingEvent, Watch
from worklogs.services import worklog_add

NOW = dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.UTC)


def _lines(user) -> list[tuple[str, str]]:
    return list(Notification.objects.filter(user=user).order_by("pk").values_list("kind", "text"))


@pytest.fixture
def issue(project_a, make_issue, alice, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):  # as if committed: its flush hook is done with
        created = make_issue(project_a, summary="Login fails")
    services.events_fan_out(now=NOW)  # the creation's event: only alice watches, and she made it
    return created


def test_watcher_hears_of_a_change_by_another_and_the_actor_hears_nothing(issue, alice, carol, dave):
    services.watch_add(issue=issue, user=carol)
    issue_update(issue=issue, actor=dave, data={"status": Status.objects.get(name="In Progress")})
    services.events_fan_out(now=NOW)
    assert _lines(carol) == [("status", f"Dave Diaz changed the status of {issue.key} to In Progress")]
    assert _lines(alice) == [("status", f"Dave Diaz changed the status of {issue.key} to In Progress")]  # reporter
    assert _lines(dave) == []  # never about one's own actions
    assert not PendingEvent.objects.exists()


def test_reporter_assignee_and_commenter_watch_automatically(issue, alice, dave, carol):
    issue_update(issue=issue, actor=alice, data={"assignee": dave})
    comment_add(issue=issue, author=carol, body="Seen it too", check_permission=False)
    watchers = set(Watch.objects.filter(issue=issue).values_list("user__username", flat=True))
    assert watchers == {"alice", "dave", "carol"}
    services.events_fan_out(now=NOW)
    assert [k for k, _ in _lines(dave)] == ["assigned", "commented"]


def test_mention_notifies_only_people_who_may_see_the_issue(issue, alice, bob, dave):
    # bob is in OPS only: his mention is stored as text, he gets nothing and nothing tells alice he exists.
    comment_add(issue=issue, author=alice, body="@dave and @bob please look", check_permission=False)
    services.events_fan_out(now=NOW)
    assert _lines(dave) == [("mentioned", f"Alice Adams mentioned you on {issue.key}: @dave and @bob please look")]
    assert _lines(bob) == []
    assert not Watch.objects.filter(user=bob).exists()


def test_watcher_who_left_the_project_is_not_told(issue, carol, dave, project_a):
    services.watch_add(issue=issue, user=carol)
    comment_add(issue=issue, author=dave, body="Fixed on staging")
    Membership.objects.filter(project=project_a, user=carol).delete()  # before the fan-out: re-checked there
    services.events_fan_out(now=NOW)
    assert _lines(carol) == []


def test_worklog_on_my_issue_is_told_to_the_reporter(issue, alice, dave):
    worklog_add(issue=issue, author=dave, time_spent=5400, started=NOW)
    services.events_fan_out(now=NOW)
    assert _lines(alice) == [("worklog", f"Dave Diaz logged 1h 30m on {issue.key}")]


def test_settings_turn_a_kind_off(issue, carol, dave):
    services.watch_add(issue=issue, user=carol)
    services.settings_update(user=carol, values={"on_commented": False})
    comment_add(issue=issue, author=dave, body="Quiet please")
    issue_update(issue=issue, actor=dave, data={"status": Status.objects.get(name="Done")})
    services.events_fan_out(now=NOW)
    assert [k for k, _ in _lines(carol)] == ["status"]


def test_rolled_back_write_leaves_no_event(issue, dave):
    with transaction.atomic():
        try:
            with transaction.atomic():
                comment_add(issue=issue, author=dave, body="Never committed")
                raise RuntimeError
        except RuntimeError:
            pass
    assert not PendingEvent.objects.exists()


def test_one_flush_per_transaction(issue, dave, monkeypatch, django_capture_on_commit_callbacks):
    flushes: list[int] = []
    monkeypatch.setattr(events, "_flushers", [lambda: flushes.append(1)])
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        comment_add(issue=issue, author=dave, body="One")
        comment_add(issue=issue, author=dave, body="Two @alice")  # a comment and a mention event
    assert flushes == [1]
    assert PendingEvent.objects.count() == 3


def test_events_of_a_held_block_flush_once_at_its_end(issue, dave, monkeypatch, django_capture_on_commit_callbacks):
    flushes: list[int] = []
    monkeypatch.setattr(events, "_flushers", [lambda: flushes.append(1)])
    with django_capture_on_commit_callbacks(execute=True), events.held():
        for body in ("One", "Two", "Three"):
            with transaction.atomic():
                comment_add(issue=issue, author=dave, body=body)
        assert flushes == []
    assert flushes == [1]


def test_digest_batches_the_window_into_one_email_with_an_unsubscribe_link(issue, carol, dave, client):
    services.watch_add(issue=issue, user=carol)
    comment_add(issue=issue, author=dave, body="First")
    services.events_fan_out(now=NOW)
    comment_add(issue=issue, author=dave, body="Second")
    services.events_fan_out(now=NOW + dt.timedelta(seconds=10))
    due = NotificationSettings.objects.get(user=carol).digest_due
    assert due == NOW + dt.timedelta(seconds=300)  # the first event set it; the second waits for the same e-mail
    assert services.digest_send(user_id=carol.pk) == 2
    assert services.digest_send(user_id=carol.pk) == 0  # nothing twice
    [message] = [m for m in mail.outbox if m.to == ["carol@example.com"]]
    assert "Dave Diaz commented on " + issue.key + ": First" in message.body
    assert "Second" in message.body
    unsubscribe = message.extra_headers["List-Unsubscribe"].strip("<>")
    path = unsubscribe.removeprefix("http://localhost:8000")
    assert client.get(path).status_code == 200  # no login needed: the token is the key
    assert client.post(path).status_code == 200
    assert NotificationSettings.objects.get(user=carol).email is False


def test_forged_unsubscribe_token_is_refused(client, carol):
    token = services.unsubscribe_token(user_id=carol.pk)
    response = client.post(f"/notifications/unsubscribe/{token[:-2]}xx")
    assert response.status_code == 400
    assert b"not valid" in response.content
    assert not NotificationSettings.objects.filter(user=carol, email=False).exists()


def test_digest_leaves_out_issues_the_person_can_no_longer_see(issue, carol, dave, project_a):
    services.watch_add(issue=issue, user=carol)
    comment_add(issue=issue, author=dave, body="Secret plans")
    services.events_fan_out(now=NOW)
    Membership.objects.filter(project=project_a, user=carol).delete()
    assert services.digest_send(user_id=carol.pk) == 0
    assert not [m for m in mail.outbox if m.to == ["carol@example.com"]]


def test_bulk_job_tells_each_watcher_once(project_a, make_issue, alice, carol, dave):
    # A job of 3 chunks over 7 issues carol watches: one notification and one e-mail for carol (the one flush per
    # job is test_events_of_a_held_block_flush_once_at_its_end; imports.services holds the job's events).
    from imports.services import bulk_update_job_create, job_run

    issues = [make_issue(project_a, summary=f"Bulk {n}") for n in range(7)]
    for i in issues:
        services.watch_add(issue=i, user=carol)
    services.events_fan_out(now=NOW)
    Notification.objects.all().delete()
    job = bulk_update_job_create(
        user=dave,
        changes={"priority": "High"},
        issue_ids=[i.pk for i in issues],
        options={"chunk_size": 3},
        enqueue=False,
    )
    job_run(job_id=job.pk)
    assert PendingEvent.objects.filter(kind="bulk").count() == 3  # one per chunk transaction
    services.events_fan_out(now=NOW)
    assert _lines(carol) == [
        ("bulk", "Dave Diaz changed 7 issues in one bulk change, issues you watch among them (Priority: High)")
    ]
    assert [k for k, _ in _lines(alice)] == ["bulk"]  # she reported them, so she watches them too: one line
    assert _lines(dave) == []  # the actor
    assert services.digest_send(user_id=carol.pk) == 1
    assert len([m for m in mail.outbox if m.to == ["carol@example.com"]]) == 1
