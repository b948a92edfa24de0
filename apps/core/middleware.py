"""Middleware: HX-Trigger toasts for htmx responses, and the Content-Security-Policy."""

from __future__ import annotations

import json
from collections.abc import Callable

from django.conf import settings
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


# The console's pages load scripts only from its own static files (htmx from
# django-htmx's `{% htmx_script %}`, static/js/console.js) and have no inline
# scripts or inline event handlers, so an injected `<script>` or `onerror=` never
# runs. Inline styles stay allowed: htmx adds its indicator `<style>` element and a
# few templates use a `style` attribute; a style cannot run code.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


class ContentSecurityPolicyMiddleware:
    """Sends ``Content-Security-Policy`` on every response that has none yet.

    Django 5.2 has no built-in CSP. ``settings.CONTENT_SECURITY_POLICY`` replaces
    the policy (an empty string sends none), e.g. to add a report-uri.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.policy = getattr(
            settings, "CONTENT_SECURITY_POLICY", CONTENT_SECURITY_POLICY
        )

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if self.policy and "Content-Security-Policy" not in response.headers:
            response.headers["Content-Security-Policy"] = self.policy
        return response
