"""The API tokens page (/accounts/tokens/) and `manage.py create_api_token`: shown once, stored as a hash.

Personas: alice (owner of her tokens), bob (may not see or revoke alice's).
"""

from __future__ import annotations

import hashlib
import io

import pytest
from django.core.management import CommandError, call_command

from api.models import ApiToken
from api.tests.conftest import bearer

pytestmark = pytest.mark.django_db


def test_token_page_creates_a_token_shown_once_and_stored_as_a_hash(client, alice):
    client.force_login(alice)
    response = client.post("/accounts/tokens/", {"label": "laptop CLI", "expires_in_days": "30"})
    assert response.status_code == 200
    text = response.context["created_text"]
    assert text.startswith("tkr_") and len(text) > 40
    token = ApiToken.objects.get(user=alice)
    assert token.key_hash == hashlib.sha256(text.encode()).hexdigest()
    assert text not in {token.label, token.prefix, token.key_hash}
    assert token.expires is not None
    assert response["Cache-Control"] == "no-store"
    again = client.get("/accounts/tokens/")
    assert text not in again.content.decode()
    assert "laptop CLI" in again.content.decode()
    assert client.get("/rest/api/2/myself", **bearer(text)).status_code == 200


def test_token_page_needs_a_label(client, alice):
    client.force_login(alice)
    response = client.post("/accounts/tokens/", {"label": " "})
    assert response.status_code == 400
    assert not ApiToken.objects.exists()


def test_revoke_from_the_page_refuses_the_token(client, alice, alice_token):
    client.force_login(alice)
    token = ApiToken.objects.get(user=alice)
    response = client.post(f"/accounts/tokens/{token.pk}/revoke")
    assert response.status_code == 302
    assert ApiToken.objects.get(pk=token.pk).revoked_at is not None
    assert client.get("/rest/api/2/myself", **bearer(alice_token)).status_code == 401


def test_someone_elses_token_cannot_be_revoked(client, alice, bob, alice_token):
    client.force_login(bob)
    token = ApiToken.objects.get(user=alice)
    assert client.post(f"/accounts/tokens/{token.pk}/revoke").status_code == 404
    assert ApiToken.objects.get(pk=token.pk).revoked_at is None


def test_create_api_token_command_prints_the_token_alone_on_its_last_line(client, alice):
    out = io.StringIO()
    call_command("create_api_token", "alice", "--label", "ci", stdout=out, stderr=io.StringIO())
    text = out.getvalue().strip().splitlines()[-1]
    assert text.startswith("tkr_") and " " not in text
    assert client.get("/rest/api/2/myself", **bearer(text)).json()["name"] == "alice"


def test_create_api_token_command_rejects_unknown_users(db):
    with pytest.raises(CommandError):
        call_command("create_api_token", "nobody", "--label", "ci", stdout=io.StringIO())


def test_every_page_links_to_the_tokens_page(client, alice):
    client.force_login(alice)
    html = client.get("/accounts/tokens/").content.decode()
    assert 'href="/accounts/tokens/" class="link" id="api-tokens-link"' in html
