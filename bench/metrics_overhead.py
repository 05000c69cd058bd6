"""Overhead of the perf middleware (metrics, Server-Timing, rollups, A/B variants) on the cached issue page.

`python bench/metrics_overhead.py [--rounds N]`: on bench/check.py's scratch database, times ten cached issue-page
hits through the full middleware stack against ten through the same stack without perf's middleware, paired and
alternating per round; prints the median ratio with its noise, and an A/A ratio (the bare stack against itself)
as the noise floor of this machine. Target: at most 1.05 (docs/benchmarks/2026-12-01-metrics.md).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import check  # noqa: E402
from bench._common import machine  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=101)
    parser.add_argument("--repeats", type=int, default=3, help="independent measurements of the ratio")
    parser.add_argument("--issues", type=int, default=2000)
    args = parser.parse_args()
    check.setup("bench_metrics")
    check.seed(args.issues)
    from django.conf import settings
    from django.test import Client, override_settings

    from issues.models import Issue

    print(f"machine: {machine()} (shared with other agents: figures are noisy)")
    key = Issue.objects.filter(project__key="P00").order_by("id").values_list("key", flat=True)[11]
    url = f"/browse/{key}"
    full = check._client()
    path = "perf.middleware.RequestMetricsMiddleware"
    with override_settings(MIDDLEWARE=[m for m in settings.MIDDLEWARE if m != path]):
        bare, bare2 = Client(), Client()
        for c in (bare, bare2):
            c.cookies = full.cookies
            assert c.get(url).status_code == 200
    results = []
    for i in range(args.repeats):
        on = check.paired(
            "on/off",
            lambda: [full.get(url) for _ in range(10)],
            lambda: [bare.get(url) for _ in range(10)],
            args.rounds,
        )
        aa = check.paired(
            "A/A", lambda: [bare2.get(url) for _ in range(10)], lambda: [bare.get(url) for _ in range(10)], args.rounds
        )
        print(
            f"repeat {i + 1}: metrics on/off {on.median:.4f} ± {on.noise:.4f}; "
            f"A/A (off/off) {aa.median:.4f} ± {aa.noise:.4f}"
        )
        results.append(
            {
                "on_off": round(on.median, 4),
                "on_off_noise": round(on.noise, 4),
                "aa": round(aa.median, 4),
                "aa_noise": round(aa.noise, 4),
            }
        )
    print(json.dumps({"rounds": args.rounds, "hits_per_timing": 10, "results": results}))


if __name__ == "__main__":
    main()
