"""A project's workflow settings page (/projects/<KEY>/settings/workflow): project admins edit statuses and moves.

The page posts the whole workflow (statuses in order with WIP limits, and a grid of allowed moves) and the view
hands it to issues.workflows.workflow_update, the one writer; its ValidationErrors come back as the page's errors.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from issues.models import Project, Status
from issues.permissions import can_admin_in, project_role
from issues.selectors import projects_visible_to
from issues.workflows import TransitionSpec, Workflow, workflow_for, workflow_update

ANY = "any"


def project_or_404(request: HttpRequest, key: str) -> tuple[Project, str]:
    """Return a project the user is a member of and their role; 404 for anyone else (as a missing project)."""
    project = projects_visible_to(request.user).filter(key=key.upper()).first()
    role = project_role(request.user, project.pk) if project is not None else None
    if project is None or role is None:
        raise Http404("No such project.")
    return project, role


def _grid(workflow: Workflow) -> list[dict[str, Any]]:
    """Return the rows of the transitions grid: from "any" and from each status, a cell per target status."""
    rows = []
    for from_id, label in [(None, "Any status"), *((s.status_id, s.name) for s in workflow.steps)]:
        cells = []
        for step in workflow.steps:
            if from_id == step.status_id:
                cells.append(None)
                continue
            if from_id is None:  # an implicit workflow (no rows yet) allows every move
                allowed = step.status_id in workflow.any_to or not workflow.defined
            else:
                allowed = (from_id, step.status_id) in workflow.edges
            name = (
                workflow.any_names.get(step.status_id, "")
                if from_id is None
                else workflow.edges.get((from_id, step.status_id), "")
            )
            cells.append({"key": f"{from_id or ANY}_{step.status_id}", "allowed": allowed, "name": name, "to": step})
        rows.append({"from": label, "cells": cells})
    return rows


def _parse(data: Any, workflow: Workflow) -> tuple[list[tuple[Status, int | None]], list[TransitionSpec]]:
    """Return the workflow the form posted: statuses in order with WIP limits, and the checked transitions."""
    statuses = Status.objects.in_bulk()
    ordered: list[tuple[int, int, int | None]] = []  # (position, status id, wip)
    for index, step in enumerate(workflow.steps):
        if data.get(f"remove_{step.status_id}"):
            continue
        position = data.get(f"position_{step.status_id}", "").strip() or str(index + 1)
        wip = data.get(f"wip_{step.status_id}", "").strip()
        if not position.isdigit():
            raise ValidationError(f"The position of {step.name} must be a whole number.")
        if wip and not wip.isdigit():
            raise ValidationError(f"The WIP limit of {step.name} must be a whole number (or empty: no limit).")
        ordered.append((int(position), step.status_id, int(wip) if wip else None))
    added = data.get("add_status", "").strip()
    if added:
        if not added.isdigit() or int(added) not in statuses:
            raise ValidationError("Choose a status to add.")
        ordered.append((10_000, int(added), None))
    ordered.sort(key=lambda row: (row[0], row[1]))
    steps = [(statuses[pk], wip) for _pos, pk, wip in ordered]
    kept = {pk for _pos, pk, _wip in ordered}
    transitions = []
    for from_id in [None, *(s.status_id for s in workflow.steps)]:
        for to_id in kept:
            key = f"{from_id or ANY}_{to_id}"
            new_target = to_id not in workflow.status_ids  # a status just added is reachable from any status
            if (data.get(f"t_{key}") or (from_id is None and new_target)) and from_id != to_id:
                if from_id is not None and from_id not in kept:
                    continue
                name = data.get(f"n_{key}", "").strip()
                transitions.append(
                    TransitionSpec(statuses[from_id] if from_id is not None else None, statuses[to_id], name)
                )
    return steps, transitions


@require_http_methods(["GET", "POST"])
def workflow_settings(request: HttpRequest, key: str) -> HttpResponse:
    """Show and change a project's workflow: project admins only (members get 403, outsiders 404)."""
    project, role = project_or_404(request, key)
    if not can_admin_in(role):
        raise PermissionDenied("Only project admins may change the workflow.")
    workflow = workflow_for(project)
    errors: list[str] = []
    status = 200
    if request.method == "POST":
        try:
            steps, transitions = _parse(request.POST, workflow)
            workflow_update(project=project, actor=request.user, steps=steps, transitions=transitions)
        except ValidationError as exc:
            errors = list(exc.messages)
            status = 400
        else:
            messages.success(request, f"{project.key}'s workflow saved.")
            return HttpResponseRedirect(reverse("issues:workflow_settings", args=[project.key]))
    context = {
        "project": project,
        "workflow": workflow,
        "grid": _grid(workflow),
        "addable": Status.objects.exclude(pk__in=workflow.status_ids) if workflow.defined else Status.objects.none(),
        "errors": errors,
    }
    return render(request, "issues/workflow_settings.html", context, status=status)
