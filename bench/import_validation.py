"""Jira JSON read + validation, old path vs new, side by side: `python bench/import_validation.py [--issues N]`.

(a) one process, as `manage.py import_issues` and CSV-era imports read: ijson items through the DepthGuard, then
    `validate_python` of the dicts and `IssueRecord`s built (parsers.validated_chunks);
(b) chunk tasks: record boundaries found in the raw bytes (imports.bytescan), then each chunk validated
    straight from its bytes with one `validate_json` call (parsers.validate_jira_bytes), records built.
Interleaved and repeated; prints microseconds per issue of each, and their ratio per round.
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import BASE_DIR, setup_django  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--issues", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    setup_django("bench_import_validation")
    from bench.imports import generate
    from imports import bytescan, parsers
    from imports.models import JobFormat

    path = BASE_DIR / "var" / f"bench-validation-{args.issues}.json"
    if not path.exists():
        generate(path, args.issues)
    data = path.read_bytes()

    def old() -> int:
        return sum(len(c.result.records) for c in parsers.validated_chunks(JobFormat.JIRA_JSON, [path], size=1000))

    def new() -> tuple[int, float]:
        count, scan = 0, 0.0
        started = time.perf_counter()
        pieces = list(bytescan.jira_json_chunks(io.BytesIO(data), path.name, size=1000))
        scan = time.perf_counter() - started
        first = 1
        for piece in pieces:
            count += len(parsers.validate_jira_bytes(piece.data, first=first).records)
            first += piece.count
        return count, scan

    for r in range(args.rounds):
        started = time.perf_counter()
        n_old = old()
        t_old = time.perf_counter() - started
        started = time.perf_counter()
        n_new, scan = new()
        t_new = time.perf_counter() - started
        assert n_old == n_new == args.issues, (n_old, n_new)
        print(
            f"round {r + 1}: ijson + validate_python {t_old * 1e6 / n_old:.1f} us/issue; "
            f"bytescan + validate_json {t_new * 1e6 / n_new:.1f} us/issue (scan {scan * 1e6 / n_new:.1f}); "
            f"new/old {t_new / t_old:.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
