#!/usr/bin/env python
"""Django's command-line utility for Airbyte Console."""

from __future__ import annotations

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "airbyte_console.settings")
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        execute_from_command_line(sys.argv)
    except ImproperlyConfigured as error:
        # A wrong encryption key or a bad setting: one clear line (JSON under
        # --json), not a traceback.
        from apps.core.clikit import report_startup_error

        sys.exit(report_startup_error(error, sys.argv))


if __name__ == "__main__":
    main()
