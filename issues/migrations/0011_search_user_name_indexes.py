"""Case-insensitive indexes on the names JQL resolves people by (username, email, profile display name).

`assignee = "Ann"` matches username, email or display name without regard to case (UPPER(...) = UPPER(...) on
PostgreSQL): without these, every JQL search naming a person scanned every user and profile (issues/jql/values.py
_user_ids; 12-28 ms for 4,000 people on a loaded machine). PostgreSQL only: SQLite compares with LIKE, which no
expression index serves.
"""

from __future__ import annotations

from django.db import migrations

INDEXES = (
    ("taskra_user_upper_username", "auth_user", "username"),
    ("taskra_user_upper_email", "auth_user", "email"),
    ("taskra_profile_upper_display_name", "accounts_profile", "display_name"),
)


def create(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, table, column in INDEXES:
        schema_editor.execute(f'CREATE INDEX IF NOT EXISTS "{name}" ON "{table}" (UPPER("{column}"::text))')
    # Statistics of the new expressions, so the planner knows a name matches a handful of rows.
    for table in sorted({table for _name, table, _column in INDEXES}):
        schema_editor.execute(f'ANALYZE "{table}"')


def drop(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, _table, _column in INDEXES:
        schema_editor.execute(f'DROP INDEX IF EXISTS "{name}"')


class Migration(migrations.Migration):
    dependencies = [
        ("issues", "0010_merge_integ"),
        ("accounts", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [migrations.RunPython(create, drop, elidable=False)]
