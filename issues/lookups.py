"""Rows the issue page needs on every miss yet that change once in a blue moon, kept per process.

- lookup rows (issue types, statuses, priorities, resolutions) and link types: retired by the global
  generation, which any save or delete of one bumps (issues.signals._on_lookup_changed);
- a project's workflow and its members (the issue page's status and assignee editors): retired by the
  project's configuration counter (pagecache.project_config_gen_key, which issue writes leave alone) and the
  global generation. Workflow rows bump the configuration's (issues.signals._on_workflow_changed, and
  workflow_update/workflow_add_statuses for their bulk writes); memberships, users and profiles bump the
  global one (issues.signals), and bulk membership writes the configuration's (bench/load.py, seeding). These
  are the same generations that retire the cached issue page body showing them, so a kept value is never
  older than a body a reader could get from the shared cache.

An issue read with every lookup joined is a 12-table join whose planning costs ten times its execution (2.4 ms
against 0.3 ms on PostgreSQL); the workflow and the members cost three queries more per issue-page miss.
Without a shared page cache there is no generation every process sees: callers then read the tables as before
(the functions return None, or read through).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Model

from issues import pagecache
from issues.lru import BoundedLRU
from issues.models import IssueLinkType, IssueType, Priority, Project, Resolution, Status
from issues.workflows import Workflow, workflow_for
from taskra_site.sharedcache import CacheDown

# Issue field -> lookup model (the project is joined: its row carries the key counter, written with every issue).
LOOKUP_FIELDS: dict[str, type[Model]] = {
    "type": IssueType,
    "status": Status,
    "priority": Priority,
    "resolution": Resolution,
}


@dataclass(frozen=True)
class _Loaded:
    generation: int
    rows: dict[str, dict[int, Model]]
    link_types: tuple[IssueLinkType, ...]


_state: _Loaded | None = None
# project id -> ((global generation, configuration generation), value): a few hundred projects at most.
_workflows = BoundedLRU(2048)
_members = BoundedLRU(2048)


def _global_generation() -> int | None:
    """Return the global generation, or None when the shared page cache is off or down (read through then)."""
    if not pagecache.page_cache_enabled():
        return None
    try:
        # Bumps waiting in the outbox (written while the cache was down) are replayed by the page's own reads of
        # generations; checking for them here too would cost a query per call.
        (generation,) = pagecache.read_generations([pagecache.GLOBAL_GEN_KEY], outbox_checked=True)
    except CacheDown:
        return None
    return generation


def _loaded() -> _Loaded | None:
    global _state
    # Read before the rows: a change committed after this read bumps past it, and the next call reloads.
    generation = _global_generation()
    if generation is None:
        return None
    state = _state
    if state is not None and state.generation == generation:
        return state
    rows = {field: {row.pk: row for row in model._default_manager.all()} for field, model in LOOKUP_FIELDS.items()}
    state = _state = _Loaded(generation, rows, tuple(IssueLinkType.objects.only("id", "name", "outward", "inward")))
    return state


def lookup_rows() -> dict[str, dict[int, Model]] | None:
    """Return the lookup rows by issue field and id, or None when they cannot be known current.

    One cache read (the global generation) per call; five small queries when it moved since the last load.
    """
    state = _loaded()
    return None if state is None else state.rows


def link_types() -> list[IssueLinkType]:
    """Return every issue link type in name order (kept per process; one query when that cannot be current)."""
    state = _loaded()
    if state is None:
        return list(IssueLinkType.objects.only("id", "name", "outward", "inward"))
    return list(state.link_types)


def attach_lookups(issue: Any, rows: dict[str, dict[int, Model]]) -> bool:
    """Set the issue's type, status, priority and resolution from the rows; return False if one is missing."""
    for field, by_id in rows.items():
        pk = getattr(issue, f"{field}_id")
        if pk is None:
            setattr(issue, field, None)
            continue
        row = by_id.get(pk)
        if row is None:  # added since the load and not yet seen through the generation: read it the usual way
            return False
        setattr(issue, field, row)
    return True


def _project_generations(project_id: int) -> tuple[int, ...] | None:
    if not pagecache.page_cache_enabled():
        return None
    try:
        # Outbox: as in _global_generation.
        return pagecache.read_generations(pagecache.gen_keys((), (), [project_id]), outbox_checked=True)
    except CacheDown:
        return None


def project_workflow(project: Project) -> Workflow:
    """Return the project's workflow (issues.workflows.workflow_for), kept per process at its generations."""
    generations = _project_generations(project.pk)
    if generations is None:
        return workflow_for(project)
    kept = _workflows.peek(project.pk)
    if kept is not None and kept[0] == generations:
        return kept[1]
    # Read after the generations: a change committed after that read bumps past them, and the next call reloads.
    workflow = workflow_for(project)
    _workflows.set(project.pk, (generations, workflow))
    return workflow


def project_members(project_id: int) -> list[Any]:
    """Return the project's members (active or not, with profiles) by display name, kept per process.

    Only the fields the issue page's assignee editor shows are loaded. Callers must not modify the users.
    """
    generations = _project_generations(project_id)
    kept = None if generations is None else _members.peek(project_id)
    if kept is not None and kept[0] == generations:
        return kept[1]
    users = list(
        get_user_model()
        .objects.filter(memberships__project_id=project_id)
        .select_related("profile")
        .only("id", "username", "first_name", "last_name", "is_active", "profile__display_name")
        .order_by("profile__display_name", "username")
    )
    if generations is not None:
        _members.set(project_id, (generations, users))
    return users


def reset_state() -> None:
    """Forget the rows kept by this process (tests)."""
    global _state
    _state = None
    _workflows.clear()
    _members.clear()
