"""The profile page (/accounts/profile/) and password change (/accounts/password/).

Personas: alice (display name "Alice Adams", Europe/Berlin).
"""

from __future__ import annotations

import pytest

from accounts.models import Profile


def test_profile_changes_display_name_and_time_zone(client, alice):
    client.force_login(alice)
    page = client.get("/accounts/profile/").content.decode()
    assert "Alice Adams" in page and "/accounts/tokens/" in page and "/accounts/password/" in page
    response = client.post("/accounts/profile/", {"display_name": "  Al ", "time_zone": "Asia/Tokyo"})
    assert response.status_code == 302
    profile = Profile.objects.get(user=alice)
    assert (profile.display_name, profile.time_zone) == ("Al", "Asia/Tokyo")


def test_profile_refuses_an_unknown_time_zone(client, alice):
    client.force_login(alice)
    response = client.post("/accounts/profile/", {"display_name": "Al", "time_zone": "Mars/Olympus"})
    assert response.status_code == 400 and "Select a valid choice" in response.content.decode()
    assert Profile.objects.get(user=alice).time_zone == "Europe/Berlin"


def test_password_change_needs_the_current_password(client, alice):
    client.force_login(alice)
    wrong = {"old_password": "nope", "new_password1": "N3w-pass-phrase!", "new_password2": "N3w-pass-phrase!"}
    assert client.post("/accounts/password/", wrong).status_code == 200  # the form again, with its error
    right = {**wrong, "old_password": "alice-pass-123"}
    assert client.post("/accounts/password/", right)["Location"] == "/accounts/profile/"
    alice.refresh_from_db()
    assert alice.check_password("N3w-pass-phrase!")


@pytest.mark.django_db
def test_profile_needs_login(client):
    assert client.get("/accounts/profile/").status_code == 302
