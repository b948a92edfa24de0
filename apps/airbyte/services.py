"""Setting a workspace up on an Airbyte server: save, test, pick a workspace, switch.

The test walks the steps a user would check by hand and stops at the first that
fails, naming it: reach the server (``instance_configuration``: version, edition,
auth mode), sign in (a fresh token), and make one list call (the server's
workspaces). Each step's message says what to do about it.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from apps.airbyte.client import (
    AirbyteAddressError,
    AirbyteApiError,
    AirbyteAuthError,
    AirbyteClient,
    AirbyteError,
    AirbyteTransientError,
    RetryPolicy,
    address_refusal,
    forget_tokens,
    normalize_url,
)
from apps.airbyte.models import AirbyteProbe, AirbyteServer
from apps.airbyte.shapes import RemoteDefinition, RemoteWorkspace
from apps.audit.services import audit_record, field_changes
from apps.connectors.models import ConnectorDefinition
from apps.core.masking import MASK
from apps.workspaces.models import Workspace

logger = logging.getLogger(__name__)

# The API the console was built against (Airbyte's 1.x Public and Config APIs).
MIN_MAJOR_VERSION = 1


@dataclass(frozen=True)
class ProbeStep:
    name: str  # reach | sign_in | list
    ok: bool
    detail: str


@dataclass(frozen=True)
class ServerProbe:
    """What testing a server found, step by step."""

    steps: tuple[ProbeStep, ...]
    version: str = ""
    edition: str = ""
    auth_mode: str = ""
    workspaces: tuple[dict[str, str], ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return bool(self.steps) and all(step.ok for step in self.steps)

    @property
    def failed_step(self) -> ProbeStep | None:
        return next((step for step in self.steps if not step.ok), None)

    @property
    def summary(self) -> str:
        failed = self.failed_step
        if failed is None:
            return (
                f"Connected to Airbyte {self.version} ({self.edition}, auth "
                f"{self.auth_mode}); {len(self.workspaces)} workspace(s) visible."
            )
        return f"{STEP_LABELS[failed.name]} failed: {failed.detail}"


STEP_LABELS = {
    "reach": "Reaching the server",
    "sign_in": "Signing in",
    "list": "Listing workspaces",
}


def _major(version: str) -> int | None:
    head = version.lstrip("v").split(".", 1)[0]
    return int(head) if head.isdigit() else None


def server_probe(server: AirbyteServer, **client_options: Any) -> ServerProbe:
    """Test a server's settings without saving anything.

    ``client_options`` go to the client: a status page passes a short ``timeout``
    and ``retry=RetryPolicy(attempts=0)`` so nobody waits through backoffs.
    """
    steps: list[ProbeStep] = []
    # The live auth mode decides below, not the one the last test stored.
    client_options.setdefault("auth", server.auth)
    with AirbyteClient.for_server(server, **client_options) as client:
        try:
            info = client.server_info()
        except (AirbyteTransientError, AirbyteAddressError) as exc:
            return ServerProbe(steps=(ProbeStep("reach", False, exc.message),))
        except AirbyteError as exc:
            return ServerProbe(
                steps=(
                    ProbeStep(
                        "reach",
                        False,
                        f"{exc.message}. Is this an Airbyte server (1.x)? The "
                        "console asks /api/v1/instance_configuration first.",
                    ),
                )
            )
        # Cut to the columns they are kept in: whatever answered may not be Airbyte.
        version, edition = info.version[:50], info.edition[:50]
        auth_mode = info.auth_mode[:20]
        facts = {"version": version, "edition": edition, "auth_mode": auth_mode}
        major = _major(version)
        if major is not None and major < MIN_MAJOR_VERSION:
            steps.append(
                ProbeStep(
                    "reach",
                    False,
                    f"Airbyte {version} is not supported: the console needs Airbyte "
                    "1.0 or newer (abctl installs it).",
                )
            )
            return ServerProbe(steps=tuple(steps), **facts)
        steps.append(
            ProbeStep("reach", True, f"Airbyte {version or '(version unknown)'}")
        )

        if server.auth == AirbyteServer.Auth.APPLICATION:
            if auth_mode == "none":
                steps.append(
                    ProbeStep(
                        "sign_in",
                        True,
                        "The server has auth disabled; no token needed.",
                    )
                )
                client.auth = AirbyteServer.Auth.NONE
            else:
                try:
                    client.token(fresh=True)
                    steps.append(ProbeStep("sign_in", True, "Token received."))
                except AirbyteError as exc:
                    steps.append(ProbeStep("sign_in", False, exc.message))
                    return ServerProbe(steps=tuple(steps), **facts)
        elif server.auth == AirbyteServer.Auth.NONE and auth_mode not in {"", "none"}:
            steps.append(
                ProbeStep(
                    "sign_in",
                    False,
                    f"The server requires sign-in (auth mode {auth_mode}): enter "
                    "an application's client id and secret "
                    "(`abctl local credentials` prints them).",
                )
            )
            return ServerProbe(steps=tuple(steps), **facts)

        try:
            workspaces = tuple(
                {"id": w.id, "name": w.name} for w in client.workspace_list()
            )
        except AirbyteAuthError as exc:
            steps.append(ProbeStep("list", False, f"{exc.message} (check the auth)"))
            return ServerProbe(steps=tuple(steps), **facts)
        except AirbyteError as exc:
            steps.append(ProbeStep("list", False, exc.message))
            return ServerProbe(steps=tuple(steps), **facts)
        steps.append(ProbeStep("list", True, f"{len(workspaces)} workspace(s)"))
        return ServerProbe(steps=tuple(steps), workspaces=workspaces, **facts)


def server_save(
    *,
    actor: AbstractBaseUser | None,
    workspace: Workspace,
    url: str,
    auth: str,
    client_id: str = "",
    client_secret: str = "",
    username: str = "",
    password: str = "",
) -> AirbyteServer:
    """Create or change a workspace's server settings; a blank or masked secret keeps
    the stored one.

    The address is checked first, outside the transaction (it takes a DNS lookup):
    an address the console must not call is refused here, and again by the client
    at every connect, since a name can resolve elsewhere later.
    """
    url = _clean_url(url)
    refused = address_refusal(url)
    if refused:
        raise ValidationError({"url": refused})
    return _server_store(
        actor=actor,
        workspace=workspace,
        url=url,
        auth=auth,
        client_id=client_id,
        client_secret=client_secret,
        username=username,
        password=password,
    )


def _clean_url(url: str) -> str:
    url = normalize_url(url)
    try:
        parts = urlsplit(url)
        valid = (
            parts.scheme in {"http", "https"}
            and bool(parts.hostname)
            and not any(char.isspace() for char in url)
        )
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
        (parts.hostname or "").encode("idna")  # UnicodeError (a ValueError): a..b
    except ValueError:  # a malformed IPv6 host, port or host name
        valid = False
    if not valid:
        raise ValidationError(
            {"url": "Enter the server's address, e.g. http://localhost:8000."}
        )
    if parts.username or parts.password:
        # A password in the URL would be shown and audited with the URL.
        raise ValidationError(
            {
                "url": "Leave the user name and password out of the address: "
                "choose basic auth below and enter them there."
            }
        )
    return url


@transaction.atomic
def _server_store(
    *,
    actor: AbstractBaseUser | None,
    workspace: Workspace,
    url: str,
    auth: str,
    client_id: str,
    client_secret: str,
    username: str,
    password: str,
) -> AirbyteServer:
    if auth not in AirbyteServer.Auth.values:
        raise ValidationError({"auth": f"Unknown authentication {auth!r}."})
    server = (
        AirbyteServer.objects.select_for_update().filter(workspace=workspace).first()
    )
    before = _snapshot(server) if server else {}
    server = server or AirbyteServer(workspace=workspace)
    if auth == AirbyteServer.Auth.APPLICATION and not client_id:
        raise ValidationError({"client_id": "Enter the application's client id."})
    if auth == AirbyteServer.Auth.BASIC and not username:
        raise ValidationError({"username": "Enter the basic-auth user name."})
    changed_server = server.url and server.url != url
    if changed_server and workspace.engine == Workspace.Engine.AIRBYTE:
        raise ValidationError(
            {
                "url": "This workspace runs on this server: its sources, "
                "destinations and connections live there. Switch the workspace "
                "to the embedded engine before pointing it at another server."
            }
        )
    # A test only vouches for the settings it tried: changing how the console signs
    # in (or where it goes) asks for a new one before the engine can switch.
    changed_sign_in = (
        changed_server
        or server.auth != auth
        or server.client_id != client_id
        or server.username != username
        or (client_secret not in {"", MASK} and client_secret != server.client_secret)
        or (password not in {"", MASK} and password != server.password)
    )
    server.url = url
    server.auth = auth
    server.client_id = client_id if auth == AirbyteServer.Auth.APPLICATION else ""
    server.username = username if auth == AirbyteServer.Auth.BASIC else ""
    if client_secret and client_secret != MASK:
        server.client_secret = client_secret
    if password and password != MASK:
        server.password = password
    if auth == AirbyteServer.Auth.APPLICATION and not server.client_secret:
        raise ValidationError(
            {"client_secret": "Enter the application's client secret."}
        )
    if auth == AirbyteServer.Auth.BASIC and not server.password:
        raise ValidationError({"password": "Enter the basic-auth password."})
    if changed_server:
        # Another server: its workspace and what it offers are not this one's.
        server.remote_workspace_id = server.remote_workspace_name = ""
        server.definition_ids = []
    if changed_sign_in:
        server.last_check_ok = None
    replaced = [
        name
        for name, value in (("client_secret", client_secret), ("password", password))
        if value not in {"", MASK}
    ]
    server.save()
    changes = field_changes(before, _snapshot(server))
    if replaced:
        # "replaced", not "secrets_…": the audit log masks keys that look secret.
        changes["replaced"] = [None, replaced]
    audit_record(
        actor=actor,
        action="airbyte_server.saved",
        workspace=workspace,
        target=server,
        changes=changes,
    )
    transaction.on_commit(forget_tokens)
    return server


def _snapshot(server: AirbyteServer) -> dict[str, Any]:
    # "sign_in", not "auth": the audit log masks values of keys that look secret.
    return {
        "url": server.url,
        "sign_in": server.auth,
        "client_id": server.client_id,
        "client_secret": MASK if server.client_secret else "",
        "username": server.username,
        "password": MASK if server.password else "",
        "remote_workspace_id": server.remote_workspace_id,
    }


def server_test(
    *, actor: AbstractBaseUser | None, server: AirbyteServer, **client_options: Any
) -> ServerProbe:
    """Test the saved settings, remember what the server said, refresh definitions.

    Runs on a worker (``probe_run``) for the Engine page; the CLI and the tests call
    it directly.
    """
    # No transaction held while the server answers.
    probe = server_probe(server, **client_options)
    with transaction.atomic():
        _test_record(actor=actor, server=server, probe=probe)
    return probe


def _test_record(
    *, actor: AbstractBaseUser | None, server: AirbyteServer, probe: ServerProbe
) -> None:
    server.server_version = probe.version
    server.server_edition = probe.edition
    server.server_auth_mode = probe.auth_mode
    server.last_checked_at = timezone.now()
    server.last_check_ok = probe.ok
    server.last_check_message = probe.summary
    # Only what the test learned: the settings may have been saved meanwhile.
    server.save(
        update_fields=[
            "server_version",
            "server_edition",
            "server_auth_mode",
            "last_checked_at",
            "last_check_ok",
            "last_check_message",
            "updated_at",
        ]
    )
    audit_record(
        actor=actor,
        action="airbyte_server.tested",
        workspace=server.workspace,
        target=server,
        changes={"ok": [None, probe.ok], "message": [None, probe.summary]},
        outcome="success" if probe.ok else "failure",
    )
    if probe.ok and server.remote_workspace_id:
        # Robust: a failed refresh must not undo or hide the test's answer.
        transaction.on_commit(
            lambda: definitions_refresh(server_id=server.pk), robust=True
        )


def remote_workspace_choose(
    *,
    actor: AbstractBaseUser | None,
    server: AirbyteServer,
    remote_workspace_id: str = "",
    create_name: str = "",
) -> AirbyteServer:
    """Use one of the server's workspaces, or create one there by name."""
    remote_workspace_id, create_name = remote_workspace_validate(
        server=server, remote_workspace_id=remote_workspace_id, create_name=create_name
    )
    remote = _remote_workspace_fetch(server, remote_workspace_id, create_name)
    with transaction.atomic():
        return _workspace_record(
            actor=actor,
            server=server,
            remote_id=remote.id,
            name=remote.name,
            created=bool(create_name),
        )


def remote_workspace_validate(
    *, server: AirbyteServer, remote_workspace_id: str, create_name: str
) -> tuple[str, str]:
    """The choice, cleaned, or the ValidationError that needs no server to find."""
    create_name = create_name.strip()
    remote_workspace_id = remote_workspace_id.strip()
    if remote_workspace_id and not create_name:
        try:
            remote_workspace_id = str(uuid.UUID(remote_workspace_id))
        except ValueError:
            raise ValidationError(
                {"remote_workspace_id": "That is not an Airbyte workspace id."}
            ) from None
    if server.workspace.engine == Workspace.Engine.AIRBYTE and (
        create_name or remote_workspace_id != server.remote_workspace_id
    ):
        raise ValidationError(
            {
                "remote_workspace_id": "This workspace's sources, destinations and "
                "connections live in the Airbyte workspace it runs on. Switch to "
                "the embedded engine before choosing another one."
            }
        )
    if not create_name and not remote_workspace_id:
        raise ValidationError(
            {"remote_workspace_id": "Pick a workspace or name a new one."}
        )
    return remote_workspace_id, create_name


def _remote_workspace_fetch(
    server: AirbyteServer,
    remote_workspace_id: str,
    create_name: str,
    **client_options: Any,
) -> RemoteWorkspace:
    """The workspace on the server, created there first when ``create_name``."""
    if create_name:
        # A create is not retried: a lost answer must not make two workspaces.
        client_options["retry"] = RetryPolicy(attempts=0)
    with AirbyteClient.for_server(server, **client_options) as client:
        try:
            if create_name:
                return client.workspace_create(create_name)
            return client.workspace_get(remote_workspace_id)
        except AirbyteApiError as exc:
            raise ValidationError({"remote_workspace_id": exc.message}) from None
        except AirbyteError as exc:
            raise ValidationError(exc.message) from None


def _workspace_record(
    *,
    actor: AbstractBaseUser | None,
    server: AirbyteServer,
    remote_id: str,
    name: str,
    created: bool,
) -> AirbyteServer:
    before = server.remote_workspace_id
    server.remote_workspace_id = remote_id
    server.remote_workspace_name = name
    server.save(
        update_fields=["remote_workspace_id", "remote_workspace_name", "updated_at"]
    )
    audit_record(
        actor=actor,
        action="airbyte_server.workspace_chosen",
        workspace=server.workspace,
        target=server,
        changes={
            "remote_workspace_id": [before, server.remote_workspace_id],
            "created": [None, created],
        },
    )
    # Robust: the workspace is chosen even if the server cannot list its
    # definitions right now; the next test refreshes them.
    transaction.on_commit(lambda: definitions_refresh(server_id=server.pk), robust=True)
    return server


def definitions_refresh(*, server_id: int) -> int:
    """Bring the server's connector definitions into the catalog; how many it has.

    Definitions are keyed by Airbyte's definition id, which is the same on every
    Airbyte install and in the console's own registry, so a connector both engines
    run is one row whose ``engines`` lists both.
    """
    server = AirbyteServer.objects.select_related("workspace").get(pk=server_id)
    if not server.remote_workspace_id:
        return 0
    found: list[RemoteDefinition] = []
    with AirbyteClient.for_server(server) as client:
        for kind in ("source", "destination"):
            found.extend(client.definition_list(kind, server.remote_workspace_id))
    with transaction.atomic():
        ids = []
        for item in found:
            if not item.id:
                continue
            ids.append(item.id)
            definition, created = ConnectorDefinition.objects.get_or_create(
                definition_id=item.id,
                defaults={
                    "kind": item.kind,
                    "name": (item.name or item.id)[:200],
                    "docker_repository": item.docker_repository[:200],
                    "docker_image_tag": item.docker_image_tag[:50],
                    "documentation_url": item.documentation_url[:500],
                    "release_stage": ConnectorDefinition.ReleaseStage.CUSTOM
                    if item.custom
                    else ConnectorDefinition.ReleaseStage.GENERALLY_AVAILABLE,
                    "engines": [Workspace.Engine.AIRBYTE],
                },
            )
            if not created and Workspace.Engine.AIRBYTE not in (
                definition.engines or []
            ):
                definition.engines = [
                    *(definition.engines or []),
                    Workspace.Engine.AIRBYTE,
                ]
                definition.save(update_fields=["engines", "updated_at"])
        server.definition_ids = sorted(set(ids))
        server.save(update_fields=["definition_ids", "updated_at"])
    return len(ids)


@transaction.atomic
def workspace_engine_set(
    *, actor: AbstractBaseUser | None, workspace: Workspace, engine: str
) -> Workspace:
    """Switch the engine a workspace's syncs run on.

    Switching to the airbyte engine needs a server that passed its test and an
    Airbyte workspace to work in; a workspace with a sync running cannot switch.
    """
    from apps.connections.models import SyncJob

    workspace = Workspace.objects.select_for_update().get(pk=workspace.pk)
    if engine not in Workspace.Engine.values:
        raise ValidationError({"engine": f"Unknown engine {engine!r}."})
    if engine == workspace.engine:
        return workspace
    if SyncJob.objects.filter(
        connection__workspace=workspace, status__in=SyncJob.ACTIVE_STATUSES
    ).exists():
        raise ValidationError(
            {"engine": "A sync is running in this workspace: wait for it or cancel it."}
        )
    if engine == Workspace.Engine.AIRBYTE:
        server = AirbyteServer.objects.filter(workspace=workspace).first()
        if server is None or not server.last_check_ok:
            raise ValidationError(
                {"engine": "Save the Airbyte server's settings and test them first."}
            )
        if not server.remote_workspace_id:
            raise ValidationError(
                {"engine": "Choose the Airbyte workspace to work in first."}
            )
    before = workspace.engine
    workspace.engine = engine
    workspace.save(update_fields=["engine", "updated_at"])
    audit_record(
        actor=actor,
        action="workspace.engine_changed",
        workspace=workspace,
        target=workspace,
        changes={"engine": [before, engine]},
    )
    return workspace


# -- The Engine page's probes: requested here, run by a worker, recorded here ---------

# A probe not done by then lost its worker (the interactive deadline is 15 s and the
# import's task limit 10 minutes): the page says so and a new request may start.
PROBE_LOST_AFTER = {
    AirbyteProbe.Kind.TEST: timedelta(seconds=90),
    AirbyteProbe.Kind.LIST: timedelta(seconds=90),
    AirbyteProbe.Kind.CHOOSE: timedelta(seconds=90),
    AirbyteProbe.Kind.IMPORT: timedelta(minutes=11),
}
PROBE_LOST_MESSAGE = (
    "No worker finished this in time: is a worker running (make run starts one)? "
    "Try again."
)
PROBE_FAILED_MESSAGE = "The request failed unexpectedly; the worker's log says why."


def probe_lost(probe: AirbyteProbe) -> bool:
    """Still pending or running long after any worker would have finished it."""
    return not probe.done and timezone.now() - probe.created_at > PROBE_LOST_AFTER.get(
        probe.kind, timedelta(seconds=90)
    )


def interactive_client_options() -> dict[str, Any]:
    """A person waits for these calls: no retries, one deadline for all of them."""
    deadline = float(getattr(settings, "AIRBYTE_PROBE_DEADLINE_SECONDS", 15))
    return {
        "retry": RetryPolicy(attempts=0),
        "deadline": deadline,
        "timeout": min(settings.AIRBYTE_HTTP_TIMEOUT_SECONDS, deadline),
    }


@transaction.atomic
def probe_request(
    *,
    actor: AbstractBaseUser | None,
    server: AirbyteServer,
    kind: str,
    params: dict[str, str] | None = None,
) -> AirbyteProbe:
    """Ask a worker to run one of the Engine page's probes; the page polls the row.

    One probe per server at a time: asking again for the same thing while it runs
    answers with the running one (eight clicks on "Test connection" are one test),
    and asking for something else says to wait. So a workspace admin can keep at
    most one worker slot busy, for at most the probe's deadline.
    """
    from apps.airbyte.tasks import airbyte_probe_task

    if kind not in AirbyteProbe.Kind.values:
        raise ValidationError(f"Unknown request {kind!r}.")
    params = params or {}
    server = AirbyteServer.objects.select_for_update().get(pk=server.pk)
    for active in AirbyteProbe.objects.filter(
        server=server, status__in=AirbyteProbe.ACTIVE_STATUSES
    ):
        if probe_lost(active):
            continue
        if active.kind == kind and active.params == params:
            return active
        raise ValidationError(
            f"“{active.get_kind_display()}” is still talking to the server: wait a "
            "few seconds for it, then try again."
        )
    probe = AirbyteProbe.objects.create(
        workspace=server.workspace,
        server=server,
        kind=kind,
        params=params,
        requested_by=actor if getattr(actor, "pk", None) else None,
    )
    audit_record(
        actor=actor,
        action="airbyte_server.probe_requested",
        workspace=server.workspace,
        target=server,
        changes={"probe": [None, kind], **{k: [None, v] for k, v in params.items()}},
    )
    airbyte_probe_task.delay_on_commit(probe.pk)
    return probe


def probe_run(*, probe_id: int) -> AirbyteProbe | None:
    """Run a requested probe (on a worker); a second delivery finds nothing to claim."""
    claimed = AirbyteProbe.objects.filter(
        pk=probe_id, status=AirbyteProbe.Status.PENDING
    ).update(status=AirbyteProbe.Status.RUNNING, started_at=timezone.now())
    if not claimed:
        return None
    probe = AirbyteProbe.objects.select_related(
        "server", "server__workspace", "requested_by"
    ).get(pk=probe_id)
    runner = {
        AirbyteProbe.Kind.TEST: _run_test,
        AirbyteProbe.Kind.LIST: _run_list,
        AirbyteProbe.Kind.CHOOSE: _run_choose,
        AirbyteProbe.Kind.IMPORT: _run_import,
    }[AirbyteProbe.Kind(probe.kind)]
    try:
        runner(probe)
    except Exception:
        logger.exception("Airbyte probe %s (%s) failed", probe.pk, probe.kind)
        probe_record(probe=probe, ok=False, message=PROBE_FAILED_MESSAGE)
    return probe


@transaction.atomic
def probe_record(
    *,
    probe: AirbyteProbe,
    ok: bool,
    message: str = "",
    result: dict[str, Any] | None = None,
) -> None:
    """Store what a probe found on its row; the page's next poll shows it."""
    probe.status = AirbyteProbe.Status.SUCCEEDED if ok else AirbyteProbe.Status.FAILED
    probe.message = message[:2000]
    probe.result = result or {}
    probe.finished_at = timezone.now()
    probe.save(
        update_fields=["status", "message", "result", "finished_at", "updated_at"]
    )


def _probe_result(found: ServerProbe) -> dict[str, Any]:
    return {
        "steps": [
            {"name": step.name, "ok": step.ok, "detail": step.detail}
            for step in found.steps
        ],
        "version": found.version,
        "edition": found.edition,
        "auth_mode": found.auth_mode,
        "workspaces": list(found.workspaces),
    }


def probe_found(probe: AirbyteProbe) -> ServerProbe:
    """A test or list probe's result as the ``ServerProbe`` the page shows."""
    result = probe.result or {}
    return ServerProbe(
        steps=tuple(
            ProbeStep(str(s["name"]), bool(s["ok"]), str(s["detail"]))
            for s in result.get("steps") or []
        ),
        version=str(result.get("version") or ""),
        edition=str(result.get("edition") or ""),
        auth_mode=str(result.get("auth_mode") or ""),
        workspaces=tuple(result.get("workspaces") or ()),
    )


def _run_test(probe: AirbyteProbe) -> None:
    server = probe.server
    found = server_probe(server, **interactive_client_options())
    with transaction.atomic():
        _test_record(actor=probe.requested_by, server=server, probe=found)
        probe_record(
            probe=probe, ok=found.ok, message=found.summary, result=_probe_result(found)
        )


def _run_list(probe: AirbyteProbe) -> None:
    found = server_probe(probe.server, **interactive_client_options())
    probe_record(
        probe=probe, ok=found.ok, message=found.summary, result=_probe_result(found)
    )


def _run_choose(probe: AirbyteProbe) -> None:
    server = probe.server
    remote_workspace_id = str(probe.params.get("remote_workspace_id") or "")
    create_name = str(probe.params.get("create_name") or "")
    try:
        remote_workspace_id, create_name = remote_workspace_validate(
            server=server,
            remote_workspace_id=remote_workspace_id,
            create_name=create_name,
        )
        remote = _remote_workspace_fetch(
            server, remote_workspace_id, create_name, **interactive_client_options()
        )
    except ValidationError as exc:
        # List the server's workspaces again, so the choice can be made at once.
        listed = server_probe(server, **interactive_client_options())
        errors = exc.message_dict if hasattr(exc, "error_dict") else {"": exc.messages}
        probe_record(
            probe=probe,
            ok=False,
            message=" ".join(exc.messages),
            result={"errors": errors, "workspaces": list(listed.workspaces)},
        )
        return
    with transaction.atomic():
        _workspace_record(
            actor=probe.requested_by,
            server=AirbyteServer.objects.select_for_update().get(pk=server.pk),
            remote_id=remote.id,
            name=remote.name,
            created=bool(create_name),
        )
        probe_record(
            probe=probe,
            ok=True,
            message=f"Working in the Airbyte workspace “{remote.name}”.",
        )


def _run_import(probe: AirbyteProbe) -> None:
    # Imported here: the importer uses this module.
    from apps.airbyte.importer import airbyte_import, import_summary
    from apps.engines.base import EngineError

    try:
        imported = airbyte_import(
            actor=probe.requested_by, workspace=probe.server.workspace
        )
    except ValidationError as exc:
        probe_record(probe=probe, ok=False, message=" ".join(exc.messages))
    except (AirbyteError, EngineError) as exc:
        probe_record(
            probe=probe, ok=False, message=f"Import from Airbyte failed: {exc}"
        )
    else:
        probe_record(
            probe=probe,
            ok=True,
            message=import_summary(imported),
            result={"lines": list(imported.messages)},
        )
