"""What ``manage.py bench_compare`` computes: PyAirbyte's scratch install, its cases,
the side-by-side table and the targets (issue #16).

The console's figures come from a ``bench_sync`` run (its JSON); PyAirbyte's from
``apps/ops/bench_pyairbyte.py`` run once per case with the interpreter of a
virtualenv that has only PyAirbyte, kept under the bench's cache folder so a
second run does not install it again.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from apps.ops.bench import text_table

#: The PyAirbyte release the comparison installs (``--pyairbyte-version``).
PYAIRBYTE_VERSION = "0.71.3"
#: How much faster than PyAirbyte the console should be, per destination.
RATIO_TARGETS = {"duckdb": 2.0, "postgres": 3.0}
#: The console's engine peak as a fraction of PyAirbyte's, at most.
MEMORY_FRACTION_TARGET = 0.75
#: PyAirbyte's name for each destination's cache.
CACHES = {"duckdb": "DuckDBCache", "postgres": "PostgresCache"}


class CompareError(Exception):
    """PyAirbyte could not be installed or a case failed: no figures to compare."""


@dataclass(frozen=True)
class Side:
    """One engine's figures for one case."""

    records: int
    seconds: float
    peak_mb: float | None

    @property
    def records_per_second(self) -> float:
        return self.records / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class Comparison:
    """One case (connector -> destination) through the console and PyAirbyte."""

    case: str
    destination: str
    console: Side
    pyairbyte: Side

    @property
    def ratio(self) -> float:
        """Console records/s over PyAirbyte's (2.0: twice as fast)."""
        theirs = self.pyairbyte.records_per_second
        return self.console.records_per_second / theirs if theirs > 0 else 0.0

    @property
    def memory_fraction(self) -> float | None:
        """Console peak over PyAirbyte's peak, when both are known."""
        ours, theirs = self.console.peak_mb, self.pyairbyte.peak_mb
        if ours is None or not theirs:
            return None
        return ours / theirs


@dataclass(frozen=True)
class Verdict:
    """One target and whether this run met it."""

    name: str
    passed: bool
    detail: str


# -- PyAirbyte's virtualenv --------------------------------------------------------
def default_cache_dir() -> Path:
    """Where the scratch virtualenv is kept between runs (``BENCH_CACHE_DIR``)."""
    configured = os.environ.get("BENCH_CACHE_DIR")
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".cache" / "airbyte-console" / "bench"


def pyairbyte_python(cache_dir: Path, version: str, *, out: Any) -> Path:
    """The interpreter of a virtualenv with ``airbyte==version``, made once.

    A marker file is written only after a complete install, so an interrupted one
    is redone rather than used half-made.
    """
    venv = cache_dir / f"pyairbyte-{version}"
    python = venv / "bin" / "python"
    marker = venv / ".installed"
    if marker.is_file() and python.is_file():
        return python
    out.write(f"Installing PyAirbyte {version} into {venv} (once)...")
    venv.parent.mkdir(parents=True, exist_ok=True)
    steps = [
        [sys.executable, "-m", "venv", "--clear", str(venv)],
        [str(python), "-m", "pip", "install", "--quiet", "--upgrade", "pip"],
        [str(python), "-m", "pip", "install", "--quiet", f"airbyte=={version}"],
    ]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise CompareError(
                f"Installing PyAirbyte failed ({' '.join(step[-2:])}):\n"
                f"{(done.stderr or done.stdout)[-2000:]}"
            )
    marker.write_text(version + "\n")
    return python


def pyairbyte_env(scratch: Path) -> dict[str, str]:
    """PyAirbyte offline: no registry, no telemetry, its files in ``scratch``."""
    env = dict(os.environ)
    for name in ("DJANGO_SETTINGS_MODULE", "PYTHONPATH", "VIRTUAL_ENV"):
        env.pop(name, None)
    env.update(
        {
            "AIRBYTE_OFFLINE_MODE": "1",
            "DO_NOT_TRACK": "1",
            "AIRBYTE_LOGGING_ROOT": str(scratch / "logs"),
            "AIRBYTE_TEMP_DIR": str(scratch / "tmp"),
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def run_pyairbyte(
    python: Path, spec: dict[str, Any], *, scratch: Path, timeout: float
) -> Side:
    """One PyAirbyte read (``bench_pyairbyte.py``) in its own process."""
    script = Path(__file__).with_name("bench_pyairbyte.py")
    (scratch / "tmp").mkdir(parents=True, exist_ok=True)
    try:
        done = subprocess.run(
            [str(python), str(script), json.dumps(spec)],
            cwd=scratch,
            env=pyairbyte_env(scratch),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise CompareError(f"PyAirbyte did not finish within {timeout:.0f} s.") from exc
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        tail = (done.stderr or done.stdout)[-3000:]
        raise CompareError(f"PyAirbyte exited with {done.returncode}:\n{tail}")
    try:
        result = json.loads(lines[-1])
    except ValueError as exc:
        raise CompareError(f"PyAirbyte printed no result: {lines[-1][:200]}") from exc
    return Side(
        records=int(result["records"]),
        seconds=float(result["seconds"]),
        peak_mb=float(result["peak_mb"]),
    )


# -- the table and the targets -----------------------------------------------------
def console_side(cases: Sequence[dict[str, Any]], case: str) -> Side | None:
    """The console's figures for ``case`` (e.g. ``faker -> duckdb``) from bench_sync."""
    for row in cases:
        if row["case"] == case:
            return Side(
                records=int(row["records"]),
                seconds=float(row["seconds"]),
                peak_mb=row.get("engine_peak_mb"),
            )
    return None


def render(comparisons: Sequence[Comparison]) -> str:
    """The side-by-side table."""
    header = (
        "case",
        "records",
        "console rec/s",
        "PyAirbyte rec/s",
        "ratio",
        "console peak MB",
        "PyAirbyte peak MB",
    )
    rows = [
        (
            c.case,
            f"{c.console.records:,}",
            f"{c.console.records_per_second:,.0f}",
            f"{c.pyairbyte.records_per_second:,.0f}",
            f"{c.ratio:.1f}x",
            "-" if c.console.peak_mb is None else f"{c.console.peak_mb:,.0f}",
            "-" if c.pyairbyte.peak_mb is None else f"{c.pyairbyte.peak_mb:,.0f}",
        )
        for c in comparisons
    ]
    return text_table(header, rows)


def evaluate(comparisons: Sequence[Comparison]) -> list[Verdict]:
    """Issue #16's targets: 2x PyAirbyte on DuckDB, 3x on PostgreSQL, less memory."""
    verdicts = []
    for c in comparisons:
        target = RATIO_TARGETS.get(c.destination)
        if target is not None:
            verdicts.append(
                Verdict(
                    f"{c.case} vs PyAirbyte",
                    c.ratio >= target,
                    f"{c.ratio:.1f}x (target >= {target:.0f}x)",
                )
            )
        if c.console.records != c.pyairbyte.records:
            verdicts.append(
                Verdict(
                    f"{c.case} records",
                    False,
                    f"console {c.console.records:,}, PyAirbyte "
                    f"{c.pyairbyte.records:,}: not the same data",
                )
            )
        fraction = c.memory_fraction
        if fraction is not None:
            verdicts.append(
                Verdict(
                    f"{c.case} peak memory vs PyAirbyte",
                    fraction <= MEMORY_FRACTION_TARGET,
                    f"{fraction:.2f} of PyAirbyte's "
                    f"(target <= {MEMORY_FRACTION_TARGET:.2f})",
                )
            )
    return verdicts
