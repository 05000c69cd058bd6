"""Notification pages, the bell and the watch box.

alice (DEMO admin) watches her issues; carol (DEMO viewer) may watch; bob (OPS only) gets 404 on DEMO issues.
"""

from __future__ import annotations

import pytest

from issues.services import comment_add
from notifications import services
from notifications.models import Notification, NotificationSettings, Watch


@pytest.fixture
def issue(project_a, make_issue):
    return make_issue(project_a, summary="Printer on fire")


def _notify(user, issue, n: int) -> None:
    Notification.objects.bulk_create(
        [Notification(user=user, kind="commented", issue=issue, text=f"Line {i}") for i in range(n)]
    )


def test_bell_shows_the_unread_count_without_a_query_of_its_own(client, alice, issue, django_assert_num_queries):
    _notify(alice, issue, 3)
    client.force_login(alice)
    page = client.get("/notifications/settings").content.decode()
    assert 'id="bell-count">3</span>' in page and 'aria-label="Notifications, 3 unread"' in page
    # The count is a column of the per-request user query (the session comes from the cache): user, settings row.
    with django_assert_num_queries(2):
        client.get("/notifications/settings")


def test_bell_caps_its_count(client, alice, issue):
    _notify(alice, issue, 120)
    client.force_login(alice)
    assert 'id="bell-count">99+</span>' in client.get("/notifications/settings").content.decode()


def test_list_page_queries_do_not_grow_with_rows(client, alice, issue, django_assert_num_queries):
    _notify(alice, issue, 5)
    client.force_login(alice)
    client.get("/notifications/")
    # user (with the unread column), the pager's count, the page of rows (issue and actor joined)
    with django_assert_num_queries(3):
        page = client.get("/notifications/").content.decode()
    assert page.count('class="notification unread"') == 5
    assert 'href="/notifications/settings"' in page


def test_mark_all_read_and_checked_read(client, alice, carol, issue):
    _notify(alice, issue, 3)
    _notify(carol, issue, 1)
    client.force_login(alice)
    first = Notification.objects.filter(user=alice).order_by("pk").first()
    assert client.post("/notifications/read", {"id": [first.pk]}).status_code == 302
    assert Notification.objects.filter(user=alice, read=False).count() == 2
    client.post("/notifications/read", {"all": "1"})
    assert not Notification.objects.filter(user=alice, read=False).exists()
    assert Notification.objects.filter(user=carol, read=False).count() == 1  # only one's own


def test_mark_read_without_ids_is_a_clear_400(client, alice):
    client.force_login(alice)
    response = client.post("/notifications/read", {"id": ["x"]})
    assert response.status_code == 400
    assert b"ids are numbers" in response.content


def test_settings_page_saves_the_switches(client, carol):
    client.force_login(carol)
    assert client.get("/notifications/settings").status_code == 200
    response = client.post("/notifications/settings", {"on_status": "on", "on_mentioned": "on"})
    assert response.status_code == 302
    saved = NotificationSettings.objects.get(user=carol)
    assert saved.on_status and saved.on_mentioned and not saved.on_commented and not saved.email


def test_watch_and_unwatch_from_the_issue_page(client, carol, issue):
    client.force_login(carol)  # a viewer may watch
    page = client.get(f"/browse/{issue.key}").content.decode()
    # The shared (cacheable) body holds only the slot; the box is per viewer.
    assert f'data-watch-slot="/browse/{issue.key}/watchers"' in page and 'value="watch"' not in page
    box = client.get(f"/browse/{issue.key}/watchers?fragment=1").content.decode()
    assert 'value="watch"' in box and "Alice Adams" in box  # alice watches what she reported
    assert client.post(f"/browse/{issue.key}/watch", {"action": "watch"})["Location"] == f"/browse/{issue.key}"
    assert Watch.objects.filter(issue=issue, user=carol).exists()
    page = client.get(f"/browse/{issue.key}/watchers").content.decode()  # the no-JavaScript page
    assert 'value="unwatch"' in page and "Carol Clark" in page
    client.post(f"/browse/{issue.key}/watch", {"action": "unwatch", "next": "https://evil.example/"})
    assert not Watch.objects.filter(issue=issue, user=carol).exists()


def test_outsider_cannot_watch_or_see_watchers(client, bob, issue):
    client.force_login(bob)
    assert client.post(f"/browse/{issue.key}/watch", {"action": "watch"}).status_code == 404
    assert client.get(f"/browse/{issue.key}/watchers").status_code == 404
    assert not Watch.objects.filter(user=bob).exists()


def test_bad_watch_action_is_a_400(client, alice, issue):
    client.force_login(alice)
    assert client.post(f"/browse/{issue.key}/watch", {"action": "stare"}).status_code == 400


def test_comment_through_the_page_notifies_the_watcher(client, alice, carol, issue):
    services.watch_add(issue=issue, user=carol)
    comment_add(issue=issue, author=alice, body="Extinguisher ordered")
    services.events_fan_out()
    client.force_login(carol)
    page = client.get("/notifications/").content.decode()
    assert f"Alice Adams commented on {issue.key}: Extinguisher ordered" in page


def test_list_hides_lines_about_projects_one_has_left(client, carol, issue, project_a):
    from issues.models import Membership

    _notify(carol, issue, 1)
    Membership.objects.filter(project=project_a, user=carol).delete()
    client.force_login(carol)
    assert "Line 0" not in client.get("/notifications/").content.decode()
