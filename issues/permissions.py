"""Who may see and change what: project membership decides everything."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet

from issues.models import Membership, Role

UserLike = AbstractBaseUser | AnonymousUser


def visible_project_ids(user: UserLike) -> QuerySet:
    """Return a subquery of the ids of projects the user is a member of (any role)."""
    if not user.is_authenticated:
        return Membership.objects.none().values("project_id")
    return Membership.objects.filter(user_id=user.pk).values("project_id")


def project_role(user: UserLike, project_id: int) -> str | None:
    """Return the user's role in the project, or None when not a member."""
    if not user.is_authenticated:
        return None
    return Membership.objects.filter(user_id=user.pk, project_id=project_id).values_list("role", flat=True).first()


def can_edit_in(role: str | None) -> bool:
    """Return whether a role may create and edit issues, comments and worklogs."""
    return role in (Role.MEMBER, Role.ADMIN)


def project_roles(*, user: UserLike) -> dict[int, str]:
    """Return the user's role in every project they are a member of, by project id (one query)."""
    if not user.is_authenticated:
        return {}
    return dict(Membership.objects.filter(user_id=user.pk).values_list("project_id", "role"))


def editable_project_ids(user: UserLike) -> QuerySet:
    """Return a subquery of the ids of projects whose issues the user may change (member or admin)."""
    if not user.is_authenticated:
        return Membership.objects.none().values("project_id")
    return Membership.objects.filter(user_id=user.pk, role__in=[Role.MEMBER, Role.ADMIN]).values("project_id")
