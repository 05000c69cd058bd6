"""Admin changelist counting: Django's Paginator vs EstimatedCountPaginator, side by side.

Run against a seeded database (manage.py seed_demo --issues 100000), e.g.
  DATABASE_URL=postgres://postgres@127.0.0.1:5432/seed_bench .venv/bin/python bench/admin_changelist.py
Prints the count each paginator reports, its time and query count, and the ratio, plus the
number of queries and time of a full changelist request per model (as a superuser).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "taskra_site.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.paginator import Paginator  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from issues.models import Comment, History, Issue  # noqa: E402
from taskra_site.pagination import EstimatedCountPaginator  # noqa: E402
from worklogs.models import Worklog  # noqa: E402

REPEAT = 5


def timed_count(paginator_class: type[Paginator], qs) -> tuple[int, float, int]:
    best = float("inf")
    count = 0
    with CaptureQueriesContext(connection) as ctx:
        for _ in range(REPEAT):
            start = time.perf_counter()
            count = paginator_class(qs, 50).count
            best = min(best, time.perf_counter() - start)
    return count, best, len(ctx.captured_queries) // REPEAT


def main() -> None:
    print(f"database: {connection.vendor} {settings.DATABASES['default']['NAME']}")
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE issues_issue, issues_comment, issues_history, worklogs_worklog")
    cases = [
        ("Issue, unfiltered", Issue.objects.all()),
        ("Issue, status=Done", Issue.objects.filter(status__name="Done")),
        ("Issue, summary search", Issue.objects.filter(summary__icontains="login")),
        ("Worklog, unfiltered", Worklog.objects.all()),
        ("Comment, unfiltered", Comment.objects.all()),
        ("History, unfiltered", History.objects.all()),
        ("History, field=status", History.objects.filter(field="status")),
    ]
    print(f"{'case':28} {'exact':>9} {'ms':>8} | {'estimated':>9} {'ms':>8} {'q':>2} | ratio")
    for name, qs in cases:
        exact, t_exact, _ = timed_count(Paginator, qs)
        est, t_est, queries = timed_count(EstimatedCountPaginator, qs)
        ratio = t_exact / t_est
        print(f"{name:28} {exact:9} {t_exact * 1000:8.2f} | {est:9} {t_est * 1000:8.2f} {queries:2} | {ratio:5.1f}x")

    user = get_user_model().objects.filter(is_superuser=True).first()
    if user is None:
        print("no superuser: run seed_demo to create `demo`")
        return
    client = Client()
    client.force_login(user)
    print("\nchangelist requests (superuser):")
    for url in (
        "/admin/issues/issue/",
        "/admin/issues/issue/?status__category__exact=done",
        "/admin/worklogs/worklog/",
        "/admin/issues/comment/",
        "/admin/issues/history/",
        "/admin/auth/user/",
    ):
        client.get(url, secure=True)  # warm up
        with CaptureQueriesContext(connection) as ctx:
            start = time.perf_counter()
            response = client.get(url, secure=True)
            elapsed = time.perf_counter() - start
        counts = [q["sql"] for q in ctx.captured_queries if "COUNT(" in q["sql"].upper()]
        print(
            f"  {url:52} {response.status_code} {len(ctx.captured_queries):3} queries "
            f"({len(counts)} COUNT) {elapsed * 1000:7.1f} ms"
        )


if __name__ == "__main__":
    main()
