"""Who may call the REST API: tokens by Basic (username or e-mail) or Bearer, the browser session (writes need
CSRF), revoked/expired tokens, the token lookup's per-process reuse, rate limits, and the size limit.

Personas: alice admin of DEMO (holds a token), bob member of OPS only.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from api import auth
from api.models import ApiToken
from api.services import api_token_create, api_token_revoke
from api.tests.conftest import basic, bearer
from taskra_site import sharedcache

pytestmark = pytest.mark.django_db


def _assert_401(response):
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Basic realm="Taskra"'
    body = response.json()
    assert body["errors"] == {} and body["errorMessages"]


def test_basic_auth_with_username_or_email_and_bearer(client, alice, alice_token):
    for headers in (basic("alice", alice_token), basic("ALICE@example.com", alice_token), bearer(alice_token)):
        response = client.get("/rest/api/2/myself", **headers)
        assert response.status_code == 200
        assert response.json()["name"] == "alice"


def test_no_or_bad_credentials_are_401_with_a_challenge(client, alice, bob, alice_token):
    _assert_401(client.get("/rest/api/2/myself"))
    _assert_401(client.get("/rest/api/2/myself", **basic("alice", "tkr_wrong")))
    _assert_401(client.get("/rest/api/2/myself", **basic("alice", "alice-pass-123")))  # passwords are not tokens
    _assert_401(client.get("/rest/api/2/myself", **basic("bob", alice_token)))  # someone else's token
    _assert_401(client.get("/rest/api/2/myself", HTTP_AUTHORIZATION="Basic !!notbase64"))
    _assert_401(client.get("/rest/api/2/myself", HTTP_AUTHORIZATION="Bearer "))


def test_server_info_answers_anonymous_callers_but_not_bad_tokens(client, alice):
    assert client.get("/rest/api/2/serverInfo").status_code == 200
    _assert_401(client.get("/rest/api/2/serverInfo", **bearer("tkr_nope")))


def test_revoked_token_is_refused_at_once(client, alice, alice_token, django_capture_on_commit_callbacks):
    assert client.get("/rest/api/2/myself", **bearer(alice_token)).status_code == 200
    token = ApiToken.objects.get(user=alice)
    with django_capture_on_commit_callbacks(execute=True):  # the revocation commits (the test runs in a transaction)
        api_token_revoke(token=token, actor=alice)
    _assert_401(client.get("/rest/api/2/myself", **bearer(alice_token)))


def test_expired_token_is_refused(client, alice):
    _token, text = api_token_create(user=alice, label="short")
    ApiToken.objects.filter(label="short").update(expires=timezone.now() - dt.timedelta(seconds=1))
    _assert_401(client.get("/rest/api/2/myself", **bearer(text)))


def test_inactive_user_token_is_refused(client, alice, alice_token):
    alice.is_active = False
    alice.save(update_fields=["is_active"])
    _assert_401(client.get("/rest/api/2/myself", **bearer(alice_token)))


def test_token_lookup_is_one_query_and_last_used_is_written_at_most_once_a_minute(client, alice, alice_token):
    now = timezone.now()
    with CaptureQueriesContext(connection) as first:
        user, _token_id = auth.token_user(alice_token, identity="alice", now=now)
    assert user == alice
    # The lookup (token, user and profile in one indexed query) and the last_used write.
    assert len(first) == 2 and "UPDATE" in first[1]["sql"]
    with CaptureQueriesContext(connection) as again:
        auth.token_user(alice_token, now=now + dt.timedelta(seconds=59))
    # Again the one lookup; with a shared cache (Redis) the process reuses it under the current generation: none.
    assert len(again) == (1 if sharedcache.is_process_local() else 0)
    assert ApiToken.objects.get(user=alice).last_used == now


def test_process_reuse_of_a_lookup_is_dropped_by_a_revocation(
    alice, alice_token, monkeypatch, django_capture_on_commit_callbacks
):
    # With a shared cache (Redis) a process reuses a lookup; force that here on the local-memory cache.
    monkeypatch.setattr(auth, "_cache_seconds", lambda: 30)
    now = timezone.now()
    auth.token_user(alice_token, now=now)
    with CaptureQueriesContext(connection) as reused:
        auth.token_user(alice_token, now=now)
    assert len(reused) == 0
    # The revocation bumps the shared generation at commit; the next request of any process sees it.
    with django_capture_on_commit_callbacks(execute=True):
        api_token_revoke(token=ApiToken.objects.get(user=alice), actor=alice)
    with pytest.raises(auth.ApiError) as refused:
        auth.token_user(alice_token, now=now)
    assert refused.value.status == 401


def test_session_reads_work_and_session_writes_need_csrf(alice, project_a, make_issue):
    issue = make_issue(project_a)
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(alice)
    assert browser.get(f"/rest/api/2/issue/{issue.key}").status_code == 200
    refused = browser.put(
        f"/rest/api/2/issue/{issue.key}", {"fields": {"summary": "x"}}, content_type="application/json"
    )
    assert refused.status_code == 403
    assert "XSRF" in refused.json()["errorMessages"][0]
    browser.get("/accounts/tokens/")  # sets the CSRF cookie
    token = browser.cookies["csrftoken"].value
    done = browser.put(
        f"/rest/api/2/issue/{issue.key}",
        {"fields": {"summary": "Renamed"}},
        content_type="application/json",
        HTTP_X_CSRFTOKEN=token,
    )
    assert done.status_code == 204


def test_rate_limit_answers_429_with_retry_after(client, alice, alice_token, settings):
    settings.TASKRA_API_RATE_LIMIT = 2
    settings.TASKRA_API_RATE_WINDOW = 60
    assert client.get("/rest/api/2/myself", **bearer(alice_token)).status_code == 200
    assert client.get("/rest/api/2/myself", **bearer(alice_token)).status_code == 200
    limited = client.get("/rest/api/2/myself", **bearer(alice_token))
    assert limited.status_code == 429
    assert 1 <= int(limited["Retry-After"]) <= 60
    assert limited.json()["errorMessages"][0].startswith("Rate limit exceeded")


def test_rate_limit_window_is_counted_per_token(alice, alice_token, settings):
    settings.TASKRA_API_RATE_LIMIT = 1
    settings.TASKRA_API_RATE_WINDOW = 60
    auth.rate_limit(1, now=120.0)
    with pytest.raises(auth.ApiError) as limited:
        auth.rate_limit(1, now=150.0)
    assert limited.value.headers["Retry-After"] == "30"
    auth.rate_limit(2, now=150.0)  # another token has its own count
    auth.rate_limit(1, now=180.0)  # the next window starts afresh


def test_body_over_the_limit_is_413(client, alice, alice_token, settings):
    settings.TASKRA_API_MAX_BODY_BYTES = 1024
    response = client.post("/rest/api/2/issue", "x" * 2000, content_type="application/json", **bearer(alice_token))
    assert response.status_code == 413
    assert response.json()["errorMessages"]


def test_wrong_method_is_405_in_jiras_shape(client, alice, alice_token):
    response = client.delete("/rest/api/2/myself", **bearer(alice_token))
    assert response.status_code == 405
    assert set(response.json()) == {"errorMessages", "errors"}


def test_a_revocation_in_another_process_reaches_this_one_through_the_shared_generation(
    alice, alice_token, monkeypatch
):
    monkeypatch.setattr(auth, "_cache_seconds", lambda: 30)
    now = timezone.now()
    auth.token_user(alice_token, now=now)
    # Another process revokes: the row changes and the shared generation moves; this process's entry stays.
    ApiToken.objects.filter(user=alice).update(revoked_at=now)
    sharedcache.bump_counters([auth.GENERATION_KEY], 1)
    with pytest.raises(auth.ApiError):
        auth.token_user(alice_token, now=now)


def test_a_lookup_that_raced_a_revocation_is_not_reused(alice, alice_token, monkeypatch):
    # A request read the generation and looked the token up; then a revocation bumped the generation and another
    # thread's request saw the bump (clearing the entries) before this request stored its now stale lookup.
    monkeypatch.setattr(auth, "_cache_seconds", lambda: 30)
    now = timezone.now()
    real_lookup = auth._lookup

    def lookup_then_revoke(digest):
        entry = real_lookup(digest)
        ApiToken.objects.filter(user=alice).update(revoked_at=now)
        sharedcache.bump_counters([auth.GENERATION_KEY], 1)
        auth._check_generation()  # the other thread
        return entry

    monkeypatch.setattr(auth, "_lookup", lookup_then_revoke)
    auth.token_user(alice_token, now=now)  # answered as before the revocation
    monkeypatch.setattr(auth, "_lookup", real_lookup)
    with pytest.raises(auth.ApiError):
        auth.token_user(alice_token, now=now)
