"""Demo data at scale: sources, destinations, connections and months of sync history.

``manage.py airbyte demo seed`` and ``manage.py bench_pages`` call ``demo_seed``. It
writes in bulk, in one transaction: ``bulk_create`` for connections and streams, and
``_RawInsert`` (``executemany`` on SQLite, ``COPY`` on PostgreSQL) for the jobs and
attempts, so 100,000 jobs take about 10 s on either. It records one ``demo.seeded``
audit event for the whole run, in the same transaction.

Running it again adds more: new connections (numbered after the ones already there),
each with its own history; the sources and destinations it made before are reused.

What the rows look like:

- sources from the shipped catalog's Faker and Hardcoded Records definitions, with a
  cached catalog (no discover runs); destinations on the built-in DuckDB and
  PostgreSQL writers. The PostgreSQL ones point at ``*.demo.invalid`` hosts, which
  never resolve, so a real sync of seeded data cannot write into a real database;
  DuckDB ones write to ``seeded-*.duckdb`` files under ``DUCKDB_DIR``.
- connections, mostly active, some paused or broken, with 1 to 3 streams each;
- jobs spread over the last ``days`` days, skewed so a few connections are busy (the
  busiest has about 2 % of all jobs) and most are quiet; mostly succeeded, some
  failed (type, origin and message, a short log), a few cancelled. The newest job of
  a few active connections is still active (running with live progress, pending, or
  incomplete waiting for its retry), never more than one per connection, as the
  ``one_active_job_per_connection`` constraint demands.
- one attempt per job that started (a pending job has none yet).

On a console whose worker and beat run, the seeded active jobs are treated like any
other: the reaper fails running attempts whose heartbeat goes stale and retries
them, and pending jobs get enqueued, so a few real syncs of seeded connections run
(and those into the ``.invalid`` PostgreSQL hosts fail, as they should).
"""

from __future__ import annotations

import random
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import DEFAULT_DB_ALIAS, connections, models, transaction
from django.utils import timezone

from apps.audit.services import audit_record
from apps.connections.models import (
    Connection,
    ConnectionStream,
    DestinationSyncMode,
    SyncAttempt,
    SyncJob,
    SyncMode,
)
from apps.connectors.models import ConnectorDefinition, Destination, Source
from apps.workspaces.models import Workspace

SEED_ACTION = "demo.seeded"
DEFAULT_WORKSPACE = "Seeded"
MAX_CONNECTIONS = 100_000
MAX_JOBS = 10_000_000

# Rows per INSERT batch; SQLite lowers it further to fit its 999 variables.
BATCH = 2000
# Jobs are generated and written a slice of connections at a time, so memory stays
# flat whatever --jobs says.
JOBS_PER_CHUNK = 10_000
# Ids per ``pk IN (...)`` when fixing timestamps: under SQLite's variable limit.
IDS_PER_UPDATE = 900

Status = SyncJob.Status
Trigger = SyncJob.Trigger
FailureType = SyncJob.FailureType
FailureOrigin = SyncJob.FailureOrigin


def _props(**types: str) -> dict[str, Any]:
    kinds = {
        "int": {"type": ["null", "integer"]},
        "str": {"type": ["null", "string"]},
        "num": {"type": ["null", "number"]},
        "bool": {"type": ["null", "boolean"]},
        "ts": {"type": ["null", "string"], "format": "date-time"},
        "obj": {"type": ["null", "object"]},
    }
    return {
        "type": "object",
        "properties": {name: kinds[kind] for name, kind in types.items()},
    }


def _stream(
    name: str, schema: dict[str, Any], *, incremental: bool = True
) -> dict[str, Any]:
    stream: dict[str, Any] = {
        "name": name,
        "json_schema": schema,
        "supported_sync_modes": ["full_refresh", "incremental"]
        if incremental
        else ["full_refresh"],
    }
    if incremental:
        stream["source_defined_cursor"] = True
        stream["default_cursor_field"] = ["updated_at"]
        stream["source_defined_primary_key"] = [["id"]]
    return stream


# Catalogs in the shape discover caches, close to what the real connectors report.
FAKER_CATALOG = {
    "streams": [
        _stream(
            "users",
            _props(
                id="int",
                name="str",
                email="str",
                age="int",
                address="obj",
                created_at="ts",
                updated_at="ts",
            ),
        ),
        _stream(
            "products",
            _props(id="int", make="str", model="str", price="num", updated_at="ts"),
        ),
        _stream(
            "purchases",
            _props(
                id="int",
                user_id="int",
                product_id="int",
                purchased_at="ts",
                returned_at="ts",
                updated_at="ts",
            ),
        ),
    ]
}
HARDCODED_CATALOG = {
    "streams": [
        _stream(
            "products",
            _props(id="int", make="str", model="str", year="int", price="num"),
            incremental=False,
        ),
        _stream(
            "customers",
            _props(id="int", name="str", email="str", signup_date="ts"),
            incremental=False,
        ),
        _stream(
            "dummy_fields",
            _props(field1="str", field2="str", field3="bool"),
            incremental=False,
        ),
    ]
}

SOURCES = (
    ("Faker (shop)", "airbyte-source-faker", FAKER_CATALOG, 2_000),
    ("Faker (marketing)", "airbyte-source-faker", FAKER_CATALOG, 5_000),
    ("Faker (support)", "airbyte-source-faker", FAKER_CATALOG, 1_000),
    (
        "Hardcoded Records (catalog)",
        "airbyte-source-hardcoded-records",
        HARDCODED_CATALOG,
        1_000,
    ),
    (
        "Hardcoded Records (CRM)",
        "airbyte-source-hardcoded-records",
        HARDCODED_CATALOG,
        3_000,
    ),
)
DESTINATIONS = (
    ("DuckDB (analytics)", "duckdb", {"destination_path": "seeded-analytics.duckdb"}),
    ("DuckDB (sandbox)", "duckdb", {"destination_path": "seeded-sandbox.duckdb"}),
    ("PostgreSQL (warehouse)", "postgres", "warehouse"),
    ("PostgreSQL (reporting)", "postgres", "reporting"),
)
TOPICS = (
    "Orders",
    "Customers",
    "Billing",
    "Inventory",
    "Marketing",
    "Support tickets",
    "Finance",
    "Product events",
    "Sessions",
    "Payments",
    "Shipping",
    "Reviews",
)

# (failure type, origin, message, log line): what goes wrong in real syncs.
FAILURES = (
    (
        FailureType.TRANSIENT_ERROR,
        FailureOrigin.SOURCE,
        "HTTP 503 Service Unavailable from the API after 5 retries.",
        "requests.exceptions.HTTPError: 503 Server Error: Service Unavailable",
    ),
    (
        FailureType.TRANSIENT_ERROR,
        FailureOrigin.DESTINATION,
        "Connection to the warehouse was reset while committing a batch.",
        "psycopg.OperationalError: server closed the connection unexpectedly",
    ),
    (
        FailureType.CONFIG_ERROR,
        FailureOrigin.SOURCE,
        "The API rejected the credentials (401 Unauthorized).",
        "AirbyteTracedException: Unauthorized: check the API key",
    ),
    (
        FailureType.CONFIG_ERROR,
        FailureOrigin.DESTINATION,
        'password authentication failed for user "loader"',
        'psycopg.OperationalError: FATAL: password authentication failed for "loader"',
    ),
    (
        FailureType.SYSTEM_ERROR,
        FailureOrigin.DESTINATION,
        "Could not set lock on the DuckDB file: it is open in another process.",
        "duckdb.IOException: Could not set lock on file: Conflicting lock is held",
    ),
    (
        FailureType.SYSTEM_ERROR,
        FailureOrigin.SOURCE,
        "The source exited with code 137 (killed: out of memory?).",
        "Source process exited with code 137",
    ),
    (
        FailureType.HEARTBEAT_TIMEOUT,
        FailureOrigin.CONSOLE,
        "The worker running this attempt stopped responding: no heartbeat for 300 s.",
        "No heartbeat from worker-2 for 300 s; failing the attempt",
    ),
)
CANCEL_MESSAGE = "Cancelled; data committed before the cancel is kept."


@dataclass
class SeedResult:
    """What one seeding run made, and how long it took."""

    workspace: Workspace
    sources: int = 0
    destinations: int = 0
    connections: int = 0
    streams: int = 0
    jobs: int = 0
    attempts: int = 0
    jobs_by_status: dict[str, int] = field(default_factory=dict)
    busiest_connection: Connection | None = None
    busiest_jobs: int = 0
    running_connection: Connection | None = None
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        def public(connection: Connection | None) -> str | None:
            return str(connection.public_id) if connection else None

        return {
            "workspace": {
                "id": str(self.workspace.public_id),
                "name": self.workspace.name,
            },
            "sources": self.sources,
            "destinations": self.destinations,
            "connections": self.connections,
            "streams": self.streams,
            "jobs": self.jobs,
            "attempts": self.attempts,
            "jobs_by_status": self.jobs_by_status,
            "busiest_connection": public(self.busiest_connection),
            "busiest_connection_jobs": self.busiest_jobs,
            "running_connection": public(self.running_connection),
            "seconds": round(self.seconds, 2),
        }


@dataclass
class _Plan:
    """One new connection and the shape of its history."""

    connection: Connection
    stream_names: list[str]
    jobs: int
    active: str = ""  # the status of its newest job if that one is still active
    volume: int = 0  # typical records per sync
    rate: int = 0  # records per second
    row_bytes: int = 0


def _definition(**lookup: str) -> ConnectorDefinition:
    found = ConnectorDefinition.objects.filter(**lookup).order_by("pk").first()
    if found is None:
        wanted = next(iter(lookup.values()))
        raise ValidationError(
            f"The connector catalog has no {wanted} definition: run `manage.py "
            "migrate` (it loads the shipped catalog) or `airbyte connectors refresh`."
        )
    return found


def _id_slices(ids: list[int]) -> list[list[int]]:
    return [ids[i : i + IDS_PER_UPDATE] for i in range(0, len(ids), IDS_PER_UPDATE)]


def _backdate(model: type, ids: list[int], when: datetime) -> None:
    """``created_at`` is auto_now_add, which bulk_create cannot override: fix it."""
    for chunk in _id_slices(ids):
        model.objects.filter(pk__in=chunk).update(created_at=when, updated_at=when)


def _sources(
    workspace: Workspace, actor: AbstractBaseUser | None, since: datetime
) -> tuple[list[Source], int]:
    faker = _definition(pypi_package="airbyte-source-faker")
    hardcoded = _definition(pypi_package="airbyte-source-hardcoded-records")
    definitions = {faker.pypi_package: faker, hardcoded.pypi_package: hardcoded}
    existing = {s.name: s for s in Source.objects.for_workspace(workspace)}
    made = []
    for seed_number, (name, package, catalog, count) in enumerate(SOURCES, start=1):
        if name in existing:
            continue
        is_faker = package == faker.pypi_package
        made.append(
            Source(
                workspace=workspace,
                name=name,
                definition=definitions[package],
                config={
                    "count": count,
                    "seed": seed_number,
                    "records_per_slice": 1000,
                    "parallelism": 1,
                }
                if is_faker
                else {"count": count},
                catalog=catalog,
                catalog_discovered_at=since,
                last_check_status="succeeded",
                last_check_message="Connection check passed.",
                last_checked_at=since,
                created_by=actor,
            )
        )
    Source.objects.bulk_create(made)
    _backdate(Source, [s.pk for s in made], since)
    names = [name for name, *_ in SOURCES]
    rows = Source.objects.for_workspace(workspace).filter(name__in=names)
    return sorted(rows, key=lambda s: names.index(s.name)), len(made)


def _destinations(
    workspace: Workspace, actor: AbstractBaseUser | None, since: datetime
) -> tuple[list[Destination], int]:
    builtins = {kind: _definition(builtin=kind) for kind in ("duckdb", "postgres")}
    existing = {d.name: d for d in Destination.objects.for_workspace(workspace)}
    made = []
    for name, kind, config in DESTINATIONS:
        if name in existing:
            continue
        if kind == "postgres":
            # A host under .invalid never resolves (RFC 2606): a real sync of seeded
            # data fails with a clear error instead of writing somewhere real.
            config = {
                "host": f"{config}.demo.invalid",
                "port": 5432,
                "database": config,
                "schema": "public",
                "username": "loader",
                "ssl_mode": "disable",
            }
        made.append(
            Destination(
                workspace=workspace,
                name=name,
                definition=builtins[kind],
                config=config,
                created_by=actor,
            )
        )
    Destination.objects.bulk_create(made)
    _backdate(Destination, [d.pk for d in made], since)
    names = [name for name, *_ in DESTINATIONS]
    rows = Destination.objects.for_workspace(workspace).filter(name__in=names)
    return sorted(rows, key=lambda d: names.index(d.name)), len(made)


def _job_counts(total: int, connections: int, rng: random.Random) -> list[int]:
    """Skewed: weight 1/(rank + 10), so the busiest has ~2 % and the quietest few."""
    weights = [1 / (rank + 10) for rank in range(connections)]
    scale = total / sum(weights)
    counts = [int(w * scale) for w in weights]
    for index in range(total - sum(counts)):
        counts[index % connections] += 1
    rng.shuffle(counts)
    return counts


def _stream_rows(
    connection: Connection, source: Source, rng: random.Random
) -> list[ConnectionStream]:
    catalog = source.catalog["streams"]
    chosen = rng.sample(catalog, rng.randint(1, min(3, len(catalog))))
    rows = []
    for stream in sorted(chosen, key=lambda s: s["name"]):
        incremental = "incremental" in stream["supported_sync_modes"] and (
            rng.random() < 0.7
        )
        rows.append(
            ConnectionStream(
                connection=connection,
                name=stream["name"],
                sync_mode=SyncMode.INCREMENTAL
                if incremental
                else SyncMode.FULL_REFRESH,
                destination_sync_mode=(
                    DestinationSyncMode.APPEND_DEDUP
                    if incremental
                    else DestinationSyncMode.OVERWRITE
                ),
                cursor_field=stream.get("default_cursor_field", [])
                if incremental
                else [],
                primary_key=stream.get("source_defined_primary_key", [])
                if incremental
                else [],
                json_schema=stream["json_schema"],
            )
        )
    return rows


def _connections(
    *,
    workspace: Workspace,
    actor: AbstractBaseUser | None,
    sources: list[Source],
    destinations: list[Destination],
    count: int,
    jobs: int,
    since: datetime,
    rng: random.Random,
) -> tuple[list[_Plan], int]:
    taken = set(
        Connection.objects.for_workspace(workspace).values_list("name", flat=True)
    )
    number = len(taken)
    made: list[Connection] = []
    for _ in range(count):
        number += 1
        name = f"{TOPICS[number % len(TOPICS)]} {number:05d}"
        while name in taken:
            number += 1
            name = f"{TOPICS[number % len(TOPICS)]} {number:05d}"
        taken.add(name)
        roll = rng.random()
        status, reason = Connection.Status.ACTIVE, ""
        if roll < 0.03:
            status = Connection.Status.BROKEN
            reason = "Paused after repeated configuration errors: fix the source."
        elif roll < 0.10:
            status = Connection.Status.PAUSED
        made.append(
            Connection(
                workspace=workspace,
                name=name,
                source=rng.choice(sources),
                destination=rng.choice(destinations),
                status=status,
                status_reason=reason,
                namespace=TOPICS[number % len(TOPICS)].lower().replace(" ", "_"),
                table_prefix=rng.choice(["", "", "raw_"]),
                created_by=actor,
            )
        )
    Connection.objects.bulk_create(made, batch_size=BATCH)
    _backdate(Connection, [c.pk for c in made], since)
    streams: list[ConnectionStream] = []
    plans = []
    counts = _job_counts(jobs, len(made), rng)
    for connection, job_count in zip(made, counts, strict=True):
        rows = _stream_rows(connection, connection.source, rng)
        streams.extend(rows)
        plans.append(
            _Plan(
                connection=connection,
                stream_names=[r.name for r in rows],
                jobs=job_count,
                volume=int(rng.lognormvariate(9.5, 1.3)) + 10,
                rate=rng.randint(2_000, 25_000),
                row_bytes=rng.randint(150, 900),
            )
        )
    ConnectionStream.objects.bulk_create(streams, batch_size=BATCH)
    _choose_active(plans, rng)
    return plans, len(streams)


def _choose_active(plans: list[_Plan], rng: random.Random) -> None:
    """A few active connections have a job in flight: mostly running, some queued."""
    candidates = [
        p for p in plans if p.jobs and p.connection.status == Connection.Status.ACTIVE
    ]
    for plan in candidates:
        roll = rng.random()
        if roll < 0.03:
            plan.active = Status.RUNNING
        elif roll < 0.04:
            plan.active = Status.PENDING
        elif roll < 0.05:
            plan.active = Status.INCOMPLETE
    if candidates and not any(p.active == Status.RUNNING for p in candidates):
        # The live-progress page needs one running sync: give it to the quietest.
        quiet = min(candidates, key=lambda p: p.jobs)
        quiet.active = Status.RUNNING


def _log(lines: list[tuple[datetime, str, str]]) -> str:
    return "\n".join(
        f"{when.astimezone(UTC):%Y-%m-%d %H:%M:%SZ} {level} {text}"
        for when, level, text in lines
    )


def _split(total: int, names: list[str], rng: random.Random) -> dict[str, int]:
    shares = [rng.random() + 0.2 for _ in names]
    whole = sum(shares)
    split = [int(total * s / whole) for s in shares]
    split[0] += total - sum(split)
    return dict(zip(names, split, strict=True))


Row = dict[str, Any]


class _RawInsert:
    """Insert many rows of one model with ``executemany`` or ``COPY``, skipping the ORM.

    ``bulk_create`` spends about 80 % of a seed compiling SQL and preparing each
    value of each row (45 s for 100,000 jobs on SQLite); one prepared statement run
    with a list of tuples (SQLite) or one ``COPY`` (PostgreSQL) does the same inserts
    in a fifth of that. Values the backend stores differently (datetimes, UUIDs, JSON)
    go through the backend's and the field's own adapters, so the rows are what the
    ORM would write. ``auto_now_add`` does not apply here, which is the point: the
    history's ``created_at`` and ``started_at`` are in the past.
    """

    def __init__(self, model: type[models.Model]) -> None:
        # The real connection object: the ``connection`` proxy costs a lookup per use.
        self.db = connections[DEFAULT_DB_ALIAS]
        self.fields = [f for f in model._meta.concrete_fields if not f.primary_key]
        self.adapters = [self._adapter(f) for f in self.fields]
        quote = self.db.ops.quote_name
        columns = ", ".join(quote(f.column) for f in self.fields)
        marks = ", ".join(["%s"] * len(self.fields))
        # Only the model's own table and column names, quoted: no outside input.
        table = quote(model._meta.db_table)
        self.sql = f"INSERT INTO {table} ({columns}) VALUES ({marks})"  # noqa: S608
        self.copy_sql = f"COPY {table} ({columns}) FROM STDIN"

    def _adapter(self, f: models.Field) -> Callable[[Any], Any] | None:
        if isinstance(f, models.DateTimeField):
            return self.db.ops.adapt_datetimefield_value
        if isinstance(f, models.UUIDField | models.JSONField):
            return lambda value: f.get_db_prep_save(value, self.db)
        return None

    def values(self, row: Row) -> tuple[Any, ...]:
        out = []
        for f, adapt in zip(self.fields, self.adapters, strict=True):
            # A missing value gets the field's default ("" for text, as the ORM).
            value = row[f.attname] if f.attname in row else f.get_default()
            if adapt is not None and value is not None:
                value = adapt(value)
            out.append(value)
        return tuple(out)

    def run(self, rows: list[Row]) -> int:
        with self.db.cursor() as cursor:
            if self.db.vendor == "postgresql":
                # COPY: the fastest way in; psycopg adapts each value by its type.
                with cursor.cursor.copy(self.copy_sql) as copy:
                    for row in rows:
                        copy.write_row(self.values(row))
            else:
                # SQLite: a prepared statement run many times is cheap in-process.
                for start in range(0, len(rows), BATCH):
                    batch = rows[start : start + BATCH]
                    cursor.executemany(self.sql, [self.values(r) for r in batch])
        return len(rows)


class _History:
    """Builds one connection's jobs and attempts (as column dicts), oldest first."""

    def __init__(
        self,
        *,
        actor: AbstractBaseUser | None,
        now: datetime,
        days: int,
        rng: random.Random,
    ) -> None:
        self.actor_id = actor.pk if actor is not None else None
        self.now = now
        self.span = days * 86400
        self.rng = rng

    def jobs_for(self, plan: _Plan) -> list[tuple[Row, Row | None]]:
        rows = []
        interval = self.span / max(plan.jobs, 1)
        start = self.now - timedelta(seconds=self.span)
        for index in range(plan.jobs):
            last = index == plan.jobs - 1
            if last and plan.active:
                rows.append(self._active(plan))
                continue
            offset = index * interval + self.rng.random() * interval * 0.3
            created = start + timedelta(seconds=offset)
            # A sync ends before the next one starts (and before now).
            room = min(interval * 0.8, (self.now - created).total_seconds() - 60)
            rows.append(self._finished(plan, created, max(room, 5.0)))
        return rows

    def _trigger(self) -> str:
        roll = self.rng.random()
        if roll < 0.80:
            return Trigger.SCHEDULED
        if roll < 0.92:
            return Trigger.MANUAL
        if roll < 0.97:
            return Trigger.API
        return Trigger.RETRY

    def _job(self, plan: _Plan, created: datetime, **values: Any) -> Row:
        trigger = self._trigger()
        asked = trigger in (Trigger.MANUAL, Trigger.API)
        return {
            "public_id": uuid.uuid4(),
            "created_at": created,
            "updated_at": values.get("finished_at")
            or values.get("started_at")
            or created,
            "connection_id": plan.connection.pk,
            "trigger": trigger,
            "requested_by_id": self.actor_id if asked else None,
            "enqueued_at": created,
            **values,
        }

    def _finished(self, plan: _Plan, created: datetime, room: float) -> tuple[Row, Row]:
        rng = self.rng
        roll = rng.random()
        status = (
            Status.SUCCEEDED
            if roll < 0.895
            else Status.FAILED
            if roll < 0.975
            else Status.CANCELLED
        )
        records = max(0, int(plan.volume * rng.uniform(0.6, 1.4)))
        if status != Status.SUCCEEDED:
            records = int(records * rng.uniform(0, 0.6))
        started = created + timedelta(seconds=rng.uniform(0.5, 8))
        seconds = min(room, 8 + records / plan.rate * rng.uniform(0.8, 1.3))
        finished = started + timedelta(seconds=seconds)
        byte_count = records * plan.row_bytes
        stats = {
            name: {
                "records_emitted": n,
                "records_committed": n,
                "bytes_committed": n * plan.row_bytes,
            }
            for name, n in _split(records, plan.stream_names, rng).items()
        }
        failure_type = failure_origin = failure_message = ""
        log_lines = [
            (started, "INFO", f"Starting attempt 1 of {plan.connection.name}"),
            (started, "INFO", f"Reading streams: {', '.join(plan.stream_names)}"),
        ]
        attempt_status = SyncAttempt.Status.SUCCEEDED
        if status == Status.FAILED:
            failure_type, failure_origin, failure_message, line = rng.choice(FAILURES)
            log_lines += [
                (finished, "WARN", f"{records:,} records committed before the error"),
                (finished, "ERROR", line),
                (finished, "ERROR", f"Attempt failed: {failure_message}"),
            ]
            attempt_status = SyncAttempt.Status.FAILED
        elif status == Status.CANCELLED:
            failure_type = FailureType.MANUAL_CANCELLATION
            failure_message = CANCEL_MESSAGE
            log_lines.append(
                (finished, "WARN", "Cancel requested; stopping the source")
            )
            attempt_status = SyncAttempt.Status.CANCELLED
        else:
            log_lines.append(
                (finished, "INFO", f"Sync succeeded: {records:,} records committed")
            )
        failure = {
            "failure_type": failure_type,
            "failure_origin": failure_origin,
            "failure_message": failure_message,
        }
        counts = {"records_committed": records, "bytes_committed": byte_count}
        job = self._job(
            plan,
            created,
            status=status,
            started_at=started,
            finished_at=finished,
            attempt_count=1,
            stream_stats=stats,
            **counts,
            **failure,
        )
        attempt = {
            "number": 1,
            "status": attempt_status,
            "worker": f"worker-{rng.randint(1, 4)}:{rng.randint(1000, 60000)}",
            "started_at": started,
            "heartbeat_at": finished,
            "finished_at": finished,
            "records_emitted": records,
            "log": _log(log_lines),
            **counts,
            **failure,
        }
        return job, attempt

    def _active(self, plan: _Plan) -> tuple[Row, Row | None]:
        rng = self.rng
        now = self.now
        if plan.active == Status.PENDING:
            created = now - timedelta(seconds=rng.uniform(2, 30))
            return self._job(plan, created, status=Status.PENDING), None
        created = now - timedelta(seconds=rng.uniform(60, 900))
        started = created + timedelta(seconds=rng.uniform(0.5, 5))
        elapsed = (now - started).total_seconds()
        job = self._job(
            plan, created, status=plan.active, started_at=started, attempt_count=1
        )
        begin = (started, "INFO", f"Starting attempt 1 of {plan.connection.name}")
        if plan.active == Status.RUNNING:
            estimate = max(plan.volume, 100)
            emitted = min(int(plan.rate * elapsed * 0.1), int(estimate * 0.9))
            share = _split(emitted, plan.stream_names, rng)
            estimates = _split(estimate, plan.stream_names, rng)
            progress = {
                name: {
                    "records_emitted": share[name],
                    "records_committed": int(share[name] * 0.8),
                    "bytes_committed": int(share[name] * 0.8) * plan.row_bytes,
                    "status": "RUNNING",
                    "row_estimate": max(estimates[name], share[name] + 1),
                }
                for name in plan.stream_names
            }
            attempt = {
                "number": 1,
                "status": SyncAttempt.Status.RUNNING,
                "worker": "worker-1:4242",
                "started_at": started,
                # A fresh beat, so the page shows it live; a reaper, if one runs,
                # fails it once the beat goes stale, as for any lost worker.
                "heartbeat_at": now - timedelta(seconds=2),
                "records_emitted": emitted,
                "records_committed": int(emitted * 0.8),
                "bytes_committed": int(emitted * 0.8) * plan.row_bytes,
                "progress": progress,
                "log": _log([begin, (now, "INFO", f"{emitted:,} records read")]),
            }
            return job, attempt
        # Incomplete: the first attempt failed on something transient; the retry waits.
        failure_type, failure_origin, failure_message, line = FAILURES[0]
        failed_at = started + timedelta(seconds=max(1.0, min(elapsed - 5, 40)))
        failure = {
            "failure_type": failure_type,
            "failure_origin": failure_origin,
            "failure_message": failure_message,
        }
        job.update(failure)
        job["next_attempt_at"] = now + timedelta(seconds=rng.uniform(20, 250))
        attempt = {
            "number": 1,
            "status": SyncAttempt.Status.FAILED,
            "worker": "worker-2:5151",
            "started_at": started,
            "heartbeat_at": failed_at,
            "finished_at": failed_at,
            "log": _log(
                [
                    begin,
                    (failed_at, "ERROR", line),
                    (failed_at, "WARN", "Transient failure: retrying with backoff"),
                ]
            ),
            **failure,
        }
        return job, attempt


def _write_history(pairs: list[tuple[Row, Row | None]]) -> tuple[int, int]:
    """Insert one chunk of jobs, then their attempts (linked by the jobs' new ids)."""
    jobs = _RawInsert(SyncJob).run([job for job, _ in pairs])
    connection_ids = {job["connection_id"] for job, _ in pairs}
    # The chunk's connections are new, so every job they have is from this chunk.
    ids = dict(
        SyncJob.objects.filter(connection_id__in=connection_ids).values_list(
            "public_id", "pk"
        )
    )
    attempts = []
    for job, attempt in pairs:
        if attempt is not None:
            attempt["job_id"] = ids[job["public_id"]]
            attempts.append(attempt)
    return jobs, _RawInsert(SyncAttempt).run(attempts)


@transaction.atomic
def demo_seed(
    *,
    actor: AbstractBaseUser | None,
    workspace: Workspace,
    connections: int,
    jobs: int,
    days: int = 60,
    random_seed: int | None = None,
    now: datetime | None = None,
) -> SeedResult:
    """Fill a workspace with demo connections and their history (adds to it)."""
    if not 1 <= connections <= MAX_CONNECTIONS:
        raise ValidationError(
            f"--connections must be between 1 and {MAX_CONNECTIONS:,}."
        )
    if not 0 <= jobs <= MAX_JOBS:
        raise ValidationError(f"--jobs must be between 0 and {MAX_JOBS:,}.")
    if not 1 <= days <= 3650:
        raise ValidationError("--days must be between 1 and 3650.")
    clock = time.monotonic()
    # Demo data, not secrets: a seedable generator makes runs repeatable.
    rng = random.Random(random_seed)  # noqa: S311
    now = now or timezone.now()
    since = now - timedelta(days=days, hours=1)
    sources, sources_made = _sources(workspace, actor, since)
    destinations, destinations_made = _destinations(workspace, actor, since)
    plans, stream_count = _connections(
        workspace=workspace,
        actor=actor,
        sources=sources,
        destinations=destinations,
        count=connections,
        jobs=jobs,
        since=since,
        rng=rng,
    )
    history = _History(actor=actor, now=now, days=days, rng=rng)
    by_status: Counter[str] = Counter()
    job_total = attempt_total = 0
    pending: list[tuple[Row, Row | None]] = []
    for plan in plans:
        pairs = history.jobs_for(plan)
        by_status.update(str(job["status"]) for job, _ in pairs)
        pending.extend(pairs)
        if len(pending) >= JOBS_PER_CHUNK:
            made = _write_history(pending)
            job_total, attempt_total = job_total + made[0], attempt_total + made[1]
            pending = []
    if pending:
        made = _write_history(pending)
        job_total, attempt_total = job_total + made[0], attempt_total + made[1]
    busiest = max(plans, key=lambda p: p.jobs)
    running = next((p for p in plans if p.active == Status.RUNNING), None)
    result = SeedResult(
        workspace=workspace,
        sources=sources_made,
        destinations=destinations_made,
        connections=len(plans),
        streams=stream_count,
        jobs=job_total,
        attempts=attempt_total,
        jobs_by_status=dict(sorted(by_status.items())),
        busiest_connection=busiest.connection if busiest.jobs else None,
        busiest_jobs=busiest.jobs,
        running_connection=running.connection if running else None,
    )
    audit_record(
        actor=actor,
        action=SEED_ACTION,
        workspace=workspace,
        target=workspace,
        changes={
            "sources": [None, sources_made],
            "destinations": [None, destinations_made],
            "connections": [None, result.connections],
            "streams": [None, stream_count],
            "jobs": [None, job_total],
            "attempts": [None, attempt_total],
            "days": [None, days],
        },
    )
    result.seconds = time.monotonic() - clock
    return result


def seeded_workspace_lookup(wanted: str, *, user: Any) -> Workspace | None:
    """The workspace of ``user``'s named, slugged or identified by ``wanted``.

    Only the user's own workspaces: names are not unique across teams (#13).
    """
    rows = Workspace.objects.filter(memberships__user=user)
    try:
        found = rows.filter(public_id=uuid.UUID(wanted)).first()
    except ValueError:
        found = None
    return (
        found
        or rows.filter(name__iexact=wanted).first()
        or rows.filter(slug=wanted).first()
    )
