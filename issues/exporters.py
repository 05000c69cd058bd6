"""The navigator's CSV export written by PostgreSQL: `COPY (the selector's query) TO STDOUT (FORMAT csv)`.

The rows are the export queryset's own SQL (issues.selectors.navigator_export_queryset: JQL, visibility and
order), with each export column formatted in SQL into exactly the text the Python writer
(issues.export_jobs.issue_csv_pieces) puts in its cell: names as shown, user display names by
accounts.models.display_name_expression (the SQL form of the one rule), labels joined by spaces in name
order, dates and datetimes as encode_datetime() writes them (UTC, "Z", microseconds only when present), and
every text cell escaped against spreadsheet formulas by taskra_site.csvsafe.FORMULA_START. PostgreSQL's CSV
quoting is the csv module's QUOTE_MINIMAL (a field is quoted when it holds the delimiter, a quote, CR or LF)
except for two details handled here: an empty string is written as NULL (PostgreSQL quotes an empty
non-NULL string), and each row's LF terminator becomes the csv module's CRLF.

No row becomes a Python object: psycopg hands over each row's bytes, which go to the file as they come,
so an export costs PostgreSQL's time plus a few microseconds per row (docs/benchmarks/2026-12-01-export.md).
issues/tests/test_exporters.py checks the output byte for byte against the Python writer. One known
difference is inherited from display_name_expression(): a first and last name made only of whitespace other
than spaces (tabs, line breaks) is kept in SQL where Python's str.strip() falls back to the username.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import EmptyResultSet
from django.db import connections
from django.db.models import Aggregate, Expression, F, Func, OrderBy, QuerySet, TextField
from django.db.models.functions import Cast

from accounts.models import display_name_expression
from issues.fields import EXPORT_COLUMNS
from issues.models import Issue
from taskra_site import timing
from taskra_site.csvsafe import FORMULA_START

COPY_BATCH_ROWS = 5000  # rows joined into one write: few, large writes to the file or the response


class _Repeat(Func):
    """An expression whose SQL template uses its one argument several times ({v}), each with its own params."""

    output_field = TextField()

    def __init__(self, expression: Any, template: str) -> None:
        super().__init__(expression)
        self.sql_template = template

    def as_sql(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, list[Any]]:  # type: ignore[override]
        sql, params = compiler.compile(self.get_source_expressions()[0])
        pieces = self.sql_template.split("{v}")
        return f"({sql})".join(pieces), list(params) * (len(pieces) - 1)


class _NameList(Aggregate):
    """string_agg(names, ' ' ORDER BY names): the labels cell ("backend ui"), in the adapters' label order."""

    function = "string_agg"
    template = "%(function)s(%(expressions)s, ' ' ORDER BY %(expressions)s)"
    output_field = TextField()


# The code points of the characters a spreadsheet reads as the start of a formula (ascii() of the first one).
_FORMULA_CODES = ", ".join(str(ord(c)) for c in FORMULA_START)


def text_cell(expression: Any) -> Expression:
    """Return a text expression as its CSV cell: NULL when empty, a leading quote before a formula start."""
    # ascii() reads the first character's code without making a string: six times cheaper than left(v, 1).
    return _Repeat(
        expression, f"NULLIF(CASE WHEN ascii({{v}}) IN ({_FORMULA_CODES}) THEN '''' || {{v}} ELSE {{v}} END, '')"
    )


def number_cell(expression: Any) -> Expression:
    """Return a non-negative integer column as text (its digits cannot start a formula)."""
    return Cast(expression, TextField())


def date_cell(expression: Any) -> Expression:
    """Return a date column as encode_datetime() writes it: 2026-11-20."""
    return _Repeat(expression, "to_char({v}, 'YYYY-MM-DD')")


def datetime_cell(expression: Any) -> Expression:
    """Return a datetime column as encode_datetime() writes it: UTC with Z, microseconds only when not zero."""
    # One to_char() with microseconds, dropped when they are zero: cheaper than testing for them first.
    return _Repeat(
        expression, "replace(to_char({v} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), '.000000Z', 'Z')"
    )


def _labels_by_issue(queryset: QuerySet[Issue]) -> QuerySet:
    """Return (issue_id, labels cell) of the queryset's issues that have labels: one grouped query."""
    through: Any = Issue.labels.through  # the auto-created model: django-stubs cannot see its fields
    return (
        through.objects.filter(issue_id__in=queryset.order_by().values("pk"))
        .order_by()
        .values("issue_id")
        .annotate(cell=text_cell(_NameList("label__name")))
        .values_list("issue_id", "cell")
    )


def _display_names(queryset: QuerySet[Issue]) -> QuerySet:
    """Return (user id, display name cell) of every user: a few thousand rows, each formatted once."""
    return get_user_model().objects.annotate(cell=text_cell(display_name_expression())).values_list("id", "cell")


@dataclass(frozen=True)
class Joined:
    """A cell read from another query's (id, cell) rows, joined on the issue's `key` column."""

    key: str
    rows: Callable[[QuerySet[Issue]], QuerySet]


# Each export column (issues.fields.EXPORT_COLUMNS) as the SQL of its cell: what issue_csv_pieces writes for
# the adapter field of the same name (a project by its key, a user by display name, None as nothing).
CELLS: dict[str, Callable[[], Expression]] = {
    "key": lambda: text_cell(F("key")),
    "summary": lambda: text_cell(F("summary")),
    "project": lambda: text_cell(F("project__key")),
    "type": lambda: text_cell(F("type__name")),
    "status": lambda: text_cell(F("status__name")),
    "status_category": lambda: text_cell(F("status__category")),
    "priority": lambda: text_cell(F("priority__name")),
    "resolution": lambda: text_cell(F("resolution__name")),
    "parent_key": lambda: text_cell(F("parent__key")),
    "due_date": lambda: date_cell(F("due_date")),
    "original_estimate": lambda: number_cell(F("original_estimate")),
    "remaining_estimate": lambda: number_cell(F("remaining_estimate")),
    "time_spent": lambda: number_cell(F("time_spent")),
    "created": lambda: datetime_cell(F("created")),
    "updated": lambda: datetime_cell(F("updated")),
    "resolved": lambda: datetime_cell(F("resolved")),
}
# Cells hash-joined from a grouped or a small query instead of computed per row: a labels subquery per row
# cost three times the rest of the export (and kept PostgreSQL from formatting rows in parallel workers),
# and a display name computed per row and user column cost more than joining each user's, formatted once.
JOINED: dict[str, Joined] = {
    "labels": Joined("pk", _labels_by_issue),
    "assignee": Joined("assignee_id", _display_names),
    "reporter": Joined("reporter_id", _display_names),
}
_missing = [field for field, _label in EXPORT_COLUMNS if field not in CELLS and field not in JOINED]
if _missing:  # a new export column must say how PostgreSQL writes it
    raise ImportError(f"issues.exporters: no SQL cell for export column(s) {_missing}")


def copy_supported(queryset: QuerySet) -> bool:
    """Return whether the queryset's database can write the CSV itself (PostgreSQL's COPY)."""
    return connections[queryset.db].vendor == "postgresql"


def _order_columns(queryset: QuerySet[Issue]) -> tuple[dict[str, Any], list[str]]:
    """Return the queryset's ORDER BY as output columns (export_o0, ...) and the clauses sorting by them."""
    query = queryset.query
    order = list(query.order_by) or (list(query.get_meta().ordering or ()) if query.default_ordering else [])
    columns: dict[str, Any] = {}
    clauses: list[str] = []
    for n, item in enumerate(order):
        name, nulls = f"export_o{n}", ""
        expression: Any
        if isinstance(item, str):
            if item == "?":
                raise ValueError("a random order cannot be exported")
            descending, expression = item.startswith("-"), F(item.lstrip("-"))
        elif isinstance(item, OrderBy):
            descending, expression = item.descending, item.expression
            nulls = " NULLS LAST" if item.nulls_last else " NULLS FIRST" if item.nulls_first else ""
        else:
            descending, expression = False, item
        columns[name] = expression
        clauses.append(f'q."{name}"{" DESC" if descending else " ASC"}{nulls}')
    return columns, clauses


def issue_csv_sql(queryset: QuerySet[Issue]) -> tuple[str, tuple[Any, ...]]:
    """Return the SELECT of the export's CSV cells over the queryset's rows, in its order (SQL, params).

    The queryset's own query, unordered, gives the rows, their cells, the keys of the joined cells and the
    sort keys; each joined cell's query is joined on its key; the sort keys order the whole.
    """
    columns = list(enumerate(field for field, _label in EXPORT_COLUMNS))
    cells = {f"export_c{n}": CELLS[field]() for n, field in columns if field in CELLS}
    keys = {f"export_k{n}": F(JOINED[field].key) for n, field in columns if field in JOINED}
    order, clauses = _order_columns(queryset)
    rows = queryset.annotate(**cells, **keys, **order).order_by().values_list(*cells, *keys, *order)
    sql, rows_params = rows.query.sql_with_params()
    params = list(rows_params)
    joins = []
    for n, field in columns:
        if field in JOINED:
            joined_sql, joined_params = JOINED[field].rows(queryset).query.sql_with_params()
            joins.append(f' LEFT OUTER JOIN ({joined_sql}) j{n}("key", "cell") ON j{n}."key" = q."export_k{n}"')
            params += joined_params
    select = ", ".join(f'j{n}."cell"' if field in JOINED else f'q."export_c{n}"' for n, field in columns)
    order_by = f" ORDER BY {', '.join(clauses)}" if clauses else ""
    return f"SELECT {select} FROM ({sql}) q{''.join(joins)}{order_by}", tuple(params)


class RowCount:
    """The number of rows an export generator wrote so far (all of them once it is exhausted)."""

    def __init__(self) -> None:
        self.rows = 0


def copy_csv_rows(queryset: QuerySet[Issue], counter: RowCount | None = None) -> Iterator[bytes]:
    """Yield the queryset's export rows as CSV bytes (CRLF line ends, no header), COPY_BATCH_ROWS per piece.

    Closing the generator early (a client gone) makes psycopg drain the rest of the COPY, so the
    connection stays usable; an error of the query raises from the generator.
    """
    try:
        sql, params = issue_csv_sql(queryset)
    except EmptyResultSet:  # Django proved the query matches nothing (no visible project): no rows, no query
        return
    done = counter if counter is not None else RowCount()
    connection: Any = connections[queryset.db]  # the PostgreSQL backend (copy_supported): its ops have compose_sql
    # COPY takes no bound parameters: they are merged into the text the way Django's client-side cursor
    # merges them for any query (compose_sql), "%%" of the compiled SQL included.
    statement = f"COPY ({connection.ops.compose_sql(sql, params)}) TO STDOUT (FORMAT csv)"
    start = time.monotonic()
    started_ns = timing.now_ns()
    try:
        with connection.cursor() as cursor, cursor.cursor.copy(statement) as copy:
            batch: list[Any] = []
            for row in copy:
                # Each COPY message is one row ending in LF; the csv module ends rows with CRLF.
                batch.append(row[:-1])
                if len(batch) == COPY_BATCH_ROWS:
                    done.rows += len(batch)
                    yield b"\r\n".join(batch) + b"\r\n"
                    batch.clear()
            if batch:
                done.rows += len(batch)
                yield b"\r\n".join(batch) + b"\r\n"
    finally:
        # COPY bypasses the cursor's execute() and so the perf middleware's execute_wrapper: added by hand, so the
        # request's SQL time, query count and Server-Timing include the export's rows.
        timing.add_query(timing.now_ns() - started_ns, statement)
        if connection.queries_logged:
            # COPY bypasses the cursor's execute(): logged by hand, so query counts and the debug toolbar see it.
            connection.queries_log.append({"sql": statement, "time": f"{time.monotonic() - start:.3f}"})
