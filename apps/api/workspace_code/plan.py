"""What an import would do: create, update, delete or leave each object, and why not.

:func:`workspace_plan` reads nothing but the database and the values it is given
for ``${env:...}`` references; it writes nothing. Every problem that would stop
the import (a missing secret, an unknown connector or credential, a config that
fails the connector's spec, a stream the source does not have, and what the
services would refuse: a webhook to a private address, a token in a git URL, a
bad cron, a schedule name used twice, a credential sent to a host it may not go
to) is collected, so one run lists them all and an apply meets none of them.
Objects match by name within their kind, in any case; the workspace's objects
that the file leaves out are deleted only with ``prune`` (otherwise they are
listed as kept).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Model
from django.utils.crypto import salted_hmac

from apps.api.workspace_code.document import (
    KINDS,
    DocumentError,
    Ref,
    key_of,
    load,
    normalise,
    parse_ref,
    refs_in,
    refs_in_lists,
    valid_env_name,
)
from apps.api.workspace_code.export import WorkspaceState, workspace_state
from apps.connections.catalog import StreamChoice, validate_choices
from apps.connections.models import Connection
from apps.connectors.models import ConnectorDefinition
from apps.connectors.selectors import (
    connector_spec_schema,
    definition_choices,
    definition_ready,
)
from apps.connectors.spec.config import config_hosts, merge_config, secret_pointers
from apps.connectors.spec.errors import config_errors
from apps.connectors.spec.pointers import from_pointer, to_pointer
from apps.core.masking import MASK
from apps.core.roles import Role
from apps.credentials.hosts import clean_allowed_hosts, refusal
from apps.credentials.models import Credential
from apps.credentials.types import CREDENTIAL_TYPES, validate_payload
from apps.engines.base import EngineError
from apps.engines.declarative import ManifestError
from apps.schedules.models import Schedule
from apps.transforms.git import GitError, git_credential_secret
from apps.transforms.models import DbtProject

# The services' own checks, run here too so a dry run lists every problem the
# apply would meet (they are private to their apps, and this is their one other
# caller: the plan must refuse exactly what the service refuses).
from apps.transforms.services.projects import (
    TRIGGER_COMMANDS,
    clean_branch,
    clean_cron,
    clean_git_url,
    clean_selector,
)
from apps.webhooks import delivery as webhook_http
from apps.webhooks.models import WebhookEndpoint
from apps.webhooks.services.endpoints import normalize_events
from apps.workspaces.models import Workspace

CREATE, UPDATE, DELETE, UNCHANGED, KEPT, SKIPPED = (
    "create",
    "update",
    "delete",
    "unchanged",
    "kept",
    "skipped",
)
_SIGNS = {
    CREATE: "+",
    UPDATE: "~",
    DELETE: "-",
    UNCHANGED: "=",
    KEPT: "?",
    SKIPPED: "!",
}


@dataclass(frozen=True)
class Secret:
    """A secret in a diff: compared by value, shown only as "secret"."""

    token: tuple[str, str]

    def __str__(self) -> str:
        kind, name = self.token
        return f"credential {name}" if kind == "credential" else "(secret)"


@dataclass(frozen=True)
class FieldChange:
    path: str
    old: Any
    new: Any

    def text(self) -> str:
        if isinstance(self.old, Secret) or isinstance(self.new, Secret):
            if self.old is None:
                return f"{self.path} secret set"
            if self.new is None:
                return f"{self.path} secret removed"
            both = isinstance(self.old, Secret) and isinstance(self.new, Secret)
            if both and "credential" in (self.old.token[0], self.new.token[0]):
                return f"{self.path} {self.old} -> {self.new}"
            return f"{self.path} secret changed"
        return f"{self.path} {_shown(self.old)} -> {_shown(self.new)}"


def _shown(value: Any) -> str:
    if value is None:
        return "(none)"
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


@dataclass
class Change:
    """What the import does to one object."""

    action: str
    kind: str  # plural, as in the file: "sources"
    name: str
    fields: list[FieldChange] = field(default_factory=list)
    note: str = ""
    desired: dict[str, Any] | None = None
    current: Model | None = None
    # What apply needs and the file does not say directly (resolved references).
    resolved: dict[str, Any] = field(default_factory=dict)

    @property
    def noun(self) -> str:
        return self.kind[:-1]

    def lines(self) -> list[str]:
        head = f"{_SIGNS[self.action]} {self.noun} “{self.name}”"
        if self.action == UPDATE and self.fields:
            return [f"{head}: {change.text()}" for change in self.fields]
        return [f"{head}: {self.note}" if self.note else head]

    def as_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "kind": self.noun,
            "name": self.name,
            "changes": [
                {"field": c.path, "text": c.text(), "secret": _is_secret(c)}
                | ({} if _is_secret(c) else {"old": c.old, "new": c.new})
                for c in self.fields
            ],
            "note": self.note,
        }


def _is_secret(change: FieldChange) -> bool:
    return isinstance(change.old, Secret) or isinstance(change.new, Secret)


@dataclass
class Plan:
    """Every change an import makes, or the problems that stop it."""

    changes: list[Change] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    digest: str = ""
    prune: bool = False
    document: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def has_changes(self) -> bool:
        return any(c.action in (CREATE, UPDATE, DELETE) for c in self.changes)

    def counts(self) -> dict[str, int]:
        counts = {CREATE: 0, UPDATE: 0, DELETE: 0, UNCHANGED: 0, KEPT: 0, SKIPPED: 0}
        for change in self.changes:
            counts[change.action] += 1
        return counts

    def summary(self) -> str:
        c = self.counts()
        text = (
            f"{c[CREATE]} to create, {c[UPDATE]} to update, {c[DELETE]} to delete, "
            f"{c[UNCHANGED]} unchanged"
        )
        if c[KEPT]:
            text += f", {c[KEPT]} not in the file (kept; --prune deletes them)"
        if c[SKIPPED]:
            text += f", {c[SKIPPED]} skipped"
        return text + "."

    def text(self) -> str:
        lines: list[str] = []
        if self.problems:
            lines.append("Nothing was changed. Fix these first:")
            lines.extend(f"  ✗ {problem}" for problem in self.problems)
            return "\n".join(lines)
        for change in self.changes:
            lines.extend(change.lines())
        lines.extend(f"warning: {w}" for w in self.warnings)
        lines.append(f"Plan: {self.summary()}")
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "problems": list(self.problems),
            "warnings": list(self.warnings),
            "changes": [c.as_dict() for c in self.changes],
            "summary": self.counts(),
            "digest": self.digest,
            "prune": self.prune,
        }


# -- diffs ----------------------------------------------------------------------------


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """``{"config.count": 100}``; lists of named items are keyed by their name."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, sub in value.items():
            out.update(_flatten(sub, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if (
        isinstance(value, list)
        and value
        and all(
            isinstance(v, dict) and ("name" in v or "connection" in v) for v in value
        )
    ):
        out = {}
        for item in value:
            label = item.get("name") or item.get("connection")
            if item.get("namespace"):
                label = f"{item['namespace']}.{label}"
            rest = {k: v for k, v in item.items() if k not in ("name", "namespace")}
            if "name" not in item:
                rest.pop("connection", None)
            out.update(_flatten(rest or {"present": True}, f"{prefix}[{label}]"))
        return out
    return {prefix: value}


def _diff(old: dict[str, Any], new: dict[str, Any]) -> list[FieldChange]:
    before, after = _flatten(old), _flatten(new)
    return [
        FieldChange(path, before.get(path), after.get(path))
        for path in sorted(set(before) | set(after), key=_path_order(before, after))
        if before.get(path) != after.get(path)
    ]


def _path_order(before: dict, after: dict):
    order = {path: i for i, path in enumerate([*before, *after])}
    return lambda path: order[path]


def _with_tokens(config: dict[str, Any], tokens: Mapping[str, Any]) -> dict[str, Any]:
    return merge_config(config, {p: Secret(t) for p, t in tokens.items()})


# -- the planner ----------------------------------------------------------------------


class _Planner:
    def __init__(
        self,
        workspace: Workspace,
        desired: dict[str, Any],
        state: WorkspaceState,
        environ: Mapping[str, str],
        prune: bool,
        actor: Any,
        protected_env: Collection[str] = (),
    ) -> None:
        self.workspace = workspace
        self.protected_env = frozenset(protected_env)
        # The values of the references the file uses: part of what a digest
        # fixes, so an apply with other values is not the plan that was shown.
        self.used_env: dict[str, str] = {}
        # key -> (type, fields) of each credential the file gives.
        self.credential_payloads: dict[str, tuple[str, dict[str, Any]]] = {}
        self.desired = desired
        self.state = state
        self.environ = environ
        self.prune = prune
        self.actor = actor
        self.plan = Plan(digest=state.digest, prune=prune, document=desired)
        self.credentials = {
            c.name.casefold(): c for c in Credential.objects.for_workspace(workspace)
        }
        self.wanted = {
            kind: {key_of(kind, item): item for item in desired[kind]} for kind in KINDS
        }

    def problem(self, where: str, message: str) -> None:
        self.plan.problems.append(f"{where}: {message}")

    # -- names of other objects -------------------------------------------------
    def _exists(self, kind: str, name: Any, where: str, what: str) -> bool:
        """A source, destination or connection the file or the workspace has."""
        if not isinstance(name, str) or not name:
            self.problem(where, f"say which {what} (a name).")
            return False
        key = name.casefold()
        if key in self.wanted[kind]:
            return True
        if (kind, key) in self.state.objects and not self.prune:
            return True
        self.problem(
            where,
            f"there is no {what} “{name}” in the file"
            + ("" if self.prune else " or the workspace")
            + ".",
        )
        return False

    # -- secrets --------------------------------------------------------------------
    def _resolve(self, ref: Ref, where: str) -> tuple[str, str] | None:
        """A reference's token, or None (and a problem) when it cannot be had."""
        if ref.kind == "env":
            if not valid_env_name(ref.name):
                self.problem(where, f"{ref} is not a valid variable name.")
                return None
            if self._protected(ref.name):
                self.problem(
                    where,
                    f"{ref} is one of the console's own settings (its keys live "
                    "there), which an import never reads: export the value under "
                    "another name.",
                )
                return None
            value = self.environ.get(ref.name)
            if value is None:
                self.problem(where, f"{ref} is not set.")
                return None
            self.used_env[ref.name] = value
            return ("typed", json.dumps(value, sort_keys=True))
        if not self._credential_known(ref.name):
            self.problem(
                where,
                f"{ref}: neither the file nor the workspace has a credential named "
                f"“{ref.name}”.",
            )
            return None
        return ("credential", ref.name.casefold())

    def _protected(self, name: str) -> bool:
        """A variable of the console's own (or any ``*_FILE``, the path of a
        secret), where the environment is the console's."""
        if not self.protected_env:
            return False
        return name.upper() in self.protected_env or name.upper().endswith("_FILE")

    def _credential_known(self, name: str) -> bool:
        key = name.casefold()
        return key in self.wanted["credentials"] or (
            key in self.credentials and not self.prune
        )

    # -- credentials ----------------------------------------------------------------
    def credential(self, item: dict, where: str) -> Change:
        key = key_of("credentials", item)
        current = self.state.objects.get(("credentials", key))
        change = Change(
            action=UPDATE if current is not None else CREATE,
            kind="credentials",
            name=item["name"],
            desired=item,
            current=current,
        )
        spec = CREDENTIAL_TYPES.get(item["type"])
        if spec is None:
            self.problem(
                where, f"type must be one of {', '.join(sorted(CREDENTIAL_TYPES))}."
            )
            return change
        if current is not None and current.type != spec.value:
            self.problem(
                where,
                f"it is a {current.type} credential: the type cannot change (a "
                "credential of another type is a new credential).",
            )
        try:
            clean_allowed_hosts(item["allowed_hosts"])
        except ValueError as exc:
            self.problem(where, f"allowed_hosts: {exc}")
        fields: dict[str, Any] = {}
        tokens: dict[str, tuple[str, str]] = {}
        plain: dict[str, Any] = {}
        for name, value in item["fields"].items():
            ref = parse_ref(value)
            if ref is None:
                if spec.is_secret(name) and value not in (None, ""):
                    self.problem(
                        where,
                        f"fields.{name} is a secret: write ${{env:NAME}}, never "
                        "the value.",
                    )
                fields[name] = value
                plain[name] = value
                continue
            if ref.kind != "env":
                self.problem(where, f"fields.{name}: a credential takes ${{env:NAME}}.")
                continue
            token = self._resolve(ref, f"{where} fields.{name}")
            if token is not None:
                fields[name] = self.environ[ref.name]
                tokens[to_pointer((name,))] = token
        try:
            validate_payload(spec, fields)
        except ValidationError as exc:
            for message in exc.messages:
                self.problem(where, message)
        change.resolved = {"fields": fields}
        self.credential_payloads[key] = (spec.value, fields)
        if current is not None:
            old_item = next(
                i
                for i in self.state.document["credentials"]
                if key_of("credentials", i) == key
            )
            old_tokens = self.state.secrets.get(("credentials", key), {})
            old = {
                **old_item,
                "fields": _with_tokens(_strip_refs(old_item["fields"]), old_tokens),
            }
            new = {**item, "fields": _with_tokens(plain, tokens)}
            change.fields = _diff(old, new)
            if not change.fields:
                change.action = UNCHANGED
        return change

    # -- sources and destinations ---------------------------------------------------
    def _definition(
        self, kind: str, item: dict, where: str
    ) -> ConnectorDefinition | None:
        singular = kind[:-1]
        wanted = item["connector"]
        offered = definition_choices(kind=singular, workspace=self.workspace)
        found = None
        if wanted.get("definition_id"):
            try:
                found = offered.filter(definition_id=wanted["definition_id"]).first()
            except ValidationError:
                found = None
        if found is None and wanted.get("name"):
            found = offered.filter(name__iexact=wanted["name"]).first()
        if found is None:
            label = wanted.get("name") or wanted.get("definition_id")
            self.problem(
                where,
                f"unknown {singular} connector “{label}”: this console's catalog has "
                "no such connector for the workspace's "
                f"{self.workspace.engine} engine.",
            )
        return found

    def connector(self, kind: str, item: dict, where: str) -> Change:
        key = key_of(kind, item)
        current = self.state.objects.get((kind, key))
        change = Change(
            action=UPDATE if current is not None else CREATE,
            kind=kind,
            name=item["name"],
            desired=item,
            current=current,
        )
        definition = self._definition(kind, item, where)
        config = item["config"]
        plain = json.loads(json.dumps(config))
        secrets: dict[str, Any] = {}
        refs: dict[str, str] = {}
        tokens: dict[str, tuple[str, str]] = {}
        if refs_in_lists(config):
            self.problem(
                where,
                "a ${env:...} or ${credential:...} reference inside a list is not "
                "supported: references go in place of a single value.",
            )
        for path, ref in refs_in(config):
            pointer = to_pointer(path)
            parent = plain
            for part in path[:-1]:
                parent = parent[part]
            parent.pop(path[-1], None)
            token = self._resolve(ref, f"{where} config.{'.'.join(path)}")
            if token is None:
                continue
            tokens[pointer] = token
            if ref.kind == "env":
                secrets[pointer] = self.environ[ref.name]
            else:
                # By name: a credential the import creates has no id yet.
                refs[pointer] = ref.name
        if definition is not None:
            self._check_spec(definition, plain, secrets, refs, where)
            if current is not None and current.definition_id != definition.pk:
                self.problem(
                    where,
                    f"its connector is {current.definition.name}: a source or "
                    "destination cannot change connector (give the new one another "
                    "name, or delete this one first).",
                )
        change.resolved = {
            "definition": definition,
            "config": plain,
            "secrets": secrets,
            "credential_refs": refs,
            "catalog": item.get("catalog"),
        }
        if current is not None:
            old_item = next(
                i for i in self.state.document[kind] if key_of(kind, i) == key
            )
            old_tokens = self.state.secrets.get((kind, key), {})
            old = {
                "name": old_item["name"],
                "connector": old_item["connector"].get("name"),
                "config": _with_tokens(_strip_refs(old_item["config"]), old_tokens),
            }
            new = {
                "name": item["name"],
                "connector": definition.name if definition else old["connector"],
                "config": _with_tokens(plain, tokens),
            }
            change.fields = _diff(old, new)
            if not change.fields:
                change.action = UNCHANGED
        return change

    def _check_spec(
        self,
        definition: ConnectorDefinition,
        plain: dict,
        secrets: dict,
        refs: dict,
        where: str,
    ) -> None:
        if not definition_ready(definition, workspace=self.workspace):
            self.plan.warnings.append(
                f"{where}: {definition.name} is not installed on this console yet, "
                "so its settings are checked when it first runs."
            )
            return
        try:
            schema = connector_spec_schema(definition, plain, workspace=self.workspace)
        except (EngineError, ManifestError) as exc:
            self.problem(where, f"cannot read {definition.name}'s spec: {exc}")
            return
        for pointer in sorted(secret_pointers(schema)):
            path = from_pointer(pointer)
            parent: Any = plain
            for part in path[:-1]:
                parent = parent.get(part) if isinstance(parent, dict) else None
            if isinstance(parent, dict) and parent.get(path[-1]) not in (None, ""):
                self.problem(
                    where,
                    f"config.{'.'.join(path)} is a secret: write a reference "
                    "(${env:NAME} or ${credential:NAME}), never the value.",
                )
        self._check_credential_hosts(plain, schema, refs, where)
        full = merge_config(plain, {**secrets, **dict.fromkeys(refs, MASK)})
        for pointer, message in config_errors(schema, full):
            # An error about the config as a whole (an unexpected field) has no
            # pointer: it is labelled "config", not "config.config".
            label = "config." + ".".join(from_pointer(pointer)) if pointer else "config"
            self.problem(where, f"{label}: {message}")

    def _allowed_hosts(self, name: str) -> list[str]:
        """Where the credential ``name`` may be sent once the import is done."""
        wanted = self.wanted["credentials"].get(name.casefold())
        if wanted is not None:
            return list(wanted["allowed_hosts"])
        current = self.credentials.get(name.casefold())
        return list(current.allowed_hosts or []) if current is not None else []

    def _check_credential_hosts(
        self, plain: dict, schema: dict, refs: dict[str, str], where: str
    ) -> None:
        """The connectors service's refusal: a credential only goes to its hosts."""
        if not refs:
            return
        found = config_hosts(plain, schema)
        for pointer, name in sorted(refs.items()):
            message = refusal(name, self._allowed_hosts(name), found)
            if message:
                label = ".".join(from_pointer(pointer))
                self.problem(where, f"config.{label}: {message}")

    # -- connections ----------------------------------------------------------------
    def _catalog_for(self, source_name: str) -> dict | None:
        key = source_name.casefold()
        current = self.state.objects.get(("sources", key))
        if current is not None and current.catalog:
            return current.catalog
        wanted = self.wanted["sources"].get(key)
        return (wanted or {}).get("catalog")

    def connection(self, item: dict, where: str) -> Change:
        key = key_of("connections", item)
        current = self.state.objects.get(("connections", key))
        change = Change(
            action=UPDATE if current is not None else CREATE,
            kind="connections",
            name=item["name"],
            desired=item,
            current=current,
        )
        has_source = self._exists("sources", item["source"], where, "source")
        self._exists("destinations", item["destination"], where, "destination")
        if current is not None:
            for side in ("source", "destination"):
                now = getattr(current, side).name
                if item[side].casefold() != now.casefold():
                    self.problem(
                        where,
                        f"its {side} is “{now}”: a connection cannot change its "
                        f"{side} (give the new one another name, or delete this one).",
                    )
        if item["status"] not in Connection.Status.values:
            self.problem(
                where, f"status must be one of {', '.join(Connection.Status.values)}."
            )
        if item["schema_change_policy"] not in Connection.SchemaChangePolicy.values:
            self.problem(
                where,
                "schema_change_policy must be one of "
                f"{', '.join(Connection.SchemaChangePolicy.values)}.",
            )
        streams = item["streams"]
        if has_source:
            choices = [StreamChoice.from_dict(s) for s in streams]
            for message in validate_choices(self._catalog_for(item["source"]), choices):
                self.problem(where, message)
            # The checks fix what the source decides (its cursor and key): the
            # file is compared in that form, so a second import changes nothing.
            streams = [_choice_item(c) for c in choices]
            item = {**item, "streams": streams}
            change.desired = item
        schedule = item["schedule"]
        if schedule is not None:
            self._check_schedule(schedule, where)
        if current is not None:
            old_item = next(
                i
                for i in self.state.document["connections"]
                if key_of("connections", i) == key
            )
            change.fields = _diff(old_item, item)
            if not change.fields:
                change.action = UNCHANGED
        return change

    def _check_schedule(self, schedule: dict, where: str) -> None:
        if schedule["kind"] not in Schedule.Kind.values:
            self.problem(
                where,
                f"schedule kind must be one of {', '.join(Schedule.Kind.values)}.",
            )
            return
        probe = Schedule(
            name=schedule["name"],
            kind=schedule["kind"],
            interval_minutes=schedule.get("interval_minutes"),
            cron_expression=schedule.get("cron_expression") or "",
            timezone=schedule["timezone"],
        )
        try:
            probe.clean()
        except ValidationError as exc:
            for message in exc.messages:
                self.problem(f"{where} schedule", message)

    # -- webhooks -------------------------------------------------------------------
    def webhook(self, item: dict, where: str) -> Change:
        key = key_of("webhooks", item)
        current = self.state.objects.get(("webhooks", key))
        change = Change(
            action=UPDATE if current is not None else CREATE,
            kind="webhooks",
            name=item["name"],
            desired=item,
            current=current,
        )
        url = item["url"]
        ref = parse_ref(url)
        if ref is not None:
            if ref.kind != "env":
                self.problem(
                    where, "a webhook URL takes ${env:NAME}, not a credential."
                )
                url = None
            elif self._resolve(ref, f"{where} url") is None:
                url = None
            else:
                url = self.environ[ref.name]
        try:
            normalize_events(item["events"])
        except ValidationError as exc:
            for message in exc.messages:
                self.problem(where, message)
        if item["format"] not in WebhookEndpoint.Format.values:
            self.problem(
                where,
                f"format must be one of {', '.join(WebhookEndpoint.Format.values)}.",
            )
        if url is not None:
            self._check_webhook_url(url, where)
        change.resolved = {"url": url}
        if current is None:
            change.note = (
                "gets a new signing secret: “Rotate secret” on its page shows one"
            )
        if current is not None and url is not None:
            old_item = next(
                i
                for i in self.state.document["webhooks"]
                if key_of("webhooks", i) == key
            )
            old_url = self.state.webhook_urls[key]
            old = {**old_item, "url": Secret(("typed", old_url))}
            new = {**item, "url": Secret(("typed", url))}
            if parse_ref(old_item["url"]) is None and ref is None:
                old["url"], new["url"] = old_url, url
            change.fields = _diff(old, new)
            if not change.fields:
                change.action = UNCHANGED
        return change

    def _check_webhook_url(self, url: str, where: str) -> None:
        """The webhooks service's checks: http(s), and a public address."""
        if not url.strip().lower().startswith(("http://", "https://")):
            self.problem(where, "url: use an http:// or https:// URL.")
            return
        try:
            webhook_http.check_literal(url.strip())
        except webhook_http.BlockedAddress as exc:
            self.problem(where, f"url: {exc} Webhooks only go to public addresses.")

    # -- transforms -----------------------------------------------------------------
    def transform(self, item: dict, where: str) -> Change:
        key = key_of("transforms", item)
        current = self.state.objects.get(("transforms", key))
        change = Change(
            action=UPDATE if current is not None else CREATE,
            kind="transforms",
            name=item["name"],
            desired=item,
            current=current,
        )
        kind = item["kind"]
        if kind not in ("generated", "git", "upload"):
            self.problem(where, "kind must be generated, git or upload.")
            return change
        if current is not None and current.kind != kind:
            self.problem(
                where, f"it is a {current.kind} project: its kind cannot change."
            )
        if current is None and kind == "upload":
            change.action = SKIPPED
            change.note = (
                "an uploaded project's files are not in the file: upload its archive "
                "on the Transforms page"
            )
            return change
        if item.get("destination"):
            self._exists("destinations", item["destination"], where, "destination")
        elif kind != "generated":
            self.problem(where, "say which destination the project builds in.")
        if kind == "generated" and current is not None:
            now = current.connection.name if current.connection else None
            if (item.get("connection") or "").casefold() != (now or "").casefold():
                source = f"“{now}”" if now else "a connection deleted since"
                self.problem(
                    where,
                    f"it was generated from {source}: a generated project keeps "
                    "its connection (generate another project for the new one).",
                )
        if kind == "generated":
            if item.get("connection"):
                self._exists("connections", item["connection"], where, "connection")
            elif current is None:
                # Its connection was deleted where it was exported: there is
                # nothing to generate it from.
                change.action = SKIPPED
                change.note = "it names no connection to generate it from"
                return change
        wanted_credential = str(item.get("git_credential") or "")
        if (
            kind == "git"
            and wanted_credential
            and not self._credential_known(wanted_credential)
        ):
            self.problem(
                where, f"the workspace has no credential named “{wanted_credential}”."
            )
        elif kind == "git" and wanted_credential:
            self._check_git_credential(wanted_credential, where)
        self._check_transform_fields(item, where)
        for trigger in item["triggers"]:
            self._exists(
                "connections", trigger["connection"], f"{where} trigger", "connection"
            )
            if trigger["command"] not in TRIGGER_COMMANDS:
                self.problem(
                    f"{where} trigger",
                    f"command must be one of {', '.join(TRIGGER_COMMANDS)}.",
                )
        if current is not None:
            old_item = next(
                i
                for i in self.state.document["transforms"]
                if key_of("transforms", i) == key
            )
            change.fields = _diff(old_item, item)
            if not change.fields:
                change.action = UNCHANGED
        return change

    def _check_transform_fields(self, item: dict, where: str) -> None:
        """The transforms service's checks of a git URL, branch, cron and selectors."""
        checks: list[tuple[Any, tuple[Any, ...]]] = []
        if item["kind"] == "git":
            checks += [(clean_git_url, (item["git_url"],))]
            checks += [(clean_branch, (item["git_branch"],))]
        schedule = item.get("schedule") or {}
        if schedule.get("cron_expression"):
            probe = DbtProject(schedule_timezone=schedule["timezone"])
            checks += [(clean_cron, (schedule["cron_expression"], probe))]
        if schedule.get("selector"):
            checks += [(clean_selector, (schedule["selector"],))]
        checks += [(clean_selector, (t["selector"],)) for t in item["triggers"]]
        for check, args in checks:
            try:
                check(*args)
            except ValidationError as exc:
                for field_name, messages in exc.message_dict.items():
                    for message in messages:
                        self.problem(where, f"{field_name}: {message}")

    def _check_git_credential(self, name: str, where: str) -> None:
        """The transforms service's check: the credential can open a repository."""
        given = self.credential_payloads.get(name.casefold())
        credential: Any = self.credentials.get(name.casefold())
        if given is not None:
            # A credential the file gives is checked with the fields it will have.
            kind, fields = given
            credential = SimpleNamespace(
                name=name, type=kind, get_payload=lambda: dict(fields)
            )
        if credential is None:
            return
        try:
            git_credential_secret(credential)
        except GitError as exc:
            self.problem(where, f"git_credential: {exc.message}")

    def schedule_names(self) -> None:
        """Schedule names are unique in a workspace: the file's, and the kept ones."""
        holders: dict[str, str] = {}
        for item in self.desired["connections"]:
            if item["schedule"] is not None:
                key = " ".join(item["schedule"]["name"].split()).casefold()
                other = holders.setdefault(key, item["name"])
                if other != item["name"]:
                    self.problem(
                        f"connection “{item['name']}”",
                        f"the schedule name “{item['schedule']['name']}” is also "
                        f"the schedule of “{other}”: schedule names are unique in "
                        "a workspace.",
                    )
        if self.prune:
            return
        for schedule in Schedule.objects.for_workspace(self.workspace).select_related(
            "connection"
        ):
            kept = schedule.connection.name.casefold() not in self.wanted["connections"]
            other = holders.get(schedule.name.casefold())
            if kept and other is not None:
                self.problem(
                    f"connection “{other}”",
                    f"the schedule name “{schedule.name}” belongs to the schedule of "
                    f"“{schedule.connection.name}”, which the file leaves out and the "
                    "import keeps: rename one, or prune.",
                )

    # -- members --------------------------------------------------------------------
    def member(self, item: dict, where: str) -> Change:
        key = key_of("members", item)
        current = self.state.objects.get(("members", key))
        change = Change(
            action=UPDATE if current is not None else CREATE,
            kind="members",
            name=item["email"],
            desired=item,
            current=current,
        )
        if item["role"] not in Role.values:
            self.problem(where, f"role must be one of {', '.join(Role.values)}.")
            return change
        if "@" not in item["email"]:
            self.problem(where, "`email` is not an email address.")
        if current is not None:
            change.fields = _diff({"role": current.role}, {"role": item["role"]})
            if not change.fields:
                change.action = UNCHANGED
            elif current.user_id == getattr(self.actor, "pk", None):
                change.action = SKIPPED
                change.note = (
                    "your own role stays as it is (the import never demotes you)"
                )
                change.fields = []
        return change

    # -- objects the file leaves out ------------------------------------------------
    def leftovers(self) -> list[Change]:
        changes = []
        for (kind, key), obj in self.state.objects.items():
            if key in self.wanted[kind]:
                continue
            name = obj.user.email if kind == "members" else obj.name
            change = Change(
                action=DELETE if self.prune else KEPT,
                kind=kind,
                name=name,
                current=obj,
                note="" if self.prune else "not in the file; kept (--prune deletes it)",
            )
            if kind == "members" and obj.user_id == getattr(self.actor, "pk", None):
                change.action = SKIPPED
                change.note = "not in the file, but the import never removes you"
            changes.append(change)
        return changes

    def run(self) -> Plan:
        handlers = {
            "credentials": self.credential,
            "sources": lambda item, where: self.connector("sources", item, where),
            "destinations": lambda item, where: self.connector(
                "destinations", item, where
            ),
            "connections": self.connection,
            "webhooks": self.webhook,
            "transforms": self.transform,
            "members": self.member,
        }
        changes: list[Change] = []
        for kind in KINDS:
            for item in self.desired[kind]:
                label = item.get("email") if kind == "members" else item.get("name")
                changes.append(handlers[kind](item, f"{kind[:-1]} “{label}”"))
        changes.extend(self.leftovers())
        self.schedule_names()
        order = {kind: i for i, kind in enumerate(KINDS)}
        changes.sort(key=lambda c: (order[c.kind], c.name.casefold()))
        self.plan.changes = changes
        return self.plan


def _strip_refs(config: dict[str, Any]) -> dict[str, Any]:
    """A config without the references in it (the tokens are compared instead)."""
    if not isinstance(config, dict):
        return config
    return {k: _strip_refs(v) for k, v in config.items() if parse_ref(v) is None}


def _choice_item(choice: StreamChoice) -> dict[str, Any]:
    item: dict[str, Any] = {"name": choice.name}
    if choice.namespace:
        item["namespace"] = choice.namespace
    item["selected"] = choice.selected
    item["sync_mode"] = choice.sync_mode
    item["destination_sync_mode"] = choice.destination_sync_mode
    if choice.cursor_field:
        item["cursor_field"] = list(choice.cursor_field)
    if choice.primary_key:
        item["primary_key"] = [list(p) for p in choice.primary_key]
    if choice.selected_fields:
        item["selected_fields"] = list(choice.selected_fields)
    return item


def workspace_plan(
    *,
    workspace: Workspace,
    text: str,
    environ: Mapping[str, str],
    prune: bool = False,
    actor: Any = None,
    protected_env: Collection[str] = (),
) -> Plan:
    """The plan of importing ``text`` into ``workspace``; it changes nothing.

    ``environ`` holds the values of ``${env:NAME}`` references: the CLI passes
    its own environment, the page and the API the values their caller typed (a
    web request never reads the console's own environment, which holds its keys).
    A reference to a name in ``protected_env`` is a problem: the CLI names the
    variables that configure the console there.
    """
    try:
        desired = normalise(load(text))
    except DocumentError as exc:
        return Plan(problems=list(exc.problems), prune=prune)
    state = workspace_state(workspace)
    planner = _Planner(workspace, desired, state, environ, prune, actor, protected_env)
    plan = planner.run()
    plan.digest = plan_digest(state.digest, text, planner.used_env, prune)
    return plan


def plan_digest(
    state_digest: str, text: str, env: Mapping[str, str], prune: bool
) -> str:
    """What a user approves: this workspace state, this file, these values, prune.

    Apply recomputes it from what it is about to apply and refuses on any
    difference, so a second plan (another tab, another file, ``--prune``) can
    never be applied by the Apply button of the first. Keyed, so it tells
    nothing about the secrets in it.
    """
    material = json.dumps(
        [state_digest, text, sorted(env.items()), bool(prune)], ensure_ascii=False
    )
    fingerprint = hashlib.sha256(material.encode()).hexdigest()
    return salted_hmac("apps.api.workspace_code.plan", fingerprint).hexdigest()
