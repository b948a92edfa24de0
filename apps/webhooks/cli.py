"""`airbyte webhook register|list|test|remove|rotate`: webhook endpoints from scripts.

The signing secret is printed once, by ``register`` and ``rotate``, like on the
pages; ``list`` never shows it.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError

from apps.core.clikit import CliResult, arg, group, table
from apps.core.roles import Role
from apps.webhooks import selectors
from apps.webhooks.models import WebhookDelivery, WebhookEndpoint
from apps.webhooks.services import dispatch, endpoints
from apps.workspaces.cli import AS_USER, WORKSPACE, cli_membership

webhook = group("webhook", "Register, list, test and remove webhook endpoints.")

NAME = arg("name", help="The endpoint's name.")


def _row(endpoint: WebhookEndpoint) -> dict[str, Any]:
    return {
        "id": str(endpoint.public_id),
        "name": endpoint.name,
        "url": endpoint.url_display,
        "events": ",".join(endpoint.events),
        "format": endpoint.format,
        "enabled": endpoint.enabled,
        "disabled_reason": endpoint.disabled_reason,
    }


def _messages(exc: ValidationError) -> str:
    return " ".join(exc.messages)


def _find(options: dict[str, Any]) -> tuple[Any, WebhookEndpoint]:
    membership = cli_membership(options, Role.EDITOR)
    endpoint = selectors.webhook_endpoint_by_name(
        workspace=membership.workspace, name=options["name"]
    )
    if endpoint is None:
        raise CommandError(
            f"No webhook named {options['name']!r} in {membership.workspace}. "
            "`airbyte webhook list` shows them."
        )
    return membership, endpoint


@webhook.action(
    "register",
    "Register an endpoint; prints its signing secret once.",
    arg("--name", required=True, help="A name, unique in the workspace."),
    arg("--url", required=True, help="The receiver's http(s) URL."),
    arg(
        "--events",
        required=True,
        help="Comma-separated: sync.started, sync.succeeded (or sync_completed), "
        "sync.failed (or sync_failed), sync.cancelled, connection.disabled, "
        "schema.changed, credential.rotated.",
    ),
    arg("--format", choices=["console", "slack"], default="console"),
    WORKSPACE,
    AS_USER,
)
def webhook_register(options: dict[str, Any]) -> CliResult:
    membership = cli_membership(options, Role.EDITOR)
    try:
        endpoint, secret = endpoints.webhook_endpoint_create(
            actor=membership.user,
            workspace=membership.workspace,
            name=options["name"],
            url=options["url"],
            events=options["events"],
            format=options["format"],
        )
    except ValidationError as exc:
        raise CommandError(_messages(exc)) from None
    return CliResult(
        data={**_row(endpoint), "secret": secret},
        text=f"Registered webhook {endpoint.name} ({endpoint.public_id}).\n"
        f"Signing secret (shown once, store it now): {secret}",
    )


@webhook.action("list", "List the workspace's webhook endpoints.", WORKSPACE, AS_USER)
def webhook_list(options: dict[str, Any]) -> CliResult:
    membership = cli_membership(options, Role.EDITOR)
    rows = [
        _row(e) for e in selectors.webhook_endpoint_list(workspace=membership.workspace)
    ]
    return CliResult(
        data=rows,
        text=table(rows, ["name", "url", "events", "format", "enabled", "id"]),
    )


@webhook.action(
    "test", "Send a test event now and show the answer.", NAME, WORKSPACE, AS_USER
)
def webhook_test(options: dict[str, Any]) -> CliResult:
    membership, endpoint = _find(options)
    try:
        delivery = endpoints.webhook_test_send(actor=membership.user, endpoint=endpoint)
    except ValidationError as exc:
        raise CommandError(_messages(exc)) from None
    # Sent here and now; the worker's copy of the task finds it claimed.
    dispatch.webhook_delivery_attempt(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    attempt = delivery.attempts.order_by("-number").first()
    ok = delivery.status == WebhookDelivery.Status.SUCCEEDED
    data = {
        "webhook_id": delivery.webhook_id,
        "status": delivery.status,
        "status_code": delivery.last_status_code,
        "latency_ms": attempt.latency_ms if attempt else None,
        "error": delivery.last_error,
    }
    answer = f"HTTP {delivery.last_status_code}" if delivery.last_status_code else ""
    text = (
        f"Test event {delivery.webhook_id} to {endpoint.name}: {delivery.status}"
        + (f" ({answer}, {data['latency_ms']} ms)" if answer else "")
        + (f"\n{delivery.last_error}" if delivery.last_error else "")
    )
    return CliResult(data=data, text=text, exit_code=0 if ok else 1)


@webhook.action("remove", "Delete an endpoint and its log.", NAME, WORKSPACE, AS_USER)
def webhook_remove(options: dict[str, Any]) -> CliResult:
    membership, endpoint = _find(options)
    row = _row(endpoint)
    endpoints.webhook_endpoint_delete(actor=membership.user, endpoint=endpoint)
    return CliResult(data=row, text=f"Removed webhook {row['name']}.")


@webhook.action(
    "rotate",
    "Make a new signing secret; prints it once.",
    NAME,
    WORKSPACE,
    AS_USER,
)
def webhook_rotate(options: dict[str, Any]) -> CliResult:
    membership, endpoint = _find(options)
    secret = endpoints.webhook_endpoint_rotate_secret(
        actor=membership.user, endpoint=endpoint
    )
    return CliResult(
        data={**_row(endpoint), "secret": secret},
        text=f"New signing secret for {endpoint.name} (shown once): {secret}",
    )
