"""The adapter engine: ORM rows to JSON-ready dicts or JSON bytes in the shape of a pydantic schema.

Every app's `adapters.py` declares its adapters with this module (issues, worklogs); it imports nothing
from Taskra's apps, so any app may use it.

- Reads are trusted: the needed columns come from one `values_list()` query (or from loaded instances)
  and a row builder made once per field set turns each tuple into a plain dict; JSON is `orjson.dumps`
  of those dicts, byte for byte what pydantic's `dump_json` writes for the schema.
- Validation is a switch (`validate=`, default: the settings). settings.TASKRA_ADAPTER_VALIDATE (on in
  the test suite) checks every batch against its schema and raises, so a row that breaks a schema fails
  a test; in production it is off, and settings.TASKRA_ADAPTER_SHADOW_RATE checks a sampled fraction of
  reads instead, logging each failing row and counting it (`shadow_validation_counts()`), never raising.
- One text form of users and datetimes for every output: `user_ref()` fields ({id, username,
  display_name}) and `dumps()` / `encode_datetime()` (ISO 8601, UTC as "Z").
"""

from __future__ import annotations

import datetime as dt
import functools
import gc
import logging
import operator
import random
import threading
import types
import typing
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from itertools import islice
from typing import Annotated, Any, NotRequired, overload

import orjson
from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.db import connections, models
from django.db.models import QuerySet
from pydantic import BaseModel, TypeAdapter, ValidationError
from typing_extensions import TypedDict

from taskra_site import switches

logger = logging.getLogger("taskra.adapters")

JSON_OPTIONS = orjson.OPT_UTC_Z  # "…Z" for UTC like pydantic's dump_json, so both agree byte for byte
DEFAULT_CHUNK_SIZE = 2000
# Failing rows logged per sampled batch: enough to find the bad column, never a log flood.
SHADOW_LOG_LIMIT = 5

Source = QuerySet | models.Model | Iterable[models.Model]


def dumps(value: Any) -> bytes:
    """Return JSON bytes the way every adapter writes them (orjson, UTC as Z)."""
    return orjson.dumps(value, option=JSON_OPTIONS)


@overload
def encode_datetime(value: dt.date) -> str: ...


@overload
def encode_datetime(value: None) -> None: ...


def encode_datetime(value: dt.date | None) -> str | None:
    """Return a date or datetime as the text `dumps()` writes for it ("2026-11-20T08:15:00Z"); None stays None.

    The one text form of datetimes in Taskra's outputs: JSON API, issue page payload and CSV exports.
    """
    return None if value is None else orjson.dumps(value, option=JSON_OPTIONS)[1:-1].decode()


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a batch of rows is built.

    Building thousands of dicts (none of them in reference cycles) otherwise triggers repeated
    collections. Only the caller that paused it resumes it, so nested uses never leave it off.
    """
    if not gc.isenabled() or switches.is_off("gc_pause"):
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


# ---------------------------------------------------------------------------------------------------------
# Output fields
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OutField:
    """How one output field is made from columns of a row.

    `make` receives the values of `columns` in order and returns the field's value; without it the field
    is the first column as is. A `loader` takes the distinct non-null values of the `loader_key` column
    (default: the primary key) of a whole batch of rows and returns {key: value} in one query (fields
    sharing a loader share it); `make` then receives the looked-up value, or `loader_default` when missing.
    """

    name: str
    columns: tuple[str, ...] = ()
    make: Callable[..., Any] | None = None
    loader: Callable[[list[Any]], dict[Any, Any]] | None = None
    loader_default: Any = None
    loader_key: str | None = None
    lazy: bool = False
    # The same field read through JOINs in the row query: used where joins are cheap.
    joined: OutField | None = None


def col(name: str, path: str | None = None, make: Callable[..., Any] | None = None) -> OutField:
    """Return a field copied from one column (or made from it by `make`)."""
    return OutField(name, (path or name,), make)


# ---------------------------------------------------------------------------------------------------------
# Plans: the columns, row builder and validator of one (adapter, field set)
# ---------------------------------------------------------------------------------------------------------


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


def _row_builder(names: tuple[str, ...], steps: list[tuple[Any, ...]]) -> Callable[[list, list], list[dict]]:
    """Return a function turning a batch of row tuples into dicts: one list comprehension of one dict display.

    The source holds only the schema's field names (repr-quoted) and integers (column positions, indexes
    into the tuples of functions and defaults below): no data and no expression text reaches it. It is
    compiled because a dict display builds rows in half the time of any generic form
    (docs/benchmarks/2026-12-01-adapters.md).
    """
    funcs: list[Callable[..., Any]] = []
    defaults: list[Any] = []
    parts = []
    for name, step in zip(names, steps, strict=True):
        if step[0] == "column":
            expr = f"r[{step[1]}]"
        elif step[0] == "made":
            funcs.append(step[1])
            expr = f"F[{len(funcs) - 1}](" + ", ".join(f"r[{p}]" for p in step[2]) + ")"
        else:
            _, make, group, key, default = step
            defaults.append(default)
            expr = f"L[{int(group)}].get(r[{int(key)}], D[{len(defaults) - 1}])"
            if make is not None:
                funcs.append(make)
                expr = f"F[{len(funcs) - 1}]({expr})"
        parts.append(f"{name!r}: {expr}")
    source = "lambda rows, L, F, D: [{" + ", ".join(parts) + "} for r in rows]"
    build = eval(compile(source, "<adapter row builder>", "eval"))  # noqa: S307
    funcs_t, defaults_t = tuple(funcs), tuple(defaults)
    return lambda rows, loaded: build(rows, loaded, funcs_t, defaults_t)


def typed_dict(model: type[BaseModel], names: Iterable[str] | None = None) -> type:
    """Return a TypedDict of the model's fields (nested models as TypedDicts, optional fields NotRequired).

    Validating into TypedDicts checks exactly what the model checks without creating instances. Keys are
    the fields' output names (aliases); `names` limits the fields (a `fields=` subset).
    """

    def convert(annotation: Any) -> Any:
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            return typed_dict(annotation)
        origin, args = typing.get_origin(annotation), typing.get_args(annotation)
        if origin is list:
            item: Any = convert(args[0])
            return list[item]
        if args and origin in (typing.Union, types.UnionType):
            return functools.reduce(operator.or_, [convert(a) for a in args])
        return annotation

    wanted = None if names is None else set(names)
    fields: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        key = info.alias or name
        if wanted is not None and key not in wanted:
            continue
        annotation = convert(info.annotation)
        if info.metadata:
            annotation = Annotated[annotation, *info.metadata]
        fields[key] = annotation if info.is_required() else NotRequired[annotation]
    # The functional TypedDict form with fields known only at run time, which mypy cannot follow.
    return TypedDict(f"{model.__name__}Dict", fields)  # type: ignore[operator]


class Plan:
    """Everything needed to serve one (adapter, field set): columns, row builder and validator."""

    def __init__(self, adapter: RowAdapter, names: tuple[str, ...], joins: bool) -> None:
        self.adapter = adapter
        self.names = names
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

        # Per output field, how its column of values is made from the batch's columns (see build()).
        steps: list[tuple[Any, ...]] = []
        # One query per distinct loader per batch, keyed by the values of every column that feeds it.
        groups: dict[Callable[..., Any], tuple[int, set[int]]] = {}
        for spec in specs:
            if spec.loader is not None:
                key = position(spec.loader_key or adapter.pk_column)
                group, keys = groups.setdefault(spec.loader, (len(groups), set()))
                keys.add(key)
                steps.append(("loaded", spec.make, group, key, spec.loader_default))
            elif spec.make is None:
                steps.append(("column", position(spec.columns[0])))
            else:
                steps.append(("made", spec.make, [position(c) for c in spec.columns]))
        if not columns:
            position(adapter.pk_column)  # a row query needs a column even when every field is loaded
        self.columns = tuple(columns)
        self.loaders = [(loader, sorted(keys)) for loader, (_, keys) in sorted(groups.items(), key=lambda g: g[1][0])]
        self.getters = [_path_getter(c) for c in columns]
        self._build = _row_builder(names, steps)
        row_type: Any = typed_dict(adapter.model, names)  # a TypedDict made at run time
        self.validator: TypeAdapter[Any] = TypeAdapter(list[row_type])

    def _run_loaders(self, rows: list[tuple]) -> list[dict[Any, Any]]:
        found = []
        for loader, positions in self.loaders:
            keys = {r[p] for r in rows for p in positions}
            keys.discard(None)
            found.append(loader(list(keys)) if keys else {})
        return found

    def dicts_from_tuples(self, rows: list[tuple]) -> list[dict[str, Any]]:
        """Return the trusted JSON-ready dicts of the rows (datetimes stay datetimes; dumps() writes them)."""
        return self.build(rows, self._run_loaders(rows))

    def build(self, rows: list[tuple], loaded: list[dict[Any, Any]]) -> list[dict[str, Any]]:
        """Return the dicts of the rows given what the loaders found for them."""
        return self._build(rows, loaded)

    def tuples_from_instances(self, objs: Iterable[models.Model]) -> list[tuple]:
        """Return the plan's columns read from model instances (select_related what they join)."""
        getters = self.getters
        return [tuple(g(o) for g in getters) for o in objs]


# ---------------------------------------------------------------------------------------------------------
# Validation: strict (tests), off, or shadow-sampled (production)
# ---------------------------------------------------------------------------------------------------------

# The source of shadow sampling: random.random, replaced by tests that need a fixed draw.
shadow_random: Callable[[], float] = random.random

_shadow_lock = threading.Lock()
_shadow_counts = {"batches": 0, "rows": 0, "failed_rows": 0}


def shadow_validation_counts() -> dict[str, int]:
    """Return this process's shadow-validation counters: batches and rows checked, rows that failed."""
    with _shadow_lock:
        return dict(_shadow_counts)


def reset_shadow_validation_counts() -> None:
    """Set the shadow-validation counters back to zero."""
    with _shadow_lock:
        for key in _shadow_counts:
            _shadow_counts[key] = 0


def check_rows(validator: TypeAdapter, data: Any, *, name: str, validate: bool | None) -> None:
    """Check `data` against its schema as the switch says; raise ValidationError only when validating.

    validate=True checks and raises; False skips; None follows the settings: TASKRA_ADAPTER_VALIDATE
    (tests) checks and raises, otherwise TASKRA_ADAPTER_SHADOW_RATE is the fraction of calls checked
    in the shadow: each failing row is logged with the adapter's name, its index, id and field path, and
    counted, and the caller gets its rows as usual.
    """
    if validate is None:
        # The live A/B switch (perf app) overrides the settings for this request: skip, validate or shadow.
        variant = switches.current("adapter_validation")
        if variant == "skip":
            return
        if settings.TASKRA_ADAPTER_VALIDATE or variant == "validate":
            validate = True
        else:
            rate = settings.TASKRA_ADAPTER_SHADOW_RATE
            if rate > 0 and data and shadow_random() < rate:
                _shadow_check(validator, data, name)
            return
    if validate:
        validator.validate_python(data)


def _shadow_check(validator: TypeAdapter, data: Any, name: str) -> None:
    rows = data if isinstance(data, list) else [data]
    try:
        validator.validate_python(data)
        failed: dict[Any, list[Any]] = {}
    except ValidationError as exc:
        failed = {}
        for error in exc.errors(include_url=False):
            loc = error["loc"] if isinstance(data, list) else (0, *error["loc"])
            failed.setdefault(loc[0], []).append((loc[1:], error["msg"]))
    with _shadow_lock:
        _shadow_counts["batches"] += 1
        _shadow_counts["rows"] += len(rows)
        _shadow_counts["failed_rows"] += len(failed)
    for index, problems in list(failed.items())[:SHADOW_LOG_LIMIT]:
        row = rows[index] if isinstance(index, int) and index < len(rows) else None
        row_id = row.get("id") if isinstance(row, dict) else None
        logger.warning(
            "adapter %s: row %s (id %s) breaks its schema: %s",
            name,
            index,
            row_id,
            "; ".join(f"{'.'.join(str(p) for p in path) or '(row)'}: {msg}" for path, msg in problems),
        )


# ---------------------------------------------------------------------------------------------------------
# Row adapters
# ---------------------------------------------------------------------------------------------------------


class RowAdapter:
    """Turn querysets or instances of one Django model into dicts or JSON of one schema.

    joins=None joins related rows (users) into the row query on SQLite only (planning is cheap there)
    and loads them in one batched query elsewhere; joins=True always joins (short lists whose every
    row has a user, like an issue page's comments, where the extra query would cost more).
    """

    def __init__(
        self,
        name: str,
        model: type[BaseModel],
        fields: Sequence[OutField],
        *,
        pk_column: str = "id",
        joins: bool | None = None,
    ) -> None:
        self.name = name
        self.model = model
        self.pk_column = pk_column
        self.always_join = joins
        order = [info.alias or n for n, info in model.model_fields.items()]
        given = {f.name for f in fields}
        missing = [n for n in order if n not in given]
        extra = sorted(given - set(order))
        if missing or extra:
            raise TypeError(f"adapter {name}: no spec for {missing}, no schema field for {extra}")
        self.fields = {f.name: f for f in sorted(fields, key=lambda f: order.index(f.name))}
        self.default_names = tuple(n for n, f in self.fields.items() if not f.lazy)
        self.lazy_names = frozenset(n for n, f in self.fields.items() if f.lazy)
        self.plan()  # make the default plans at import time
        self.plan(joins=True)

    def plan(self, fields: Iterable[str] | None = None, extras: Iterable[str] = (), *, joins: bool = False) -> Plan:
        """Return the plan for these output fields (default: all non-lazy) plus lazy extras.

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

    def joins_for(self, source: Source) -> bool:
        """Return whether to join related rows into the row query for this source.

        On PostgreSQL planning a many-table join costs more than a second, batched users query; on SQLite
        planning is cheap and the extra query costs more than the join (docs/performance.md).
        """
        if self.always_join is not None:
            return self.always_join
        return isinstance(source, QuerySet) and connections[source.db].vendor == "sqlite"

    def _tuples(self, plan: Plan, source: Source) -> list[tuple]:
        if isinstance(source, QuerySet):
            return list(source.values_list(*plan.columns))
        if isinstance(source, models.Model):
            source = [source]
        return plan.tuples_from_instances(source)

    def _tuple_chunks(self, plan: Plan, source: Source, chunk_size: int) -> Iterator[list[tuple]]:
        if isinstance(source, QuerySet):
            yield from _batched(source.values_list(*plan.columns).iterator(chunk_size=chunk_size), chunk_size)
        else:
            if isinstance(source, models.Model):
                source = [source]
            for batch in _batched(source, chunk_size):
                yield plan.tuples_from_instances(batch)

    def _dicts(self, plan: Plan, rows: list[tuple], validate: bool | None) -> list[dict[str, Any]]:
        data = plan.dicts_from_tuples(rows)
        check_rows(plan.validator, data, name=self.name, validate=validate)
        return data

    def dicts(
        self,
        source: Source,
        *,
        fields: Iterable[str] | None = None,
        extras: Iterable[str] = (),
        validate: bool | None = None,
    ) -> list[dict[str, Any]]:
        """Return JSON-ready dicts of the rows (see check_rows for `validate`)."""
        plan = self.plan(fields, extras, joins=self.joins_for(source))
        with gc_paused():
            return self._dicts(plan, self._tuples(plan, source), validate)

    def json(
        self,
        source: Source,
        *,
        fields: Iterable[str] | None = None,
        extras: Iterable[str] = (),
        validate: bool | None = None,
    ) -> bytes:
        """Return a JSON array of the rows as bytes."""
        plan = self.plan(fields, extras, joins=self.joins_for(source))
        with gc_paused():
            return dumps(self._dicts(plan, self._tuples(plan, source), validate))

    def iter_dicts(
        self,
        source: Source,
        *,
        fields: Iterable[str] | None = None,
        extras: Iterable[str] = (),
        validate: bool | None = None,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
    ) -> Iterator[dict[str, Any]]:
        """Yield JSON-ready dicts chunk by chunk (server-side cursor on PostgreSQL): flat memory for any size."""
        plan = self.plan(fields, extras, joins=self.joins_for(source))
        for rows in self._tuple_chunks(plan, source, chunk_size):
            with gc_paused():
                data = self._dicts(plan, rows, validate)
            yield from data

    def iter_json(
        self,
        source: Source,
        *,
        fields: Iterable[str] | None = None,
        extras: Iterable[str] = (),
        validate: bool | None = None,
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
                    piece = b"".join([dumps(d) + b"\n" for d in data])
                else:
                    piece = (b"[" if first else b",") + dumps(data)[1:-1] if data else b""
            del data
            if piece:
                first = False
                yield piece
        if not lines:
            yield b"[]" if first else b"]"


__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "JSON_OPTIONS",
    "OutField",
    "Plan",
    "RowAdapter",
    "Source",
    "check_rows",
    "col",
    "dumps",
    "encode_datetime",
    "gc_paused",
    "reset_shadow_validation_counts",
    "shadow_validation_counts",
    "typed_dict",
]
