"""Who may see and change what: project membership decides everything.

Every role check of the product calls a function here (views, forms, services, admin, worklogs, imports):
- see: any membership (viewer, member, admin);
- edit: member or admin (issues, comments, own worklogs);
- admin: project admin (delete issues, change anyone's worklogs);
- site admin: a superuser sees every import job (the job list, the Django admin); nothing more in the product.

The superuser rule, one rule everywhere: in the product (pages, JSON API, imports, bulk change, board,
timesheets) a superuser follows the membership rule like everyone else; a superuser who is a member of
nothing gets 404 on a project's pages, and an import or bulk change by them writes nothing there. The
Django admin remains the site admin's tool (governed by Django's model permissions). What stays with staff
is about the site, not a project: creating projects and lookup values (`may_create_projects`) and managing
accounts (`may_manage_accounts`: real accounts, matching Jira people by e-mail, mapping to any account).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet

from issues.models import Membership, Role

UserLike = AbstractBaseUser | AnonymousUser

EDIT_ROLES = (Role.MEMBER, Role.ADMIN)


def visible_project_ids(user: UserLike) -> QuerySet:
    """Return a subquery of the ids of projects the user is a member of (any role)."""
    if not user.is_authenticated:
        return Membership.objects.none().values("project_id")
    return Membership.objects.filter(user_id=user.pk).values("project_id")


def known_users_q(user: Any) -> Q:
    """Return a filter on users for the people `user` may look up by name: themselves and whoever shares a project.

    JQL user values and bulk-change assignees resolve names through it, so nobody learns whether an account
    exists outside their projects (the error is the same as for a typo). A site admin and the system (None) see all.
    """
    if user is None or is_site_admin(user):
        return Q()
    if not user.is_authenticated:
        return Q(pk__in=[])
    return Q(pk=user.pk) | Q(pk__in=users_sharing_a_project(user))


def known_among(user: Any, ids: Iterable[int]) -> set[int]:
    """Return which of these user ids `user` may look up by name: known_users_q's rule for a few candidates.

    One query reads the memberships of the candidates and of `user` by the (user, project) index (none for a site
    admin or the system). As a filter (known_users_q) PostgreSQL hashed every membership of every project the
    user shares, 7,300 rows for a member of every project at 1,000,000 issues, on each JQL search naming a person.
    """
    wanted = set(ids)
    if user is None or is_site_admin(user):
        return wanted
    if not user.is_authenticated or not wanted:
        return set()
    rows = list(Membership.objects.filter(user_id__in=sorted(wanted | {user.pk})).values_list("user_id", "project_id"))
    mine = {project for member, project in rows if member == user.pk}
    return ({user.pk} & wanted) | {member for member, project in rows if member in wanted and project in mine}


def editable_project_ids(user: UserLike) -> QuerySet:
    """Return a subquery of the ids of projects where the user may create and change issues."""
    if not user.is_authenticated:
        return Membership.objects.none().values("project_id")
    return Membership.objects.filter(user_id=user.pk, role__in=EDIT_ROLES).values("project_id")


def project_role(user: UserLike, project_id: int) -> str | None:
    """Return the user's role in the project, or None when not a member."""
    if not user.is_authenticated:
        return None
    return role_of(user_id=user.pk, project_id=project_id)


def role_of(*, user_id: int, project_id: int) -> str | None:
    """Return the role of a user given by id in the project (one query), or None when not a member."""
    return Membership.objects.filter(user_id=user_id, project_id=project_id).values_list("role", flat=True).first()


def project_roles(*, user: UserLike) -> dict[int, str]:
    """Return the user's role in every project they are a member of, by project id (one query)."""
    if not user.is_authenticated:
        return {}
    return dict(Membership.objects.filter(user_id=user.pk).values_list("project_id", "role"))


def can_see_in(role: str | None) -> bool:
    """Return whether a role may see the project's issues (any membership)."""
    return role is not None


def can_edit_in(role: str | None) -> bool:
    """Return whether a role may create and edit issues, comments and worklogs."""
    return role in EDIT_ROLES


def can_admin_in(role: str | None) -> bool:
    """Return whether a role administers the project: deletes issues, changes anyone's worklogs."""
    return role == Role.ADMIN


def can_change_worklog(role: str | None, *, author_id: int | None, user_id: int | None) -> bool:
    """Return whether a user with this role may edit or delete a worklog: their own as a member, any as an admin."""
    return can_admin_in(role) or (can_edit_in(role) and author_id == user_id)


def is_site_admin(user: Any) -> bool:
    """Return whether the user administers the whole site (a superuser): sees every import job.

    Not a project role: a superuser's access to a project's issues is their membership (module docstring).
    """
    return bool(getattr(user, "is_superuser", False))


def may_create_projects(user: Any) -> bool:
    """Return whether the user may create projects and lookup values (statuses, types...): staff, or the system."""
    return user is None or bool(getattr(user, "is_staff", False))


def may_manage_accounts(user: Any) -> bool:
    """Return whether the user may create real accounts and vouch for people: staff, or the system (command line).

    Imports by such a user match Jira people by e-mail and username too; their mappings of placeholder users
    apply to everyone's later imports, and they may map a placeholder to any account.
    """
    return user is None or bool(getattr(user, "is_staff", False))


def users_sharing_a_project(user: UserLike) -> QuerySet:
    """Return a subquery of the ids of users who are members of a project the user is a member of (any roles)."""
    return Membership.objects.filter(project_id__in=visible_project_ids(user)).values("user_id")


def may_edit(user: UserLike, project_id: int) -> bool:
    """Return whether the user may create and change issues in the project."""
    return can_edit_in(project_role(user, project_id))


def may_upload_imports(user: Any) -> bool:
    """Return whether the user may upload import files at all: a site admin, or a member/admin of some project."""
    if is_site_admin(user):
        return True
    if not getattr(user, "is_authenticated", False):
        return False
    return Membership.objects.filter(user_id=user.pk, role__in=EDIT_ROLES).exists()


def may_import_into(user: UserLike | None, project_id: int) -> bool:
    """Return whether an import by this user may write into the project (system imports have no user).

    The membership rule, for superusers too: an import touches, finds and links only rows in such projects.
    """
    return user is None or may_edit(user, project_id)


def require_edit(user: UserLike, project_id: int, message: str = "You may not change issues in this project.") -> str:
    """Return the user's role in the project, or raise PermissionDenied unless it may edit."""
    role = project_role(user, project_id)
    if role is None or not can_edit_in(role):
        raise PermissionDenied(message)
    return role


def require_admin(user: UserLike, project_id: int, message: str = "Only project admins may delete issues.") -> None:
    """Raise PermissionDenied unless the user is an admin of the project."""
    if not can_admin_in(project_role(user, project_id)):
        raise PermissionDenied(message)


def require_comment_edit(user: UserLike, *, author_id: int | None, project_id: int) -> None:
    """Raise PermissionDenied unless the user may edit a comment: their own words only (admins too), members up."""
    if not can_edit_in(project_role(user, project_id)):
        raise PermissionDenied("Viewers cannot change comments.")
    if author_id != user.pk:
        raise PermissionDenied("You can only edit your own comments.")


def require_comment_delete(user: UserLike, *, author_id: int | None, project_id: int) -> None:
    """Raise PermissionDenied unless the user may delete a comment: their own as a member, any as a project admin."""
    role = project_role(user, project_id)
    if not can_edit_in(role):
        raise PermissionDenied("Viewers cannot delete comments.")
    if not can_change_worklog(role, author_id=author_id, user_id=user.pk):
        raise PermissionDenied("You can only delete your own comments.")


def require_worklog_change(user: UserLike, *, author_id: int | None, project_id: int) -> None:
    """Raise PermissionDenied unless the user may change a worklog of author_id in the project."""
    role = project_role(user, project_id)
    if role is None:
        raise PermissionDenied("Not a member of this project.")
    # A viewer (e.g. demoted since logging) may no longer change time, even their own.
    if not can_edit_in(role):
        raise PermissionDenied("Viewers cannot change worklogs.")
    if not can_change_worklog(role, author_id=author_id, user_id=user.pk):
        raise PermissionDenied("You can only change your own worklogs.")


def may_view_performance(user: Any) -> bool:
    """Return whether the user may see the operations views (/perf/, /metrics): active staff."""
    return bool(getattr(user, "is_active", False) and getattr(user, "is_staff", False))
