"""User references: one encoding and the display-name rule of accounts.models."""

from __future__ import annotations

from django.contrib.auth import get_user_model

from accounts.adapters import load_user_refs, user_from_columns
from accounts.models import display_name


def test_user_refs_follow_the_display_name_rule(db):
    # Profile name, else full name, else username: the column form agrees with accounts.models.display_name.
    users = get_user_model().objects
    named = users.create_user("named", first_name="Nora", last_name="Nil")
    named.profile.display_name = "Nora N."
    named.profile.save()
    plain = users.create_user("plain", first_name="Pat", last_name="Lee")
    bare = users.create_user("bare")
    loaded = load_user_refs([u.pk for u in (named, plain, bare)])
    for user in (named, plain, bare):
        user = users.select_related("profile").get(pk=user.pk)
        ref = user_from_columns(*loaded[user.pk])
        assert ref == {"id": user.pk, "username": user.username, "display_name": display_name(user)}
