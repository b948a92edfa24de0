"""Each member's choice of which events notify them, in the app and by email.

The workspace's notification list keeps every notified event; what a member sees
(the list and the bell's count) is filtered by their choice for that workspace,
and the events they chose for email are mailed to them after the event commits.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.template.loader import render_to_string

from apps.accounts.models import NotificationPreference
from apps.audit.services import audit_record
from apps.core.tasks import send_email_task
from apps.webhooks.models import Event, Notification
from apps.workspaces.models import Membership, Workspace

WEBHOOK_DISABLED = "webhook.disabled"
# Every event a member may choose, in the order the settings page lists them: the
# events the notification list keeps (``services.notifications.NOTIFIED_EVENTS``).
EVENT_CHOICES: list[tuple[str, str]] = [
    (event.value, event.label)
    for event in (
        Event.SYNC_FAILED,
        Event.SYNC_SUCCEEDED,
        Event.SYNC_CANCELLED,
        Event.CONNECTION_DISABLED,
        Event.SCHEMA_CHANGED,
        Event.CREDENTIAL_ROTATED,
        Event.TRANSFORM_FAILED,
        Event.TRANSFORM_SUCCEEDED,
    )
] + [(WEBHOOK_DISABLED, "Webhook disabled")]
CHOOSABLE = {value for value, _ in EVENT_CHOICES}
SUCCESSES = {Event.SYNC_SUCCEEDED.value, Event.TRANSFORM_SUCCEEDED.value}
# Without a choice of their own a member sees failures and changes in the app (as
# before successes were notified) and gets no email.
DEFAULT_IN_APP = [value for value, _ in EVENT_CHOICES if value not in SUCCESSES]
DEFAULT_EMAIL: list[str] = []


@dataclass(frozen=True)
class Choice:
    """One member's choice for one workspace."""

    workspace: Workspace
    in_app: list[str]
    email: list[str]
    chosen: bool  # False: the defaults


def _clean(events: list[str]) -> list[str]:
    wanted = set(events)
    return [value for value, _ in EVENT_CHOICES if value in wanted]


def notification_choice(*, user: object, workspace: Workspace) -> Choice:
    """What ``user`` chose for ``workspace``, or the defaults."""
    row = NotificationPreference.objects.filter(
        user_id=getattr(user, "pk", None), workspace=workspace
    ).first()
    if row is None:
        return Choice(workspace, list(DEFAULT_IN_APP), list(DEFAULT_EMAIL), False)
    return Choice(workspace, _clean(row.in_app), _clean(row.email), True)


def notification_choices(*, user: AbstractBaseUser) -> list[Choice]:
    """The user's choice for each of their workspaces, by workspace name."""
    memberships = (
        Membership.objects.filter(user_id=user.pk)
        .select_related("workspace")
        .order_by("workspace__name")
    )
    rows = {
        row.workspace_id: row
        for row in NotificationPreference.objects.filter(user_id=user.pk)
    }
    choices = []
    for membership in memberships:
        row = rows.get(membership.workspace_id)
        if row is None:
            choices.append(
                Choice(
                    membership.workspace,
                    list(DEFAULT_IN_APP),
                    list(DEFAULT_EMAIL),
                    False,
                )
            )
        else:
            choices.append(
                Choice(
                    membership.workspace, _clean(row.in_app), _clean(row.email), True
                )
            )
    return choices


def notification_in_app_events(*, user: object, workspace: Workspace) -> list[str]:
    """The events the member sees in the workspace's list and counts in the bell."""
    return notification_choice(user=user, workspace=workspace).in_app


@transaction.atomic
def notification_preferences_save(
    *,
    actor: AbstractBaseUser,
    workspace: Workspace,
    in_app: list[str],
    email: list[str],
) -> bool:
    """Save one member's choice for one workspace; False when nothing changed.

    Audited in the workspace, like any member's change there. Events nobody may
    choose are dropped.
    """
    if not Membership.objects.filter(user_id=actor.pk, workspace=workspace).exists():
        raise PermissionError("Only members choose a workspace's notifications.")
    before = notification_choice(user=actor, workspace=workspace)
    in_app, email = _clean(in_app), _clean(email)
    if before.chosen and (before.in_app, before.email) == (in_app, email):
        return False
    NotificationPreference.objects.update_or_create(
        user=actor, workspace=workspace, defaults={"in_app": in_app, "email": email}
    )
    audit_record(
        actor=actor,
        action="notifications.preferences_changed",
        workspace=workspace,
        target=actor,
        target_label=getattr(actor, "email", "") or actor.get_username(),
        changes={"in_app": [before.in_app, in_app], "email": [before.email, email]},
    )
    return True


def notification_email_recipients(*, workspace: Workspace, event: str) -> list[str]:
    """The emails of the members who chose ``event`` by email in ``workspace``."""
    chosen = NotificationPreference.objects.filter(
        workspace=workspace, user__memberships__workspace=workspace
    ).select_related("user")
    emails = [
        row.user.email
        for row in chosen
        if event in row.email and row.user.is_active and row.user.email
    ]
    if event in DEFAULT_EMAIL:
        # Members without a row get the defaults.
        with_rows = chosen.values_list("user_id", flat=True)
        emails += list(
            get_user_model()
            .objects.filter(memberships__workspace=workspace, is_active=True)
            .exclude(pk__in=with_rows)
            .exclude(email="")
            .values_list("email", flat=True)
        )
    return sorted(set(emails))


def notification_email_after_commit(*, notification: Notification) -> int:
    """Queue one email per member who chose the event by email; how many."""
    workspace = notification.workspace
    recipients = notification_email_recipients(
        workspace=workspace, event=notification.event
    )
    if not recipients:
        return 0
    base = settings.CONSOLE_BASE_URL.rstrip("/")
    context = {
        "notification": notification,
        "workspace": workspace,
        "link": base + notification.link if notification.link else "",
        "settings_link": base + "/notifications/settings/",
    }
    subject = render_to_string("webhooks/email/notification_subject.txt", context)
    body = render_to_string("webhooks/email/notification.txt", context)
    for email in recipients:
        send_email_task.delay_on_commit([email], subject, body)
    return len(recipients)


@transaction.atomic
def notification_preferences_save_all(
    *, actor: AbstractBaseUser, choices: dict[Workspace, tuple[list[str], list[str]]]
) -> int:
    """Save the member's choices for several workspaces; how many changed."""
    return sum(
        notification_preferences_save(
            actor=actor, workspace=workspace, in_app=in_app, email=email
        )
        for workspace, (in_app, email) in choices.items()
    )
