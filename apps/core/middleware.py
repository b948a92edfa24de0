"""Middleware: Django messages become HX-Trigger toasts on htmx responses."""

from __future__ import annotations

import json
from collections.abc import Callable

from django.contrib.messages import get_messages
from django.http import HttpRequest, HttpResponse


class HtmxMessagesMiddleware:
    """Moves queued messages into an ``HX-Trigger: {"toast": [...]}`` header.

    A full page shows messages in its layout; an htmx fragment has no layout, so the
    messages travel in a header that ``static/js/console.js`` turns into toasts. A
    redirect keeps its messages for the page it leads to.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        htmx = getattr(request, "htmx", None)
        if not htmx or htmx.boosted or 300 <= response.status_code < 400:
            return response
        if "HX-Redirect" in response.headers:
            return response
        toasts = [
            {"message": str(message), "level": message.level_tag or "info"}
            for message in get_messages(request)
        ]
        if not toasts:
            return response
        triggers: dict = {}
        if "HX-Trigger" in response.headers:
            existing = response.headers["HX-Trigger"]
            try:
                triggers = json.loads(existing)
            except ValueError:
                triggers = {name.strip(): None for name in existing.split(",")}
        triggers["toast"] = toasts
        response.headers["HX-Trigger"] = json.dumps(triggers)
        return response
