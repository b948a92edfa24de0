"""Throughput and memory of the destination writers on faker-like user records.

    python -m apps.ops.bench_writers [--rows 200000 1000000]
        [--backends postgres duckdb] [--mode append] [--commit-every 10000]
        [--postgres-dsn "host=127.0.0.1 user=postgres dbname=postgres"]

Each case runs in a fresh child process, which decodes protocol lines with orjson
(as the runner does) and writes them through one writer, committing a STREAM state
every ``--commit-every`` records. It prints, per case: rows, seconds, rows/s of
decode + write, rows/s of the writer alone (the decode-only time of the same lines
subtracted), MB/s of record JSON, and the child's peak RSS. Records look like
source-faker's ``users`` stream: 16 scalar fields, two timestamps and a nested
``address`` object, ~560 bytes each.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

USERS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "created_at": {
            "type": "string",
            "format": "date-time",
            "airbyte_type": "timestamp_with_timezone",
        },
        "updated_at": {
            "type": "string",
            "format": "date-time",
            "airbyte_type": "timestamp_with_timezone",
        },
        "name": {"type": "string"},
        "title": {"type": "string"},
        "age": {"type": "integer"},
        "email": {"type": "string"},
        "telephone": {"type": "string"},
        "gender": {"type": "string"},
        "language": {"type": "string"},
        "academic_degree": {"type": "string"},
        "nationality": {"type": "string"},
        "occupation": {"type": "string"},
        "height": {"type": "string"},
        "blood_type": {"type": "string"},
        "weight": {"type": "integer"},
        "address": {
            "type": "object",
            "properties": {
                name: {"type": "string"}
                for name in (
                    "street_number",
                    "street_name",
                    "city",
                    "state",
                    "province",
                    "postal_code",
                    "country_code",
                )
            },
        },
    },
}

_WORDS = {
    "name": ["Carley", "Dorla", "Jospeh", "Kenton", "Ta", "Renée", "Zoë", "Marquis"],
    "title": ["B.E.", "Mrs.", "PhD", "Mr.", "M.D.", "Madam"],
    "domain": ["yahoo.com", "protonmail.com", "gmail.com", "example.org"],
    "gender": ["Male", "Female", "Fluid", "Other"],
    "language": ["Dhivehi", "Tamil", "English", "Portuguese", "Kazakh"],
    "degree": ["PhD", "Bachelor", "Master"],
    "nationality": ["Australian", "Egyptian", "Chilean", "Danish", "Thai"],
    "occupation": ["Opera Singer", "Health Therapist", "Pilot", "Welder"],
    "blood": ["O\u2212", "A+", "B\u2212", "AB+"],  # faker writes U+2212
    "street": ["Wall", "Fontinella", "Harbor", "Lincoln"],
    "city": ["Chattanooga", "Skokie", "Zürich", "Lyon", "Sendai"],
    "state": ["Mississippi", "New Mexico", "Ohio", "Maine"],
    "country": ["MH", "TR", "DE", "JP", "BR"],
}


def user_lines(count: int, *, seed: int = 7, pool: int = 4096) -> list[bytes]:
    """``pool`` distinct protocol RECORD lines; callers cycle through them."""
    rng = random.Random(seed)  # noqa: S311 - repeatable test data, not secrets
    pick = rng.choice
    lines = []
    for index in range(min(count, pool)):
        name = pick(_WORDS["name"])
        record = {
            "id": index + 1,
            "created_at": f"20{rng.randint(0, 23):02d}-{rng.randint(1, 12):02d}-"
            f"{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:"
            f"{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}+00:00",
            "updated_at": "2026-11-25T20:41:48+00:00",
            "name": name,
            "title": pick(_WORDS["title"]),
            "age": rng.randint(18, 90),
            "email": f"{name.lower()}{rng.randint(1000, 9999)}+{index + 1}@"
            f"{pick(_WORDS['domain'])}",
            "telephone": f"{rng.randint(200, 999)}.{rng.randint(200, 999)}."
            f"{rng.randint(1000, 9999)}",
            "gender": pick(_WORDS["gender"]),
            "language": pick(_WORDS["language"]),
            "academic_degree": pick(_WORDS["degree"]),
            "nationality": pick(_WORDS["nationality"]),
            "occupation": pick(_WORDS["occupation"]),
            "height": f"1.{rng.randint(50, 99)}",
            "blood_type": pick(_WORDS["blood"]),
            "weight": rng.randint(45, 120),
            "address": {
                "street_number": str(rng.randint(1, 999)),
                "street_name": pick(_WORDS["street"]),
                "city": pick(_WORDS["city"]),
                "state": pick(_WORDS["state"]),
                "province": pick(_WORDS["state"]),
                "postal_code": f"{rng.randint(10000, 99999)}",
                "country_code": pick(_WORDS["country"]),
            },
        }
        message = {
            "type": "RECORD",
            "record": {"stream": "users", "data": record, "emitted_at": 0},
        }
        lines.append(orjson.dumps(message))
    return lines


def _decode_only(lines: list[bytes], rows: int) -> float:
    started = time.perf_counter()
    size = len(lines)
    for index in range(rows):
        record = orjson.loads(lines[index % size])["record"]
        record["data"]["id"] = index + 1
    return time.perf_counter() - started


def run_case(
    backend: str, rows: int, mode: str, commit_every: int, dsn: str, keys: int = 0
) -> dict[str, Any]:
    """Write ``rows`` records through one writer; runs in the child process."""
    import django

    # The built-in destinations register their writers when Django readies the
    # embedded engine's app, so the child sets Django up before it asks for one.
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "airbyte_console.settings")
    django.setup()
    from apps.engines.embedded.writers import StreamConfig, writer_for

    lines = user_lines(rows)
    baseline_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    decode_seconds = _decode_only(lines, min(rows, 200_000)) * rows / min(rows, 200_000)
    stream = StreamConfig(
        name="users",
        namespace=None,
        json_schema=USERS_SCHEMA,
        destination_sync_mode=mode,  # type: ignore[arg-type]
        primary_key=[["id"]],
        cursor_field=["updated_at"],
        generation_id=1,
    )
    schema = "bench_writers"
    with tempfile.TemporaryDirectory(prefix="writers-bench-") as tmp:
        config: dict[str, Any] = (
            {"dsn": dsn}
            if backend == "postgres"
            else {"destination_path": str(Path(tmp) / "bench.duckdb")}
        )
        writer = writer_for(backend)(
            config,
            schema=schema,
            table_prefix="",
            streams=[stream],
            connection_id="bench",
            log=lambda level, message: None,
        )
        writer.drop_tables()
        writer.open()
        size = len(lines)
        total_bytes = 0
        started = time.perf_counter()
        write = writer.write
        for index in range(rows):
            line = lines[index % size]
            record = orjson.loads(line)["record"]
            record["data"]["id"] = (index % keys if keys else index) + 1
            total_bytes += len(line)
            write("users", None, record["data"], 1795639308239 + index, size=len(line))
            if (index + 1) % commit_every == 0:
                writer.commit(
                    {
                        "type": "STREAM",
                        "stream": {
                            "stream_descriptor": {"name": "users"},
                            "stream_state": {"id": index + 1},
                        },
                    }
                )
        writer.finish(success=True)
        seconds = time.perf_counter() - started
        writer.drop_tables()
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "backend": backend,
        "mode": mode,
        "rows": rows,
        "seconds": seconds,
        "rows_per_s": rows / seconds,
        "writer_rows_per_s": rows / max(seconds - decode_seconds, 1e-9),
        "mb_per_s": total_bytes / seconds / 1e6,
        "peak_rss_mb": peak_kb / 1024,
        "baseline_rss_mb": baseline_kb / 1024,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[200_000, 1_000_000])
    parser.add_argument(
        "--backends",
        nargs="+",
        default=["postgres", "duckdb"],
        choices=["postgres", "duckdb"],
    )
    parser.add_argument(
        "--mode", default="append", choices=["append", "append_dedup", "overwrite"]
    )
    parser.add_argument("--commit-every", type=int, default=10_000)
    parser.add_argument(
        "--distinct-keys",
        type=int,
        default=0,
        help="cycle ids over this many keys (dedup updates); 0: every id new",
    )
    parser.add_argument(
        "--postgres-dsn",
        default="host=127.0.0.1 port=5432 user=postgres dbname=postgres",
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        result = run_case(
            args.backends[0],
            args.rows[0],
            args.mode,
            args.commit_every,
            args.postgres_dsn,
            args.distinct_keys,
        )
        print(json.dumps(result))
        return 0
    header = (
        f"{'backend':<9} {'mode':<13} {'rows':>9} {'seconds':>8} {'rows/s':>9} "
        f"{'writer rows/s':>13} {'MB/s':>6} {'peak RSS MB':>11}"
    )
    print(header)
    print("-" * len(header))
    for backend in args.backends:
        for rows in args.rows:
            child = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "apps.ops.bench_writers",
                    "--child",
                    "--backends",
                    backend,
                    "--rows",
                    str(rows),
                    "--mode",
                    args.mode,
                    "--commit-every",
                    str(args.commit_every),
                    "--postgres-dsn",
                    args.postgres_dsn,
                    "--distinct-keys",
                    str(args.distinct_keys),
                ],
                capture_output=True,
                text=True,
                check=False,
            )
            if child.returncode != 0:
                print(f"{backend:<9} {args.mode:<13} {rows:>9} failed:")
                print(child.stderr.strip()[-2000:])
                continue
            r = json.loads(child.stdout.strip().splitlines()[-1])
            print(
                f"{r['backend']:<9} {r['mode']:<13} {r['rows']:>9} "
                f"{r['seconds']:>8.1f} {r['rows_per_s']:>9.0f} "
                f"{r['writer_rows_per_s']:>13.0f} {r['mb_per_s']:>6.1f} "
                f"{r['peak_rss_mb']:>11.0f}",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
