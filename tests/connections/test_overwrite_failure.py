"""A failed full refresh (overwrite) through a real sync: the previous table stays,
no ``_airbyte_tmp_*`` table is left, and the job reports no records committed."""

from __future__ import annotations

import pytest

from tests.connections.test_sync_embedded import duck_rows, run_now
from tests.connections.test_sync_faults import things, tiny_source  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)

OVERWRITE = [
    {
        "name": "things",
        "sync_mode": "full_refresh",
        "destination_sync_mode": "overwrite",
    }
]


def test_a_failed_overwrite_keeps_the_old_table_and_reports_nothing_committed(
    admin,
    tiny_source,  # noqa: F811 - the fixture imported above
    duckdb_destination,
    make_connection,
):
    source = tiny_source("ok", records=25)
    connection = make_connection(source, duckdb_destination, OVERWRITE, namespace="t")
    first = run_now(connection, admin)
    assert first.status == "succeeded" and first.records_committed == 25
    assert things(duckdb_destination, "t") == [(25, 25)]

    # The next full refresh dies after 40 records, four STATE commits into staging.
    source.config = {**source.config, "mode": "die_midway", "records": 40}
    source.save(update_fields=["config"])
    failed = run_now(connection, admin)

    assert failed.status == "incomplete" and failed.failure_origin == "source"
    # Nothing reached the table readers see, and the job says so.
    assert failed.records_committed == 0
    assert things(duckdb_destination, "t") == [(25, 25)]
    tables = duck_rows(
        duckdb_destination,
        "select table_name from information_schema.tables where table_schema = 't'",
    )
    assert [name for (name,) in tables if name.startswith("_airbyte_tmp_")] == []
