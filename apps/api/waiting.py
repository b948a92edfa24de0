"""Calls that answer with the outcome of work a worker does: discover and check.

Airbyte's API runs discover (``GET /streams``) and the scheduler's check inside
the request. The console keeps its rule that nothing slow runs in a web request
or a transaction: the request asks for the work through the connectors' services
(atomic, audited, enqueued on commit), then waits on the database row until a
worker records the outcome, polling outside any transaction. The wait is bounded
by ``settings.API_WAIT_SECONDS`` (300 s unless set); past it the caller gets a 503
that says the workers did not answer, and the work still finishes later.

Each wait holds a web thread, so a process lets only ``API_MAX_WAITING`` calls
wait at once (2 unless set; ``make run`` serves each process with 4 threads):
one more is answered 429 at once, before any work is asked for, and the pages
and the other calls keep their threads.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import timedelta
from typing import Any, TypeVar

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from apps.api.connectors_io import (
    SplitConfiguration,
    kept_credential_refs,
    split_configuration,
)
from apps.api.problems import (
    bad_request,
    problem_from_validation,
    service_unavailable,
    too_many_requests,
)
from apps.connectors import services
from apps.connectors.models import (
    ConnectorConfig,
    ConnectorDefinition,
    ConnectorDraftCheck,
    Source,
)
from apps.engines.base import CheckResult
from apps.workspaces.models import Workspace

T = TypeVar("T")

_slots_lock = threading.Lock()
_waiting = 0

_FIRST_POLL = 0.2
_MAX_POLL = 1.0


def wait_seconds(timeout: float | None = None) -> float:
    """How long a call waits for a worker: ``timeout``, else the setting."""
    if timeout is not None:
        return float(timeout)
    return float(getattr(settings, "API_WAIT_SECONDS", 300))


@contextmanager
def _waiting_slot() -> Iterator[None]:
    """Hold one of this process's waiting slots, or answer 429 when all are taken."""
    global _waiting
    limit = int(getattr(settings, "API_MAX_WAITING", 2))
    with _slots_lock:
        if _waiting >= limit:
            raise too_many_requests(
                5,
                f"{limit} calls are already waiting for a worker on this server "
                "process; try again in 5 s.",
            )
        _waiting += 1
    try:
        yield
    finally:
        with _slots_lock:
            _waiting -= 1


def _poll(read: Callable[[], T | None], timeout: float, what: str) -> T:
    """Call ``read`` until it returns something, or raise a 503 after ``timeout``."""
    if connection.in_atomic_block:
        # The request was enqueued on commit: inside a transaction no worker
        # would ever see it, and the wait would only hold the transaction open.
        raise RuntimeError("waiting.py must not be called inside a transaction")
    deadline = time.monotonic() + timeout
    pause = _FIRST_POLL
    while True:
        found = read()
        if found is not None:
            return found
        if time.monotonic() >= deadline:
            raise service_unavailable(
                f"No worker finished {what} within {int(timeout)} s. It is still "
                "queued or running; ask again later (the console's workers may be "
                "down or busy)."
            )
        time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
        pause = min(pause * 1.5, _MAX_POLL)


def _discover_running(source: Source, timeout: float) -> bool:
    # A discover asked for moments ago (by another call or the schema page) is
    # joined instead of asked for twice; one pending for longer than a wait is
    # presumed lost and asked for again.
    return source.discover_status == services.CheckStatus.PENDING and (
        source.updated_at >= timezone.now() - timedelta(seconds=timeout)
    )


def wait_for_discover(
    *,
    actor: AbstractBaseUser | None,
    source: Source,
    timeout: float | None = None,
) -> Source:
    """Discover ``source``'s streams on a worker and wait; the row with its catalog.

    A failed discover is a 400 problem carrying the connector's message; no
    answer within the wait a 503.
    """
    seconds = wait_seconds(timeout)
    with _waiting_slot():
        source.refresh_from_db()
        if not _discover_running(source, seconds):
            services.source_discover_request(actor=actor, source=source)

        def read() -> Source | None:
            row = Source.objects.select_related("definition", "workspace").get(
                pk=source.pk
            )
            return None if row.discover_status == services.CheckStatus.PENDING else row

        row = _poll(read, seconds, f"discovering the streams of {source.name}")
    if row.discover_status == services.CheckStatus.FAILED:
        message = row.discover_message or "The connector gave no reason."
        raise bad_request(
            f"Discovering the streams of {row.name} failed: {message}",
            {"connectorMessage": message},
        )
    return row


def wait_for_check(
    *,
    actor: AbstractBaseUser,
    workspace: Workspace,
    kind: str,
    definition: ConnectorDefinition,
    config: Mapping[str, Any],
    target: ConnectorConfig | None = None,
    timeout: float | None = None,
) -> CheckResult:
    """Run the connector's check of ``config`` on a worker and wait for its answer.

    ``config`` is a full configuration as the API takes it (secrets included; a
    mask keeps ``target``'s stored secret, which is then sent only where the
    services allow). Nothing is saved but the draft check and its audit event.
    A config that fails the spec is a 400 problem; no answer within the wait 503.
    """
    split = split_configuration(
        workspace=workspace, definition=definition, configuration=config, obj=target
    )
    with _waiting_slot():
        return _check_and_wait(
            actor=actor,
            workspace=workspace,
            kind=kind,
            definition=definition,
            config=config,
            target=target,
            split=split,
            timeout=timeout,
        )


def _check_and_wait(
    *,
    actor: AbstractBaseUser,
    workspace: Workspace,
    kind: str,
    definition: ConnectorDefinition,
    config: Mapping[str, Any],
    target: ConnectorConfig | None,
    split: SplitConfiguration,
    timeout: float | None,
) -> CheckResult:
    try:
        draft = services.connector_draft_check_request(
            actor=actor,
            workspace=workspace,
            kind=kind,
            definition=definition,
            config=split.config,
            secrets=split.secrets,
            credential_refs=kept_credential_refs(target, config),
            version=getattr(target, "pinned_version", "") or "",
            target=target,
            kept_secrets=split.kept_secrets,
        )
    except ValidationError as exc:
        raise problem_from_validation(exc) from None

    def read() -> ConnectorDraftCheck | None:
        row = ConnectorDraftCheck.objects.get(pk=draft.pk)
        return None if row.status == ConnectorDraftCheck.Status.PENDING else row

    finished = _poll(read, wait_seconds(timeout), f"testing {definition.name}")
    return services.draft_check_result(finished)
