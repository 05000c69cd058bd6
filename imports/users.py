"""Matching the people named in import records to Taskra users, creating the missing ones with a profile.

Matched by Jira account id (the profile's), then e-mail, then username, in one query per kind of match
for a whole chunk; results are remembered for the job. New users get an unusable password: they sign
in once an administrator sets one.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.db.models.functions import Lower

from accounts.models import Profile
from imports.schemas import UserRef

User = get_user_model()
_USERNAME_BAD = re.compile(r"[^\w.@+-]+")


class UserMatcher:
    """Resolve user references to user ids for one job (results cached across its chunks)."""

    def __init__(self) -> None:
        self.users: dict[tuple[str, str], int] = {}

    def resolve(self, refs: Iterable[UserRef]) -> None:
        """Find or create the users behind these references (one query per kind of match), remembered by identity."""
        wanted: dict[tuple[str, str], UserRef] = {}
        for ref in refs:
            ident = ref.identity()
            if ident not in self.users:
                wanted.setdefault(ident, ref)
        if not wanted:
            return
        accounts = [v for (k, v) in wanted if k == "account"]
        if accounts:
            for account, user_id in Profile.objects.filter(account_id__in=accounts).values_list(
                "account_id", "user_id"
            ):
                assert account is not None, "filtered on account_id__in"
                self.users[("account", account)] = user_id
        # Not found by account id (or no account id): match by e-mail, then by username.
        by_email = {ref.email: ident for ident, ref in wanted.items() if ident not in self.users and ref.email}
        if by_email:
            found = (
                User.objects.annotate(email_l=Lower("email"))
                .filter(email_l__in=list(by_email))
                .order_by("pk")
                .values_list("email_l", "pk")
            )
            link_accounts = []
            for email, user_id in found:
                matched = by_email.get(email)
                if matched is not None and matched not in self.users:
                    self.users[matched] = user_id
                    if matched[0] == "account":
                        link_accounts.append((user_id, matched[1]))
            for user_id, account in link_accounts:
                Profile.objects.filter(user_id=user_id, account_id__isnull=True).update(account_id=account)
        by_username = {ref.username: ident for ident, ref in wanted.items() if ident not in self.users and ref.username}
        if by_username:
            for username, user_id in User.objects.filter(username__in=list(by_username)).values_list("username", "pk"):
                self.users[by_username[username]] = user_id
        missing = {ident: ref for ident, ref in wanted.items() if ident not in self.users}
        if not missing:
            return
        usernames: dict[tuple[str, str], str] = {}
        for ident, ref in missing.items():
            base = (
                ref.username or ref.email or _USERNAME_BAD.sub("", (ref.display_name or "").replace(" ", ".").lower())
            )
            usernames[ident] = (base or f"user-{ident[1]}")[:150]
        taken = set(User.objects.filter(username__in=list(usernames.values())).values_list("username", flat=True))
        seen: set[str] = set()
        for ident, name in usernames.items():
            if name in taken or name in seen:
                name = f"{name[:130]}-{uuid.uuid5(uuid.NAMESPACE_OID, '/'.join(ident)).hex[:8]}"
                usernames[ident] = name
            seen.add(name)
        unusable = make_password(None)
        new_users = [
            User(
                username=usernames[ident],
                email=ref.email or "",
                password=unusable,
                first_name=(ref.display_name or "")[:150],
                is_active=True,
            )
            for ident, ref in missing.items()
        ]
        User.objects.bulk_create(new_users)
        ids = dict(User.objects.filter(username__in=list(usernames.values())).values_list("username", "pk"))
        profiles = []
        for ident, ref in missing.items():
            user_id = ids[usernames[ident]]
            self.users[ident] = user_id
            profiles.append(
                Profile(
                    user_id=user_id,
                    display_name=(ref.display_name or usernames[ident])[:150],
                    account_id=ref.account_id,
                )
            )
        Profile.objects.bulk_create(profiles, ignore_conflicts=True)

    def user_id(self, ref: UserRef | None) -> int | None:
        """Return the id of a resolved reference (None for none)."""
        return None if ref is None else self.users[ref.identity()]
