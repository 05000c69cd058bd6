"""Per-project workflows: which statuses a project uses, in which order, and which moves between them it allows.

Jira's model (docs/workflows.md): statuses are global rows, a name is shared by every project that uses it;
each project has a workflow, its steps (WorkflowStatus: status, position, board WIP limit) and its transitions
(WorkflowTransition: from a status, or from any status when `from_status` is None, to a status, with a name).

The one rule is `Workflow.error` (and `transition_error`, which loads the workflow first): every entry point
that changes an issue's status asks it: the issue form and inline edit (services.issue_update/issue_create),
the board (issues.boards), bulk change (issues.bulk), imports (imports.writer) and the REST API transitions.

A project without any workflow rows (created by a raw bulk insert, before this feature) has an implicit
workflow: every global status, every move allowed, as before workflows existed. New projects get the default
workflow (issues.signals), and migration 0005 gave every existing project one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Exists, Max, Q, QuerySet

from issues import pagecache
from issues.defaults import STATUSES
from issues.models import Project, Status, WorkflowStatus, WorkflowTransition
from issues.permissions import require_admin

StatusRef = Status | int | None


def _status_id(value: StatusRef) -> int | None:
    return value.pk if isinstance(value, Status) else value


@dataclass(frozen=True)
class Step:
    """One status of a workflow, as a board column: id, name, category and WIP limit (None: no limit)."""

    status_id: int
    name: str
    category: str
    wip_limit: int | None = None


@dataclass(frozen=True)
class Workflow:
    """A project's workflow, loaded once (two queries) and asked many times (no queries)."""

    project_id: int
    project_key: str
    steps: tuple[Step, ...]
    any_to: frozenset[int] = frozenset()  # targets of global "any -> X" transitions
    edges: dict[tuple[int, int], str] = field(default_factory=dict)  # (from, to) -> transition name
    any_names: dict[int, str] = field(default_factory=dict)  # to -> name of the global transition
    defined: bool = True  # False: the project has no workflow rows (every status, every move)

    @property
    def status_ids(self) -> list[int]:
        """Return the ids of the workflow's statuses, in order."""
        return [s.status_id for s in self.steps]

    def step(self, status_id: int | None) -> Step | None:
        """Return the step of a status, or None when the workflow does not use it."""
        return next((s for s in self.steps if s.status_id == status_id), None)

    def name_of(self, status_id: int) -> str:
        """Return a status's name for messages (its id when the workflow does not know it)."""
        step = self.step(status_id)
        if step is not None:
            return step.name
        return Status.objects.filter(pk=status_id).values_list("name", flat=True).first() or str(status_id)

    def error(self, from_status: StatusRef, to_status: StatusRef) -> str | None:
        """Return why an issue of the project may not move from `from_status` to `to_status`, or None if it may.

        `from_status` None is a new issue: any status of the workflow may be its first. Staying put is no move.
        """
        from_id, to_id = _status_id(from_status), _status_id(to_status)
        if to_id is None:
            return "Choose a status."
        if from_id == to_id:
            return None
        if self.step(to_id) is None:
            return f"{self.name_of(to_id)} is not a status of {self.project_key}'s workflow."
        if from_id is None or not self.defined:
            return None
        if to_id in self.any_to or (from_id, to_id) in self.edges:
            return None
        return (
            f"{self.project_key}'s workflow does not allow moving from {self.name_of(from_id)} "
            f"to {self.name_of(to_id)}."
        )

    def transitions_from(self, from_status: StatusRef) -> list[tuple[Step, str]]:
        """Return the (target step, transition name) pairs allowed from a status, in workflow order."""
        from_id = _status_id(from_status)
        out = []
        for step in self.steps:
            if step.status_id == from_id or self.error(from_id, step.status_id) is not None:
                continue
            name = self.edges.get((from_id, step.status_id), "") if from_id is not None else ""
            out.append((step, name or self.any_names.get(step.status_id, "") or step.name))
        return out


def workflows_for(projects: Iterable[Project]) -> dict[int, Workflow]:
    """Return the workflow of each project, by project id (two queries, three when one has no rows)."""
    by_id: dict[int, Project] = {p.pk: p for p in projects}
    if not by_id:
        return {}
    steps: dict[int, list[Step]] = {pk: [] for pk in by_id}
    rows = (
        WorkflowStatus.objects.filter(project_id__in=list(by_id))
        .order_by("project_id", "position", "id")
        .values_list("project_id", "status_id", "status__name", "status__category", "wip_limit")
    )
    for project_id, status_id, name, category, wip in rows:
        steps[project_id].append(Step(status_id, name, category, wip))
    any_to: dict[int, set[int]] = {pk: set() for pk in by_id}
    any_names: dict[int, dict[int, str]] = {pk: {} for pk in by_id}
    edges: dict[int, dict[tuple[int, int], str]] = {pk: {} for pk in by_id}
    for project_id, from_id, to_id, name in WorkflowTransition.objects.filter(project_id__in=list(by_id)).values_list(
        "project_id", "from_status_id", "to_status_id", "name"
    ):
        if from_id is None:
            any_to[project_id].add(to_id)
            any_names[project_id][to_id] = name
        else:
            edges[project_id][(from_id, to_id)] = name
    implicit: tuple[Step, ...] | None = None
    out = {}
    for pk, project in by_id.items():
        defined = bool(steps[pk])
        if not defined and implicit is None:
            implicit = tuple(Step(s.pk, s.name, s.category) for s in Status.objects.order_by("position", "name"))
        out[pk] = Workflow(
            project_id=pk,
            project_key=project.key,
            steps=tuple(steps[pk]) if defined else implicit or (),
            any_to=frozenset(any_to[pk]),
            edges=edges[pk],
            any_names=any_names[pk],
            defined=defined,
        )
    return out


def workflow_for(project: Project) -> Workflow:
    """Return a project's workflow (two queries)."""
    return workflows_for([project])[project.pk]


def transition_error(project: Project, from_status: StatusRef, to_status: StatusRef) -> str | None:
    """Return why the project's workflow refuses the move (from_status None: a new issue), or None if allowed."""
    return workflow_for(project).error(from_status, to_status)


def workflow_statuses(project: Project) -> list[Status]:
    """Return the statuses the project uses, in workflow order (every status when it has no workflow)."""
    ids = workflow_for(project).status_ids
    by_id = Status.objects.in_bulk(ids)
    return [by_id[pk] for pk in ids if pk in by_id]


def statuses_of_projects(project_ids: QuerySet | Iterable[int]) -> QuerySet:
    """Return the statuses used by any of these projects (navigator filters, JQL hints, bulk change): one query.

    Projects without workflow rows contribute every status (their implicit workflow).
    """
    ids = project_ids if isinstance(project_ids, QuerySet) else list(project_ids)
    used = WorkflowStatus.objects.filter(project_id__in=ids).values("status_id")
    undefined = Project.objects.filter(pk__in=ids, workflow_statuses__isnull=True)
    return Status.objects.filter(Q(pk__in=used) | Q(Exists(undefined))).order_by("position", "name")


def default_workflow_statuses() -> list[Status]:
    """Return the statuses of Jira's default workflow (To Do, In Progress, In Review, Done) that exist."""
    found = list(Status.objects.filter(name__in=[n for n, _c, _p in STATUSES]).order_by("position", "name"))
    return found or list(Status.objects.order_by("position", "name"))


@transaction.atomic
def workflow_create_default(*, project: Project) -> None:
    """Give a project without a workflow Jira's default one: the default statuses, every move allowed."""
    if WorkflowStatus.objects.filter(project=project).exists():
        return
    workflow_add_statuses(project=project, statuses=default_workflow_statuses())


@transaction.atomic
def workflow_add_statuses(*, project: Project, statuses: Sequence[Status]) -> list[Status]:
    """Append the statuses the project's workflow lacks, each reachable from any status; return those added.

    For imports: a project's workflow grows by the statuses its issues bring (other projects keep theirs).
    """
    have = set(WorkflowStatus.objects.filter(project=project).values_list("status_id", flat=True))
    new = [s for s in dict.fromkeys(statuses) if s.pk not in have]
    if not new:
        return []
    top = WorkflowStatus.objects.filter(project=project).aggregate(m=Max("position"))["m"] or 0
    WorkflowStatus.objects.bulk_create(
        [WorkflowStatus(project=project, status=s, position=top + i) for i, s in enumerate(new, start=1)]
    )
    WorkflowTransition.objects.bulk_create(
        [WorkflowTransition(project=project, from_status=None, to_status=s) for s in new], ignore_conflicts=True
    )
    pagecache.invalidate_on_commit(config_ids=[project.pk])
    return new


@dataclass(frozen=True)
class TransitionSpec:
    """One transition of a workflow being saved: from (None: any status) -> to, with a name."""

    from_status: Status | None
    to_status: Status
    name: str = ""


@transaction.atomic
def workflow_update(
    *,
    project: Project,
    actor: Any | None,
    steps: Sequence[tuple[Status, int | None]],
    transitions: Sequence[TransitionSpec],
) -> Workflow:
    """Replace a project's workflow: its statuses in order (with WIP limits) and its transitions.

    Project admins only (actor None: the system or the Django admin). A status that issues of the project are in
    cannot leave the workflow (they would be stranded), transitions only join statuses of the workflow, and the
    workflow keeps at least one status.
    """
    if actor is not None:
        require_admin(actor, project.pk, "Only project admins may change the workflow.")
    ids = [s.pk for s, _wip in steps]
    if not ids:
        raise ValidationError("A workflow needs at least one status.")
    if len(set(ids)) != len(ids):
        raise ValidationError("A status appears twice in the workflow.")
    for status, wip in steps:
        if wip is not None and wip < 1:
            raise ValidationError(f"The WIP limit of {status.name} must be a positive number (or empty: no limit).")
    stranded = (
        Status.objects.filter(pk__in=project.issues.exclude(status_id__in=ids).values("status_id"))
        .order_by("name")
        .values_list("name", flat=True)
    )
    if stranded:
        raise ValidationError(
            f"Issues of {project.key} are in {', '.join(stranded)}: move them before removing the status."
        )
    seen: set[tuple[int | None, int]] = set()
    for t in transitions:
        for end in (t.from_status, t.to_status):
            if end is not None and end.pk not in ids:
                raise ValidationError(f"Transition to or from {end.name}: not a status of this workflow.")
        key = (t.from_status.pk if t.from_status else None, t.to_status.pk)
        if key in seen:
            raise ValidationError(f"The transition to {t.to_status.name} is listed twice.")
        if t.from_status is not None and t.from_status.pk == t.to_status.pk:
            raise ValidationError(f"A transition from {t.to_status.name} to itself is no move.")
        seen.add(key)
    WorkflowStatus.objects.filter(project=project).delete()
    WorkflowTransition.objects.filter(project=project).delete()
    WorkflowStatus.objects.bulk_create(
        [
            WorkflowStatus(project=project, status=s, position=i, wip_limit=wip)
            for i, (s, wip) in enumerate(steps, start=1)
        ]
    )
    WorkflowTransition.objects.bulk_create(
        [
            WorkflowTransition(project=project, from_status=t.from_status, to_status=t.to_status, name=t.name[:60])
            for t in transitions
        ]
    )
    # Boards, issue pages (their status menus) and result pages of the project read the workflow.
    pagecache.invalidate_on_commit(config_ids=[project.pk])
    return workflow_for(project)


def on_project_created(sender: type, instance: Project, created: bool, raw: bool = False, **kwargs: Any) -> None:
    """Give a new project the default workflow (post_save of Project; fixtures loading raw rows bring their own)."""
    if created and not raw:
        workflow_create_default(project=instance)
