"""Mail in the people tests: the worker's task runs at once, into Django's outbox."""

from __future__ import annotations

from unittest import mock

import pytest

from apps.core.tasks import send_email_task


@pytest.fixture
def mail_now():
    """Queued emails are sent when the transaction commits, as a worker would."""
    with mock.patch.object(
        send_email_task,
        "delay_on_commit",
        side_effect=lambda *args: send_email_task(*args),
    ):
        yield


@pytest.fixture
def smtp(settings):
    """The console is set up to deliver mail (the test backend still catches it)."""
    settings.CONSOLE_EMAIL = "smtp"
