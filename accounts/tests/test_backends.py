"""ProfileModelBackend: the per-request user lookup joins the profile, so pages need no second query."""

from __future__ import annotations

import pytest
from django.db.models import Value
from django.urls import reverse

from accounts import backends
from accounts.backends import ProfileModelBackend


@pytest.mark.django_db
def test_get_user_loads_the_profile_in_the_same_query(alice, django_assert_num_queries):
    with django_assert_num_queries(1):
        user = ProfileModelBackend().get_user(alice.pk)
        assert user is not None and user.profile.display_name == "Alice Adams"
        assert user.profile.time_zone == "Europe/Berlin"


@pytest.mark.django_db
def test_get_user_refuses_inactive_and_missing_users(alice):
    alice.is_active = False
    alice.save(update_fields=["is_active"])
    assert ProfileModelBackend().get_user(alice.pk) is None
    assert ProfileModelBackend().get_user(alice.pk + 1000) is None


@pytest.mark.django_db
def test_request_user_comes_with_its_profile(client, alice, django_assert_num_queries):
    # Logged in through the session, request.user is built by this backend (settings.AUTHENTICATION_BACKENDS):
    # its profile is already loaded, so reading the time zone or display name costs no query.
    client.force_login(alice)
    response = client.get(reverse("login"))  # redirect_authenticated_user: loads request.user, renders nothing
    assert response.status_code == 302
    user = response.wsgi_request.user
    with django_assert_num_queries(0):
        assert user.profile.display_name == "Alice Adams"


@pytest.mark.django_db
def test_registered_values_come_in_the_same_query(alice, monkeypatch, django_assert_num_queries):
    # Another app (issues: the page-cache outbox probe) reads its per-request value with the user.
    monkeypatch.setitem(backends.user_load_annotations, "probe_value", lambda: Value(42))
    with django_assert_num_queries(1):
        user = ProfileModelBackend().get_user(alice.pk)
        assert user.probe_value == 42 and user.profile.display_name == "Alice Adams"
