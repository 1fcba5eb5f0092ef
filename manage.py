#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatbili_site.settings")
    from django.core.management import execute_from_command_line

    from chatbili_site.db import exit_report

    exit_report.register()  # at exit: say when the embedded PostgreSQL keeps running for other processes
    from django.db import OperationalError

    try:
        execute_from_command_line(sys.argv)
    except OperationalError as exc:  # no traceback: where it looked and what to check
        if "connect" not in str(exc).lower():
            raise
        sys.stderr.write(exit_report.database_unreachable(exc) + "\n")
        sys.exit(1)


if __name__ == "__main__":
    main()
