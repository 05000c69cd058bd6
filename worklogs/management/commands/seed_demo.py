"""Fill the database with deterministic demo data: `manage.py seed_demo --issues 5000 --seed 1`."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection

from issues.models import Issue
from worklogs.demo import MAX_PROJECTS, default_people, default_projects, seed_demo


class Command(BaseCommand):
    help = "Create demo projects, users, issues, comments, history and worklogs (deterministic for a given --seed)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--issues", type=int, default=2000, help="issues to create (default 2000)")
        parser.add_argument("--seed", type=int, default=1, help="random seed: same seed, same data (default 1)")
        parser.add_argument(
            "--projects",
            type=int,
            default=None,
            help=f"projects, 1-{MAX_PROJECTS} (default: 4, plus one per 7,500 issues; the first has a third of them)",
        )
        parser.add_argument(
            "--users",
            type=int,
            default=None,
            help="demo people with profiles (default: one per 250 issues, at least 12)",
        )
        parser.add_argument("--password", default="demo-pass-123", help="password of the `demo` login if created")
        parser.add_argument("--if-empty", action="store_true", help="do nothing when any issue exists")
        parser.add_argument("--base-url", default="http://127.0.0.1:8000", help="where the site runs, for the printout")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["if_empty"] and Issue.objects.exists():
            self.stdout.write("Issues exist already: nothing seeded (--if-empty).")
            if get_user_model().objects.filter(username="demo").exists():
                base = options["base_url"].rstrip("/")
                self.stdout.write(f"Log in at {base}/ as demo (password as first printed; default demo-pass-123)")
            return
        if options["issues"] < 0:
            raise CommandError("--issues must be zero or more")
        projects = options["projects"] if options["projects"] is not None else default_projects(options["issues"])
        users = options["users"] if options["users"] is not None else default_people(options["issues"])
        if not 1 <= projects <= MAX_PROJECTS:
            raise CommandError(f"--projects must be between 1 and {MAX_PROJECTS}")
        if users < 1:
            raise CommandError("--users must be at least 1")
        verbose = options["verbosity"] > 1
        result = seed_demo(
            issues=options["issues"],
            seed=options["seed"],
            projects=projects,
            users=users,
            password=options["password"],
            progress=self.stdout.write if verbose else None,
        )
        seconds = max(result.seconds, 1e-9)
        self.stdout.write(
            f"Seeded {result.issues} issues, {result.comments} comments, {result.history} history rows, "
            f"{result.worklogs} worklogs, {result.issue_labels} issue labels, {result.users} new users "
            f"(of {result.people} people), {result.projects} new projects (of {projects}) on {connection.vendor}."
        )
        self.stdout.write(
            f"Rate: {result.issues / seconds:,.0f} issues/s, {result.rows / seconds:,.0f} rows/s "
            f"({result.rows:,} rows in {result.seconds:.1f}s)"
        )
        base = options["base_url"].rstrip("/")
        if result.demo_created:
            self.stdout.write(self.style.SUCCESS(f"Log in at {base}/ as demo / {options['password']}"))
        else:
            self.stdout.write(f"Log in at {base}/ as demo (existing login: password unchanged)")
        self.stdout.write(f"Admin: {base}/admin/ (demo is staff and superuser)")
