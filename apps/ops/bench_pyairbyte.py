"""One PyAirbyte read, for ``manage.py bench_compare``: run in PyAirbyte's virtualenv.

    <venv>/bin/python bench_pyairbyte.py '{"name": "source-faker",
        "executable": ".../bin/source-faker", "config": {...}, "stream": "users",
        "cache": "duckdb", "duckdb_path": "...", "schema": "..."}'

This file is not part of the console: ``bench_compare`` runs it with the scratch
virtualenv's interpreter, which has PyAirbyte (``airbyte``) and nothing of the
console. It reads one stream with the connector executable the console installed
(``local_executable``: no install, no registry) into PyAirbyte's DuckDB or
PostgreSQL cache, a full refresh like the console's overwrite syncs, and prints
one JSON line: records, seconds (the ``read`` call, connector start included, as
the console's attempt duration is), and this process's peak RSS (the connector is
a child process and not counted, as it is not for the console's worker).

``bench_compare`` sets ``AIRBYTE_OFFLINE_MODE=1`` and ``DO_NOT_TRACK=1`` in the
environment before this starts: PyAirbyte reads them when it is imported.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from importlib import metadata
from typing import Any


def main(argv: list[str]) -> int:
    spec: dict[str, Any] = json.loads(argv[1])
    # Imported here, after the environment is set: PyAirbyte reads it at import.
    import airbyte as ab
    from airbyte.caches import DuckDBCache, PostgresCache

    source = ab.get_source(
        spec["name"],
        config=spec["config"],
        local_executable=spec["executable"],
        streams=[spec["stream"]],
    )
    if spec["cache"] == "duckdb":
        cache: Any = DuckDBCache(
            db_path=spec["duckdb_path"], schema_name=spec["schema"]
        )
    else:
        cache = PostgresCache(
            host=spec["host"],
            port=spec["port"],
            username=spec["username"],
            password=spec.get("password") or "unused",
            database=spec["database"],
            schema_name=spec["schema"],
        )
    started = time.monotonic()
    result = source.read(cache=cache, force_full_refresh=True)
    seconds = time.monotonic() - started
    records = len(result[spec["stream"]])
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "records": records,
                "seconds": round(seconds, 3),
                "peak_mb": round(peak_mb, 1),
                "pyairbyte": metadata.version("airbyte"),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
