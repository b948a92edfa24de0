"""What the benchmark commands share: the scratch harness and the results table.

How a benchmark keeps away from the developer's data. Django reads its settings
once, at import, so a running command cannot switch databases. A benchmark command
(``bench_sync``, ``bench_pages``) therefore works in two processes: the outer one
makes a scratch ``CONSOLE_DATA_DIR`` in a temp folder (``scratch_folder``), migrates
its database with ``manage.py migrate`` in a subprocess and runs the same command
again with the hidden ``--inner`` flag and the scratch environment
(``run_inner``). The inner process refuses to write anything unless its settings
point at the scratch folder and database (``check_scratch``). The scratch folder is
removed afterwards unless ``--keep-scratch``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.accounts.services import user_create

SCRATCH_ENV = "AIRBYTE_CONSOLE_BENCH_SCRATCH"


class ScratchBenchCommand(BaseCommand):
    """A benchmark command run twice: outside the scratch, then inside it.

    A subclass adds its own arguments before calling ``add_arguments`` here,
    checks them in ``check_options``, prepares the scratch and calls ``run_inner``
    in ``outer``, and measures in ``inner``.
    """

    keep_help = "Keep the scratch folder for a post-mortem."

    def add_arguments(self, parser: CommandParser) -> None:
        """``--keep-scratch``, and the hidden flags the outer process passes inward."""
        parser.add_argument("--keep-scratch", action="store_true", help=self.keep_help)
        parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
        parser.add_argument("--json-out", help=argparse.SUPPRESS)

    def handle(self, *args: Any, **options: Any) -> None:
        self.check_options(options)
        if options["inner"]:
            self.inner(options)
        else:
            self.outer(options)

    def check_options(self, options: dict[str, Any]) -> None:
        """Refuse bad options (raise ``CommandError``); may adjust them in place."""

    def outer(self, options: dict[str, Any]) -> None:
        raise NotImplementedError

    def inner(self, options: dict[str, Any]) -> None:
        raise NotImplementedError


def bench_admin() -> AbstractBaseUser:
    """The admin the inner run acts as: its fresh database has no users yet."""
    return user_create(
        actor=None,
        email="bench@example.com",
        password=secrets.token_urlsafe(16),
        is_admin=True,
    )


def results_path(kind: str) -> Path:
    """Where a run's JSON goes: ``<CONSOLE_DATA_DIR>/bench/<kind>-<timestamp>.json``."""
    out_dir = Path(settings.DATA_DIR) / "bench"
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return out_dir / f"{kind}-{stamp}.json"


@contextlib.contextmanager
def scratch_folder(out: TextIO, *, prefix: str, keep: bool) -> Iterator[Path]:
    """A temp data folder for the run, removed afterwards unless ``keep``."""
    scratch = Path(tempfile.mkdtemp(prefix=prefix))
    out.write(f"Scratch data folder: {scratch}")
    try:
        yield scratch
    finally:
        if keep:
            out.write(f"Kept the scratch folder {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)


def scratch_env(
    scratch: Path, *, scrubbed: Iterable[str], extra: dict[str, str]
) -> dict[str, str]:
    """The environment of every process of the run: all state in ``scratch``.

    ``scrubbed`` names the developer's variables that would lead the run elsewhere.
    """
    dropped = set(scrubbed)
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env.update(
        {
            SCRATCH_ENV: str(scratch),
            "CONSOLE_DATA_DIR": str(scratch),
            "CELERY_BROKER_URL": "filesystem://",
            "DJANGO_SETTINGS_MODULE": "airbyte_console.settings",
            "PYTHONUNBUFFERED": "1",
            **extra,
        }
    )
    return env


def run_inner(
    command: str,
    *,
    env: dict[str, str],
    options: dict[str, Any],
    forward: Sequence[str],
    json_out: Path,
) -> int:
    """Migrate the scratch database, then run ``command --inner`` there.

    ``forward`` names the options the inner process gets as they were given
    (``faker_count`` goes as ``--faker-count N``); its exit code is returned.
    """
    arguments = [
        part
        for name in forward
        for part in (f"--{name.replace('_', '-')}", str(options[name]))
    ]
    manage = [sys.executable, str(Path(settings.BASE_DIR) / "manage.py")]
    migrate = subprocess.run(
        [*manage, "migrate", "--noinput", "--verbosity", "0"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if migrate.returncode != 0:
        raise CommandError(
            f"Migrating the scratch database failed:\n{migrate.stderr[-3000:]}"
        )
    inner = [*manage, command, "--inner", *arguments, "--json-out", str(json_out)]
    return subprocess.run(inner, cwd=settings.BASE_DIR, env=env, check=False).returncode


def check_scratch(
    options: dict[str, Any], *, database_is_scratch: Callable[[Path], bool]
) -> Path:
    """The inner process refuses to run anywhere but the scratch folder and database.

    ``database_is_scratch`` gets the resolved data folder and says whether the
    configured database belongs to this run.
    """
    scratch = os.environ.get(SCRATCH_ENV, "")
    if not options["inner"] or not scratch:
        raise CommandError("--inner is for the command's own use.")
    data_dir = Path(settings.DATA_DIR).resolve()
    if data_dir != Path(scratch).resolve():
        raise CommandError(f"Refusing to run: DATA_DIR is {data_dir}, not scratch.")
    if not database_is_scratch(data_dir):
        raise CommandError("Refusing to run: the database is not the scratch one.")
    return Path(scratch)


def text_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Fixed-width columns under a rule: the first left-aligned, the rest right."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            cell.ljust(width) if i == 0 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
        )

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([line(header), rule, *(line(row) for row in rows)])
