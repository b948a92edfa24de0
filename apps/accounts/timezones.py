"""The time zone a request's pages show times in.

A person's choice (their profile, kept in the session at sign-in and when they
change it, so reading it costs no query), else the zone their browser reports
(``console.js`` sets a cookie), else the console's ``TIME_ZONE`` (UTC).
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable
from functools import cache
from urllib.parse import unquote

from django.http import HttpRequest, HttpResponse
from django.utils import timezone

SESSION_KEY = "time_zone"
BROWSER_COOKIE = "console_tz"


# Files in the zone database that are not zones a person lives in.
_NOT_ZONES = {"localtime", "posixrules", "Factory"}


@cache
def zone_names() -> tuple[str, ...]:
    """Every IANA zone this Python knows, sorted (``UTC`` among them)."""
    return tuple(sorted(zoneinfo.available_timezones() - _NOT_ZONES))


@cache
def zone_choices() -> tuple[str, ...]:
    """The zones a person picks from: ``Area/City`` names and UTC (the short
    aliases such as ``EST`` or ``W-SU`` are still understood from a browser)."""
    return tuple(
        name
        for name in zone_names()
        if name == "UTC"
        or ("/" in name and not name.startswith(("Etc/", "SystemV/", "US/")))
    )


def zone_or_none(name: str | None) -> zoneinfo.ZoneInfo | None:
    """The zone called ``name``, or None for a blank or unknown name."""
    if not name or name not in zone_names():
        return None
    return zoneinfo.ZoneInfo(name)


def browser_zone(request: HttpRequest) -> zoneinfo.ZoneInfo | None:
    # console.js writes the name URL-encoded (``Europe%2FParis``).
    return zone_or_none(unquote(request.COOKIES.get(BROWSER_COOKIE, "")[:100]))


def request_zone(request: HttpRequest) -> zoneinfo.ZoneInfo | None:
    """The zone for this request; None means the console's default."""
    # Only a sign-in or the profile page writes the key, and signing out flushes
    # the session: a session that has it belongs to the person who chose it.
    session = getattr(request, "session", None)
    chosen = zone_or_none(session.get(SESSION_KEY)) if session is not None else None
    return chosen or browser_zone(request)


class TimezoneMiddleware:
    """Activate the request's zone so templates and forms show local times."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        zone = request_zone(request)
        if zone is None:
            timezone.deactivate()
        else:
            timezone.activate(zone)
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
