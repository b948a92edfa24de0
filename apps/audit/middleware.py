"""Middleware: every request's client address and user agent reach its audit rows."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from apps.audit.context import audit_context


class AuditContextMiddleware:
    """Runs the rest of the request inside ``audit_context`` (see ``context.py``)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with audit_context(
            ip=_client_ip(request),
            user_agent=request.headers.get("User-Agent", "")[:300],
        ):
            return self.get_response(request)


def _client_ip(request: HttpRequest) -> str:
    # REMOTE_ADDR only: X-Forwarded-For is client-controlled unless a trusted proxy
    # rewrites it, and audit rows must not record what an attacker chose.
    return request.META.get("REMOTE_ADDR", "")
