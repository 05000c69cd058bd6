#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys


def main() -> None:
    """Run administrative tasks; a malformed environment variable stops with one line."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "taskra_site.settings")
    from django.core.management import execute_from_command_line

    from taskra_site.env import EnvError

    try:
        execute_from_command_line(sys.argv)
    except EnvError as exc:
        sys.exit(f"Configuration error: {exc}")


if __name__ == "__main__":
    main()
