"""The issue page's cached parts on a real Redis: shared bodies keep per-user parts per user, the fast path, the LRU.

Runs when REDIS_URL is set (CI always sets it: there a missing REDIS_URL fails instead of skipping).

Personas: alice is admin of DEMO, carol a viewer in DEMO, bob a member of OPS only (404 on DEMO).

Tests that write after a cached read use `lookups` (a transactional test): a write bumps the generations
when it commits, which the rolled-back transaction of a plain `db` test never does.
"""

from __future__ import annotations

import re

import pytest

from issues import pagecache
from issues.issuepage import cached as issuepage
from issues.lru import IssueLRU
from issues.tests.conftest import IN_CI, REDIS_URL, run_in_other_process
from taskra_site import sharedcache

pytestmark = [
    pytest.mark.services,
    pytest.mark.skipif(not REDIS_URL and not IN_CI, reason="REDIS_URL is not set (runs in CI on a real Redis)"),
]


def test_get_cached_issue_on_redis_sees_other_process_write_and_stays_bounded(
    redis_prefix, lookups, project_a, make_issue, monkeypatch
):
    monkeypatch.setattr(issuepage, "issue_lru", IssueLRU(4))
    issues = [make_issue(project_a, summary=f"lru {i}") for i in range(6)]
    for issue in issues:
        assert issuepage.get_cached_issue(issue.key).summary == issue.summary
    assert len(issuepage.issue_lru) == 4
    hot = issues[-1]
    # Another process writes (a plain UPDATE plus the bump a bulk job does): the LRU must not serve the old row.
    script = (
        "import django; django.setup()\n"
        "from issues.models import Issue\nfrom issues import pagecache\n"
        f"Issue.objects.filter(pk={hot.pk}).update(summary='changed elsewhere')\n"
        f"pagecache.invalidate_issues([{hot.pk}], [{hot.project_id}])\n"
    )
    run_in_other_process(script, redis_prefix)
    assert issuepage.get_cached_issue(hot.key).summary == "changed elsewhere"


def test_viewer_never_gets_editor_body(redis_prefix, client, project_a, make_issue, alice, carol):
    # alice (admin) fills the shared body entry first; carol (viewer) must not get her forms.
    issue = make_issue(project_a, summary="Shared body")
    client.force_login(alice)
    client.get(f"/browse/{issue.key}")
    assert b'id="add-comment"' in client.get(f"/browse/{issue.key}").content
    client.force_login(carol)
    page = client.get(f"/browse/{issue.key}").content
    assert b"Shared body" in page
    assert b'id="add-comment"' not in page


def test_form_and_csrf_tokens_are_fresh_on_every_cached_page(redis_prefix, client, project_a, make_issue, alice):

    issue = make_issue(project_a)
    client.force_login(alice)
    first = client.get(f"/browse/{issue.key}").content.decode()
    second = client.get(f"/browse/{issue.key}").content.decode()
    assert pagecache.cache_metrics()["issue_body"]["hits"] >= 1
    tokens = re.findall(r'name="form_token" value="([^"]+)"', first + second)
    assert len(tokens) >= 2 and len(set(tokens)) == len(tokens)  # never shared, never reused
    assert "__TASKRA_" not in first + second
    assert re.search(r'name="csrfmiddlewaretoken" value="[A-Za-z0-9]{64}"', second)


def test_cached_page_form_posts_work(redis_prefix, client, project_a, make_issue, alice):

    from issues.models import Comment

    issue = make_issue(project_a)
    client.force_login(alice)
    client.get(f"/browse/{issue.key}")
    for body in ("one", "two"):  # two comments from two cached page loads: both must be written
        page = client.get(f"/browse/{issue.key}").content.decode()
        form = page[page.index('id="add-comment"') :]
        token = re.search(r'name="form_token" value="([^"]+)"', form).group(1)
        response = client.post(f"/browse/{issue.key}/comments", {"body": body, "form_token": token})
        assert response.status_code == 302
    assert sorted(Comment.objects.filter(issue=issue).values_list("body", flat=True)) == ["one", "two"]


def test_own_comment_edit_link_is_not_shared(redis_prefix, client, project_a, make_issue, alice):
    from django.contrib.auth import get_user_model

    from issues.models import Membership, Role
    from issues.services import comment_add

    dave = get_user_model().objects.create_user("dave", "dave@example.com", "dave-pass-123")
    Membership.objects.create(project=project_a, user=dave, role=Role.MEMBER)  # dave: member of DEMO, wrote nothing
    issue = make_issue(project_a)
    comment_add(issue=issue, author=alice, body="alice was here")
    client.force_login(alice)
    client.get(f"/browse/{issue.key}")
    assert f"/comments/{issue.comments.get().pk}/edit".encode() in client.get(f"/browse/{issue.key}").content
    client.force_login(dave)
    page = client.get(f"/browse/{issue.key}").content
    assert b"alice was here" in page
    assert f"/comments/{issue.comments.get().pk}/edit".encode() not in page


def test_new_member_appears_in_cached_assignee_choices(redis_prefix, lookups, client, project_a, make_issue, alice):
    from django.contrib.auth import get_user_model

    from issues.models import Membership, Role

    issue = make_issue(project_a)
    client.force_login(alice)
    client.get(f"/browse/{issue.key}")
    assert b"Erin Newcomer" not in client.get(f"/browse/{issue.key}").content
    erin = get_user_model().objects.create_user("erin", "erin@example.com", "erin-pass-123", first_name="Erin")
    erin.profile.display_name = "Erin Newcomer"
    erin.profile.save()
    Membership.objects.create(project=project_a, user=erin, role=Role.MEMBER)
    assert b"Erin Newcomer" in client.get(f"/browse/{issue.key}").content


def test_cached_hit_is_served_by_the_fast_path(redis_prefix, client, project_a, make_issue, alice, monkeypatch):
    # alice (admin of DEMO): the second visit must come from get_cached_issue_page (generations, then payload
    # and body in one MGET), with her role from the memo.
    issue = make_issue(project_a, summary="Fast path")
    client.force_login(alice)
    client.get(f"/browse/{issue.key}")
    served = []
    real = issuepage.get_cached_issue_page

    def spy(**kw):
        got = real(**kw)
        served.append(got is not None and got.body is not None)
        return got

    monkeypatch.setattr(issuepage, "get_cached_issue_page", spy)
    page = client.get(f"/browse/{issue.key}").content
    assert served == [True]
    assert b"Fast path" in page and b'id="add-comment"' in page and b"__TASKRA_" not in page


def test_cached_hit_costs_one_query(
    redis_prefix, lookups, client, project_a, make_issue, alice, django_assert_num_queries
):
    # A warm hit reads the session from the cache and the role from the memo: only the user (profile joined, and
    # whether a failed bump waits in the outbox) comes from the database. lookups: the writes commit, so their
    # outbox rows are deleted after their bumps, as in production.
    issue = make_issue(project_a, summary="One query")
    client.force_login(alice)
    client.get(f"/browse/{issue.key}")
    client.get(f"/browse/{issue.key}")
    with django_assert_num_queries(1) as queries:
        page = client.get(f"/browse/{issue.key}").content
    assert b"One query" in page
    assert "issues_cachebump" in queries.captured_queries[0]["sql"]  # the outbox check rode on the user query


def test_membership_removed_by_another_process_ends_cached_access(
    redis_prefix, lookups, client, project_a, make_issue, bob
):
    # bob is made a member of DEMO, reads an issue until it is a fully cached hit (issue row in the LRU, role
    # memoised), then another process removes him: his very next request is a 404 with nothing of the page.
    from issues.models import Membership, Role

    issue = make_issue(project_a, summary="Members only")
    Membership.objects.create(project=project_a, user=bob, role=Role.MEMBER)
    client.force_login(bob)
    client.get(f"/browse/{issue.key}")
    assert b"Members only" in client.get(f"/browse/{issue.key}").content
    script = (
        "import django; django.setup()\n"
        "from issues.models import Membership\n"
        f"Membership.objects.filter(project_id={project_a.pk}, user_id={bob.pk}).delete()\n"
    )
    run_in_other_process(script, redis_prefix)
    # Twice: the first request re-reads the issue row into the LRU, the second is a fast-path lookup again.
    for _ in range(2):
        response = client.get(f"/browse/{issue.key}")
        assert response.status_code == 404 and b"Members only" not in response.content


def test_demoted_admin_loses_edit_controls_on_cached_page(redis_prefix, lookups, client, project_a, make_issue, alice):
    from issues.models import Membership, Role

    issue = make_issue(project_a)
    client.force_login(alice)
    client.get(f"/browse/{issue.key}")
    assert b'id="add-comment"' in client.get(f"/browse/{issue.key}").content  # cached editor body
    m = Membership.objects.get(project=project_a, user=alice)
    m.role = Role.VIEWER
    m.save(update_fields=["role"])
    for _ in range(2):  # the second request takes the fast path again, with the role memo
        assert b'id="add-comment"' not in client.get(f"/browse/{issue.key}").content  # alice is now a viewer


def test_bob_added_then_removed_gets_404_again(redis_prefix, lookups, client, project_a, make_issue, bob):
    from issues.models import Membership, Role

    issue = make_issue(project_a, summary="DEMO only")
    client.force_login(bob)
    assert client.get(f"/browse/{issue.key}").status_code == 404  # bob: OPS only
    m = Membership.objects.create(project=project_a, user=bob, role=Role.MEMBER)
    client.get(f"/browse/{issue.key}")
    assert b"DEMO only" in client.get(f"/browse/{issue.key}").content  # cached hit as a member
    m.delete()
    for _ in range(2):  # the second request takes the fast path again, with the role memo
        response = client.get(f"/browse/{issue.key}")
        assert response.status_code == 404 and b"DEMO only" not in response.content


def _count_round_trips(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the page's shared cache round trips (every command or pipeline goes through sharedcache.guard).

    The cache metrics and the perf rollups are flushed at most once a second per process, whichever request comes
    then: held back here, or a slow request would count one more.
    """
    from issues.pagecache import metrics as pagecache_metrics
    from perf import rollups

    monkeypatch.setattr(pagecache_metrics, "METRICS_FLUSH_SECONDS", 1e9)
    monkeypatch.setattr(rollups.web, "next_flush", float("inf"))
    calls = [0]
    real_guard = sharedcache.guard

    def counting(fn):  # type: ignore[no-untyped-def]
        calls[0] += 1
        return real_guard(fn)

    monkeypatch.setattr(sharedcache, "guard", counting)
    return calls


def test_cached_hit_costs_two_cache_round_trips(
    redis_prefix, lookups, client, project_a, make_issue, alice, bob, monkeypatch
):
    # The session, then the generations with the payload and bodies named by those the row was kept at, in one.
    issue = make_issue(project_a, summary="Two trips")
    client.force_login(alice)
    client.get(f"/browse/{issue.key}")
    client.get(f"/browse/{issue.key}")
    calls = _count_round_trips(monkeypatch)
    assert b"Two trips" in client.get(f"/browse/{issue.key}").content
    assert calls[0] == 2
    # A write moved the generations: the entries read with them are another version's, so the page is read again.
    from issues.services import issue_update

    issue_update(issue=issue, actor=alice, data={"summary": "Moved on"})
    assert b"Moved on" in client.get(f"/browse/{issue.key}").content
    # bob is no member of DEMO: whatever the cache holds, he gets a 404.
    client.force_login(bob)
    assert client.get(f"/browse/{issue.key}").status_code == 404
    assert client.get(f"/browse/{issue.key}").status_code == 404


def test_miss_costs_a_fixed_number_of_cache_round_trips(
    redis_prefix, lookups, client, project_a, make_issue, alice, monkeypatch
):
    # An issue nobody opened: the session, its generations, the lookup of payload and body, then per entry the
    # stampede lock with the entry read and the store with the lock's release (the body's also records its variant
    # for the refresh). The per-process lookups (statuses,
    # workflow, members, link types) are checked against the generations the page read: no round trip of theirs.
    from issues.services import comment_add

    client.force_login(alice)
    client.get(f"/browse/{make_issue(project_a, summary='Warm-up').key}")
    quiet, busy = make_issue(project_a, summary="Quiet"), make_issue(project_a, summary="Busy")
    for n in range(5):
        comment_add(issue=busy, author=alice, body=f"Comment {n}")
    for issue in (quiet, busy):
        calls = _count_round_trips(monkeypatch)
        assert client.get(f"/browse/{issue.key}").status_code == 200
        assert calls[0] == 7, issue.summary
        monkeypatch.undo()
    # Recorded for the refresh; busy's body is her own (her comments), never shared, so it is not.
    assert issuepage.body_variants(quiet.pk) == [("admin", "Europe/Berlin")]


def test_links_of_one_project_are_rendered_into_the_shared_body_others_per_viewer(
    redis_prefix, lookups, client, project_a, project_b, make_issue, alice, carol, monkeypatch
):
    # carol views DEMO and is not in OPS; alice administers DEMO and joins OPS here. A link within DEMO is every
    # viewer's to see: the section is in the shared body and no request renders it. A link to an OPS issue is
    # filled in per request, for the viewers who may see it.
    from issues.issuepage import links as issuepage_links
    from issues.models import IssueLinkType, Membership, Role
    from issues.services import issue_link_create

    Membership.objects.create(project=project_b, user=alice, role=Role.MEMBER)
    blocks = IssueLinkType.objects.get(name="Blocks")
    home, neighbour, elsewhere = make_issue(project_a), make_issue(project_a), make_issue(project_b)
    issue_link_create(actor=alice, link_type=blocks, outward_issue=home, inward_issue=neighbour)
    rendered: list[str] = []
    real_links_html = issuepage_links.links_html

    def spy(**kwargs):  # type: ignore[no-untyped-def]
        rendered.append(kwargs["data"]["issue"]["key"])
        return real_links_html(**kwargs)

    monkeypatch.setattr(issuepage_links, "links_html", spy)
    client.force_login(carol)
    client.get(f"/browse/{home.key}")  # builds carol's shared body, links section included
    rendered.clear()
    page = client.get(f"/browse/{home.key}").content
    assert rendered == [] and f">{neighbour.key}</a>".encode() in page

    issue_link_create(actor=alice, link_type=blocks, outward_issue=home, inward_issue=elsewhere)
    client.get(f"/browse/{home.key}")
    rendered.clear()
    page = client.get(f"/browse/{home.key}").content
    assert rendered == [home.key]  # filled in for this viewer
    assert f">{neighbour.key}</a>".encode() in page and elsewhere.key.encode() not in page
    client.force_login(alice)
    assert f">{elsewhere.key}</a>".encode() in client.get(f"/browse/{home.key}").content


def _warm(client, key: str) -> None:  # type: ignore[no-untyped-def]
    client.get(f"/browse/{key}")
    client.get(f"/browse/{key}")


def test_write_to_another_issue_of_the_project_leaves_a_cached_page_a_hit(
    redis_prefix, lookups, client, project_a, make_issue, alice, django_assert_num_queries
):
    # Issue pages depend on the project's configuration, not on its result pages' counter, which every issue
    # write bumps: logging work on (or editing) another issue of DEMO leaves this page cached.
    import datetime as dt

    from issues.services import issue_update
    from worklogs.services import worklog_add

    page_issue, other = make_issue(project_a, summary="Stays cached"), make_issue(project_a)
    client.force_login(alice)
    _warm(client, page_issue.key)
    project_gen = pagecache.current_generations([], [project_a.pk])
    worklog_add(issue=other, author=alice, time_spent=600, started=dt.datetime(2026, 11, 30, 9, tzinfo=dt.UTC))
    issue_update(issue=other, actor=alice, data={"summary": "Renamed elsewhere"})
    assert pagecache.current_generations([], [project_a.pk]) != project_gen  # result pages did go stale
    with django_assert_num_queries(1):
        page = client.get(f"/browse/{page_issue.key}").content
    assert b"Stays cached" in page


def test_workflow_change_refreshes_a_cached_status_menu(redis_prefix, lookups, client, project_a, make_issue, alice):
    from issues.models import Status, StatusCategory, WorkflowTransition
    from issues.workflows import workflow_add_statuses

    issue = make_issue(project_a)
    client.force_login(alice)
    _warm(client, issue.key)
    parked = Status.objects.create(name="Parked", category=StatusCategory.TODO)
    workflow_add_statuses(project=project_a, statuses=[parked])  # bulk writes: bumps the configuration itself
    assert b"Parked" in client.get(f"/browse/{issue.key}").content
    # One row deleted (the admin): the signal bumps the configuration.
    WorkflowTransition.objects.get(project=project_a, to_status=parked).delete()
    menu = client.get(f"/browse/{issue.key}").content.decode()
    menu = menu[menu.index('name="status"') :].split("</select>", 1)[0]
    assert "Parked" not in menu


def test_bulk_member_change_refreshes_a_cached_assignee_menu(
    redis_prefix, lookups, client, project_a, make_issue, alice, bob
):
    from issues.models import Membership, Role

    issue = make_issue(project_a)
    client.force_login(alice)
    _warm(client, issue.key)
    assert f'<option value="{bob.pk}"'.encode() not in client.get(f"/browse/{issue.key}").content
    Membership.objects.bulk_create([Membership(project=project_a, user=bob, role=Role.MEMBER)])
    pagecache.invalidate_on_commit(config_ids=[project_a.pk])  # what bench/load.py and seeding do
    assert f'<option value="{bob.pk}"'.encode() in client.get(f"/browse/{issue.key}").content


def test_linked_issue_change_refreshes_a_cached_page(
    redis_prefix, lookups, client, project_a, project_b, make_issue, alice
):
    # The page shows a linked issue's summary and status, in its own project (shared body) or another (per viewer).
    from issues.models import IssueLinkType, Membership, Role, Status
    from issues.services import issue_link_create, issue_update

    Membership.objects.create(project=project_b, user=alice, role=Role.MEMBER)
    blocks = IssueLinkType.objects.get(name="Blocks")
    home, neighbour, elsewhere = make_issue(project_a), make_issue(project_a), make_issue(project_b)
    issue_link_create(actor=alice, link_type=blocks, outward_issue=home, inward_issue=neighbour)
    issue_link_create(actor=alice, link_type=blocks, outward_issue=elsewhere, inward_issue=home)
    client.force_login(alice)
    _warm(client, home.key)
    issue_update(issue=neighbour, actor=alice, data={"summary": "Neighbour renamed"})
    issue_update(issue=elsewhere, actor=alice, data={"summary": "Elsewhere renamed"})
    page = client.get(f"/browse/{home.key}").content
    assert b"Neighbour renamed" in page and b"Elsewhere renamed" in page
    done = Status.objects.get(name="Done")
    neighbour.status = done
    neighbour.save()  # every field (the admin): the linked pages go stale too
    page = client.get(f"/browse/{home.key}").content.decode()
    section = page[page.index(neighbour.key) :][:600]
    assert "Done" in section


def test_subtask_change_refreshes_the_cached_parent_page(
    redis_prefix, lookups, client, project_a, make_issue, alice, django_assert_num_queries
):
    from issues.models import IssueType
    from issues.services import issue_update

    parent = make_issue(project_a)
    child = make_issue(project_a, parent=parent, type=IssueType.objects.filter(is_subtask=True).first())
    client.force_login(alice)
    _warm(client, parent.key)
    issue_update(issue=child, actor=alice, data={"summary": "Child renamed"})
    assert b"Child renamed" in client.get(f"/browse/{parent.key}").content
    with django_assert_num_queries(1):
        client.get(f"/browse/{parent.key}")  # cached again
