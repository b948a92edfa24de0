"""Logging filters named in ``settings.LOGGING``."""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied


class ExpectedRefusalWithoutTraceback(logging.Filter):
    """Keeps the one-line warning for a 403, without the exception's traceback.

    Django logs every ``PermissionDenied`` on ``django.request`` with ``exc_info``.
    A viewer pressing a button their role does not allow is the console working as
    meant; a traceback in the log makes it read like a crash.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, PermissionDenied):
            record.exc_info = None
            record.exc_text = None
        return True
