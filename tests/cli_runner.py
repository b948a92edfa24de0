"""Run the `airbyte` management command as a user would, capturing what it prints."""

from __future__ import annotations

from django.core.management import call_command


def airbyte(capsys, *args: str) -> tuple[int, str, str]:
    """Run `airbyte <args>`; its exit code, stdout and stderr."""
    try:
        call_command("airbyte", *args)
        code = 0
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err
