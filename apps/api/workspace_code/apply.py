"""Applying a plan: every write through the service that owns it, in one transaction.

The plan is computed again here from the same text, so what is applied is what
the database says now, never a plan held since. Each service records its own
audit event and schedules its own side effects on commit (engine pushes for a
workspace on an Airbyte server, invitation mails, parse runs), exactly as an edit
on a page does; a service that refuses rolls the whole import back.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Model
from django.utils.crypto import constant_time_compare

from apps.api.workspace_code.plan import (
    CREATE,
    DELETE,
    UPDATE,
    Change,
    Plan,
    workspace_plan,
)
from apps.audit.services import audit_record
from apps.connections.models import Connection
from apps.connections.services import (
    connection_create,
    connection_delete,
    connection_set_status,
    connection_update,
)
from apps.connectors.services import (
    connector_create,
    connector_delete,
    connector_update,
    source_discover_record,
)
from apps.credentials.models import Credential
from apps.credentials.services import (
    credential_create,
    credential_delete,
    credential_update,
)
from apps.engines.base import DiscoveredCatalog, DiscoveredStream
from apps.schedules.models import Schedule
from apps.schedules.services import (
    schedule_create,
    schedule_delete,
    schedule_pause,
    schedule_resume,
    schedule_update,
)
from apps.transforms.models import DbtProject, TransformTrigger
from apps.transforms.services.projects import (
    project_create_generated,
    project_create_git,
    project_delete,
    project_update,
    trigger_delete,
    trigger_set,
)
from apps.webhooks.services.endpoints import (
    webhook_endpoint_create,
    webhook_endpoint_delete,
    webhook_endpoint_update,
)
from apps.workspaces.models import Membership, Workspace
from apps.workspaces.services import member_change_role, member_invite, member_remove

STALE = (
    "This is not the plan you approved: the workspace, the file, the values for its "
    "references or the prune choice changed since this plan was made (another "
    "plan shown in another tab replaces it). Look at the new plan before applying it."
)


class ImportRefused(Exception):
    """Nothing was changed; ``problems`` says why."""

    def __init__(self, problems: list[str], plan: Plan | None = None) -> None:
        self.problems = problems
        self.plan = plan
        super().__init__("; ".join(problems))


def discovered_catalog(catalog: dict[str, Any]) -> DiscoveredCatalog:
    """The file's catalog as discover would have given it."""
    return DiscoveredCatalog(
        streams=tuple(
            DiscoveredStream(
                name=s["name"],
                json_schema=s.get("json_schema") or {},
                supported_sync_modes=tuple(s.get("supported_sync_modes") or ()),
                namespace=s.get("namespace"),
                source_defined_cursor=bool(s.get("source_defined_cursor")),
                default_cursor_field=tuple(s.get("default_cursor_field") or ()),
                source_defined_primary_key=tuple(
                    tuple(k) for k in s.get("source_defined_primary_key") or ()
                ),
                is_resumable=s.get("is_resumable"),
            )
            for s in catalog.get("streams") or []
        )
    )


class _Applier:
    def __init__(self, actor: AbstractBaseUser, workspace: Workspace, plan: Plan):
        self.actor = actor
        self.workspace = workspace
        self.plan = plan
        self.objects: dict[str, dict[str, Model]] = {}
        for change in plan.changes:
            if change.current is not None:
                self.objects.setdefault(change.kind, {})[change.name.casefold()] = (
                    change.current
                )

    def get(self, kind: str, name: str | None) -> Any:
        if not name:
            return None
        return self.objects.get(kind, {}).get(name.casefold())

    def put(self, kind: str, obj: Model, name: str) -> None:
        self.objects.setdefault(kind, {})[name.casefold()] = obj

    def run(self) -> None:
        # Deletes come first, so a name or a schedule name the file moves to a
        # new object is free when that object is created (a renamed connection
        # keeps its schedule's name). Dependents go before what they use.
        self._deletes(
            "transforms",
            "webhooks",
            "connections",
            "sources",
            "destinations",
            "members",
        )
        writes = [c for c in self.plan.changes if c.action in (CREATE, UPDATE)]
        for kind, handler in (
            ("credentials", self.credential),
            ("sources", self.connector),
            ("destinations", self.connector),
            ("connections", self.connection),
            ("webhooks", self.webhook),
            ("transforms", self.transform),
            ("members", self.member),
        ):
            for change in writes:
                if change.kind == kind:
                    self._guarded(change, handler)
        # Credentials last: a source or destination the file keeps may use one
        # until its update above drops the reference, and a credential in use
        # cannot be deleted.
        self._deletes("credentials")

    def _deletes(self, *kinds: str) -> None:
        deletes = [c for c in self.plan.changes if c.action == DELETE]
        for kind in kinds:
            for change in deletes:
                if change.kind == kind:
                    self._guarded(change, self.delete)

    def _guarded(self, change: Change, handler: Any) -> None:
        try:
            handler(change)
        except ValidationError as exc:
            raise ImportRefused(
                [f"{change.noun} “{change.name}”: {m}" for m in exc.messages],
                self.plan,
            ) from None

    # -- writes ---------------------------------------------------------------------
    def credential(self, change: Change) -> None:
        item = change.desired or {}
        if change.action == CREATE:
            credential = credential_create(
                actor=self.actor,
                workspace=self.workspace,
                name=item["name"],
                type=item["type"],
                fields=change.resolved["fields"],
                allowed_hosts=item["allowed_hosts"],
            )
        else:
            credential = credential_update(
                actor=self.actor,
                credential=change.current,
                name=item["name"],
                fields=change.resolved["fields"],
                allowed_hosts=item["allowed_hosts"],
            )
        self.put("credentials", credential, item["name"])

    def _credential(self, name: str) -> Credential | None:
        return self.get("credentials", name) or (
            Credential.objects.for_workspace(self.workspace)
            .filter(name__iexact=name)
            .first()
        )

    def connector(self, change: Change) -> None:
        r = change.resolved
        refs = {
            pointer: str(self._credential(name).public_id)
            for pointer, name in r["credential_refs"].items()
        }
        kind = change.noun
        if change.action == CREATE:
            obj = connector_create(
                actor=self.actor,
                workspace=self.workspace,
                kind=kind,
                name=change.name,
                definition=r["definition"],
                config=r["config"],
                secrets=r["secrets"],
                credential_refs=refs,
            )
        else:
            obj = connector_update(
                actor=self.actor,
                obj=change.current,
                name=change.name,
                config=r["config"],
                secrets=r["secrets"],
                credential_refs=refs,
                # The file gives every secret again: none is "kept" from before.
                kept_secrets=(),
            )
        if kind == "source" and r.get("catalog") and not obj.catalog:
            # A new source has not been discovered yet; the file's catalog (what
            # discover found where it was exported) lets its connections be set
            # up now. "Refresh schema" replaces it like any discovered catalog.
            source_discover_record(source=obj, catalog=discovered_catalog(r["catalog"]))
        self.put(change.kind, obj, change.name)

    def connection(self, change: Change) -> None:
        item = change.desired or {}
        connection = change.current
        if change.action == CREATE:
            connection = connection_create(
                actor=self.actor,
                workspace=self.workspace,
                name=item["name"],
                source=self.get("sources", item["source"]),
                destination=self.get("destinations", item["destination"]),
                streams=item["streams"],
                namespace=item["namespace"],
                table_prefix=item["table_prefix"],
                schema_change_policy=item["schema_change_policy"],
            )
        else:
            changed = {c.path.split(".")[0].split("[")[0] for c in change.fields}
            if changed & {
                "name",
                "streams",
                "namespace",
                "table_prefix",
                "schema_change_policy",
            }:
                connection = connection_update(
                    actor=self.actor,
                    connection=connection,
                    name=item["name"],
                    streams=item["streams"],
                    namespace=item["namespace"],
                    table_prefix=item["table_prefix"],
                    schema_change_policy=item["schema_change_policy"],
                )
        if connection.status != item["status"]:
            connection = connection_set_status(
                actor=self.actor,
                connection=connection,
                status=item["status"],
                reason=""
                if item["status"] == "active"
                else "Set by a workspace import.",
            )
        self._schedule(connection, item.get("schedule"))
        self.put("connections", connection, item["name"])

    def _schedule(self, connection: Connection, wanted: dict | None) -> None:
        current = Schedule.objects.filter(connection=connection).first()
        if wanted is None:
            if current is not None:
                schedule_delete(actor=self.actor, schedule=current)
            return
        timing = {
            "name": wanted["name"],
            "kind": wanted["kind"],
            "interval_minutes": wanted.get("interval_minutes"),
            "cron_expression": wanted.get("cron_expression") or "",
            "timezone_name": wanted["timezone"],
        }
        if current is None:
            current = schedule_create(
                actor=self.actor,
                workspace=self.workspace,
                connection=connection,
                **timing,
            )
        else:
            now = {
                "name": current.name,
                "kind": current.kind,
                "interval_minutes": current.interval_minutes,
                "cron_expression": current.cron_expression,
                "timezone_name": current.timezone,
            }
            if now != timing:
                current = schedule_update(actor=self.actor, schedule=current, **timing)
        if wanted["paused"] and not current.paused:
            schedule_pause(actor=self.actor, schedule=current)
        elif not wanted["paused"] and current.paused:
            schedule_resume(actor=self.actor, schedule=current)

    def webhook(self, change: Change) -> None:
        item = change.desired or {}
        url = change.resolved["url"]
        if change.action == CREATE:
            endpoint, _secret = webhook_endpoint_create(
                actor=self.actor,
                workspace=self.workspace,
                name=item["name"],
                url=url,
                events=item["events"],
                format=item["format"],
            )
            if item["enabled"]:
                return
        else:
            endpoint = change.current
        webhook_endpoint_update(
            actor=self.actor,
            endpoint=endpoint,
            name=item["name"],
            url=url,
            events=item["events"],
            format=item["format"],
            enabled=item["enabled"],
        )

    def transform(self, change: Change) -> None:
        item = change.desired or {}
        destination = self.get("destinations", item.get("destination"))
        credential = None
        if item.get("git_credential"):
            credential = self._credential(item["git_credential"])
        project = change.current
        if change.action == CREATE and item["kind"] == DbtProject.Kind.GENERATED:
            project = project_create_generated(
                connection=self.get("connections", item["connection"]),
                actor=self.actor,
                name=item["name"],
                destination=destination,
            )
        elif change.action == CREATE:
            project = project_create_git(
                workspace=self.workspace,
                actor=self.actor,
                name=item["name"],
                destination=destination,
                git_url=item["git_url"],
                git_branch=item["git_branch"],
                git_credential=credential,
            )
        schedule = item.get("schedule") or {}
        fields: dict[str, Any] = {
            "name": item["name"],
            "cron_expression": schedule.get("cron_expression", ""),
        }
        if destination is not None:
            fields["destination"] = destination
        if schedule:
            fields["schedule_timezone"] = schedule["timezone"]
            fields["schedule_selector"] = schedule["selector"]
        if item["kind"] == DbtProject.Kind.GIT and change.action == UPDATE:
            fields.update(
                git_url=item["git_url"],
                git_branch=item["git_branch"],
                git_credential=credential,
            )
        project = project_update(project=project, actor=self.actor, **fields)
        self._triggers(project, item["triggers"])

    def _triggers(self, project: DbtProject, wanted: list[dict[str, Any]]) -> None:
        keep = set()
        for trigger in wanted:
            connection = self.get("connections", trigger["connection"])
            keep.add(connection.pk)
            trigger_set(
                connection=connection,
                project=project,
                actor=self.actor,
                selector=trigger["selector"],
                command=trigger["command"],
                enabled=trigger["enabled"],
            )
        for trigger in TransformTrigger.objects.filter(project=project).exclude(
            connection_id__in=keep
        ):
            trigger_delete(trigger=trigger, actor=self.actor)

    def member(self, change: Change) -> None:
        item = change.desired or {}
        if change.action == CREATE:
            member_invite(
                actor=self.actor,
                workspace=self.workspace,
                email=item["email"],
                role=item["role"],
            )
        else:
            member_change_role(
                actor=self.actor, membership=change.current, role=item["role"]
            )

    def delete(self, change: Change) -> None:
        obj = change.current
        if change.kind == "transforms":
            project_delete(project=obj, actor=self.actor)
        elif change.kind == "webhooks":
            webhook_endpoint_delete(actor=self.actor, endpoint=obj)
        elif change.kind == "connections":
            connection_delete(actor=self.actor, connection=obj)
        elif change.kind == "credentials":
            credential_delete(actor=self.actor, credential=obj)
        elif change.kind in ("sources", "destinations"):
            connector_delete(actor=self.actor, obj=type(obj).objects.get(pk=obj.pk))
        elif change.kind == "members" and isinstance(obj, Membership):
            member_remove(actor=self.actor, membership=obj)


def workspace_import(
    *,
    actor: AbstractBaseUser,
    workspace: Workspace,
    text: str,
    environ: Mapping[str, str],
    prune: bool = False,
    digest: str | None = None,
    protected_env: Collection[str] = (),
) -> Plan:
    """Apply a workspace file; the plan it applied comes back.

    Raises ImportRefused (and changes nothing) when the plan has problems, when
    ``digest`` is given and is not the digest of this plan (the workspace, the
    text, the values of its references or ``prune`` differ from those of the
    plan the user approved), or when a service refuses a change (the whole
    import is rolled back).
    """
    plan = workspace_plan(
        workspace=workspace,
        text=text,
        environ=environ,
        prune=prune,
        actor=actor,
        protected_env=protected_env,
    )
    if not plan.ok:
        raise ImportRefused(plan.problems, plan)
    if digest is not None and not constant_time_compare(digest, plan.digest):
        raise ImportRefused([STALE], plan)
    if not plan.has_changes:
        return plan
    with transaction.atomic():
        _Applier(actor, workspace, plan).run()
        audit_record(
            actor=actor,
            action="workspace.imported",
            workspace=workspace,
            target=workspace,
            changes={
                "summary": [None, plan.summary()],
                "prune": [None, prune],
            },
        )
    return plan
