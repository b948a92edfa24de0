"""Sending email on a worker, so a slow mail server never holds up a page."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail


def mail_delivers() -> bool:
    """Whether mail reaches people (SMTP), or only a file or the log."""
    return settings.CONSOLE_EMAIL == "smtp"


@shared_task(
    name="core.send_email",
    ignore_result=True,
    time_limit=120,
    soft_time_limit=110,
    autoretry_for=(OSError,),
    retry_backoff=30,
    max_retries=5,
)
def send_email_task(to: list[str], subject: str, body: str) -> None:
    """Send one plain-text message; a mail server that does not answer is retried."""
    send_mail(
        subject=" ".join(subject.split()),
        message=body,
        from_email=None,
        recipient_list=to,
    )
