"""Who is asking: the client address and user agent for audit rows.

The request middleware (or a CLI command) sets them once; services never take a
request argument just to pass it to ``audit_record()``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class AuditContext:
    ip: str = ""
    user_agent: str = ""


_current: ContextVar[AuditContext | None] = ContextVar("audit_context", default=None)


@contextmanager
def audit_context(*, ip: str = "", user_agent: str = "") -> Iterator[None]:
    token = _current.set(AuditContext(ip=ip, user_agent=user_agent))
    try:
        yield
    finally:
        _current.reset(token)


def current() -> AuditContext:
    return _current.get() or AuditContext()
