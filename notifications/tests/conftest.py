"""Fixtures of the notification tests.

Personas (conftest.py): alice admin of DEMO, carol viewer in DEMO, bob member of OPS only; here dave, a member of
DEMO, makes the changes others hear of.
"""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model


@pytest.fixture
def dave(db, project_a):
    from issues.models import Membership, Role

    user = get_user_model().objects.create_user("dave", "dave@example.com", "dave-pass-123")
    user.profile.display_name = "Dave Diaz"
    user.profile.save()
    Membership.objects.create(project=project_a, user=user, role=Role.MEMBER)
    return user
