"""Fixtures of the REST API tests: tokens for the personas and clients that send them.

Personas (root conftest.py): alice admin of DEMO, carol viewer of DEMO, bob member of OPS only.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest
from django.core.cache import cache

from api import auth
from api.services import api_token_create


@pytest.fixture(autouse=True)
def _fresh_api_state() -> Iterator[None]:
    # Token entries and rate-limit counters outlive a test's rolled-back rows (ids are reused).
    auth.reset_state()
    cache.clear()
    yield
    auth.reset_state()
    cache.clear()


def basic(identity: str, token: str) -> dict[str, str]:
    """Return test-client headers for Basic auth with a token as the password."""
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(f"{identity}:{token}".encode()).decode()}


def bearer(token: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


@pytest.fixture
def alice_token(alice) -> str:
    return api_token_create(user=alice, label="alice laptop")[1]


@pytest.fixture
def carol_token(carol) -> str:
    return api_token_create(user=carol, label="carol script")[1]


@pytest.fixture
def bob_token(bob) -> str:
    return api_token_create(user=bob, label="bob cli")[1]


@pytest.fixture
def as_alice(alice_token) -> dict[str, str]:
    return basic("alice", alice_token)


@pytest.fixture
def as_carol(carol_token) -> dict[str, str]:
    return basic("carol", carol_token)


@pytest.fixture
def as_bob(bob_token) -> dict[str, str]:
    return basic("bob", bob_token)
