"""Writing the audit trail: every service that changes something calls it."""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Any

from django.db import models

from apps.audit import context
from apps.audit.models import AuditEvent
from apps.core.masking import mask_secrets

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

    from apps.workspaces.models import Workspace


def audit_record(
    *,
    actor: AbstractBaseUser | AnonymousUser | None,
    action: str,
    workspace: Workspace | None = None,
    target: models.Model | None = None,
    target_label: str = "",
    changes: dict[str, Any] | None = None,
    outcome: str = AuditEvent.Outcome.SUCCESS,
    actor_label: str = "",
) -> AuditEvent:
    """Record one event; call it inside the transaction of the change it describes.

    ``changes`` is stored with secrets masked, typically ``{"field": [before, after]}``.
    """
    who = context.current()
    user = actor if actor is not None and actor.is_authenticated else None
    event = AuditEvent(
        actor=user,
        actor_label=actor_label or (user.get_username() if user else "anonymous"),
        workspace=workspace,
        workspace_label=workspace.name if workspace else "",
        action=action,
        target_type=target._meta.label_lower if target is not None else "",
        target_id=str(
            getattr(target, "public_id", None) or getattr(target, "pk", "") or ""
        ),
        target_label=(target_label or (str(target) if target is not None else ""))[
            :300
        ],
        changes=mask_secrets(changes or {}),
        ip=_valid_ip(who.ip),
        user_agent=who.user_agent,
        outcome=outcome,
    )
    event.save()
    return event


def field_changes(
    before: dict[str, Any], after: dict[str, Any]
) -> dict[str, list[Any]]:
    """``{"field": [old, new]}`` for each field whose value differs."""
    return {
        key: [before.get(key), after.get(key)]
        for key in sorted(set(before) | set(after))
        if before.get(key) != after.get(key)
    }


def _valid_ip(value: str) -> str | None:
    try:
        return str(ipaddress.ip_address(value)) if value else None
    except ValueError:
        return None
