"""The import writer: upsert one chunk of validated records (issues, labels, worklogs, comments) in batches.

Rules come from the issue services (resolution, history text, key counter); this module only batches:
look-ups cached for the whole job, one statement per table and chunk, COPY for new rows on PostgreSQL
(taskra_site.sql). Cached pages are retired in one place, `_invalidate_on_commit`.

Permissions (issues.permissions): every row an import touches, finds or links lies in a project the importer
may edit (`editable_project_ids`, re-read every chunk; the command line has no user and may write anywhere).
A record naming an issue, worklog or comment that exists in another project is a row error that names
nothing the importer cannot see, and nothing of that record is written; a parent elsewhere is "not found".
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from django.db.models import Model
from django.utils import timezone

from imports import parsers
from imports.custom_fields import CustomFieldStore, CustomValueError
from imports.models import Job, JobFormat
from imports.schemas import IssueRecord, LinkRecord, UserRef
from imports.users import UserMatcher
from issues import pagecache
from issues.durations import format_duration
from issues.models import (
    Comment,
    History,
    Issue,
    IssueLink,
    IssueLinkType,
    IssueType,
    Priority,
    Project,
    Resolution,
    Status,
    StatusCategory,
)
from issues.permissions import can_admin_in, editable_project_ids, may_create_projects, role_of
from issues.services import (
    default_priority,
    default_status,
    default_subtask_type,
    default_type,
    done_resolution_id,
    history_record_rows,
    issue_parent_error,
    labels_get_or_create,
    project_counters_raise,
    project_get_or_create,
    resolution_for_status,
)
from issues.workflows import Workflow, workflow_add_statuses, workflow_for
from taskra_site import sql
from worklogs.models import Worklog
from worklogs.services import issue_recalculate_time_spent, worklog_rollup_add

SOURCE_BY_FORMAT: dict[str, str] = {
    JobFormat.JIRA_JSON: "jira",
    JobFormat.JIRA_CSV: "jira",
    JobFormat.TASKRA_JSONL: "taskra",
    JobFormat.JIRA_XML: "jira",
    JobFormat.JIRA_BACKUP: "jira",
}


@dataclass
class ChunkOutcome:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    worklogs: int = 0
    comments: int = 0
    errors: list[parsers.RowError] = field(default_factory=list)
    pending_parents: list[list[str]] = field(default_factory=list)
    not_kept: Counter[str] = field(default_factory=Counter)  # for the job summary (chunks.summary_merged)


class ParentRow(NamedTuple):
    """An issue as the hierarchy rule reads a parent (issues.services.ParentLike)."""

    pk: int
    key: str
    project_id: int
    parent_id: int | None
    type_id: int


class ChildRow(NamedTuple):
    """An issue about to get a parent, with its type and whether it has sub-tasks (loaded per batch)."""

    pk: int
    key: str
    project_id: int
    has_subtasks: bool
    type_id: int


class TypeRow(NamedTuple):
    """An issue type as the hierarchy rule reads it (issues.services.TypeLike)."""

    name: str
    is_subtask: bool


class OldChild(NamedTuple):
    """An existing worklog or comment the chunk names: its id, its columns (`fields`) and its issue's project."""

    pk: int
    values: tuple
    project_id: int


# The same words whether the project exists or the importer may not write into it: no leaking which exist.
PROJECT_REFUSED = "Project {key} does not exist or you may not import into it."
PARENT_NOT_FOUND = "Parent {key} not found: it is neither in the file nor in a project you may change."


class RecordError(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


# Issue columns an import sets (attnames), compared to decide created / updated / unchanged.
ISSUE_FIELDS = (
    "summary",
    "description",
    "type_id",
    "status_id",
    "priority_id",
    "resolution_id",
    "assignee_id",
    "reporter_id",
    "due_date",
    "original_estimate",
    "remaining_estimate",
    "created",
    "updated",
    "resolved",
    "source",
    "external_id",
)
WORKLOG_FIELDS = ("issue_id", "author_id", "started", "time_spent", "comment", "created", "updated")
COMMENT_FIELDS = ("issue_id", "author_id", "body", "created", "updated")
# A record's children: its attribute -> the model, upserted by (source, external id).
CHILDREN: dict[str, type[Model]] = {"worklogs": Worklog, "comments": Comment}
CHILD_FIELDS: dict[str, tuple[str, ...]] = {"worklogs": WORKLOG_FIELDS, "comments": COMMENT_FIELDS}


def child_external_ids(key: str, rec: IssueRecord, attr: str) -> list[str]:
    """Return the external ids of a record's worklogs or comments: their own, else issue key and position."""
    return [child.external_id or f"{key}/{attr[:-1]}/{index}" for index, child in enumerate(getattr(rec, attr), 1)]


class ImportWriter:
    """Write validated records chunk by chunk; caches lookups (users, projects, statuses) for the whole job."""

    def __init__(self, job: Job) -> None:
        self.job = job
        self.source = SOURCE_BY_FORMAT.get(job.format, "import")
        self.target_project = job.options.get("project")
        self.actor = job.user
        self.projects: dict[str, int | str] = {}  # key -> id, or the error message for a missing project
        self.created_projects: set[int] = set()  # created by this job (by staff): theirs to write
        self.editable: set[int] | None = self._editable_projects()
        self.users = UserMatcher(job.user)
        self.people_recorded: set[int] = set()  # placeholders already linked to the job
        self.labels: dict[str, int] = {}
        self.link_types: dict[str, int | None] = {}  # lower-case name -> id (None: missing, may not be added)
        self.statuses = {name.lower(): pk for pk, name in Status.objects.values_list("pk", "name")}
        self.types = {name.lower(): pk for pk, name in IssueType.objects.values_list("pk", "name")}
        self.type_rows: dict[int, TypeRow] = {}  # by id, for the hierarchy rule (loaded on first use)
        self.priorities = {name.lower(): pk for pk, name in Priority.objects.values_list("pk", "name")}
        self.resolutions = {name.lower(): pk for pk, name in Resolution.objects.values_list("pk", "name")}
        self.done_statuses = set(Status.objects.filter(category=StatusCategory.DONE).values_list("pk", flat=True))
        self.done_resolution = done_resolution_id()
        self.default_status = default_status().pk
        self.default_type = default_type().pk
        self.default_subtask_type = default_subtask_type().pk  # a record with a parent and no type
        self.default_priority = default_priority().pk
        self.may_add_lookups = may_create_projects(self.actor)
        self.custom_fields = CustomFieldStore(may_add_fields=self.may_add_lookups)
        # Per-project workflows (issues.workflows), loaded on first use in each chunk.
        self.workflows: dict[int, Workflow] = {}

    # -- permissions -----------------------------------------------------------------------------------

    def _editable_projects(self) -> set[int] | None:
        """Return the ids of the projects the importer may write into (None: the command line, every project)."""
        if self.actor is None:
            return None
        return set(editable_project_ids(self.actor).values_list("project_id", flat=True)) | self.created_projects

    def may_write(self, project_id: int) -> bool:  # noqa: D401 - also read by imports.services
        """Return whether this import may touch, find or link rows of the project (issues.permissions.may_edit)."""
        return self.editable is None or project_id in self.editable

    # -- lookups -----------------------------------------------------------------------------------

    def _project_id(self, key: str, name: str | None) -> int:
        known = self.projects.get(key)
        if isinstance(known, str):
            raise RecordError("key", known)
        if known is None:
            project = Project.objects.filter(key=key).first()
            if project is None:
                if not may_create_projects(self.actor):
                    message = PROJECT_REFUSED.format(key=key)
                    self.projects[key] = message
                    raise RecordError("key", message)
                if not re.fullmatch(r"[A-Z][A-Z0-9_]{1,9}", key):
                    message = f"{key} is not a valid project key."
                    self.projects[key] = message
                    raise RecordError("key", message)
                project = project_get_or_create(key=key, name=name or key, lead=self.actor)
                self.created_projects.add(project.pk)
                if self.editable is not None:
                    self.editable.add(project.pk)
            known = self.projects[key] = project.pk
        if not self.may_write(known):
            # Same words as a missing project (and re-checked every chunk: a revoked membership stops the job's writes).
            raise RecordError("key", PROJECT_REFUSED.format(key=key))
        return known

    def _status_id(self, record: IssueRecord) -> int:
        if not record.status:
            return self.default_status
        found = self.statuses.get(record.status.lower())
        if found:
            return found
        known = ", ".join(Status.objects.order_by("position", "name").values_list("name", flat=True))
        if not record.status_category:
            raise RecordError(
                "status",
                f"status '{record.status}' is not one of: {known}. Give its category (Jira's statusCategory, the "
                "CSV column Status Category, status_category) to create it.",
            )
        if not self.may_add_lookups:
            raise RecordError(
                "status", f"status '{record.status}' is not one of: {known}. An administrator must add it first."
            )
        status, _ = Status.objects.get_or_create(
            name=record.status, defaults={"category": record.status_category, "position": 100}
        )
        self.statuses[record.status.lower()] = status.pk
        if status.category == StatusCategory.DONE:
            self.done_statuses.add(status.pk)
        return status.pk

    def _workflow(self, project_id: int) -> Workflow:
        found = self.workflows.get(project_id)
        if found is None:
            project = Project.objects.only("id", "key").get(pk=project_id)
            found = self.workflows[project_id] = workflow_for(project)
        return found

    def _may_extend_workflow(self, project_id: int) -> bool:
        """Return whether this import may add statuses to the project's workflow: staff, the command, its admins."""
        if self.may_add_lookups or project_id in self.created_projects:
            return True
        return self.actor is not None and can_admin_in(role_of(user_id=self.actor.pk, project_id=project_id))

    def _check_workflow(self, project_id: int, from_status: int | None, to_status: int) -> None:
        """Raise RecordError unless the project's workflow takes the record's status (issues.workflows' rule).

        A status the workflow lacks is added to this project's workflow (reachable from any status) when the
        importer may extend it; other projects' status lists are left alone.
        """
        workflow = self._workflow(project_id)
        error = workflow.error(from_status, to_status)
        if error is not None and workflow.step(to_status) is None and self._may_extend_workflow(project_id):
            project = Project.objects.only("id", "key").get(pk=project_id)
            workflow_add_statuses(project=project, statuses=[Status.objects.get(pk=to_status)])
            workflow = self.workflows[project_id] = workflow_for(project)
            error = workflow.error(from_status, to_status)
        if error is not None:
            if workflow.step(to_status) is None:
                error += " A project admin must add it to the workflow first."
            raise RecordError("status", error)

    def _named(
        self, cache: dict[str, int], model: type[Model], name: str | None, default: int | None, **defaults: Any
    ) -> int | None:
        if not name:
            return default
        found = cache.get(name.lower())
        if found:
            return found
        obj = model._default_manager.filter(name__iexact=name).first()
        if obj is None:
            if not self.may_add_lookups:
                # Statuses, types, priorities and resolutions are global: only staff (or the command) add them.
                label = str(model._meta.verbose_name)
                known = ", ".join(sorted(model._default_manager.values_list("name", flat=True)))
                raise RecordError(
                    label.replace(" ", "_"),
                    f"{label} '{name}' is not one of: {known}. An administrator must add it first.",
                )
            obj = model._default_manager.create(name=name, **defaults)
        cache[name.lower()] = obj.pk
        return obj.pk

    def _label_ids(self, names: Iterable[str]) -> None:
        missing = {n for n in names if n not in self.labels}
        if missing:
            for label in labels_get_or_create(missing):
                self.labels[label.name] = label.pk

    # -- one chunk -----------------------------------------------------------------------------------

    def write(self, items: list[tuple[parsers.RawRecord, IssueRecord]]) -> ChunkOutcome:
        """Upsert the chunk's issues, labels, worklogs and comments; return the counts and row errors."""
        out = ChunkOutcome()
        if not items:
            return out
        now = timezone.now()
        self.editable = self._editable_projects()
        self.workflows = {}  # a retried chunk re-reads them: its workflow additions rolled back with it
        self.custom_fields.begin_chunk()  # the same for custom fields it created
        # Keys first: a key twice in one chunk is an error for the later record (the earlier one is written).
        refs: list[UserRef] = []
        rows: list[tuple[parsers.RawRecord, IssueRecord, str, int]] = []
        seen: dict[str, int] = {}
        custom: dict[str, dict[int, Any]] = {}  # key -> the record's custom-field values (imports.custom_fields)
        for raw, rec in items:
            out.not_kept.update(rec.not_kept)
            number = int(rec.key.rsplit("-", 1)[1])
            key = f"{self.target_project}-{number}" if self.target_project else rec.key
            if key in seen:
                out.errors.append(
                    parsers.RowError(raw.number, raw.line, key, "key", f"Duplicate of record {seen[key]}.")
                )
                continue
            seen[key] = raw.number
            rows.append((raw, rec, key, number))
            for user in (
                rec.assignee,
                rec.reporter,
                *(w.author for w in rec.worklogs),
                *(c.author for c in rec.comments),
                *(h.author for h in rec.history),
            ):
                if user is not None:
                    refs.append(user)
        self.users.resolve(refs)
        self._label_ids(name for _, rec, _, _ in rows for name in rec.labels)
        unresolved = self._parents_by_external_id(rows)

        # An external id already imported under another key would violate (source, external_id).
        ext_ids = [rec.external_id for _, rec, _, _ in rows if rec.external_id]
        ext_taken = {
            ext: (taken_key, project_id)
            for ext, taken_key, project_id in sql.rows_by_external_id(
                Issue, self.source, ext_ids, ("external_id", "key", "project_id")
            )
        }
        existing = {
            row["key"]: row
            for row in sql.where_in(Issue.objects.all(), "key", [key for _, _, key, _ in rows]).values(
                "id", "key", "project_id", "parent_id", *ISSUE_FIELDS
            )
        }

        issues: list[Issue] = []  # updated rows, upserted
        new_rows: list[tuple] = []  # created rows, inserted as plain tuples (COPY on PostgreSQL)
        accepted: list[
            tuple[parsers.RawRecord, IssueRecord, str, tuple[int, int], str]
        ] = []  # state: created/updated/unchanged
        history: list[tuple[str, str, Any, Any]] = []
        old_children = {attr: self._old_children(rows, attr, model) for attr, model in CHILDREN.items()}
        for raw, rec, key, number in rows:
            try:
                project_id = self._project_id(key.rsplit("-", 1)[0], rec.project_name)
                old = existing.get(key)
                if old is not None and not self.may_write(old["project_id"]):
                    raise RecordError("key", PROJECT_REFUSED.format(key=key.rsplit("-", 1)[0]))
                taken_key, taken_project = ext_taken.get(rec.external_id or "", (key, project_id))
                if taken_key != key:
                    where = f"as {taken_key}" if self.may_write(taken_project) else "into a project you cannot change"
                    raise RecordError("external_id", f"Issue id {rec.external_id} was imported before {where}.")
                self._check_children(key, rec, old_children)
                try:
                    if rec.custom_fields:
                        custom[key] = self.custom_fields.prepare(rec, out.not_kept)
                except CustomValueError as exc:
                    raise RecordError(exc.field, str(exc)) from None
                status_id = self._status_id(rec)
                self._check_workflow(project_id, old["status_id"] if old is not None else None, status_id)
                resolution_id, resolved = resolution_for_status(
                    done=status_id in self.done_statuses,
                    resolution_id=self._named(self.resolutions, Resolution, rec.resolution, None, position=50),
                    resolved=rec.resolved,
                    done_resolution=self.done_resolution,
                    now=rec.updated or rec.created,  # the export's time, so a second run writes the same
                )
                values = {
                    "summary": rec.summary,
                    "description": rec.description,
                    "type_id": (
                        type_id := self._named(
                            self.types,
                            IssueType,
                            rec.type,
                            self.default_subtask_type if rec.parent else self.default_type,
                            position=50,
                        )
                    ),
                    "status_id": status_id,
                    "priority_id": self._named(self.priorities, Priority, rec.priority, self.default_priority, rank=50),
                    "resolution_id": resolution_id,
                    "assignee_id": self.users.user_id(rec.assignee),
                    "reporter_id": self.users.user_id(rec.reporter),
                    "due_date": rec.due_date,
                    "original_estimate": rec.original_estimate,
                    "remaining_estimate": rec.remaining_estimate,
                    "created": rec.created,
                    "updated": rec.updated or rec.created,
                    "resolved": resolved,
                    "source": self.source,
                    "external_id": rec.external_id,
                }
                if (
                    not (rec.parent or rec.parent_external_id)
                    and type_id is not None
                    and self._type(type_id).is_subtask
                ):
                    # The hierarchy rule of the issue services, before anything of the record is written.
                    rule = issue_parent_error(
                        issue_id=None,
                        issue_key=key,
                        has_subtasks=False,
                        parent=None,
                        project_id=project_id,
                        issue_type=self._type(type_id),
                    )
                    raise RecordError("parent", rule or "")
            except RecordError as exc:
                out.errors.append(parsers.RowError(raw.number, raw.line, key, exc.field, str(exc)))
                continue
            if old is None:
                state = "created"
            else:
                changed = [f for f in ISSUE_FIELDS if old[f] != values[f]]
                state = "updated" if changed else "unchanged"
                for f in changed:
                    history.append((key, f, old[f], values[f]))
            if state == "created":
                # A new issue's worklogs are exactly the record's: its total needs no recalculation query.
                # A plain row for COPY: building model instances cost more than the COPY itself.
                new_rows.append(
                    (
                        project_id,
                        number,
                        key,
                        *[values[f] for f in ISSUE_FIELDS],
                        sum(w.time_spent for w in rec.worklogs),
                        None,
                    )
                )
            elif state == "updated":
                issues.append(Issue(project_id=project_id, number=number, key=key, **values))
            accepted.append((raw, rec, key, (project_id, number), state))
        created_keys = {key for _, _, key, _, state in accepted if state == "created"}
        if new_rows:
            # New keys: COPY (a concurrent import of the same keys makes this chunk fail and retry cleanly).
            sql.insert_rows(
                Issue, ("project_id", "number", "key", *ISSUE_FIELDS, "time_spent", "parent_id"), new_rows, binary=True
            )
        if issues:
            Issue.objects.bulk_create(
                issues,
                update_conflicts=True,
                unique_fields=["key"],
                update_fields=[
                    f.removesuffix("_id") if f.endswith("_id") and f != "external_id" else f for f in ISSUE_FIELDS
                ],
            )
        ids = {key: row["id"] for key, row in existing.items()}
        need = [key for _, _, key, _, _ in accepted if key not in ids]
        if need:
            ids.update(sql.where_in(Issue.objects.all(), "key", need).values_list("key", "pk"))

        self._write_source_history(accepted, ids)
        touched: set[str] = {key for _, _, key, _, state in accepted if state != "unchanged"}
        touched |= self._write_labels(accepted, ids, created_keys)
        custom_changed = self.custom_fields.write(
            {ids[key]: custom[key] for _, _, key, _, _ in accepted if key in custom}
        )
        touched |= {key for _, _, key, _, _ in accepted if ids[key] in custom_changed}
        # Issues that lose a worklog, a comment or a sub-task: their pages go stale too (old issue id -> project id).
        left: dict[int, int] = {}
        parent_history: list[tuple[int, str, Any, Any]] = []  # worklog and parent-link changes, by issue id
        # The project each issue of the chunk is in (an import never moves an existing issue): the rollup's.
        issue_projects = {
            ids[key]: existing[key]["project_id"] if key in existing else project_id
            for _, _, key, (project_id, _), _ in accepted
        }
        rollup: list[tuple[int, Any, int, int]] = []
        wl_touched, out.worklogs, recalc = self._write_children(
            accepted,
            ids,
            Worklog,
            WORKLOG_FIELDS,
            "worklogs",
            self._worklog_values,
            old_children["worklogs"],
            left,
            history=parent_history,
            rollup=(rollup, issue_projects),
        )
        # The time reports' rollup: each written worklog's change added to its buckets, old and new (exact: the
        # writer knows every worklog's values before and after; re-reading whole buckets grew with the table).
        worklog_rollup_add(deltas=rollup)
        cm_touched, out.comments, _ = self._write_children(
            accepted, ids, Comment, COMMENT_FIELDS, "comments", self._comment_values, old_children["comments"], left
        )
        touched |= wl_touched | cm_touched
        touched |= self._write_parents(accepted, ids, existing, out, left, parent_history)
        out.pending_parents += [[key, f"id {unresolved[key]}"] for _, _, key, _, _ in accepted if key in unresolved]
        self._write_links(accepted, ids, out, left)
        recalc -= {ids[key] for key in created_keys}
        if recalc:
            issue_recalculate_time_spent(issue_ids=recalc)
        history_record_rows(
            changes=[(ids[key], name, old, new) for key, name, old, new in history] + parent_history,
            author_id=None,
            when=now,
        )
        # Keys keep their numbers: the counter goes past the highest imported number, never back.
        highest: dict[int, int] = {}
        for _, _, _, (project_id, number), _ in accepted:
            highest[project_id] = max(highest.get(project_id, 0), number)
        project_counters_raise(highest=highest)

        for _, _, key, _, state in accepted:
            if state == "created":
                out.created += 1
            elif key in touched:
                out.updated += 1
            else:
                out.unchanged += 1
        changed_ids = [ids[k] for k in touched if k in ids]
        project_ids = {project_id for _, _, key, (project_id, _), _ in accepted if key in touched}
        self._invalidate_on_commit(changed_ids + sorted(set(left) - set(changed_ids)), project_ids | set(left.values()))
        self._record_people()
        return out

    def _link_type_id(self, link: LinkRecord, out: ChunkOutcome) -> int | None:
        """Return the id of the link's type (matched by name, created by staff and the command), or None."""
        name = link.type.lower()
        if name not in self.link_types:
            found = IssueLinkType.objects.filter(name__iexact=link.type).values_list("pk", flat=True).first()
            if found is None and self.may_add_lookups:
                found = IssueLinkType.objects.create(
                    name=link.type, outward=link.outward_text or link.type, inward=link.inward_text or link.type
                ).pk
            self.link_types[name] = found
        if self.link_types[name] is None:
            out.not_kept[f"issue links of type '{link.type}' (no such link type here: an administrator adds it)"] += 1
        return self.link_types[name]

    def _write_links(self, accepted: list, ids: dict[str, int], out: ChunkOutcome, left: dict[int, int]) -> None:
        """Create the records' links whose other issue exists now (in projects the importer may edit).

        Both ends' records carry a link (schemas.LinkRecord), so the second one written creates it, whatever the
        order; an existing link is left as it is (unique per type and ends). Both issues' pages go stale (`left`).
        """
        wanted = [(key, project_id, link) for _, rec, key, (project_id, _), _ in accepted for link in rec.links]
        if not wanted:
            return
        found = self._parent_rows({self._target_key(link.other) for _, _, link in wanted})
        rows: dict[tuple[int, int, int], IssueLink] = {}
        for key, project_id, link in wanted:
            other = found.get(self._target_key(link.other))
            if other is None or other.pk == ids[key]:
                continue  # the other end's record creates it, or it is not imported: parsers count those
            type_id = self._link_type_id(link, out)
            if type_id is None:
                continue
            ends = (ids[key], other.pk) if link.outward else (other.pk, ids[key])
            rows[(type_id, *ends)] = IssueLink(type_id=type_id, outward_issue_id=ends[0], inward_issue_id=ends[1])
            left[other.pk] = other.project_id
            left[ids[key]] = project_id
        IssueLink.objects.bulk_create(list(rows.values()), ignore_conflicts=True, batch_size=1000)

    def _target_key(self, key: str) -> str:
        """Return the key an issue of the file has here (the job's target project keeps the number)."""
        return f"{self.target_project}-{key.rsplit('-', 1)[1]}" if self.target_project else key

    def _write_source_history(self, accepted: list, ids: dict[str, int]) -> None:
        """Write the change history the source gives (a Jira backup's) for the issues this chunk created.

        Only with the creation: the rows carry no id of their own, so writing them for an issue that exists
        would repeat them on every run of the file; a second run finds the issue and writes none.
        """
        rows = [
            History(
                issue_id=ids[key],
                author_id=self.users.user_id(change.author),
                created=change.created,
                field=change.field,
                from_value=change.from_value,
                to_value=change.to_value,
            )
            for _, rec, key, _, state in accepted
            if state == "created"
            for change in rec.history
        ]
        if rows:
            History.objects.bulk_create(rows, batch_size=1000)

    def _record_people(self) -> None:
        """Link the placeholders this job's rows name to the job (its mapping screen), once each."""
        new = self.users.placeholders - self.people_recorded
        if new and self.job.pk is not None:
            through = Job.people.through
            through.objects.bulk_create(
                [through(job_id=self.job.pk, placeholder_id=user_id) for user_id in sorted(new)], ignore_conflicts=True
            )
        self.people_recorded |= new

    def _invalidate_on_commit(self, issue_ids: list[int], project_ids: set[int]) -> None:
        """Retire the cached pages of the chunk's changed issues (and their parents') once it commits.

        The writer's one call into the page cache.
        """
        if not issue_ids:
            return
        # Parents list their sub-tasks, and linked issues their key, summary and status: their pages go stale too.
        issue_ids = (
            issue_ids
            + list(
                sql.where_in(Issue.objects.filter(parent_id__isnull=False), "id", issue_ids).values_list(
                    "parent_id", flat=True
                )
            )
            + sorted(IssueLink.other_issue_ids(issue_ids))
        )
        pagecache.invalidate_on_commit(issue_ids, project_ids)

    def _write_labels(self, accepted: list, ids: dict[str, int], created_keys: set[str]) -> set[str]:
        through = Issue.labels.through
        issue_ids = [ids[key] for _, _, key, _, _ in accepted if key not in created_keys]
        current: dict[int, set[int]] = {}
        for issue_id, label_id in through.objects.filter(issue_id__in=issue_ids).values_list("issue_id", "label_id"):
            current.setdefault(issue_id, set()).add(label_id)
        changed: set[str] = set()
        delete_ids: list[int] = []
        add: list[Any] = []
        fresh: list[tuple[int, int]] = []  # links of issues created in this chunk: nothing to conflict with
        for _, rec, key, _, _ in accepted:
            issue_id = ids[key]
            want = {self.labels[name] for name in rec.labels}
            if key in created_keys:
                fresh.extend((issue_id, label_id) for label_id in want)
                if want:
                    changed.add(key)
                continue
            have = current.get(issue_id, set())
            if want != have:
                changed.add(key)
                if have - want:
                    delete_ids.append(issue_id)
                    add.extend(through(issue_id=issue_id, label_id=label_id) for label_id in want)
                else:
                    add.extend(through(issue_id=issue_id, label_id=label_id) for label_id in want - have)
        if delete_ids:
            through.objects.filter(issue_id__in=delete_ids).delete()
        if add:
            through.objects.bulk_create(add, ignore_conflicts=True, batch_size=2000)
        if fresh:
            sql.insert_rows(through, ("issue_id", "label_id"), fresh, binary=True)
        return changed

    def _worklog_values(self, child: Any, issue_id: int) -> tuple:
        created = child.created or child.started
        return (
            issue_id,
            self.users.user_id(child.author),
            child.started,
            child.time_spent,
            child.comment,
            created,
            child.updated or created,
        )

    def _comment_values(self, child: Any, issue_id: int) -> tuple:
        return (issue_id, self.users.user_id(child.author), child.body, child.created, child.updated or child.created)

    def _old_children(self, rows: list, attr: str, model: type[Model]) -> dict[str, OldChild]:
        """Return the existing worklogs or comments the chunk's records name, by external id (two queries)."""
        exts = [ext for _, rec, key, _ in rows for ext in child_external_ids(key, rec, attr)]
        found = sql.rows_by_external_id(model, self.source, exts, ("external_id", "id", *CHILD_FIELDS[attr]))
        if not found:
            return {}
        issue_ids = list({row[2] for row in found})  # fields start with issue_id
        projects = dict(sql.where_in(Issue.objects.all(), "id", issue_ids).values_list("id", "project_id"))
        return {row[0]: OldChild(row[1], tuple(row[2:]), projects[row[2]]) for row in found}

    def _check_children(self, key: str, rec: IssueRecord, old_children: dict[str, dict[str, OldChild]]) -> None:
        """Raise RecordError when a worklog or comment of the record exists in a project the importer may not change.

        Naming only the id the file gives: not the issue, key or project it lies in.
        """
        if self.editable is None:
            return
        for attr, existing in old_children.items():
            for ext in child_external_ids(key, rec, attr):
                old = existing.get(ext)
                if old is not None and old.project_id not in self.editable:
                    raise RecordError(attr, f"{attr[:-1]} {ext} already exists in a project you cannot change")

    def _write_children(
        self,
        accepted: list,
        ids: dict[str, int],
        model: type[Model],
        fields: tuple[str, ...],
        attr: str,
        to_values: Callable[[Any, int], tuple],
        existing: dict[str, OldChild],
        left: dict[int, int],
        history: list[tuple[int, str, Any, Any]] | None = None,
        rollup: tuple[list[tuple[int, Any, int, int]], dict[int, int]] | None = None,
    ) -> tuple[set[str], int, set[int]]:
        """Upsert worklogs or comments by (source, external_id); return touched issue keys, rows written, issue ids.

        `existing` are the rows loaded (and checked) before the issues were written; the issues a row moves away
        from are added to `left` (issue id -> project id) for the invalidation. With `history` (worklogs), the
        "worklog" history changes worklogs.services writes are added to it for issues that existed before the
        chunk: time logged on them, a changed duration, a worklog moved between issues (gone from one, added to
        the other). A new issue's own worklogs are part of its creation. With `rollup` (a list and issue id ->
        project id; worklogs), the (project, started, seconds, count) change of every row written is added to the
        list: the old values taken away, the new added.
        """
        wanted: dict[str, tuple[str, tuple]] = {}
        for _, rec, key, _, _ in accepted:
            issue_id = ids[key]
            for ext, child in zip(child_external_ids(key, rec, attr), getattr(rec, attr), strict=True):
                wanted[ext] = (key, to_values(child, issue_id))
        if not wanted:
            return set(), 0, set()
        new_rows: list[tuple] = []
        updates: list[Any] = []
        touched: set[str] = set()
        issue_ids: set[int] = set()
        created = {key for _, _, key, _, state in accepted if state == "created"}
        spent = fields.index("time_spent") if history is not None else 0
        started = fields.index("started") if rollup is not None else 0
        for ext, (key, values) in wanted.items():
            old = existing.get(ext)
            # A new issue's own worklogs are part of its creation: no history line (nor its text) for them.
            logged = old is not None or key not in created
            if history is not None and logged and (old is None or old.values != values):
                new = format_duration(values[spent])
                if old is None:
                    history.append((values[0], "worklog", "", new))
                elif old.values[0] != values[0]:
                    history += [(old.values[0], "worklog", format_duration(old.values[spent]), ""),
                                (values[0], "worklog", "", new)]  # fmt: skip
                elif old.values[spent] != values[spent]:
                    history.append((values[0], "worklog", format_duration(old.values[spent]), new))
            # Worklogs carry their issue's project (Worklog.project: the time reports read a project's month by it).
            project = () if rollup is None else (rollup[1][values[0]],)
            if old is None:
                new_rows.append((*values, self.source, ext, *project))
            elif old.values != values:
                obj = model(pk=old.pk, source=self.source, external_id=ext, **dict(zip(fields, values, strict=True)))
                if project:
                    obj.project_id = project[0]  # type: ignore[attr-defined]  # a Worklog (rollup is given for worklogs only)
                updates.append(obj)
                old_issue = old.values[0]
                issue_ids.add(old_issue)  # a worklog moved between issues changes both totals
                if old_issue != values[0]:
                    left[old_issue] = old.project_id  # and both pages
            else:
                continue
            if rollup is not None:
                deltas, projects = rollup
                if old is not None:
                    deltas.append((old.project_id, old.values[started], -old.values[spent], -1))
                deltas.append((projects[values[0]], values[started], values[spent], 1))
            touched.add(key)
            issue_ids.add(values[0])
        extra = ("project_id",) if rollup is not None else ()
        if new_rows:
            sql.insert_rows(model, (*fields, "source", "external_id", *extra), new_rows, binary=True)
        if updates:
            model._default_manager.bulk_update(
                updates, [f.removesuffix("_id") if f.endswith("_id") else f for f in (*fields, *extra)], batch_size=500
            )
        return touched, len(new_rows) + len(updates), issue_ids

    def _parents_by_external_id(self, rows: list[tuple[parsers.RawRecord, IssueRecord, str, int]]) -> dict[str, str]:
        """Give records whose parent is named by its source id (Jira CSV's `Parent` column) the parent's key.

        The reader resolved ids the file itself holds; the rest are looked up among the issues imported before
        from the same source, in projects the importer may edit. One found nowhere is left to the end of the
        job, which reports it "not found" in the usual words (and makes a parentless sub-task a standard issue):
        return those, key -> parent id.
        """
        wanted = [rec.parent_external_id for _, rec, _, _ in rows if rec.parent is None and rec.parent_external_id]
        unresolved: dict[str, str] = {}
        if not wanted:
            return unresolved
        found = {
            ext: (key, project_id)
            for ext, key, project_id in sql.rows_by_external_id(
                Issue, self.source, wanted, ("external_id", "key", "project_id")
            )
        }
        for _, rec, key, _ in rows:
            ext = rec.parent_external_id
            if rec.parent is not None or not ext:
                continue
            hit = found.get(ext)
            if hit is not None and self.may_write(hit[1]):
                rec.parent = hit[0]
            else:
                unresolved[key] = ext
        return unresolved

    def _parent_link_error(self, *, child: ChildRow, parent: ParentRow) -> str | None:
        """Return why a sub-task may not have this parent, or None: where every parent link is validated.

        Both linking paths (parents in the same chunk or earlier, and parents found after the whole file)
        call this with rows loaded for a whole batch; the rule itself is the issue services' hierarchy rule.
        """
        if parent.project_id != child.project_id:
            # Only parents in projects the importer may edit get here (_parent_rows): naming it leaks nothing.
            return f"Parent {parent.key} is in another project."
        return issue_parent_error(
            issue_id=child.pk,
            issue_key=child.key,
            has_subtasks=child.has_subtasks,
            parent=parent,
            project_id=child.project_id,
            issue_type=self._type(child.type_id),
            parent_type=self._type(parent.type_id),
        )

    def _demote_orphan(
        self, issue_id: int, type_id: int, parent_id: int | None, history: list[tuple[int, str, Any, Any]]
    ) -> str:
        """Make a sub-task whose parent link was refused, and that has no parent, a standard issue; say so.

        The hierarchy rule (issues.services) wants every sub-task under a parent. The record is written by the
        time its link is judged (the parent may come later in the file), so rather than lose it or keep a sub-task
        without a parent, it becomes the default type, and the row error tells the user (one query).
        """
        if parent_id is not None or not self._type(type_id).is_subtask:
            return ""
        Issue.objects.filter(pk=issue_id).update(type_id=self.default_type)
        history.append((issue_id, "type_id", type_id, self.default_type))
        return f" Imported as a {self._type(self.default_type).name} without a parent."

    def _type(self, type_id: int) -> TypeRow:
        """Return the issue type with this id (all types in one query, again when the job added one)."""
        if type_id not in self.type_rows:
            self.type_rows = {
                pk: TypeRow(name, is_subtask)
                for pk, name, is_subtask in IssueType.objects.values_list("pk", "name", "is_subtask")
            }
        return self.type_rows[type_id]

    def _parent_rows(self, keys: set[str]) -> dict[str, ParentRow]:
        """Return the issues with these keys as the hierarchy rule reads them, by key (one query).

        Only issues in projects the importer may edit: any other is "not found", in the same words as a key that
        exists nowhere.
        """
        qs = Issue.objects.filter(key__in=keys)
        if self.editable is not None:
            qs = qs.filter(project_id__in=self.editable)
        rows = qs.values_list("pk", "key", "project_id", "parent_id", "type_id")
        return {row[1]: ParentRow(*row) for row in rows}

    @staticmethod
    def _with_subtasks(issue_ids: set[int]) -> set[int]:
        """Return which of the issues have sub-tasks in the database (one query)."""
        return set(Issue.objects.filter(parent_id__in=issue_ids).values_list("parent_id", flat=True).distinct())

    def _write_parents(
        self,
        accepted: list,
        ids: dict[str, int],
        existing: dict,
        out: ChunkOutcome,
        left: dict[int, int],
        history: list[tuple[int, str, Any, Any]],
    ) -> set[str]:
        """Link (or unlink) the records' parents; return the touched keys.

        Adds the parents they leave to `left`, and a history change (issue id, "parent_id", old, new) per link
        changed on an existing issue to `history`.
        """
        wanted = {key: (raw, rec.parent, project_id) for raw, rec, key, (project_id, _), _ in accepted}
        if self.target_project:
            wanted = {
                k: (raw, f"{self.target_project}-{p.rsplit('-', 1)[1]}" if p else None, project_id)
                for k, (raw, p, project_id) in wanted.items()
            }
        parent_keys = {p for _, p, _ in wanted.values() if p}
        found = self._parent_rows(parent_keys) if parent_keys else {}
        children = {key for key, (_, p, _) in wanted.items() if p}
        with_subtasks = self._with_subtasks({ids[k] for k in children})
        child_types = dict(Issue.objects.filter(pk__in=[ids[k] for k in children]).values_list("pk", "type_id"))
        # Links are judged in file order, each against the database and the links accepted before it, as if
        # written one by one: of "B under A" then "C under B", the second is the sub-task of a sub-task.
        linked: dict[str, int] = {}  # child key -> parent id, for the links accepted so far
        changes: list[Issue] = []
        touched: set[str] = set()
        for key, (raw, parent_key, project_id) in wanted.items():
            old_parent = existing[key]["parent_id"] if key in existing else None
            parent_id = None
            if parent_key:
                if parent_key not in found:
                    out.pending_parents.append([key, parent_key])
                    continue
                parent = found[parent_key]
                if parent.key in linked:  # given a parent earlier in this batch: a sub-task now
                    parent = parent._replace(parent_id=linked[parent.key])
                child = ChildRow(ids[key], key, project_id, ids[key] in with_subtasks, child_types[ids[key]])
                error = self._parent_link_error(child=child, parent=parent)
                if error:
                    error += self._demote_orphan(child.pk, child.type_id, old_parent, history)
                    out.errors.append(parsers.RowError(raw.number, raw.line, key, "parent", error))
                    continue
                parent_id = parent.pk
                linked[key] = parent_id
                with_subtasks.add(parent_id)
            if parent_id != old_parent:
                changes.append(Issue(pk=ids[key], parent_id=parent_id))
                touched.add(key)
                if key in existing:  # a new issue's history starts with its creation
                    history.append((ids[key], "parent_id", old_parent, parent_id))
                if old_parent is not None:
                    left[old_parent] = project_id  # its page lists its sub-tasks
        if changes:
            Issue.objects.bulk_update(changes, ["parent"], batch_size=1000)
        return touched

    def resolve_pending_parents(self, pending: list[list[str]]) -> list[parsers.RowError]:
        """Link sub-tasks whose parent came later in the file; report parents found nowhere."""
        errors: list[parsers.RowError] = []
        self.editable = self._editable_projects()
        for start in range(0, len(pending), 5000):
            part = pending[start : start + 5000]
            rows = self._parent_rows({k for pair in part for k in pair})
            with_subtasks = self._with_subtasks({rows[c].pk for c, _ in part if c in rows})
            linked: dict[str, int] = {}  # judged in file order, as in _write_parents
            changes = []
            history: list[tuple[int, str, Any, Any]] = []
            for child_key, parent_key in part:
                if parent_key not in rows or child_key not in rows:
                    message: str | None = PARENT_NOT_FOUND.format(key=parent_key)
                else:
                    parent, row = rows[parent_key], rows[child_key]
                    if parent.key in linked:
                        parent = parent._replace(parent_id=linked[parent.key])
                    child = ChildRow(row.pk, row.key, row.project_id, row.pk in with_subtasks, row.type_id)
                    message = self._parent_link_error(child=child, parent=parent)
                if message:
                    if child_key in rows:
                        row = rows[child_key]
                        message += self._demote_orphan(row.pk, row.type_id, row.parent_id, history)
                    errors.append(parsers.RowError(None, None, child_key, "parent", message))
                else:
                    if rows[child_key].parent_id != rows[parent_key].pk:  # a second run of the file: no write
                        changes.append(Issue(pk=rows[child_key].pk, parent_id=rows[parent_key].pk))
                        history.append(
                            (rows[child_key].pk, "parent_id", rows[child_key].parent_id, rows[parent_key].pk)
                        )
                    linked[child_key] = rows[parent_key].pk
                    with_subtasks.add(rows[parent_key].pk)
            Issue.objects.bulk_update(changes, ["parent"], batch_size=1000)
            history_record_rows(changes=history, author_id=None, when=timezone.now())
            if changes:
                # The sub-tasks, their new parents and the parents they leave: every page listing the link.
                by_pk = {row.pk: row for row in rows.values()}
                moved = [by_pk[i.pk] for i in changes]
                issue_ids = {row.pk for row in moved} | {i.parent_id for i in changes if i.parent_id}
                issue_ids |= {row.parent_id for row in moved if row.parent_id}
                self._invalidate_on_commit(sorted(issue_ids), {row.project_id for row in moved})
        return errors
