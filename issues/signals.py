"""Page-cache invalidation by signal receivers: every row save retires the cached pages that show the row.

This is the one invalidation mechanism for writes that save rows, whoever saves them: the services,
the admin, scripts, fixtures (docs/cache.md says why). Each receiver adds what the row touched to the
transaction's commit batch (pagecache.invalidate_on_commit), which bumps each counter once when the
transaction commits. Writes Django sends no signals for call pagecache.invalidate_on_commit themselves:
QuerySet.update/delete and bulk_create (bulk changes, imports, seeding, admin bulk deletes), and
deletes of issues and their children (no delete receivers there: any receiver disables Django's fast,
single-statement cascade, and deleting a project would load every row).

After the commit, schedule_refresh queues the rebuild of the touched issues' pages (issues.tasks).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_save

from accounts.models import Profile
from issues import pagecache
from issues.models import (
    Attachment,
    Comment,
    CustomField,
    History,
    Issue,
    IssueLink,
    IssueLinkType,
    IssueType,
    Label,
    Membership,
    Priority,
    Project,
    Resolution,
    Status,
    WorkflowStatus,
    WorkflowTransition,
)
from issues.tasks import refresh_issue_pages

logger = logging.getLogger("taskra.cache")

REFRESH_MAX_ISSUES = 20  # bulk writes leave their pages to readers rather than queue thousands of renders


def _on_issue_pre_save(sender: Any, instance: Issue, update_fields: Any = None, **kwargs: Any) -> None:
    # A sub-task moved to another parent must drop off the old parent's page too, and an issue moved to
    # another project (admin) off the old project's result pages.
    fields = None if update_fields is None else set(update_fields)
    if instance.pk and (fields is None or fields & {"parent", "project"}):
        old = sender.objects.filter(pk=instance.pk).values_list("parent_id", "project_id").first()
        if old is not None:
            # Read by _on_issue_saved; kept in the instance's __dict__ (not a model field).
            instance.__dict__["_cache_old_ids"] = (
                old[0] if old[0] != instance.parent_id else None,
                old[1] if old[1] != instance.project_id else None,
            )


# What the issue page shows of a linked issue (selectors.issue_link_rows): a save touching one of these retires
# the pages of the issues linked to it.
LINK_SHOWN_FIELDS = frozenset({"key", "number", "summary", "status", "project"})


def _on_issue_saved(
    sender: Any, instance: Issue, created: bool = False, update_fields: Any = None, **kwargs: Any
) -> None:
    # The issue's page, its parent's (which lists its sub-tasks), the pages of issues linked to it (they show its
    # key, summary and status) and its project's result pages. Issue pages do not depend on the project's counter
    # (issuepage.cached.issue_page_entry), so each page that shows the issue is named here.
    old_parent_id, old_project_id = instance.__dict__.pop("_cache_old_ids", (None, None))
    ids = [instance.pk, instance.parent_id, old_parent_id]
    if not created and (update_fields is None or LINK_SHOWN_FIELDS & set(update_fields)):
        ids += IssueLink.other_issue_ids([instance.pk])  # one indexed query; a new issue has no links yet
    projects = [instance.project_id, old_project_id]
    pagecache.invalidate_on_commit(ids, projects, using=kwargs.get("using"))


def on_issue_child_saved(sender: Any, instance: Any, **kwargs: Any) -> None:
    """Retire the page of the issue that a comment, history row or worklog belongs to (each app connects it)."""
    # Comments, history rows and worklogs show on their issue's page, and change what result pages show of it
    # (updated, time spent). The issue row usually came with the instance; otherwise one indexed query.
    issue = instance._state.fields_cache.get("issue")
    if issue is not None:
        project_id = issue.project_id
    else:
        project_id = Issue.objects.filter(pk=instance.issue_id).values_list("project_id", flat=True).first()
    pagecache.invalidate_on_commit([instance.issue_id], [project_id], using=kwargs.get("using"))


def _on_link_saved(sender: Any, instance: IssueLink, **kwargs: Any) -> None:
    # Both issues' pages list the link; JQL linkedIssues() results in both projects change.
    ids = [instance.outward_issue_id, instance.inward_issue_id]
    rows = list(Issue.objects.filter(pk__in=ids).values_list("id", "project_id"))
    pagecache.invalidate_on_commit([r[0] for r in rows], [r[1] for r in rows], using=kwargs.get("using"))


def _on_labels_changed(sender: Any, instance: Any, action: str, reverse: bool, pk_set: Any, **kwargs: Any) -> None:
    if not action.startswith("post_"):
        return
    if not reverse:
        pagecache.invalidate_on_commit([instance.pk], [instance.project_id], using=kwargs.get("using"))
        return
    # label.issues.add(...): the issues are in pk_set (None on clear: every page may show the label)
    if pk_set is None:
        pagecache.invalidate_on_commit(everything=True, using=kwargs.get("using"))
        return
    rows = list(Issue.objects.filter(pk__in=pk_set).values_list("id", "project_id"))
    pagecache.invalidate_on_commit([r[0] for r in rows], [r[1] for r in rows], using=kwargs.get("using"))


def _on_lookup_changed(sender: Any, instance: Any = None, **kwargs: Any) -> None:
    # Statuses, priorities, types, resolutions, labels, projects, memberships (visibility, assignee choices) and
    # display names show on many pages.
    pagecache.invalidate_on_commit(everything=True, using=kwargs.get("using"))


def _on_workflow_changed(sender: Any, instance: Any = None, **kwargs: Any) -> None:
    # A project's workflow shows on its board, issue pages (status menus) and result pages; the admin edits it.
    pagecache.invalidate_on_commit(config_ids=[instance.project_id], using=kwargs.get("using"))


def _on_user_saved(sender: Any, instance: Any, update_fields: Any = None, **kwargs: Any) -> None:
    # Names and active flags show on pages (assignees, member lists); logins only touch last_login.
    if update_fields is not None and set(update_fields) <= {"last_login"}:
        return
    pagecache.invalidate_on_commit(everything=True, using=kwargs.get("using"))


def schedule_refresh(issue_ids: Iterable[int | None]) -> None:
    """Queue a rebuild of these issues' pages (issues.tasks.refresh_issue_pages) so the next read is a hit.

    Only after the write committed and the generations moved; never fails or delays the write: a
    broker that does not answer at once is logged and the pages are rebuilt by their next reader.
    """
    if not settings.TASKRA_PAGE_REFRESH or not pagecache.page_cache_enabled():
        return
    ids = sorted({int(i) for i in issue_ids if i is not None})
    if not ids or len(ids) > REFRESH_MAX_ISSUES:
        return
    try:
        refresh_issue_pages.apply_async(args=[ids], expires=60, retry=False)
    except Exception as exc:
        logger.warning("could not queue the page refresh of issues %s: %s", ids, exc)


def _on_pages_invalidated(sender: Any, issue_ids: list[int], **kwargs: Any) -> None:
    schedule_refresh(issue_ids)


def connect_signals() -> None:
    """Connect the page-cache receivers (called from IssuesConfig.ready)."""
    pre_save.connect(_on_issue_pre_save, sender=Issue, dispatch_uid="taskra_cache_issue_pre")
    post_save.connect(_on_issue_saved, sender=Issue, dispatch_uid="taskra_cache_issue_save")
    for child in (Comment, History, Attachment):
        post_save.connect(on_issue_child_saved, sender=child, dispatch_uid=f"taskra_cache_{child.__name__}_save")
    post_save.connect(_on_link_saved, sender=IssueLink, dispatch_uid="taskra_cache_issuelink_save")
    m2m_changed.connect(_on_labels_changed, sender=Issue.labels.through, dispatch_uid="taskra_cache_labels")
    post_save.connect(_on_user_saved, sender=get_user_model(), dispatch_uid="taskra_cache_user_save")
    lookups = (IssueLinkType, IssueType, Status, Priority, Resolution, Label, Project, Profile, Membership, CustomField)
    for lookup in lookups:
        uid = f"taskra_cache_{lookup.__name__}"
        post_save.connect(_on_lookup_changed, sender=lookup, dispatch_uid=f"{uid}_save")
        post_delete.connect(_on_lookup_changed, sender=lookup, dispatch_uid=f"{uid}_delete")
    for step in (WorkflowStatus, WorkflowTransition):
        uid = f"taskra_cache_{step.__name__}"
        post_save.connect(_on_workflow_changed, sender=step, dispatch_uid=f"{uid}_save")
        post_delete.connect(_on_workflow_changed, sender=step, dispatch_uid=f"{uid}_delete")
    pagecache.pages_invalidated.connect(_on_pages_invalidated, dispatch_uid="taskra_cache_refresh")
