"""Peak memory of reading a Jira site backup (imports.formats.jira_backup) at two sizes, side by side.

Writes a synthetic entities.xml of N issues, streamed (each with a worklog, a comment, a label, a change group
with one item, two custom-field values and a link to the issue before it), then reads and validates it in
chunks of 1,000 as an import does (no database), in a fresh process per run, and prints the peak RSS of each
run. Interleaved and repeated:
    .venv/bin/python bench/backup_reader_memory.py 10000 100000 --repeat 2

`--compare OTHER_CHECKOUT` also runs that checkout's reader on the same files, interleaved (the speed-up as a
ratio in one run); `--sample` samples the child's RSS every second and prints its spread (flat or growing);
`--keep DIR` writes the files there and keeps them.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<entity-engine-xml>
<Project id="100" name="Bench" key="BEN"/>
<ApplicationUser id="1" userKey="JIRAUSER1" lowerUserName="ann"/>
<User id="5" userName="ann" lowerUserName="ann" displayName="Ann" emailAddress="ann@example.com"/>
<Status id="1" name="Open" statuscategory="2"/>
<IssueType id="1" name="Bug"/>
<Priority id="3" name="Medium"/>
<IssueLinkType id="10000" linkname="Blocks" inward="is blocked by" outward="blocks"/>
<CustomField id="10010" customfieldtypekey="com.atlassian.jira.plugin.system.customfieldtypes:float"
 name="Story Points"/>
<CustomField id="10011" customfieldtypekey="com.atlassian.jira.plugin.system.customfieldtypes:select" name="Team"/>
<CustomFieldOption id="10100" customfield="10011" customvalue="Core"/>
"""


def write_entities(path: Path, issues: int) -> None:
    """Write the synthetic backup, streamed."""
    with open(path, "w", encoding="utf-8") as out:
        out.write(HEAD)
        for n in range(1, issues + 1):
            i = 20000 + n
            out.write(
                f'<Issue id="{i}" project="100" number="{n}" reporter="JIRAUSER1" type="1" priority="3" status="1" '
                f'created="2024-01-15 10:00:00.0" updated="2024-01-15 11:00:00.0"><summary>Issue {n}</summary>'
                f"<description>Text of issue {n}, long enough to look like one.</description></Issue>\n"
                f'<Worklog id="{i}1" issue="{i}" author="JIRAUSER1" timeworked="1800" '
                f'startdate="2024-01-15 12:00:00.0"><body>work</body></Worklog>\n'
                f'<Action id="{i}2" issue="{i}" author="JIRAUSER1" type="comment" created="2024-01-15 13:00:00.0">'
                f"<body>comment {n}</body></Action>\n"
                f'<Label id="{i}3" issue="{i}" label="bench"/>\n'
                f'<CustomFieldValue id="{i}7" issue="{i}" customfield="10010" numbervalue="{n % 13}.0"/>\n'
                f'<CustomFieldValue id="{i}8" issue="{i}" customfield="10011" stringvalue="10100"/>\n'
                f'<ChangeGroup id="{i}4" issue="{i}" author="JIRAUSER1" created="2024-01-15 14:00:00.0"/>\n'
                f'<ChangeItem id="{i}5" group="{i}4" fieldtype="jira" field="status" oldstring="Open" '
                'newstring="Open"/>\n'
            )
            if n > 1:
                out.write(f'<IssueLink id="{i}6" linktype="10000" source="{i - 1}" destination="{i}"/>\n')
        out.write("</entity-engine-xml>\n")


def child(path: str) -> None:
    """Read and validate the backup like an import's reader; print records, seconds, peak RSS (MB)."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "taskra_site.settings")
    django.setup()
    from imports import parsers

    started = time.monotonic()
    records = sum(len(c.result.records) for c in parsers.validated_chunks("jira_backup", [Path(path)], size=1000))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{records} {time.monotonic() - started:.1f} {peak:.0f}")


def _rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def run_child(script: Path, path: Path, *, sample: bool) -> tuple[list[str], list[float], float]:
    """Run one reading in a fresh process; return its printed figures, its RSS every second, its CPU seconds.

    CPU seconds (user + system, from wait4) as well as wall seconds: on a shared machine the wall time says
    more about the other processes than about the reader.
    """
    process = subprocess.Popen(
        [sys.executable, str(script), "--child", str(path)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(script.resolve().parent.parent)},
    )
    samples: list[float] = []
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            break
        if sample and (rss := _rss_mb(process.pid)) is not None and rss > 1:  # > 1 MB: the interpreter started
            samples.append(rss)
        time.sleep(1.0 if sample else 0.2)
    process.returncode = os.waitstatus_to_exitcode(status)
    out = process.stdout.read().split() if process.stdout else []
    if process.returncode:
        raise SystemExit(f"{script} failed on {path} (exit {process.returncode})")
    return out, samples, usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("sizes", nargs="+", type=int)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--compare", type=Path, help="another checkout whose reader runs on the same files")
    parser.add_argument("--sample", action="store_true", help="sample the reader's RSS every second")
    parser.add_argument("--keep", type=Path, help="write the files into this folder and keep them")
    args = parser.parse_args()
    scripts = {"this": Path(__file__).resolve()}
    if args.compare:
        scripts["other"] = args.compare.resolve() / "bench" / "backup_reader_memory.py"
    with tempfile.TemporaryDirectory() as scratch:
        directory = args.keep or Path(scratch)
        directory.mkdir(parents=True, exist_ok=True)
        files = {}
        for size in args.sizes:
            files[size] = directory / f"entities-{size}.xml"
            if not files[size].exists():
                write_entities(files[size], size)
        print(
            "reader  issues  file MB  records  wall s  CPU s  issues/CPU s  peak RSS MB  "
            "RSS samples MB (min/median/max @ n)"
        )
        for _ in range(args.repeat):
            for size in args.sizes:  # interleaved
                for label, script in scripts.items():
                    out, samples, cpu = run_child(script, files[size], sample=args.sample)
                    mb = files[size].stat().st_size / 1e6
                    spread = (
                        f"{min(samples):.0f}/{sorted(samples)[len(samples) // 2]:.0f}/{max(samples):.0f} "
                        f"@ {len(samples)}"
                        if samples
                        else "-"
                    )
                    print(
                        f"{label:6}  {size:>6}  {mb:7.1f}  {int(out[0]):>7}  {float(out[1]):6.1f}  {cpu:5.1f}  "
                        f"{int(out[0]) / max(cpu, 0.001):12.0f}  {float(out[2]):11.0f}  {spread}",
                        flush=True,
                    )


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        child(sys.argv[2])
    else:
        main()
