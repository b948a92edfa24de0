"""``GET /api/public/v1/health`` (anonymous): the console and its database answer."""

from __future__ import annotations

from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse
from ninja import Router

from apps.api.problems import service_unavailable

router = Router(tags=["Health"])


def database_answers() -> bool:
    """True when one trivial query succeeds."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError:
        return False
    return True


@router.get(
    "health",
    auth=None,
    operation_id="getHealthCheck",
    summary="Health Check",
    response={200: None, 503: dict},
)
def health(request: HttpRequest) -> HttpResponse:
    """Airbyte answers 200 with the text "Successful operation"; so does the console."""
    if not database_answers():
        raise service_unavailable("The console's database does not answer.")
    return HttpResponse("Successful operation", content_type="text/plain")
