"""A fake Airbyte 1.8 server for the test suite, checked against the official specs.

The console's Airbyte client talks HTTP to this fake exactly as to a real server,
from the test process, a Celery worker or a browser's live server. Every request it
receives and every response it sends is validated with openapi-core against
``public-api.v1.8.0.yaml`` (served under ``/api/public/v1``) and
``config-api.v1.8.0.yaml`` (``/api/v1``), read from ``specs_dir()`` and parsed once
per process. A request that fails is recorded in ``fake.violations`` and answered
400; a response that fails is recorded too (a bug in the fake). The ``airbyte_fake``
fixture fails the test when any violation was recorded; ``airbyte_fake_shared``
does the same on one server kept for the session (a stable URL for a Celery worker
or a browser), reset before each test.

Usage::

    def test_sync(airbyte_fake):
        airbyte_fake.script_next_job(steps=["running", "failed"], failure={
            "failureType": "config_error", "failureOrigin": "source",
            "externalMessage": "Invalid credentials"})
        client = AirbyteClient(airbyte_fake.url, "console-client", "console-secret")
        ...
        assert len(airbyte_fake.calls("POST", "/api/public/v1/jobs")) == 1

Jobs move only when observed: each ``GET /api/public/v1/jobs/{id}`` or Config
``jobs/get*`` advances a job one step of its script. The default script is
``pending, running, running, succeeded`` with 100 rows. ``script_next_job`` queues
another for the next job (``connection_id=`` for one connection); its ``steps``
are shown one per observation, ``incomplete`` closes an attempt as failed with the
next of ``attempt_failures``, ``failed`` uses ``failure``. An unknown status is
served as is and fails validation unless ``allow_invalid_response=True``, which
moves those findings to ``fake.tolerated``.

Data: ``fake.definitions`` (Faker source, Postgres and DuckDB destinations with
Airbyte's real ids; add a ``Definition`` to offer another), ``fake.workspaces``,
``sources``, ``destinations``, ``connections``, ``jobs``; ``seed_*`` helpers create
data directly; ``fake.requests`` records ``(method, path, query, json)`` and
``fake.calls(method, pattern)`` filters it. Settings (all undone by ``reset()``):
``version``, ``auth_mode`` ("simple"/"none"), ``client_id``/``client_secret``,
``token_lifetime``, ``expire_tokens()``, ``empty_401_body``, ``basic_auth``,
``bad_password`` (checks fail when a config holds it), ``discover_failure``.

Faults: ``fail_next(method, pattern, status, problem=, headers=, times=)`` (e.g. 503,
429 with ``Retry-After``, status 0 drops the connection) and ``delay_next(method,
pattern, seconds)``. Patterns are fnmatch patterns on the full path.

Quirks of the real server that the fake keeps: pagination links point at
``http://localhost:8001/api/public/v1/...`` and ``next`` is present on every
non-empty page (``next_on_last_page``); cron expressions read back with `` UTC``;
``startTime`` drops ``:00`` seconds like Java; ``streamnamespace`` is spelt so;
create calls answer 200 and deletes 204 without a body; problems are sent as
``application/json``; deleting a source or destination deprecates its
connections; secrets read back as ``**********`` and that mask keeps the stored
secret on PUT/PATCH; token lifetime 900 s. Where the spec cannot be satisfied at
all (see ``validation.SPEC_DEFECTS``) or a real-server value is outside it (null
``syncModes``, opt-in), the finding is listed in ``fake.tolerated`` instead.
"""

from __future__ import annotations

import importlib
from typing import Any

# Exports load lazily (PEP 562): tests/conftest.py imports the fixtures of this
# package in every session, and openapi-core is slow to import.
_EXPORTS = {
    "AirbyteFake": "server",
    "RecordedRequest": "server",
    "Violation": "server",
    "DEFAULT_ORGANIZATION_ID": "state",
    "DEFAULT_WORKSPACE_ID": "state",
    "DUCKDB_DESTINATION_ID": "state",
    "FAKER_SOURCE_ID": "state",
    "POSTGRES_DESTINATION_ID": "state",
    "SECRET_MASK": "state",
    "Definition": "state",
    "JobScript": "state",
    "StreamDef": "state",
    "load_specs": "validation",
    "specs_dir": "locate",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
