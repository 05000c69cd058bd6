"""Matching the people of import records to users (imports/users.py): by Jira account id only, else placeholders.

Personas: alice administers DEMO, bob is a member of OPS only, carol views DEMO; admin_user is a superuser (staff).
Any importer's file may name anyone: only a Jira account id already on a profile (or a mapping the importer or
staff recorded) finds an existing account; e-mail and username are trusted only from staff and the command line.
"""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from imports import services
from imports.models import Placeholder
from imports.schemas import UserRef
from imports.tests.conftest import jira_issue, write_jira_json
from imports.users import UserMatcher
from issues.models import Comment, Issue

pytestmark = pytest.mark.django_db
User = get_user_model()


def test_a_member_import_matches_by_account_id_only(alice, bob, carol, admin_user, django_assert_num_queries):
    alice.profile.account_id = "acc-alice"
    alice.profile.save(update_fields=["account_id"])
    by_account = UserRef(account_id="acc-alice", email="someone@else.example")
    by_email = UserRef(email=admin_user.email)  # the superuser's address
    by_username = UserRef(username=carol.username)
    account_and_email = UserRef(account_id="acc-bob", email=bob.email)
    refs = [by_account, by_email, by_username, account_and_email]
    matcher = UserMatcher(actor=bob)
    matcher.resolve(refs)
    assert matcher.user_id(by_account) == alice.pk
    others = {matcher.user_id(r) for r in refs[1:]}
    assert len(others) == 3 and not others & {alice.pk, bob.pk, carol.pk, admin_user.pk}
    with django_assert_num_queries(0):
        matcher.resolve(refs)  # known for the rest of the job


def test_an_import_never_writes_the_account_id_of_an_existing_profile(alice, bob, admin_user):
    # Neither bob's import nor a staff import that matches alice by e-mail binds a Jira account to her profile.
    bob.profile.account_id = "acc-bob"
    bob.profile.save(update_fields=["account_id"])
    for actor in (bob, admin_user, None):
        UserMatcher(actor=actor).resolve([UserRef(account_id=f"evil-{actor}", email=alice.email)])
        UserMatcher(actor=actor).resolve([UserRef(account_id="acc-other", email=bob.email)])
    alice.profile.refresh_from_db()
    bob.profile.refresh_from_db()
    assert (alice.profile.account_id, bob.profile.account_id) == (None, "acc-bob")


def test_staff_and_the_command_line_match_by_email_and_username(alice, carol, admin_user):
    carol.is_active = False  # left the company: her worklogs are still hers
    carol.save(update_fields=["is_active"])
    for actor in (admin_user, None):
        matcher = UserMatcher(actor=actor)
        refs = [UserRef(email=alice.email), UserRef(username=carol.username)]
        matcher.resolve(refs)
        assert [matcher.user_id(r) for r in refs] == [alice.pk, carol.pk]


def test_unknown_people_become_inactive_placeholders_that_later_imports_reuse(alice):
    twins = [UserRef(account_id="a1", display_name="Sam Smith"), UserRef(account_id="a2", display_name="Sam Smith")]
    by_email = UserRef(email="ann@jira.example", display_name="Ann")
    matcher = UserMatcher(actor=alice)
    matcher.resolve([*twins, by_email, UserRef(account_id="a1")])
    made = User.objects.filter(pk__in=[matcher.user_id(t) for t in twins]).select_related("profile")
    assert len({u.username for u in made}) == 2 and all(u.username.startswith("sam.smith-") for u in made)
    assert {u.profile.account_id for u in made} == {"a1", "a2"}
    placeholders = User.objects.filter(pk__in=matcher.placeholders)
    assert len(placeholders) == 3 and not any(u.is_active or u.has_usable_password() for u in placeholders)
    assert set(Placeholder.objects.values_list("account_id", flat=True)) == {"a1", "a2", "email:ann@jira.example"}
    again = UserMatcher(actor=alice)  # the next job, the same file: the same people
    again.resolve([*twins, by_email])
    assert [again.user_id(r) for r in (*twins, by_email)] == [matcher.user_id(r) for r in (*twins, by_email)]
    assert matcher.user_id(None) is None


def test_placeholder_usernames_tell_nothing_about_existing_accounts(alice, bob):
    # bob names "alice" (taken) and "zed" (free): both placeholders get the same shape of username, and the
    # display name is the file's, so nothing on a page says which usernames exist.
    refs = [UserRef(username="alice"), UserRef(username="zed")]
    matcher = UserMatcher(actor=bob)
    matcher.resolve(refs)
    made = {u.profile.display_name: u.username for u in User.objects.filter(pk__in=matcher.placeholders)}
    assert set(made) == {"alice", "zed"}
    assert [len(made[n]) - len(n) for n in ("alice", "zed")] == [17, 17]


def test_a_mapping_applies_to_the_mappers_later_imports_and_a_staff_mapping_to_everyones(alice, bob, carol, admin_user):
    ref = UserRef(account_id="acc-9", display_name="Nine")
    first = UserMatcher(actor=alice)
    first.resolve([ref])
    placeholder = Placeholder.objects.get(account_id="acc-9")
    placeholder.mapped_to, placeholder.mapped_by = carol, alice
    placeholder.save()
    resolved = {}
    for actor in (alice, bob):
        matcher = UserMatcher(actor=actor)
        matcher.resolve([ref])
        resolved[actor.username] = matcher.user_id(ref)
    assert resolved == {"alice": carol.pk, "bob": placeholder.user_id}  # alice's word binds alice's imports
    placeholder.mapped_by = admin_user
    placeholder.save()
    matcher = UserMatcher(actor=bob)
    matcher.resolve([ref])
    assert matcher.user_id(ref) == carol.pk


def test_a_member_import_cannot_write_as_another_user(tmp_path, project_b, bob, admin_user, alice):
    # bob's file says the superuser wrote the comment and alice reported the issue (by e-mail): neither is written.
    record = jira_issue(1, project="OPS", worklogs=0, reporter={"emailAddress": alice.email, "displayName": "Alice"})
    record["fields"]["comment"]["comments"][0]["author"] = {"emailAddress": admin_user.email, "displayName": "Admin"}
    job = services.import_job_create(user=bob, paths=[write_jira_json(tmp_path / "o.json", [record])], enqueue=False)
    services.job_run(job_id=job.pk)
    issue = Issue.objects.get(key="OPS-1")
    author = Comment.objects.get(issue=issue).author
    assert issue.reporter_id != alice.pk and author.pk != admin_user.pk
    assert not issue.reporter.is_active and not author.is_active  # placeholders: no login
    assert not User.objects.filter(is_active=True).exclude(pk__in=[alice.pk, bob.pk, admin_user.pk]).exists()
