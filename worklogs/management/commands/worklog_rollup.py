"""Check the time reports' rollup against the worklogs, or rebuild it (after raw SQL writes or a restore)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from worklogs.services import rollup_differences, worklog_rollup_rebuild


class Command(BaseCommand):
    help = "Check (--check) or rebuild (--rebuild) the per project and quarter hour worklog rollup."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--check", action="store_true", help="compare with the worklogs; exit 1 if they differ")
        parser.add_argument("--rebuild", action="store_true", help="recompute every row from the worklogs")

    def handle(self, *args: Any, check: bool = False, rebuild: bool = False, **options: Any) -> None:
        if check == rebuild:
            raise CommandError("give exactly one of --check and --rebuild")
        if rebuild:
            rows = worklog_rollup_rebuild()
            self.stdout.write(f"Rebuilt the worklog rollup: {rows} rows.")
            return
        wrong = rollup_differences()
        for line in wrong[:50]:
            self.stdout.write(line)
        if wrong:
            raise CommandError(f"The worklog rollup differs from the worklogs in {len(wrong)} bucket(s).")
        self.stdout.write("The worklog rollup agrees with the worklogs.")
