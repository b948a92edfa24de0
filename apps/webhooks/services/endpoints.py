"""The endpoints a workspace registers: create, change, rotate, delete, test.

Every change is audited; the URL is recorded as scheme and host only, and a
secret is shown once to the caller and never again.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from apps.audit.services import audit_record, field_changes
from apps.core.masking import MASK
from apps.webhooks import delivery as http
from apps.webhooks import payloads, signing
from apps.webhooks.models import (
    EVENT_ALIASES,
    TEST_EVENT,
    Event,
    WebhookDelivery,
    WebhookEndpoint,
)
from apps.webhooks.services.dispatch import new_delivery
from apps.workspaces.models import Workspace


def _actor(actor: AbstractBaseUser | None) -> AbstractBaseUser | None:
    return actor if actor is not None and actor.is_authenticated else None


def normalize_events(events: list[str] | str) -> list[str]:
    """Known event names (aliases of the resource-airbyte tool accepted), in order."""
    if isinstance(events, str):
        events = [e for e in events.replace(" ", ",").split(",") if e]
    known = set(Event.values)
    chosen: list[str] = []
    unknown: list[str] = []
    for name in events:
        value = EVENT_ALIASES.get(name.strip().lower(), name.strip().lower())
        if value not in known:
            unknown.append(name)
        elif value not in chosen:
            chosen.append(value)
    if unknown:
        raise ValidationError(
            {
                "events": f"Unknown event {', '.join(unknown)}: choose from "
                f"{', '.join(Event.values)} (or sync_completed, sync_failed)."
            }
        )
    if not chosen:
        raise ValidationError({"events": "Choose at least one event."})
    return chosen


def _clean(
    workspace: Workspace,
    *,
    name: str,
    url: str,
    format: str,
    exclude: WebhookEndpoint | None = None,
) -> tuple[str, str]:
    name = " ".join((name or "").split())
    if not name:
        raise ValidationError({"name": "Give the endpoint a name."})
    url = (url or "").strip()
    if not url.lower().startswith(("http://", "https://")):
        raise ValidationError({"url": "Use an http:// or https:// URL."})
    try:
        http.check_literal(url)
    except http.BlockedAddress as exc:
        raise ValidationError(
            {"url": f"{exc} Webhooks only go to public addresses."}
        ) from None
    if format not in WebhookEndpoint.Format.values:
        raise ValidationError({"format": "Choose console or slack."})
    taken = WebhookEndpoint.objects.for_workspace(workspace).filter(name__iexact=name)
    if exclude is not None:
        taken = taken.exclude(pk=exclude.pk)
    if taken.exists():
        raise ValidationError(
            {"name": f"An endpoint named “{name}” already exists in this workspace."}
        )
    return name, url


def _audit_view(endpoint: WebhookEndpoint) -> dict[str, Any]:
    # The URL is shown as scheme and host: its path may carry a token.
    return {
        "name": endpoint.name,
        "url": endpoint.url_display,
        "events": ",".join(endpoint.events),
        "format": endpoint.format,
        "enabled": endpoint.enabled,
    }


@transaction.atomic
def webhook_endpoint_create(
    *,
    actor: AbstractBaseUser | None,
    workspace: Workspace,
    name: str,
    url: str,
    events: list[str] | str,
    format: str = WebhookEndpoint.Format.CONSOLE,
) -> tuple[WebhookEndpoint, str]:
    """A new endpoint and its secret, which the caller shows once and forgets."""
    name, url = _clean(workspace, name=name, url=url, format=format)
    secret = signing.new_secret()
    endpoint = WebhookEndpoint(
        workspace=workspace,
        name=name,
        url=url,
        events=normalize_events(events),
        format=format,
        secret=secret,
        created_by=_actor(actor),
    )
    endpoint.full_clean()
    endpoint.save()
    audit_record(
        actor=actor,
        action="webhook.created",
        workspace=workspace,
        target=endpoint,
        changes={**field_changes({}, _audit_view(endpoint)), "secret": [None, MASK]},
    )
    return endpoint, secret


@transaction.atomic
def webhook_endpoint_update(
    *,
    actor: AbstractBaseUser | None,
    endpoint: WebhookEndpoint,
    name: str,
    url: str,
    events: list[str] | str,
    format: str,
    enabled: bool,
) -> WebhookEndpoint:
    """Change an endpoint; enabling it again forgets why it was disabled."""
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    before = _audit_view(endpoint)
    name, url = _clean(
        endpoint.workspace, name=name, url=url, format=format, exclude=endpoint
    )
    endpoint.name, endpoint.url, endpoint.format = name, url, format
    endpoint.events = normalize_events(events)
    if enabled and not endpoint.enabled:
        endpoint.disabled_reason = ""
        endpoint.failing_since = None
    endpoint.enabled = enabled
    endpoint.full_clean()
    endpoint.save()
    audit_record(
        actor=actor,
        action="webhook.updated",
        workspace=endpoint.workspace,
        target=endpoint,
        changes=field_changes(before, _audit_view(endpoint)),
    )
    return endpoint


@transaction.atomic
def webhook_endpoint_rotate_secret(
    *, actor: AbstractBaseUser | None, endpoint: WebhookEndpoint
) -> str:
    """A new signing secret, in force at once; returned to be shown once."""
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    secret = signing.new_secret()
    endpoint.secret = secret
    endpoint.save(update_fields=["secret", "updated_at"])
    audit_record(
        actor=actor,
        action="webhook.secret_rotated",
        workspace=endpoint.workspace,
        target=endpoint,
        changes={"secret": [MASK, MASK]},
    )
    return secret


@transaction.atomic
def webhook_endpoint_delete(
    *, actor: AbstractBaseUser | None, endpoint: WebhookEndpoint
) -> None:
    """Delete an endpoint with its delivery log."""
    audit_record(
        actor=actor,
        action="webhook.deleted",
        workspace=endpoint.workspace,
        target=endpoint,
        changes=field_changes(_audit_view(endpoint), {}),
    )
    endpoint.delete()


@transaction.atomic
def webhook_test_send(
    *, actor: AbstractBaseUser | None, endpoint: WebhookEndpoint
) -> WebhookDelivery:
    """Send a test event to one endpoint, whatever events it wants."""
    if not endpoint.enabled:
        raise ValidationError("Enable the endpoint before sending a test event.")
    workspace = endpoint.workspace
    data = {
        "message": f"Webhook “{endpoint.name}” of {workspace.name} works.",
        "name": endpoint.name,
        "workspace": {
            "id": str(workspace.public_id),
            "name": workspace.name,
            "url": payloads.console_url("workspaces:detail", workspace.public_id),
        },
    }
    delivery = new_delivery(endpoint, event=TEST_EVENT, data=data, when=timezone.now())
    audit_record(
        actor=actor,
        action="webhook.test_sent",
        workspace=workspace,
        target=endpoint,
        changes={"webhook_id": [None, delivery.webhook_id]},
    )
    return delivery
