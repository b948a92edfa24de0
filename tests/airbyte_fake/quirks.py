"""How the real server answers where the specs leave it open (#12 points 3, 4, 9).

* Logs: from 1.2 an attempt's log is ``structured`` (``events`` with a lowercase
  ``level``, a ``logSource`` and epoch-millisecond ``timestamp``), and the server's
  generated model sends ``"logLines": []`` beside the events; before 1.2 it is
  ``formatted`` (``logLines`` only). ``version`` on the fake picks which.
* Problems: a Public API problem keeps the generic ``detail`` of its type and
  carries the real reason in ``data.message``.
* Micronaut's own error body (a request refused before Airbyte's handlers, e.g.
  one over ``max-request-size``): ``message`` is the status's reason phrase, the
  reason is in ``_embedded.errors[].message``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.airbyte_fake.state import Attempt, Job
    from tests.airbyte_fake.validation import Specs

# The oneOf finding that ``logLines: []`` beside ``events`` causes.
STRUCTURED_LOGS_TOLERANCE = (
    "the server's AttemptInfoReadLogs sends logLines: [] beside events, which "
    "matches both branches of the spec's oneOf (LogEvents, LogRead)"
)


def version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version)[:3]) or (0,)


def structured_logs(version: str) -> bool:
    """Whether a server of ``version`` sends structured logs (1.2 and later)."""
    return version_tuple(version) >= (1, 2)


def _level(line: str) -> str:
    lowered = line.lower()
    if lowered.startswith("failure") or "error" in lowered:
        return "error"
    if "warn" in lowered:
        return "warn"
    return "info"


def _source(line: str) -> str:
    lowered = line.lower()
    if lowered.startswith("read "):
        return "source"
    if "committed" in lowered:
        return "destination"
    return "replication-orchestrator" if "sync" in lowered else "platform"


def structured_events(job: Job, attempt: Attempt) -> list[dict[str, Any]]:
    """The attempt's log lines as the structured events a 1.2+ server sends."""
    base = attempt.created_at * 1000
    events = []
    for index, line in enumerate(attempt.log_lines):
        event: dict[str, Any] = {
            "timestamp": base + index,
            "message": line,
            "level": _level(line),
            "logSource": _source(line),
            "caller": {
                "className": "io.airbyte.container.orchestrator.Replication",
                "methodName": "run",
                "lineNumber": 42,
                "threadName": f"replication-job-{job.id}",
            },
        }
        if event["level"] == "error":
            event["stackTrace"] = "io.airbyte.workers.WorkerException: " + line
        events.append(event)
    return events


def attempt_logs(job: Job, attempt: Attempt, version: str) -> dict[str, Any]:
    """``logType`` and ``logs`` of an ``AttemptInfoRead`` for a server version."""
    if structured_logs(version):
        return {
            "logType": "structured",
            "logs": {
                "events": structured_events(job, attempt),
                "version": "1",
                "logLines": [],
            },
        }
    return {"logType": "formatted", "logs": {"logLines": list(attempt.log_lines)}}


def generic_detail(specs: Specs, title: str) -> str | None:
    """The constant ``detail`` the problems spec gives a problem type, if any."""
    for name, schema in specs.problem_components.get("schemas", {}).items():
        if not name.endswith("ProblemResponse"):
            continue
        props: dict[str, Any] = {}
        for part in schema.get("allOf", []):
            props.update(part.get("properties", {}))
        if props.get("title", {}).get("default") == title:
            detail = props.get("detail", {}).get("default")
            if isinstance(detail, str):
                return detail
    return None


def micronaut_error(reason: str, path: str, message: str) -> dict[str, Any]:
    """Micronaut's default JSON error body (HATEOAS ``JsonError``)."""
    return {
        "message": reason,
        "_links": {"self": {"href": path, "templated": False}},
        "_embedded": {"errors": [{"message": message}]},
    }
