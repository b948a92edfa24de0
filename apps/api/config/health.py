"""``/api/v1/health`` (anonymous, GET and POST): ``{"available": true}``."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Router, Schema

from apps.api.problems import service_unavailable
from apps.api.public.health import database_answers

router = Router(tags=["health"])


class HealthCheckRead(Schema):
    available: bool


def _health() -> dict[str, bool]:
    if not database_answers():
        raise service_unavailable("The console's database does not answer.")
    return {"available": True}


@router.get(
    "health",
    auth=None,
    response=HealthCheckRead,
    operation_id="getConfigHealthCheck",
    summary="Health Check",
)
def health(request: HttpRequest) -> dict[str, bool]:
    """Airbyte's Config API health; 503 when the console's database does not answer."""
    return _health()


@router.post(
    "health",
    auth=None,
    response=HealthCheckRead,
    operation_id="postConfigHealthCheck",
    summary="Health Check (POST, as Airbyte's Config API also takes it)",
)
def health_post(request: HttpRequest) -> dict[str, bool]:
    """The same answer to a POST (one operation id per method in the document)."""
    return _health()
