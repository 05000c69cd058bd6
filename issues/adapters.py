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

import functools
import gc
import operator
import re
import types
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from itertools import islice
from typing import Annotated, Any, NotRequired

import orjson
from django.core.exceptions import ObjectDoesNotExist
from django.db import connections, models
from django.db.models import Count, QuerySet
from pydantic import BaseModel, TypeAdapter, create_model
from typing_extensions import TypedDict

from accounts.models import display_name_of
from issues.models import Comment, Issue
from issues.schemas import CommentOut, IssueOut, IssueRow

JSON_OPTIONS = orjson.OPT_UTC_Z  # "…Z" for UTC like pydantic's dump_json, so both paths agree byte for byte
DEFAULT_CHUNK_SIZE = 2000

Source = QuerySet | models.Model | Iterable[models.Model]


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a batch of rows is built.

    Building thousands of dicts and model instances (none of them in reference cycles) otherwise
    triggers repeated collections. Measured effect is modest and noisy on the shared benchmark machine
    (bench/adapters.py, issue_rows() of 5,000 rows: PostgreSQL 0.91x of the baseline paused vs 0.99x not;
    SQLite 1.31x vs 1.19x in the same session); a quick 500-row check under heavy load gave 7.7 vs 19.8
    µs/row. Only the caller that paused it resumes
    it, so nested or concurrent uses never leave it off.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


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
    A `loader` takes the distinct non-null values of the `loader_key` column (default: the primary key) of a
    whole batch of rows and returns {key: value} in one query; fields sharing a loader share that query.
    The looked-up value (or `loader_default` when missing) is `$v` in `expr`.
    """

    name: str
    columns: tuple[str, ...] = ()
    expr: str = "$0"
    loader: Callable[[list[Any]], dict[Any, Any]] | None = None
    loader_default: str = "None"
    loader_key: str | None = None
    lazy: bool = False
    # The same field read through JOINs in the row query: used where joins are cheap (SQLite).
    joined: OutField | None = None


def col(name: str, path: str | None = None) -> OutField:
    """Return a field copied from one column."""
    return OutField(name, (path or name,))


def load_user_refs(ids: list[Any]) -> dict[Any, tuple[int, str, str]]:
    """Return {user id: (id, username, display name)} for the ids, in one query.

    The display name follows accounts.models.display_name: profile name, else full name, else username.
    """
    from django.contrib.auth import get_user_model

    rows = (
        get_user_model()
        .objects.filter(pk__in=ids)
        .values_list("id", "username", "first_name", "last_name", "profile__display_name")
    )
    return {
        uid: (uid, name, display_name_of(username=name, first_name=first, last_name=last, profile_name=shown))
        for uid, name, first, last, shown in rows
    }


def user_ref(name: str, path: str | None = None) -> OutField:
    """Return a UserRef field (id, username, display name) read from `<path>_id`.

    Users come from one batched query per page (load_user_refs) instead of two LEFT JOINs per user field:
    on PostgreSQL a 9-table join costs ~45 ms of planning per query against ~1 ms for the 5-table one
    (measured with EXPLAIN ANALYZE on the benchmark data; see docs/performance.md).
    """
    p = path or name
    joined = OutField(
        name,
        (f"{p}_id", f"{p}__username", f"{p}__first_name", f"{p}__last_name", f"{p}__profile__display_name"),
        "None if $0 is None else {'id': $0, 'username': $1, 'display_name': $4 or ($2 + ' ' + $3).strip() or $1}",
    )
    return OutField(
        name,
        expr="None if (u := $v) is None else {'id': u[0], 'username': u[1], 'display_name': u[2]}",
        loader=load_user_refs,
        loader_key=f"{p}_id",
        joined=joined,
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
# Slot descriptors of pydantic's instance state: setting through them skips BaseModel.__setattr__.
_SET_FIELDS_SET = BaseModel.__dict__["__pydantic_fields_set__"].__set__
_SET_EXTRA = BaseModel.__dict__["__pydantic_extra__"].__set__
_SET_PRIVATE = BaseModel.__dict__["__pydantic_private__"].__set__
_STATE = {"_NEW": _NEW, "_SET": _SET, "_FS": _SET_FIELDS_SET, "_EX": _SET_EXTRA, "_PR": _SET_PRIVATE}


@cache
def _constructor(model: type[BaseModel]) -> Callable[[dict[str, Any] | None], BaseModel | None]:
    """Return a compiled function that turns a complete dict it owns into a model instance, without validation.

    Measured (bench/adapters.py): model_construct() is ~3x slower than validating (it re-applies defaults
    and recurses in Python); writing the instance state directly through the slot descriptors is the
    cheapest way to a model instance. The dict must hold every field in model order (the trusted row
    builders guarantee it); nested model fields are converted the same way. None passes through.
    """
    namespace: dict[str, Any] = {**_STATE, "_M": model}
    lines = ["def construct(d):", "    if d is None:", "        return None"]
    for name, info in model.model_fields.items():
        sub = _submodel(info.annotation)
        if sub is None:
            continue
        namespace[f"_mk_{name}"] = _constructor(sub)
        if _is_list(info.annotation):
            lines.append(f"    if d[{name!r}] is not None:")
            lines.append(f"        d[{name!r}] = [_mk_{name}(x) for x in d[{name!r}]]")
        else:
            lines.append(f"    d[{name!r}] = _mk_{name}(d[{name!r}])")
    fields_set = "{" + ", ".join(repr(n) for n in model.model_fields) + "}"
    lines += [
        "    o = _NEW(_M)",
        "    _SET(o, '__dict__', d)",
        f"    _FS(o, {fields_set})",
        "    _EX(o, None)",
        "    _PR(o, None)",
        "    return o",
    ]
    exec(compile("\n".join(lines) + "\n", f"<construct {model.__name__}>", "exec"), namespace)  # noqa: S102
    return namespace["construct"]


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


def _typeddict_of(model: type[BaseModel]) -> type:
    """Return a TypedDict with the model's fields (nested models as TypedDicts, optional fields NotRequired).

    Validating into TypedDicts checks exactly what the model checks but yields plain dicts, skipping
    instance creation: the validated JSON path's validator.
    """
    import typing

    def convert(annotation: Any) -> Any:
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            return _typeddict_of(annotation)
        origin, args = typing.get_origin(annotation), typing.get_args(annotation)
        if origin is list:
            return list[convert(args[0])]
        if args and origin in (typing.Union, types.UnionType):
            return functools.reduce(operator.or_, [convert(a) for a in args])
        return annotation

    fields: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        annotation = convert(info.annotation)
        if info.metadata:
            annotation = Annotated[annotation, *info.metadata]
        fields[name] = annotation if info.is_required() else NotRequired[annotation]
    return TypedDict(f"{model.__name__}Dict", fields)  # type: ignore[operator]


class Plan:
    """Everything needed to serve one (adapter, field set): columns, compiled builder, validator, model."""

    def __init__(self, adapter: RowAdapter, names: tuple[str, ...], joins: bool = False) -> None:
        self.adapter = adapter
        self.names = names
        self.joins = joins
        specs = [adapter.fields[n] for n in names]
        if joins:
            specs = [s.joined or s for s in specs]
        columns: list[str] = []
        index: dict[str, int] = {}

        def position(column: str) -> int:
            if column not in index:
                index[column] = len(columns)
                columns.append(column)
            return index[column]

        exprs: dict[str, str] = {}
        # One query per distinct loader per batch, keyed by the values of every column that feeds it.
        groups: dict[Callable[..., Any], tuple[int, set[int]]] = {}
        for spec in specs:
            if spec.loader is not None:
                key = position(spec.loader_key or adapter.pk_column)
                group, keys = groups.setdefault(spec.loader, (len(groups), set()))
                keys.add(key)
                lookup = f"L[{group}].get(r[{key}], {spec.loader_default})"
                exprs[spec.name] = spec.expr.replace("$v", lookup) if spec.expr != "$0" else lookup
            else:
                positions = [position(c) for c in spec.columns]
                exprs[spec.name] = re.sub(r"\$(\d+)", lambda m, p=positions: f"r[{p[int(m.group(1))]}]", spec.expr)
        self.columns = tuple(columns)
        self.loaders = [(loader, sorted(keys)) for loader, (_, keys) in sorted(groups.items(), key=lambda g: g[1][0])]
        self.getters = [_path_getter(c) for c in columns]
        required = {n for n, info in adapter.model.model_fields.items() if info.is_required()}
        # The schema itself when every required field is there; a partial model for fields= subsets.
        self.model = model = adapter.model if required <= set(names) else _partial_model(adapter.model, names)
        self.list_adapter = TypeAdapter(list[model])
        self.dict_list_adapter = TypeAdapter(list[_typeddict_of(model)])
        namespace: dict[str, Any] = {**adapter.namespace, **_STATE, "_M": model, "_D": {}}
        dict_body = "{" + ", ".join(f"{n!r}: {exprs[n]}" for n in names) + "}"
        # Trusted objects: the instance state is written directly, nested models included, in model field
        # order (pydantic serialises __dict__ in its order), absent fields at their defaults and unset.
        obj_parts = []
        for name, info in model.model_fields.items():
            if name not in exprs:
                namespace["_D"][name] = info.get_default(call_default_factory=True)
                obj_parts.append(f"{name!r}: _D[{name!r}]")
                continue
            expr = exprs[name]
            sub = _submodel(info.annotation)
            if sub is not None:
                namespace[f"_mk_{name}"] = _constructor(sub)
                if _is_list(info.annotation):
                    expr = f"[_mk_{name}(x) for x in ({expr}) or ()]"
                else:
                    expr = f"_mk_{name}({expr})"
            obj_parts.append(f"{name!r}: {expr}")
        obj_body = "{" + ", ".join(obj_parts) + "}"
        fields_set = "{" + ", ".join(repr(n) for n in names) + "}"
        source = (
            f"def build_many(rows, L):\n    return [{dict_body} for r in rows]\n\n"
            "def build_objects(rows, L):\n"
            "    out = []\n"
            "    append = out.append\n"
            "    for r in rows:\n"
            "        o = _NEW(_M)\n"
            f"        _SET(o, '__dict__', {obj_body})\n"
            f"        _FS(o, {fields_set})\n"
            "        _EX(o, None)\n"
            "        _PR(o, None)\n"
            "        append(o)\n"
            "    return out\n"
        )
        self.source = source
        exec(compile(source, f"<adapter {adapter.name} {','.join(names)}>", "exec"), namespace)  # noqa: S102
        self._build_many = namespace["build_many"]
        self._build_objects = namespace["build_objects"]

    def _run_loaders(self, rows: list[tuple]) -> list[dict[Any, Any]]:
        found = []
        for loader, positions in self.loaders:
            keys = {r[p] for r in rows for p in positions}
            keys.discard(None)
            found.append(loader(list(keys)) if keys else {})
        return found

    def dicts_from_tuples(self, rows: list[tuple]) -> list[dict[str, Any]]:
        """Return the trusted JSON-ready dicts of the rows."""
        return self._build_many(rows, self._run_loaders(rows))

    def objects_from_tuples(self, rows: list[tuple]) -> list[BaseModel]:
        """Return schema instances of the rows, trusted: assembled without validation."""
        return self._build_objects(rows, self._run_loaders(rows))

    def validate_dicts(self, data: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Return the rows validated against the schema, as new plain dicts (no model instances)."""
        return self.dict_list_adapter.validate_python(data)

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
        self.plan()  # compile the default plans at import time
        self.plan(joins=True)

    def plan(self, fields: Iterable[str] | None = None, extras: Iterable[str] = (), *, joins: bool = False) -> Plan:
        """Return the compiled plan for these output fields (default: all non-lazy) plus lazy extras.

        joins=True reads related rows (users) through JOINs in the row query instead of one batched query.
        """
        wanted = set(self.default_names if fields is None else fields) | set(extras)
        unknown = wanted - set(self.fields)
        if unknown:
            raise ValueError(f"{self.name}: unknown field(s) {sorted(unknown)}; known: {sorted(self.fields)}")
        return self._plan(tuple(n for n in self.fields if n in wanted), joins)

    @cache  # noqa: B019 - adapters live for the whole process
    def _plan(self, names: tuple[str, ...], joins: bool) -> Plan:
        return Plan(self, names, joins)

    @staticmethod
    def joins_for(source: Source) -> bool:
        """Return whether to join related rows into the row query for this source.

        Measured (bench/adapters.py, 20,000 issues): on PostgreSQL, planning the 9-table join of an issue
        page takes ~45 ms against ~1 ms for the 5-table query plus a users query, so users are loaded
        separately; on SQLite planning is cheap and the extra query costs more than the join.
        """
        return isinstance(source, QuerySet) and connections[source.db].vendor == "sqlite"

    # -- rows out ----------------------------------------------------------------------------------------
    # Each call fetches tuples, builds plain dicts (or instances) and, for validate=True, validates the dicts
    # into new dicts (TypedDict shapes: the schema's checks without instance creation) or into instances.

    def _tuples(self, plan: Plan, source: Source) -> list[tuple]:
        if isinstance(source, QuerySet):
            return list(source.values_list(*plan.columns))
        if isinstance(source, models.Model):
            source = [source]
        return plan.tuples_from_instances(source)

    def _dicts(self, plan: Plan, rows: list[tuple], validate: bool) -> list[dict[str, Any]]:
        data = plan.dicts_from_tuples(rows)
        return plan.validate_dicts(data) if validate else data

    def _objects(self, plan: Plan, rows: list[tuple], validate: bool) -> list[BaseModel]:
        if validate:
            return plan.list_adapter.validate_python(plan.dicts_from_tuples(rows))
        return plan.objects_from_tuples(rows)

    def dicts(self, source: Source, *, fields=None, extras=(), validate: bool = False) -> list[dict[str, Any]]:
        """Return JSON-ready dicts (the trusted shape), validated first when validate=True."""
        plan = self.plan(fields, extras, joins=self.joins_for(source))
        with gc_paused():
            return self._dicts(plan, self._tuples(plan, source), validate)

    def objects(self, source: Source, *, fields=None, extras=(), validate: bool = False) -> list[BaseModel]:
        """Return schema instances; validate=False assembles them without re-validating trusted rows."""
        plan = self.plan(fields, extras, joins=self.joins_for(source))
        with gc_paused():
            return self._objects(plan, self._tuples(plan, source), validate)

    def json(self, source: Source, *, fields=None, extras=(), validate: bool = False) -> bytes:
        """Return a JSON array of the rows as bytes."""
        plan = self.plan(fields, extras, joins=self.joins_for(source))
        with gc_paused():
            return orjson.dumps(self._dicts(plan, self._tuples(plan, source), validate), option=JSON_OPTIONS)

    def _tuple_chunks(self, plan: Plan, source: Source, chunk_size: int) -> Iterator[list[tuple]]:
        if isinstance(source, QuerySet):
            yield from _batched(source.values_list(*plan.columns).iterator(chunk_size=chunk_size), chunk_size)
        else:
            if isinstance(source, models.Model):
                source = [source]
            for batch in _batched(source, chunk_size):
                yield plan.tuples_from_instances(batch)

    def iter_objects(
        self, source: Source, *, fields=None, extras=(), validate: bool = False, chunk_size: int = DEFAULT_CHUNK_SIZE
    ) -> Iterator[BaseModel]:
        """Yield schema instances, reading the rows chunk by chunk (flat memory for any size)."""
        plan = self.plan(fields, extras, joins=self.joins_for(source))
        for rows in self._tuple_chunks(plan, source, chunk_size):
            with gc_paused():
                objs = self._objects(plan, rows, validate)
            yield from objs

    def iter_dicts(
        self, source: Source, *, fields=None, extras=(), validate: bool = False, chunk_size: int = DEFAULT_CHUNK_SIZE
    ) -> Iterator[dict[str, Any]]:
        """Yield JSON-ready dicts chunk by chunk (CSV writers, cache fillers)."""
        plan = self.plan(fields, extras, joins=self.joins_for(source))
        for rows in self._tuple_chunks(plan, source, chunk_size):
            with gc_paused():
                data = self._dicts(plan, rows, validate)
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
        plan = self.plan(fields, extras, joins=self.joins_for(source))
        first = True
        for rows in self._tuple_chunks(plan, source, chunk_size):
            with gc_paused():
                data = self._dicts(plan, rows, validate)
                if lines:
                    piece = b"".join([orjson.dumps(d, option=JSON_OPTIONS) + b"\n" for d in data])
                else:
                    body = orjson.dumps(data, option=JSON_OPTIONS)
                    piece = (b"[" if first else b",") + body[1:-1] if data else b""
            del data
            if piece:
                first = False
                yield piece
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
