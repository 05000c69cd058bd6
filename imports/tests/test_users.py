"""Matching the people of import records to users (imports/users.py): account id, then e-mail, then username."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from imports.schemas import UserRef
from imports.users import UserMatcher

pytestmark = pytest.mark.django_db
User = get_user_model()


def test_matches_by_account_then_email_then_username_and_links_the_account(
    alice, bob, carol, django_assert_num_queries
):
    alice.profile.account_id = "acc-alice"
    alice.profile.save(update_fields=["account_id"])
    by_account = UserRef(account_id="acc-alice", email="someone@else.example")
    by_email = UserRef(account_id="acc-bob", email=bob.email)
    by_username = UserRef(username=carol.username)
    matcher = UserMatcher()
    matcher.resolve([by_account, by_email, by_username])
    assert [matcher.user_id(r) for r in (by_account, by_email, by_username)] == [alice.pk, bob.pk, carol.pk]
    bob.profile.refresh_from_db()
    assert bob.profile.account_id == "acc-bob"  # found by e-mail: the Jira account is remembered
    with django_assert_num_queries(0):
        matcher.resolve([by_account, by_email])  # known for the rest of the job


def test_creates_missing_people_with_a_profile_and_unique_usernames(alice):
    twins = [UserRef(account_id="a1", display_name="Sam Smith"), UserRef(account_id="a2", display_name="Sam Smith")]
    matcher = UserMatcher()
    matcher.resolve(twins)
    made = User.objects.filter(pk__in=[matcher.user_id(t) for t in twins]).select_related("profile")
    assert len({u.username for u in made}) == 2 and all(u.username.startswith("sam.smith") for u in made)
    assert {u.profile.account_id for u in made} == {"a1", "a2"}
    assert not any(u.has_usable_password() for u in made)
    assert matcher.user_id(None) is None
