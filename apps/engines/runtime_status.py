"""Whether the worker hosts can run a runtime (Docker), as the workers last found.

Connectors run on worker hosts, and the web host may be another machine with no
Docker at all; asking the daemon also costs a process, which never runs inside a
web request. So the workers check, on start and every minute from the reaper, and
write what they found here (one row per runtime and host); the catalog page and
the forms read the newest row and say when and where it was checked.

Not audited: a check is an observation a machine makes every minute, not a
change someone made.
"""

from __future__ import annotations

import socket

from django.utils import dateformat, timezone

from apps.engines.models import RuntimeStatus

NOT_CHECKED = "not checked yet (no worker has reported whether it can run them)"


def runtime_status_record(
    *, runtime: str, available: bool, reason: str, host: str = ""
) -> RuntimeStatus:
    """Record what this worker host (or ``host``) just found about ``runtime``."""
    status, _ = RuntimeStatus.objects.update_or_create(
        runtime=runtime,
        host=(host or socket.gethostname())[:255],
        defaults={
            "available": available,
            "reason": "" if available else reason[:500],
            "checked_at": timezone.now(),
        },
    )
    return status


def runtime_status_latest(*, runtime: str) -> RuntimeStatus | None:
    """The newest check of ``runtime`` by any worker host, or None."""
    return (
        RuntimeStatus.objects.filter(runtime=runtime)
        .order_by("-checked_at", "-id")
        .first()
    )


def runtime_answer(*, runtime: str) -> tuple[bool, str]:
    """``(available, why not)`` from the newest check, saying when and where.

    The time is in the active time zone (the person's, in a request).
    """
    status = runtime_status_latest(runtime=runtime)
    if status is None:
        return False, NOT_CHECKED
    if status.available:
        return True, ""
    when = dateformat.format(timezone.localtime(status.checked_at), "Y-m-d H:i T")
    reason = status.reason.rstrip(".") or "unavailable"
    return False, f"{reason} (checked {when} on {status.host})"
