"""ORM rows to schema objects or JSON bytes: the one road from the database to views, API, exports and jobs.

Two paths, same output:

- trusted (validate=False, the default for our own database rows): the needed columns come from one
  `values_list()` query and a row builder compiled once per field set turns each tuple into a plain dict;
  JSON is `orjson.dumps` of those dicts, schema objects are assembled without re-validation.
- validated (validate=True, for untrusted data): the same dicts go through the schema's pydantic validator.

Both produce byte-identical JSON for the same rows (tests prove it). `fields=` loads only the columns the
named fields need and emits only them; `extras=` asks for lazy fields (Markdown HTML, counts) that cost
extra work and are otherwise never computed. Every adapter here is built at import time; the per field-set
plans are compiled on first use and cached (a handful exist per process).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from itertools import islice
from typing import Any

import orjson
from django.core.exceptions import ObjectDoesNotExist
from django.db import models
from django.db.models import Count, QuerySet
from pydantic import BaseModel, TypeAdapter, create_model

from issues.models import Comment, Issue
from issues.schemas import CommentOut, IssueOut, IssueRow

JSON_OPTIONS = orjson.OPT_UTC_Z  # "…Z" for UTC like pydantic's dump_json, so both paths agree byte for byte
DEFAULT_CHUNK_SIZE = 2000

Source = QuerySet | models.Model | Iterable[models.Model]


def dumps(value: Any) -> bytes:
    """Return JSON bytes the way every adapter writes them (orjson, UTC as Z)."""
    return orjson.dumps(value, option=JSON_OPTIONS)


# ---------------------------------------------------------------------------------------------------------
# The engine: output field specs, compiled row builders, fast trusted construction.
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OutField:
    """How one output field is made from columns of a row.

    `expr` is a Python expression over the columns, written with $0, $1 ... for `columns` in order.
    A `loader` takes the page's primary keys and returns {pk: value}, in one query per page.
    """

    name: str
    columns: tuple[str, ...] = ()
    expr: str = "$0"
    loader: Callable[[list[Any]], dict[Any, Any]] | None = None
    loader_default: str = "None"
    lazy: bool = False


def col(name: str, path: str | None = None) -> OutField:
    """Return a field copied from one column."""
    return OutField(name, (path or name,))


def user_ref(name: str, path: str | None = None) -> OutField:
    """Return a UserRef field (id, username, display name as accounts.models.display_name decides)."""
    p = path or name
    return OutField(
        name,
        (f"{p}_id", f"{p}__username", f"{p}__first_name", f"{p}__last_name", f"{p}__profile__display_name"),
        "None if $0 is None else {'id': $0, 'username': $1, 'display_name': $4 or ($2 + ' ' + $3).strip() or $1}",
    )


def _batched(iterable: Iterable[Any], size: int) -> Iterator[list[Any]]:
    iterator = iter(iterable)
    while batch := list(islice(iterator, size)):
        yield batch


def _path_getter(path: str) -> Callable[[Any], Any]:
    """Return a function reading a `a__b__c` column path from a model instance (None-safe)."""
    parts = path.split("__")

    def get(obj: Any) -> Any:
        for part in parts:
            if obj is None:
                return None
            try:
                obj = getattr(obj, part)
            except ObjectDoesNotExist:  # a missing reverse one-to-one (user without profile)
                return None
        return obj

    return get


_NEW = object.__new__
_SET = object.__setattr__


def _constructor(model: type[BaseModel]) -> Callable[[dict[str, Any]], BaseModel]:
    """Return a function that builds a model instance from a dict it owns, without validation.

    model_construct() is slower than validating (it re-applies defaults and recurses in Python), so the
    trusted path sets the instance state directly: nested model fields are converted the same way,
    absent fields get their defaults and are left out of fields_set (so exclude_unset drops them).
    """
    nested: list[tuple[str, Callable[[dict[str, Any]], BaseModel], bool]] = []
    defaults: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        sub = _submodel(info.annotation)
        if sub is not None:
            nested.append((name, _constructor(sub), _is_list(info.annotation)))
        if not info.is_required():
            defaults[name] = info.get_default(call_default_factory=True)
    order = list(model.model_fields)

    def construct(data: dict[str, Any]) -> BaseModel:
        for name, make, many in nested:
            value = data.get(name)
            if value is not None:
                data[name] = [make(v) for v in value] if many else make(value)
        fields_set = set(data)
        if len(data) != len(order):
            data = {name: data[name] if name in data else defaults.get(name) for name in order}
        obj = _NEW(model)
        _SET(obj, "__dict__", data)
        _SET(obj, "__pydantic_fields_set__", fields_set)
        _SET(obj, "__pydantic_extra__", None)
        _SET(obj, "__pydantic_private__", None)
        return obj

    return construct


def _submodel(annotation: Any) -> type[BaseModel] | None:
    import typing

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _submodel(arg)
        if found is not None:
            return found
    return None


def _is_list(annotation: Any) -> bool:
    import typing

    if typing.get_origin(annotation) is list:
        return True
    return any(typing.get_origin(a) is list for a in typing.get_args(annotation))


class Plan:
    """Everything needed to serve one (adapter, field set): columns, compiled builder, validator, model."""

    def __init__(self, adapter: RowAdapter, names: tuple[str, ...]) -> None:
        self.adapter = adapter
        self.names = names
        specs = [adapter.fields[n] for n in names]
        self.loaders = [(s.name, s.loader) for s in specs if s.loader is not None]
        columns: list[str] = []
        index: dict[str, int] = {}

        def position(column: str) -> int:
            if column not in index:
                index[column] = len(columns)
                columns.append(column)
            return index[column]

        parts = []
        for spec in specs:
            if spec.loader is not None:
                expr = f"L[{spec.name!r}].get(r[{position(adapter.pk_column)}], {spec.loader_default})"
            else:
                positions = [position(c) for c in spec.columns]
                expr = re.sub(r"\$(\d+)", lambda m, p=positions: f"r[{p[int(m.group(1))]}]", spec.expr)
            parts.append(f"{spec.name!r}: {expr}")
        if self.loaders:
            position(adapter.pk_column)
        self.columns = tuple(columns)
        self.pk_index = index.get(adapter.pk_column)
        body = "{" + ", ".join(parts) + "}"
        source = f"def build_many(rows, L):\n    return [{body} for r in rows]\n"
        namespace: dict[str, Any] = dict(adapter.namespace)
        exec(compile(source, f"<adapter {adapter.name} {','.join(names)}>", "exec"), namespace)  # noqa: S102
        self._build_many = namespace["build_many"]
        self.getters = [_path_getter(c) for c in columns]
        required = {n for n, info in adapter.model.model_fields.items() if info.is_required()}
        # The schema itself when every required field is there; a partial model for fields= subsets.
        self.model = adapter.model if required <= set(names) else _partial_model(adapter.model, names)
        self.list_adapter = TypeAdapter(list[self.model])
        self.construct = _constructor(self.model)

    def _run_loaders(self, rows: list[tuple]) -> dict[str, dict[Any, Any]]:
        if not self.loaders:
            return {}
        pks = [r[self.pk_index] for r in rows]
        return {name: loader(pks) if pks else {} for name, loader in self.loaders}

    def dicts_from_tuples(self, rows: list[tuple]) -> list[dict[str, Any]]:
        return self._build_many(rows, self._run_loaders(rows))

    def tuples_from_instances(self, objs: Iterable[models.Model]) -> list[tuple]:
        getters = self.getters
        return [tuple(g(o) for g in getters) for o in objs]


@cache
def _partial_model(model: type[BaseModel], names: tuple[str, ...]) -> type[BaseModel]:
    """Return a model with only the named fields of `model` (same types), for fields= subsets."""
    definitions = {n: (model.model_fields[n].annotation, model.model_fields[n]) for n in names}
    return create_model(f"{model.__name__}Partial", __module__=model.__module__, **definitions)  # type: ignore[call-overload]


class RowAdapter:
    """Turn querysets or instances of one Django model into one schema, trusted or validated."""

    def __init__(
        self,
        name: str,
        model: type[BaseModel],
        django_model: type[models.Model],
        fields: Sequence[OutField],
        *,
        pk_column: str = "id",
        namespace: dict[str, Any] | None = None,
    ) -> None:
        self.name = name
        self.model = model
        self.django_model = django_model
        self.pk_column = pk_column
        self.namespace = namespace or {}
        order = list(model.model_fields)
        missing = [n for n in order if n not in {f.name for f in fields}]
        if missing:
            raise TypeError(f"adapter {name} has no spec for {missing}")
        self.fields = {f.name: f for f in sorted(fields, key=lambda f: order.index(f.name))}
        self.default_names = tuple(n for n, f in self.fields.items() if not f.lazy)
        self.lazy_names = frozenset(n for n, f in self.fields.items() if f.lazy)
        self.plan()  # compile the default plan at import time

    def plan(self, fields: Iterable[str] | None = None, extras: Iterable[str] = ()) -> Plan:
        """Return the compiled plan for these output fields (default: all non-lazy) plus lazy extras."""
        wanted = set(self.default_names if fields is None else fields) | set(extras)
        unknown = wanted - set(self.fields)
        if unknown:
            raise ValueError(f"{self.name}: unknown field(s) {sorted(unknown)}; known: {sorted(self.fields)}")
        return self._plan(tuple(n for n in self.fields if n in wanted))

    @cache  # noqa: B019 - adapters live for the whole process
    def _plan(self, names: tuple[str, ...]) -> Plan:
        return Plan(self, names)

    # -- rows to dicts -----------------------------------------------------------------------------------

    def _tuples(self, plan: Plan, source: Source) -> list[tuple]:
        if isinstance(source, QuerySet):
            return list(source.values_list(*plan.columns))
        if isinstance(source, models.Model):
            source = [source]
        return plan.tuples_from_instances(source)

    def dicts(self, source: Source, *, fields=None, extras=(), validate: bool = False) -> list[dict[str, Any]]:
        """Return JSON-ready dicts (the trusted shape), validated first when validate=True."""
        plan = self.plan(fields, extras)
        data = plan.dicts_from_tuples(self._tuples(plan, source))
        if validate:
            return plan.list_adapter.dump_python(plan.list_adapter.validate_python(data), exclude_unset=True)
        return data

    def objects(self, source: Source, *, fields=None, extras=(), validate: bool = False) -> list[BaseModel]:
        """Return schema instances; validate=False assembles them without re-validating trusted rows."""
        plan = self.plan(fields, extras)
        data = plan.dicts_from_tuples(self._tuples(plan, source))
        if validate:
            return plan.list_adapter.validate_python(data)
        construct = plan.construct
        return [construct(d) for d in data]

    def json(self, source: Source, *, fields=None, extras=(), validate: bool = False) -> bytes:
        """Return a JSON array of the rows as bytes."""
        plan = self.plan(fields, extras)
        data = plan.dicts_from_tuples(self._tuples(plan, source))
        if validate:
            return plan.list_adapter.dump_json(plan.list_adapter.validate_python(data), exclude_unset=True)
        return orjson.dumps(data, option=JSON_OPTIONS)

    def _chunks(self, plan: Plan, source: Source, chunk_size: int) -> Iterator[list[dict[str, Any]]]:
        if isinstance(source, QuerySet):
            rows = source.values_list(*plan.columns).iterator(chunk_size=chunk_size)
            for batch in _batched(rows, chunk_size):
                yield plan.dicts_from_tuples(batch)
        else:
            for batch in _batched(source, chunk_size):
                yield plan.dicts_from_tuples(plan.tuples_from_instances(batch))

    def iter_objects(
        self, source: Source, *, fields=None, extras=(), validate: bool = False, chunk_size: int = DEFAULT_CHUNK_SIZE
    ) -> Iterator[BaseModel]:
        """Yield schema instances, reading the rows chunk by chunk (flat memory for any size)."""
        plan = self.plan(fields, extras)
        for data in self._chunks(plan, source, chunk_size):
            if validate:
                yield from plan.list_adapter.validate_python(data)
            else:
                construct = plan.construct
                for d in data:
                    yield construct(d)

    def iter_dicts(
        self, source: Source, *, fields=None, extras=(), validate: bool = False, chunk_size: int = DEFAULT_CHUNK_SIZE
    ) -> Iterator[dict[str, Any]]:
        """Yield JSON-ready dicts chunk by chunk (CSV writers, cache fillers)."""
        plan = self.plan(fields, extras)
        for data in self._chunks(plan, source, chunk_size):
            if validate:
                data = plan.list_adapter.dump_python(plan.list_adapter.validate_python(data), exclude_unset=True)
            yield from data

    def iter_json(
        self,
        source: Source,
        *,
        fields=None,
        extras=(),
        validate: bool = False,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        lines: bool = False,
    ) -> Iterator[bytes]:
        """Yield one JSON array (or JSON Lines when lines=True) in pieces, one per chunk of rows.

        Joined, the pieces equal json(...) of the same rows; feed them to a StreamingHttpResponse.
        """
        plan = self.plan(fields, extras)
        first = True
        for data in self._chunks(plan, source, chunk_size):
            if lines:
                if validate:
                    data = plan.list_adapter.dump_python(plan.list_adapter.validate_python(data), exclude_unset=True)
                yield b"".join(orjson.dumps(d, option=JSON_OPTIONS) + b"\n" for d in data)
                continue
            if validate:
                body = plan.list_adapter.dump_json(plan.list_adapter.validate_python(data), exclude_unset=True)
            else:
                body = orjson.dumps(data, option=JSON_OPTIONS)
            if body == b"[]":
                continue
            yield (b"[" if first else b",") + body[1:-1]
            first = False
        if not lines:
            yield b"[]" if first else b"]"


# ---------------------------------------------------------------------------------------------------------
# Issues
# ---------------------------------------------------------------------------------------------------------


def _render_markdown(text: str) -> str:
    from issues.rendering import render_markdown

    return render_markdown(text)


def _count_by(model: type[models.Model], fk: str) -> Callable[[list[Any]], dict[Any, int]]:
    def load(pks: list[Any]) -> dict[Any, int]:
        rows = model.objects.filter(**{f"{fk}__in": pks}).order_by().values_list(fk).annotate(n=Count("*"))
        return dict(rows)

    return load


def _load_labels(pks: list[Any]) -> dict[Any, list[str]]:
    through = Issue.labels.through
    found: dict[Any, list[str]] = {}
    for issue_id, name in (
        through.objects.filter(issue_id__in=pks).order_by("label__name").values_list("issue_id", "label__name")
    ):
        found.setdefault(issue_id, []).append(name)
    return found


def _load_worklog_counts(pks: list[Any]) -> dict[Any, int]:
    from worklogs.models import Worklog

    return _count_by(Worklog, "issue_id")(pks)


_ISSUE_ROW_FIELDS = [
    col("id"),
    col("key"),
    col("summary"),
    OutField("project", ("project_id", "project__key", "project__name"), "{'id': $0, 'key': $1, 'name': $2}"),
    col("type", "type__name"),
    col("status", "status__name"),
    col("status_category", "status__category"),
    col("priority", "priority__name"),
    user_ref("assignee"),
    user_ref("reporter"),
    col("due_date"),
    col("original_estimate"),
    col("remaining_estimate"),
    col("time_spent"),
    col("created"),
    col("updated"),
    col("resolved"),
    OutField("subtask_count", loader=_count_by(Issue, "parent_id"), loader_default="0", lazy=True),
    OutField("worklog_count", loader=_load_worklog_counts, loader_default="0", lazy=True),
]

_ISSUE_OUT_FIELDS = [
    *_ISSUE_ROW_FIELDS,
    col("description"),
    col("resolution", "resolution__name"),
    col("parent_key", "parent__key"),
    OutField("labels", loader=_load_labels, loader_default="[]"),
    OutField("description_html", ("description",), "_md($0)", lazy=True),
]

ISSUE_ROWS = RowAdapter("issue_rows", IssueRow, Issue, _ISSUE_ROW_FIELDS)
ISSUE_DETAIL = RowAdapter("issue_detail", IssueOut, Issue, _ISSUE_OUT_FIELDS, namespace={"_md": _render_markdown})
COMMENTS = RowAdapter(
    "comments",
    CommentOut,
    Comment,
    [
        col("id"),
        col("issue_id"),
        user_ref("author"),
        col("body"),
        col("created"),
        col("updated"),
        OutField("body_html", ("body",), "_md($0)", lazy=True),
    ],
    namespace={"_md": _render_markdown},
)

ISSUE_ROW_FIELDS = ISSUE_ROWS.default_names
ISSUE_ROW_EXTRAS = tuple(sorted(ISSUE_ROWS.lazy_names))
ISSUE_DETAIL_EXTRAS = tuple(sorted(ISSUE_DETAIL.lazy_names))


def issue_rows(
    source: Source, *, fields: Iterable[str] | None = None, extras: Iterable[str] = (), validate: bool = False
) -> list[IssueRow]:
    """Return IssueRow objects for a queryset (one query) or issue instances.

    fields= limits the columns loaded and the fields set (a partial model with just those fields);
    extras= adds lazy fields: "subtask_count", "worklog_count" (one grouped query each).
    """
    return ISSUE_ROWS.objects(source, fields=fields, extras=extras, validate=validate)  # type: ignore[return-value]


def issue_row_dicts(
    source: Source, *, fields: Iterable[str] | None = None, extras: Iterable[str] = (), validate: bool = False
) -> list[dict[str, Any]]:
    """Return issue rows as JSON-ready dicts (cache entries, templates, CSV)."""
    return ISSUE_ROWS.dicts(source, fields=fields, extras=extras, validate=validate)


def issue_rows_json(
    source: Source, *, fields: Iterable[str] | None = None, extras: Iterable[str] = (), validate: bool = False
) -> bytes:
    """Return issue rows as one JSON array (bytes)."""
    return ISSUE_ROWS.json(source, fields=fields, extras=extras, validate=validate)


def iter_issue_rows(
    source: Source,
    *,
    fields: Iterable[str] | None = None,
    extras: Iterable[str] = (),
    validate: bool = False,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> Iterator[IssueRow]:
    """Yield IssueRow objects, reading the queryset in chunks (server-side cursor on PostgreSQL)."""
    return ISSUE_ROWS.iter_objects(source, fields=fields, extras=extras, validate=validate, chunk_size=chunk_size)  # type: ignore[return-value]


def iter_issue_row_dicts(
    source: Source,
    *,
    fields: Iterable[str] | None = None,
    extras: Iterable[str] = (),
    validate: bool = False,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> Iterator[dict[str, Any]]:
    """Yield issue rows as JSON-ready dicts, chunk by chunk (CSV exports)."""
    return ISSUE_ROWS.iter_dicts(source, fields=fields, extras=extras, validate=validate, chunk_size=chunk_size)


def iter_issue_rows_json(
    source: Source,
    *,
    fields: Iterable[str] | None = None,
    extras: Iterable[str] = (),
    validate: bool = False,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    lines: bool = False,
) -> Iterator[bytes]:
    """Yield a JSON array (or JSON Lines) of issue rows in pieces, for StreamingHttpResponse exports."""
    return ISSUE_ROWS.iter_json(
        source, fields=fields, extras=extras, validate=validate, chunk_size=chunk_size, lines=lines
    )


def _detail_source(issue: Issue | QuerySet) -> Issue | QuerySet:
    if isinstance(issue, Issue) and issue.pk is not None:
        # One query with every join the detail needs, whatever the instance had loaded.
        return Issue.objects.filter(pk=issue.pk)
    return issue


def issue_detail(issue: Issue | QuerySet, *, extras: Iterable[str] = (), validate: bool = False) -> IssueOut:
    """Return IssueOut for one issue (instance or one-row queryset): one query for the row, one for labels.

    extras: "description_html" (rendered Markdown), "subtask_count", "worklog_count".
    Raise Issue.DoesNotExist when a queryset matches nothing.
    """
    found = ISSUE_DETAIL.objects(_detail_source(issue), extras=extras, validate=validate)
    if not found:
        raise Issue.DoesNotExist("issue not found")
    return found[0]  # type: ignore[return-value]


def issue_detail_json(issue: Issue | QuerySet, *, extras: Iterable[str] = (), validate: bool = False) -> bytes:
    """Return one issue as a JSON object (bytes)."""
    found = ISSUE_DETAIL.dicts(_detail_source(issue), extras=extras, validate=validate)
    if not found:
        raise Issue.DoesNotExist("issue not found")
    return orjson.dumps(found[0], option=JSON_OPTIONS)


def comment_rows(source: Source, *, extras: Iterable[str] = (), validate: bool = False) -> list[CommentOut]:
    """Return CommentOut objects; extras=("body_html",) renders the Markdown."""
    return COMMENTS.objects(source, extras=extras, validate=validate)  # type: ignore[return-value]


def comment_rows_json(source: Source, *, extras: Iterable[str] = (), validate: bool = False) -> bytes:
    """Return comments as one JSON array (bytes)."""
    return COMMENTS.json(source, extras=extras, validate=validate)


__all__ = [
    "COMMENTS",
    "ISSUE_DETAIL",
    "ISSUE_ROWS",
    "JSON_OPTIONS",
    "OutField",
    "Plan",
    "RowAdapter",
    "col",
    "comment_rows",
    "comment_rows_json",
    "dumps",
    "issue_detail",
    "issue_detail_json",
    "issue_row_dicts",
    "issue_rows",
    "issue_rows_json",
    "iter_issue_row_dicts",
    "iter_issue_rows",
    "iter_issue_rows_json",
    "user_ref",
]
