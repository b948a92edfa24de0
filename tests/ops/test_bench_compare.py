"""bench_compare's arithmetic and verdicts, and bench_sync's DuckDB targets (#16).

The benchmarks themselves run in ``make bench`` / ``make bench-compare``, never in
the test suite; these check what they print from given figures.
"""

from __future__ import annotations

import io

from apps.ops.bench_compare import (
    Comparison,
    Side,
    console_side,
    evaluate,
    pyairbyte_python,
    render,
)
from apps.ops.management.commands.bench_sync import CaseResult
from apps.ops.management.commands.bench_sync import evaluate as sync_evaluate


def comparison(destination: str, ours: float, theirs: float, **kw) -> Comparison:
    return Comparison(
        case=f"faker -> {destination}",
        destination=destination,
        console=Side(records=kw.get("records", 1000), seconds=ours, peak_mb=120.0),
        pyairbyte=Side(records=1000, seconds=theirs, peak_mb=kw.get("peak", 360.0)),
    )


def test_the_ratio_is_console_speed_over_pyairbyte_speed():
    twice = comparison("duckdb", ours=1.0, theirs=2.0)
    assert twice.console.records_per_second == 1000
    assert twice.pyairbyte.records_per_second == 500
    assert twice.ratio == 2.0
    assert twice.memory_fraction == 120 / 360


def test_the_table_shows_both_speeds_the_ratio_and_both_peaks():
    table = render([comparison("postgres", ours=0.25, theirs=1.0)])
    header, _rule, row = table.splitlines()
    assert "console rec/s" in header and "PyAirbyte peak MB" in header
    assert row.split() == [
        "faker",
        "->",
        "postgres",
        "1,000",
        "4,000",
        "1,000",
        "4.0x",
        "120",
        "360",
    ]


def test_targets_are_2x_on_duckdb_and_3x_on_postgres():
    verdicts = {
        v.name: v
        for v in evaluate(
            [
                comparison("duckdb", ours=1.0, theirs=2.0),
                comparison("postgres", ours=1.0, theirs=2.5),
            ]
        )
    }
    assert verdicts["faker -> duckdb vs PyAirbyte"].passed
    postgres = verdicts["faker -> postgres vs PyAirbyte"]
    assert not postgres.passed
    assert postgres.detail == "2.5x (target >= 3x)"


def test_more_memory_than_three_quarters_of_pyairbytes_fails():
    [speed, memory] = evaluate([comparison("duckdb", 1.0, 5.0, peak=150.0)])
    assert speed.passed
    assert not memory.passed
    assert memory.detail.startswith("0.80 of PyAirbyte's")


def test_different_record_counts_fail_the_comparison():
    verdicts = evaluate([comparison("duckdb", 1.0, 5.0, records=999)])
    assert [v.name for v in verdicts if not v.passed] == ["faker -> duckdb records"]


def test_console_figures_come_from_the_sync_benchmark_json():
    cases = [
        {"case": "faker alone", "records": 10, "seconds": 1.0},
        {
            "case": "faker -> duckdb",
            "records": 10,
            "seconds": 2.0,
            "engine_peak_mb": 140.5,
        },
    ]
    assert console_side(cases, "faker -> duckdb") == Side(10, 2.0, 140.5)
    assert console_side(cases, "faker -> postgres") is None


def test_an_installed_pyairbyte_is_reused_without_pip(tmp_path):
    venv = tmp_path / "pyairbyte-9.9.9"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").write_text("")
    (venv / ".installed").write_text("9.9.9\n")
    out = io.StringIO()
    assert pyairbyte_python(tmp_path, "9.9.9", out=out) == venv / "bin" / "python"
    assert out.getvalue() == ""


def sync(case: str, destination: str, ratio: float, peak: float, records: int):
    return CaseResult(
        case=case,
        connector=case.split(" ")[0].split("/")[0],
        destination=destination,
        records=records,
        seconds=1.0,
        bytes=0,
        engine_peak_mb=peak,
        ratio=ratio,
    )


def test_duckdb_syncs_need_0_9_of_the_source_for_hardcoded_records_too():
    checks = {
        c.name: c
        for c in sync_evaluate(
            [
                sync("hardcoded -> postgres", "postgres", 0.7, 130, 10),
                sync("hardcoded -> duckdb", "duckdb", 0.7, 130, 10),
            ]
        )
    }
    assert checks["hardcoded -> postgres ratio"].passed
    duckdb = checks["hardcoded -> duckdb ratio"]
    assert not duckdb.passed
    assert duckdb.detail == "0.70 (target >= 0.9)"


def test_duckdb_engine_memory_must_stay_within_10_percent():
    def flat(full_peak: float) -> bool:
        checks = sync_evaluate(
            [
                sync("faker -> duckdb", "duckdb", 1.0, full_peak, 1000),
                sync("faker/5 -> duckdb", "duckdb", 1.0, 200, 200),
            ]
        )
        [check] = [c for c in checks if c.name.startswith("engine peak RSS flat")]
        return check.passed

    assert flat(219)
    assert not flat(222)
