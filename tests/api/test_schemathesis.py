"""schemathesis drives the whole API from its own OpenAPI document.

Every operation of ``/api/public/v1/openapi.json`` gets generated requests, valid
and invalid, as a workspace admin with a token, through the console's WSGI app
(in-process, on the test database, so the seeded objects are there). For each
answer: no 5xx, the body matches the console's document, and it matches Airbyte's
own spec for that path (``tests/api/spec_client.py``), since the console's document
could drift from Airbyte's without anyone noticing.

The number of examples is bounded so the whole run stays well under two minutes.
"""

from __future__ import annotations

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)

from apps.connections.models import SyncJob
from tests.airbyte_fake.validation import Exchange
from tests.factories import ConnectionFactory, DestinationFactory, SourceFactory

OPENAPI = "/api/public/v1/openapi.json"
EXAMPLES = 8


@pytest.fixture
def in_process_requests():
    """Keep the test's database connection across WSGI requests.

    Django closes "old" connections around each request; inside the test's
    transaction that would break it. Django's own test client unhooks the same two
    signals for the same reason.
    """
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def seeded(admin, workspace):
    """A workspace with one of everything, so lists and gets have rows to show."""
    source = SourceFactory(workspace=workspace, name="Faker")
    destination = DestinationFactory(workspace=workspace, name="Warehouse")
    connection = ConnectionFactory(
        workspace=workspace, source=source, destination=destination
    )
    SyncJob.objects.create(connection=connection, trigger="manual", status="succeeded")
    return workspace


@pytest.fixture
def console_api(settings, seeded, in_process_requests):
    settings.API_RATE_LIMIT = 0  # hundreds of calls in a few seconds
    settings.API_WAIT_SECONDS = 1  # no worker runs here: a wait ends at once
    return schemathesis.openapi.from_wsgi(OPENAPI, WSGIHandler())


def _exchange(response) -> Exchange:
    sent = response.request
    path, _, query = sent.path_url.partition("?")
    body = sent.body or b""
    return Exchange(
        method=sent.method,
        path=path,
        query=query,
        headers=dict(sent.headers),
        body=body.encode() if isinstance(body, str) else body,
        content_type=sent.headers.get("Content-Type", ""),
    )


def _fuzz(operation, mode: GenerationMode, *, bearer: str, spec_checker) -> None:
    """Generated requests of one operation; raises on the first bad answer."""

    @given(case=operation.as_strategy(mode))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
    )
    def run(case) -> None:
        response = case.call_and_validate(
            headers={"Authorization": f"Bearer {bearer}"},
            checks=[
                not_a_server_error,
                response_schema_conformance,
                status_code_conformance,
            ],
        )
        found = spec_checker.check(
            _exchange(response),
            status=response.status_code,
            body=response.content,
            content_type=(response.headers.get("content-type") or [""])[0],
            # Generated requests are often invalid on purpose; answers never are.
            request=False,
        )
        assert not found, (
            f"{response.request.method} {response.request.path_url} -> "
            f"{response.status_code}\n"
            + "\n".join(found)
            + f"\nbody: {response.content[:600]!r}"
        )

    run()


def test_generated_requests_get_no_5xx_and_answers_match_the_specs(
    console_api, api_token, admin, spec_checker
):
    # schemathesis' pytest integration (``schemathesis.pytest.from_fixture``) reads
    # ``request.node._nodeid``, which pytest 9 no longer has; its Python API with
    # Hypothesis does the same work, one operation and mode at a time.
    bearer = api_token(admin)
    failures: list[str] = []
    operations = [result.ok() for result in console_api.get_all_operations()]
    assert len(operations) > 5, "the OpenAPI document lists almost no operations"
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                _fuzz(operation, mode, bearer=bearer, spec_checker=spec_checker)
            except Unsatisfiable:
                continue  # nothing to make invalid (no parameters, no body)
            # schemathesis reports through a BaseExceptionGroup (FailureGroup).
            except (Exception, BaseExceptionGroup) as exc:
                failures.append(f"{operation.label} ({mode.value}): {exc}")

    assert not failures, "\n\n".join(failures)
