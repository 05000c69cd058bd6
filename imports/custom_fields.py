"""The custom-field values of an import's records: checked with the record, written once per chunk.

The writer (imports.writer) calls `prepare` inside its per-record checks (a bad value rejects the record with
a row error naming the field and the value, like any other field) and `write` once per chunk with the
accepted records' issue ids. Idempotent: the fields a record names get its values (an empty value deletes
the issue's, an equal one is not written again); fields it does not name are left as they are (a CSV
without a field's column does not empty it). Fields are created by those who may add site look-ups
(staff, the command line: issues.permissions.may_create_projects); for others, values of fields the site
lacks are counted in the job summary, not dropped silently.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from imports.schemas import IssueRecord
from issues.custom_fields import ValueParts, value_parts
from issues.models import CustomField, CustomFieldValue
from issues.services import custom_field_find, custom_field_get_or_create
from taskra_site import sql


class CustomValueError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class CustomFieldStore:
    """Custom fields looked up (and created) once per job; values prepared per record, written per chunk."""

    def __init__(self, *, may_add_fields: bool) -> None:
        self.may_add_fields = may_add_fields
        self.fields: dict[str, CustomField | None] = {}  # the source's field id or name -> field (None: missing)

    def begin_chunk(self) -> None:
        """Forget fields this job may have created: a chunk that rolled back took them along.

        An importer who may not add fields only finds them (and misses): those answers stay for the job.
        """
        if self.may_add_fields:
            self.fields.clear()

    def _field(self, field: str, name: str | None, field_type: str | None, *, create: bool) -> CustomField | None:
        if field not in self.fields or (create and self.fields[field] is None):
            if self.may_add_fields and create:
                self.fields[field] = custom_field_get_or_create(field=field, name=name, field_type=field_type)
            else:
                self.fields[field] = custom_field_find(field=field)
        return self.fields[field]

    def prepare(self, record: IssueRecord, not_kept: Counter[str]) -> dict[int, ValueParts | None]:
        """Return the record's values by field id, None to delete (raise CustomValueError for a bad value)."""
        out: dict[int, ValueParts | None] = {}
        for custom in record.custom_fields:
            empty = not any(v.strip() for v in custom.values)
            # An empty value names no field to create (Jira JSON lists every field of the site, mostly null).
            found = self._field(custom.field, custom.name, custom.type, create=not empty)
            label = custom.name or custom.field
            if empty:
                if found is not None:
                    out[found.pk] = None
                continue
            if found is None:
                not_kept[f"custom field '{label}' (no such field here: an administrator adds it)"] += 1
                continue
            try:
                parts = value_parts(found.type, custom.values)
            except ValueError as exc:
                raise CustomValueError(
                    f"custom_fields.{label}", f"Custom field '{found.name}' ({found.get_type_display()}) {exc}."
                ) from None
            out[found.pk] = parts
        return out

    def write(self, prepared: dict[int, dict[int, ValueParts | None]]) -> set[int]:
        """Store the chunk's values (issue id -> field id -> parts or None); return the ids of changed issues."""
        prepared = {issue_id: values for issue_id, values in prepared.items() if values}
        if not prepared:
            return set()
        current: dict[tuple[int, int], tuple[Any, ...]] = {
            (row[1], row[2]): row
            for row in sql.where_in(CustomFieldValue.objects.all(), "issue_id", list(prepared)).values_list(
                "pk", "issue_id", "field_id", "text", "values", "number", "date", "moment"
            )
        }
        upsert: list[CustomFieldValue] = []
        gone: list[int] = []
        changed: set[int] = set()
        for issue_id, values in prepared.items():
            for field_id, parts in values.items():
                have = current.get((issue_id, field_id))
                if parts is None:
                    if have is not None:
                        gone.append(have[0])
                        changed.add(issue_id)
                elif have is None or have[3:] != tuple(parts):
                    upsert.append(CustomFieldValue(issue_id=issue_id, field_id=field_id, **parts._asdict()))
                    changed.add(issue_id)
        if gone:
            CustomFieldValue.objects.filter(pk__in=gone).delete()
        if upsert:
            CustomFieldValue.objects.bulk_create(
                upsert,
                update_conflicts=True,
                unique_fields=["issue", "field"],
                update_fields=["text", "values", "number", "date", "moment"],
                batch_size=1000,
            )
        return changed
