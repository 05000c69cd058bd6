"""Vendor-specific SQL of the batch writers (imports, bulk change): PostgreSQL fast paths, portable fallbacks.

The one module that knows which database it talks to. Each helper has a PostgreSQL form (COPY, array
parameters, LATERAL look-ups, per-transaction settings) and a portable form the SQLite test run uses;
both return the same rows. It lives in taskra_site, below every app, because issues (bulk change) and
imports (the import writer) both use it and it knows nothing of either app's rules.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from typing import Any

import psycopg
from django.db import connection
from django.db.backends.utils import CursorDebugWrapper
from django.db.models import Model, QuerySet
from psycopg.postgres import types as pg_types

# Rows per statement of the portable fallbacks (SQLite allows 32,766 parameters per statement).
PORTABLE_BATCH = 2000
IN_LIST_CHUNK = 5000


def is_postgresql() -> bool:
    """Return whether the default database is PostgreSQL (the fast paths below apply)."""
    return connection.vendor == "postgresql"


def _copy_types(model: type[Model], columns: Sequence[str]) -> list[str] | None:
    """Return the PostgreSQL type names of the columns (for a binary COPY), or None when one is not a plain type."""
    by_column = {f.column: f for f in model._meta.concrete_fields}
    names = []
    for column in columns:
        db_type = by_column[column].db_type(connection) if column in by_column else None
        name = db_type.split("(", 1)[0].strip() if db_type else ""
        if pg_types.get(name) is None:
            return None
        names.append(name)
    return names


def insert_rows(model: type[Model], columns: Sequence[str], rows: list[tuple], *, binary: bool = False) -> None:
    """Insert new rows: COPY on PostgreSQL, a batched multi-row INSERT elsewhere.

    binary: a binary COPY, for callers whose values have exactly the columns' Python types (ints for integer
    columns, aware datetimes, strings for text): each value is sent as the column's type, without being written
    out as text and parsed back. Measured, 5,000 worklog rows into a table without indexes: 31-34 ms in text,
    7-8 ms in binary (docs/benchmarks/2026-12-01-imports-2.md).
    """
    if not rows:
        return
    if is_postgresql():
        table = connection.ops.quote_name(model._meta.db_table)
        cols = ", ".join(connection.ops.quote_name(c) for c in columns)
        types = _copy_types(model, columns) if binary else None
        options = " (FORMAT BINARY)" if types else ""
        with connection.cursor() as cursor, cursor.cursor.copy(f"COPY {table} ({cols}) FROM STDIN{options}") as copy:
            if types:
                copy.set_types(types)
            for row in rows:
                copy.write_row(row)
        return
    model._default_manager.bulk_create(
        [model(**dict(zip(columns, row, strict=True))) for row in rows], batch_size=PORTABLE_BATCH
    )


def insert_links(model: type[Model], columns: tuple[str, str], pairs: list[tuple[int, int]]) -> None:
    """Insert (a, b) rows of a link table, skipping ones that exist (a concurrent writer may have added them).

    PostgreSQL: one INSERT ... SELECT FROM unnest(two arrays) ON CONFLICT DO NOTHING, whatever the count.
    """
    if not pairs:
        return
    if is_postgresql():
        q = connection.ops.quote_name
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {q(model._meta.db_table)} ({q(columns[0])}, {q(columns[1])}) "
                "SELECT * FROM unnest(%s::bigint[], %s::bigint[]) ON CONFLICT DO NOTHING",
                [[a for a, _ in pairs], [b for _, b in pairs]],
            )
        return
    model._default_manager.bulk_create(
        [model(**{columns[0]: a, columns[1]: b}) for a, b in pairs], ignore_conflicts=True, batch_size=PORTABLE_BATCH
    )


def where_in(qs: QuerySet, column: str, values: Iterable[Any]) -> QuerySet:
    """Return qs filtered to rows whose column is one of values.

    On PostgreSQL this sends one array parameter (`= ANY(%s)`) instead of `IN (%s, %s, ...)`: for chunks of
    thousands of ids Django's per-value lookup preparation and psycopg's query splitting cost more than
    the query itself (cProfile of a 5,000-issue bulk change: about a quarter of the time).
    """
    values = list(values)
    if not is_postgresql():
        return qs.filter(**{f"{column}__in": values})
    table = connection.ops.quote_name(qs.model._meta.db_table)
    return qs.extra(where=[f"{table}.{connection.ops.quote_name(column)} = ANY(%s)"], params=[values])


def rows_by_external_id(
    model: type[Model], source: str, external_ids: list[str], columns: Sequence[str]
) -> list[tuple]:
    """Return the columns of the rows with these external ids from `source`.

    PostgreSQL: one array parameter instead of Django's `__in` with thousands of placeholders (building and
    splitting that query cost more than running it), and a LATERAL ... LIMIT 1 per id rather than
    `external_id = ANY(%s)`: with statistics older than the import (nothing analysed the growing table),
    the planner turned the ANY into a filter over every row of the source, which made each chunk's look-up
    grow with the table: 1.36 s per 5,000 worklogs at 4.4 million rows, against 12 ms this way.
    Elsewhere: `__in` in chunks of 5,000.
    """
    if not external_ids:
        return []
    if not is_postgresql():
        out: list[tuple] = []
        for start in range(0, len(external_ids), IN_LIST_CHUNK):
            out += model._default_manager.filter(
                source=source, external_id__in=external_ids[start : start + IN_LIST_CHUNK]
            ).values_list(*columns)
        return out
    q = connection.ops.quote_name
    cols = ", ".join(f"m.{q(c)}" for c in columns)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {cols} FROM unnest(%s::varchar[]) AS x(ext) CROSS JOIN LATERAL "
            f"(SELECT * FROM {q(model._meta.db_table)} t WHERE t.source = %s AND t.external_id = x.ext LIMIT 1) AS m",
            [external_ids, source],
        )
        return cursor.fetchall()


def relax_commit() -> None:
    """Let this transaction's COMMIT return before its WAL reaches the disk (PostgreSQL only; no-op elsewhere).

    For callers whose transaction can be replayed: a database crash can lose only the last few commits
    (never corrupt or half-apply one). Import and bulk-change chunks qualify: a lost chunk commit also loses
    the job position and counters written in the same transaction, so the job resumes before that chunk
    and re-writes it idempotently. Measured: see docs/performance.md, section Imports.
    """
    if is_postgresql():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit = off")


def execute_without_jit(sql: str, params: dict[str, Any] | Sequence[Any]) -> list[tuple]:
    """Run one statement with JIT compilation off for the current transaction and return its rows.

    For large data-modifying statements whose estimated cost triggers JIT, which took longer (0.45 s per
    chunk of 5,000 bulk-changed issues) than running them. SET LOCAL: this transaction only.
    """
    with connection.cursor() as cursor:
        if is_postgresql():
            cursor.execute("SET LOCAL jit = off")
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else []


def fetch_pipelined(statements: Sequence[tuple[str, Sequence[Any]]]) -> list[list[tuple[Any, ...]]]:
    """Run read statements and return each one's rows: on PostgreSQL in one round trip, each prepared when repeated.

    PostgreSQL: psycopg's pipeline mode sends every statement before reading any result, with server-side
    parameters, so psycopg prepares a statement it has run prepare_threshold times on this connection (5 by
    default; OPTIONS {"prepare_threshold": None} turns that off, e.g. behind a transaction-pooling PgBouncer)
    and PostgreSQL then skips planning it: planning the issue page's lists cost 5-10 times running them. The
    query log, the execute wrappers (request timing) and assertNumQueries see one query, as it is one round
    trip. Elsewhere the statements run one after another.
    """
    if not statements:
        return []
    if not is_postgresql():
        found = []
        with connection.cursor() as cursor:
            for sql, params in statements:
                cursor.execute(sql, params)
                found.append(cursor.fetchall())
        return found
    joined = ";\n".join(sql for sql, _params in statements)
    results: list[list[tuple[Any, ...]]] = []
    with connection.cursor() as wrapper:
        raw = wrapper.cursor.connection

        def run(_sql: str, _params: Any, _many: bool, _context: Any) -> None:
            connection.validate_no_broken_transaction()
            with connection.wrap_database_errors:
                # Plain psycopg cursors bind on the server (Django's own bind on the client, which cannot prepare).
                cursors = [psycopg.Cursor(raw) for _ in statements]
                with raw.pipeline():
                    for cursor, (sql, params) in zip(cursors, statements, strict=True):
                        cursor.execute(sql, params)
                results.extend(cursor.fetchall() for cursor in cursors)
                for cursor in cursors:
                    cursor.close()

        debug = isinstance(wrapper, CursorDebugWrapper)
        with wrapper.debug_sql(joined, None) if debug else contextlib.nullcontext():
            wrapper._execute_with_wrappers(joined, None, False, executor=run)
    return results
