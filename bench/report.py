"""Draw the CI benchmark history as SVG (`make bench-report`): one line per ratio over the runs.

Reads var/bench/history.jsonl (or --history) and writes var/bench/trend.svg (or --out); the perf page (/perf/)
draws the same chart from the same file.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "taskra_site.settings")
    import django

    django.setup()
    from perf.benchhistory import history_path, read_history, trend_series
    from perf.charts import lines

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--history", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--last", type=int, default=100, help="runs to draw")
    args = parser.parse_args(argv)
    history = args.history or history_path()
    runs = read_history(history, limit=args.last)
    if not runs:
        print(f"No runs in {history}: run `make bench-check` first.")
        return 1
    svg = lines(
        trend_series(runs),
        title=f"Benchmark ratios over the last {len(runs)} CI runs (lower is better)",
        chart_id="bench-trend",
        x_labels=[f"{r.get('at', '')[:10]} {r.get('commit', '')[:7]}" for r in runs],
        width=900,
        height=320,
        standalone=True,
    )
    out = args.out or history.with_name("trend.svg")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(str(svg), encoding="utf-8")
    failed = sum(1 for r in runs if not r.get("passed"))
    print(
        f"Wrote {out}: {len(runs)} runs ({failed} failed), "
        f"latest {runs[-1].get('at')} at {runs[-1].get('commit', '')[:8]}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
