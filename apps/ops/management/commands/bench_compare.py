"""``manage.py bench_compare``: the embedded engine against PyAirbyte, same run.

    manage.py bench_compare [--faker-count 200000] [--hardcoded-count 300000]
        [--quick] [--pyairbyte-version 0.71.3] [--cache-dir DIR] [--keep-scratch]

First ``bench_sync`` runs with the given counts (its scratch harness, real
workers, the connector-alone baselines; see that command). Then the same cases go
through PyAirbyte: a virtualenv with only ``airbyte`` (installed once under
``--cache-dir``, default ``~/.cache/airbyte-console/bench`` or
``BENCH_CACHE_DIR``), offline (``AIRBYTE_OFFLINE_MODE=1``, ``DO_NOT_TRACK=1``: no
registry, no telemetry), reading with the very connector executables the console
ran (``local_executable``), the same config and stream, a full refresh into its
``DuckDBCache`` (a scratch file) and ``PostgresCache`` (a scratch schema of
postgres@127.0.0.1:5432/postgres, dropped afterwards).

It prints, per case, records/s of each and their ratio, and each one's peak RSS
(the console's worker, PyAirbyte's process; connectors excluded on both sides),
then PASS/FAIL lines for issue #16's targets: at least 2x PyAirbyte into DuckDB
and 3x into PostgreSQL, at no more than 0.75 of its memory. As with every bench,
a missed target does not change the exit code; a failed run does. Results also
go to ``<CONSOLE_DATA_DIR>/bench/compare-<timestamp>.json``.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import uuid
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.ops.bench import results_path
from apps.ops.bench_compare import (
    PYAIRBYTE_VERSION,
    CompareError,
    Comparison,
    console_side,
    default_cache_dir,
    evaluate,
    pyairbyte_python,
    render,
    run_pyairbyte,
)

QUICK_FAKER_COUNT = 10_000
QUICK_HARDCODED_COUNT = 20_000
PG = {"host": "127.0.0.1", "port": 5432, "username": "postgres", "database": "postgres"}


class Command(BaseCommand):
    help = (
        "Run the sync benchmark and the same cases through PyAirbyte (offline, the "
        "same connector executables), and print both side by side."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--faker-count", type=int, default=200_000)
        parser.add_argument("--hardcoded-count", type=int, default=300_000)
        parser.add_argument(
            "--quick",
            action="store_true",
            help=f"Small counts (faker {QUICK_FAKER_COUNT:,}, hardcoded "
            f"{QUICK_HARDCODED_COUNT:,}) to try it out.",
        )
        parser.add_argument("--pyairbyte-version", default=PYAIRBYTE_VERSION)
        parser.add_argument(
            "--cache-dir",
            type=Path,
            default=None,
            help="Where PyAirbyte's virtualenv is kept between runs.",
        )
        parser.add_argument("--keep-scratch", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["quick"]:
            options["faker_count"] = QUICK_FAKER_COUNT
            options["hardcoded_count"] = QUICK_HARDCODED_COUNT
        if options["faker_count"] < 5 or options["hardcoded_count"] < 1:
            raise CommandError("The counts must be at least 5 (faker) and 1.")
        cache_dir = options["cache_dir"] or default_cache_dir()
        try:
            python = pyairbyte_python(
                cache_dir, options["pyairbyte_version"], out=self.stdout
            )
        except CompareError as exc:
            raise CommandError(str(exc)) from exc
        scratch = Path(tempfile.mkdtemp(prefix="airbyte-console-compare-"))
        try:
            sync = self._console(options, scratch)
            comparisons = self._pyairbyte(python, sync, scratch, options)
        finally:
            if options["keep_scratch"]:
                self.stdout.write(f"Kept the scratch folder {scratch}")
            else:
                shutil.rmtree(scratch, ignore_errors=True)
        self._report(comparisons, sync, options)

    def _console(self, options: dict[str, Any], scratch: Path) -> dict[str, Any]:
        """bench_sync with the same counts; its JSON results."""
        self.stdout.write("== The console (manage.py bench_sync)")
        json_out = scratch / "sync.json"
        call_command(
            "bench_sync",
            faker_count=options["faker_count"],
            hardcoded_count=options["hardcoded_count"],
            json_out=str(json_out),
            keep_scratch=options["keep_scratch"],
            stdout=self.stdout,
            stderr=self.stderr,
        )
        return json.loads(json_out.read_text())

    def _pyairbyte(
        self,
        python: Path,
        sync: dict[str, Any],
        scratch: Path,
        options: dict[str, Any],
    ) -> list[Comparison]:
        """Each of bench_sync's full-count syncs again, through PyAirbyte."""
        self.stdout.write(f"== PyAirbyte {options['pyairbyte_version']} (offline)")
        comparisons = []
        for key in ("faker", "hardcoded"):
            source = sync["sources"].get(key)
            if not source:
                continue
            for destination in ("duckdb", "postgres"):
                case = f"{key} -> {destination}"
                ours = console_side(sync["cases"], case)
                if ours is None:
                    continue
                self.stdout.write(f"... {case} ({source['count']:,} records)")
                spec = {
                    "name": source["package"].removeprefix("airbyte-"),
                    "executable": source["executable"],
                    "config": source["config"],
                    "stream": source["stream"],
                    "cache": destination,
                    "duckdb_path": str(scratch / f"pyairbyte-{key}.duckdb"),
                    "schema": f"pyab_{uuid.uuid4().hex[:10]}",
                    **(PG if destination == "postgres" else {}),
                }
                try:
                    theirs = run_pyairbyte(
                        python,
                        spec,
                        scratch=scratch,
                        timeout=300 + source["count"] / 200,
                    )
                except CompareError as exc:
                    raise CommandError(f"{case} through PyAirbyte: {exc}") from exc
                finally:
                    if destination == "postgres":
                        _drop_schema(spec["schema"])
                self.stdout.write(
                    f"    {theirs.records:,} records in {theirs.seconds:.1f} s "
                    f"({theirs.records_per_second:,.0f}/s)"
                )
                comparisons.append(Comparison(case, destination, ours, theirs))
        return comparisons

    def _report(
        self,
        comparisons: list[Comparison],
        sync: dict[str, Any],
        options: dict[str, Any],
    ) -> None:
        self.stdout.write("")
        self.stdout.write(render(comparisons))
        self.stdout.write("")
        self.stdout.write(
            "ratio: console records/s over PyAirbyte's; peak MB: the console's "
            "worker (VmHWM) and PyAirbyte's process (ru_maxrss), connectors excluded."
        )
        verdicts = evaluate(comparisons)
        for verdict in verdicts:
            style = self.style.SUCCESS if verdict.passed else self.style.ERROR
            word = "PASS" if verdict.passed else "FAIL"
            self.stdout.write(style(f"{word} {verdict.name}: {verdict.detail}"))
        out = results_path("compare")
        payload = {
            "finished_at": datetime.now(UTC).isoformat(),
            "pyairbyte_version": options["pyairbyte_version"],
            "options": {
                "faker_count": options["faker_count"],
                "hardcoded_count": options["hardcoded_count"],
            },
            "machine": sync.get("machine"),
            "cases": [
                {
                    "case": c.case,
                    "console": asdict(c.console),
                    "pyairbyte": asdict(c.pyairbyte),
                    "ratio": round(c.ratio, 3),
                }
                for c in comparisons
            ],
            "checks": [asdict(v) for v in verdicts],
        }
        out.write_text(json.dumps(payload, indent=2) + "\n")
        self.stdout.write(f"Results: {out}")


def _drop_schema(schema: str) -> None:
    import psycopg

    try:
        with psycopg.connect(
            host=PG["host"],
            port=PG["port"],
            user=PG["username"],
            dbname=PG["database"],
            autocommit=True,
        ) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    except psycopg.Error:
        pass
