"""Trigram indexes for JQL text search (`summary ~`, `description ~`, `comment ~`, `text ~`) on PostgreSQL.

Django's icontains compiles to UPPER(col::text) LIKE UPPER('%word%'), which no B-tree index can
serve: these GIN indexes on exactly that expression let PostgreSQL answer a search from the index
instead of scanning every issue and comment. Built CONCURRENTLY (non-atomic migration) so a large
existing database keeps accepting writes meanwhile. Other databases skip this migration's work, and
so does a PostgreSQL role that may not create the pg_trgm extension (logged: search still works,
only without the index).
"""

from __future__ import annotations

import logging

from django.db import migrations

logger = logging.getLogger("taskra.migrations")

INDEXES = [
    ("issues_issue_summary_trgm", "issues_issue", "summary"),
    ("issues_issue_description_trgm", "issues_issue", "description"),
    ("issues_comment_body_trgm", "issues_comment", "body"),
]


def create(apps, schema_editor) -> None:
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        try:
            cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        except Exception as exc:  # not allowed for this role: keep migrating, without the indexes
            logger.warning("pg_trgm unavailable, text search will scan: %s", exc)
            return
        for name, table, column in INDEXES:
            cursor.execute(
                f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {table} USING gin ((UPPER({column}::text)) gin_trgm_ops)"
            )


def drop(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        for name, _table, _column in INDEXES:
            cursor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("issues", "0002_jira_defaults")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
