"""URL names in hot templates: {% url %} per row vs taskra_site.links (reversed once) vs a hard-coded path.

Renders, in one process and interleaved (bench._common.race): a list of N issue links the way the list
pages do (navigator rows, worklog list, timesheet, tickets report), and the main menu of base.html
(nine links, rendered on every page, cache hits included). No database is touched.

  .venv/bin/python bench/url_reversing.py [--rows 2000] [--rounds 30]
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import machine, race, versions  # noqa: E402

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "taskra_site.settings")
os.environ["DEBUG"] = "0"

import django  # noqa: E402

django.setup()

from django.template import engines  # noqa: E402

from taskra_site.links import NAV_URL_NAMES, menu_urls  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    engine = engines["django"]
    row = '<a href="{}">{{{{ r.key }}}}</a>'
    rows = {
        "hard-coded /browse/{{ key }}": row.format("/browse/{{ r.key }}"),
        "{% url 'issues:browse' key %}": row.format("{% url 'issues:browse' r.key %}"),
        "{{ key|issue_url }} (links)": row.format("{{ r.key|issue_url }}"),
    }
    list_templates = {
        name: engine.from_string("{% load links %}{% for r in rows %}" + body + "{% endfor %}")
        for name, body in rows.items()
    }
    context = {"rows": [{"key": f"DEMO-{n}"} for n in range(1, args.rows + 1)]}
    # What base.html held before the menu used URL names.
    hardcoded = {"navigator": "/issues/", "create": "/issues/new", "timesheet": "/timesheet/", "worklogs": "/worklogs/"}
    hardcoded |= {"reports": "/reports/", "imports": "/imports/", "logout": "/accounts/logout/"}
    menu = ("navigator", "navigator", "timesheet", "worklogs", "reports", "imports", "navigator", "create", "logout")
    by_tag = engine.from_string("".join(f"<a href=\"{{% url '{NAV_URL_NAMES[m]}' %}}\">x</a>" for m in menu))
    by_nav = engine.from_string("".join(f'<a href="{{{{ nav.{m} }}}}">x</a>' for m in menu))
    by_path = engine.from_string("".join(f'<a href="{hardcoded[m]}">x</a>' for m in menu))
    nav_methods = {
        "9 hard-coded paths": lambda: by_path.render({}),
        "9 x {% url %}": lambda: by_tag.render({}),
        "9 x {{ nav.x }} (menu_urls)": lambda: by_nav.render({"nav": menu_urls()}),
    }
    print(machine())
    print(versions("Django"))
    listed = race({n: functools.partial(t.render, context) for n, t in list_templates.items()}, rounds=args.rounds)
    print(f"== a list of {args.rows} issue links: median of {args.rounds} interleaved renders ==")
    for name, seconds in listed.items():
        print(f"  {name:<34} {seconds * 1000:9.2f} ms  {seconds / args.rows * 1e6:7.2f} us/row")
    nav = race(nav_methods, rounds=args.rounds * 20)
    print(f"== the main navigation: median of {args.rounds * 20} interleaved renders ==")
    for name, seconds in nav.items():
        print(f"  {name:<40} {seconds * 1e6:9.1f} us")
    names = list(listed)
    print(
        json.dumps(
            {
                "rows": args.rows,
                "list_hardcoded_ms": round(listed[names[0]] * 1000, 2),
                "list_url_tag_ms": round(listed[names[1]] * 1000, 2),
                "list_issue_url_ms": round(listed[names[2]] * 1000, 2),
                "nav_hardcoded_us": round(nav["9 hard-coded paths"] * 1e6, 1),
                "nav_url_tag_us": round(nav["9 x {% url %}"] * 1e6, 1),
                "nav_processor_us": round(nav["9 x {{ nav.x }} (+ context processor)"] * 1e6, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
