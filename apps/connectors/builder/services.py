"""Every write of the connector builder: drafts, Validate/Test runs, publishing.

The page and ``airbyte cdk`` share these. Validating and test-reading run the
CDK (a subprocess), so on the page they follow the house's request / run /
record triad: the request is atomic and audited and enqueues a worker on commit,
the run happens on the worker outside any transaction, the record is atomic
again and only lands if the run is still the project's latest.

Publishing makes the project's manifest a manifest-only connector in the
catalog (``ConnectorDefinition`` + one ``ConnectorManifest`` per version),
visible to the project's workspace only (``selectors.visible_definitions``).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.audit.services import audit_record
from apps.connectors.builder import manifest_text
from apps.connectors.builder.models import BuilderProject
from apps.connectors.catalog.selectors import version_key
from apps.connectors.manifest_store import manifest_digest
from apps.connectors.models import (
    ConnectorDefinition,
    ConnectorManifest,
    ConnectorSpecCache,
)
from apps.connectors.spec.config import mask_config, secret_retarget_errors
from apps.connectors.spec.pointers import to_pointer
from apps.core.masking import MASK, mask_secrets
from apps.engines import declarative
from apps.engines.base import (
    ConnectorRef,
    ConnectorSpec,
    Engine,
    EngineError,
    ManifestProblem,
    ReadLimits,
)
from apps.engines.registry import get_engine
from apps.workspaces.models import Workspace

FIRST_VERSION = "0.1.0"
# The image an Airbyte server runs every declarative source on.
DECLARATIVE_IMAGE = "airbyte/source-declarative-manifest"
MAX_NAME = 100
# Far above any real manifest (Airbyte's largest are ~200 KB); a draft is text
# kept on a row and parsed on every page view.
MAX_MANIFEST_CHARS = 1_000_000
# A publish claim older than this lost its process (the Airbyte client's own
# timeouts are far shorter): the next publish may take it over.
PUBLISH_CLAIM_EXPIRES = timedelta(minutes=10)


def runner_ref(name: str) -> ConnectorRef:
    """The CDK's declarative runner for a manifest that rides in the config.

    ``cdk build`` checks a manifest that is not in any catalog yet: this is the
    "Custom YAML manifest" connector at the console's pinned CDK version.
    """
    return ConnectorRef(
        kind="source",
        name=name,
        package="airbyte-cdk",
        version=str(settings.DECLARATIVE_CDK_VERSION),
        entrypoint="source-declarative-manifest",
        manifest=True,
    )


def _clean_name(name: str) -> str:
    name = " ".join(str(name or "").split())
    if not name:
        raise ValidationError({"name": "Give the connector a name."})
    if len(name) > MAX_NAME:
        raise ValidationError({"name": f"Keep the name under {MAX_NAME} characters."})
    return name


# -- drafts ---------------------------------------------------------------------------


@transaction.atomic
def builder_project_create(
    *,
    actor: AbstractBaseUser | None,
    workspace: Workspace,
    name: str,
    manifest_text_value: str = "",
) -> BuilderProject:
    """A new connector project in the workspace (the scaffold when no text)."""
    from apps.connectors.builder import scaffold

    name = _clean_name(name)
    taken = ValidationError(
        {"name": f"This workspace already has a connector called {name}."}
    )
    if BuilderProject.objects.for_workspace(workspace).filter(name=name).exists():
        raise taken
    try:
        # A savepoint: another tab's create of the same name may commit between
        # the check above and this insert; the unique constraint then answers,
        # and the caller's transaction stays usable.
        with transaction.atomic():
            project = BuilderProject.objects.create(
                workspace=workspace,
                name=name,
                manifest_text=manifest_text_value or scaffold.manifest_text(name),
                updated_by=actor,
            )
    except IntegrityError:
        raise taken from None
    audit_record(
        actor=actor,
        action="connector_builder.created",
        workspace=workspace,
        target=project,
    )
    return project


def project_test_config(project: BuilderProject) -> dict[str, Any]:
    """The decrypted config the project's Test runs with ({} when none)."""
    if not project.test_config:
        return {}
    try:
        data = json.loads(project.test_config)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def masked_test_config(
    config: dict[str, Any], manifest: dict[str, Any] | None
) -> dict[str, Any]:
    """The test config as the page shows it: every secret as MASK.

    Secrets are the fields the manifest's spec marks ``airbyte_secret`` and any
    key that looks like one (password, token, api_key...).
    """
    spec = (manifest or {}).get("spec") or {}
    schema = spec.get("connection_specification") if isinstance(spec, dict) else None
    masked = mask_config(config, schema) if isinstance(schema, dict) else config
    return mask_secrets(masked)


def _mask_pointers(masked: Any, original: Any, path: tuple[str, ...] = ()) -> set[str]:
    """Pointers where ``masked`` holds MASK and ``original`` a stored value."""
    if masked == MASK and original not in (MASK, None, ""):
        return {to_pointer(path)}
    found: set[str] = set()
    if isinstance(masked, dict) and isinstance(original, dict):
        for key, value in masked.items():
            found |= _mask_pointers(value, original.get(key), (*path, str(key)))
    elif isinstance(masked, list) and isinstance(original, list):
        for index, value in enumerate(masked[: len(original)]):
            found |= _mask_pointers(value, original[index], (*path, str(index)))
    return found


def _keep_masked(new: Any, old: Any, kept: set[str], path: tuple[str, ...] = ()) -> Any:
    """``new`` with every MASK replaced by the stored value at the same place.

    The page shows secrets as MASK; sending the form back must not turn the
    API key into ten asterisks. Each place a stored value was kept so is added
    to ``kept`` (as a JSON pointer).
    """
    if new == MASK:
        if old not in (None, "", MASK):
            kept.add(to_pointer(path))
        return old
    if isinstance(new, dict):
        old = old if isinstance(old, dict) else {}
        return {
            k: _keep_masked(v, old.get(k), kept, (*path, str(k)))
            for k, v in new.items()
        }
    if isinstance(new, list):
        old = old if isinstance(old, list) else []
        return [
            _keep_masked(v, old[i] if i < len(old) else None, kept, (*path, str(i)))
            for i, v in enumerate(new)
        ]
    return new


def _without(config: Any, pointers: set[str], path: tuple[str, ...] = ()) -> Any:
    """``config`` less the values at ``pointers``."""
    if isinstance(config, dict):
        return {
            k: _without(v, pointers, (*path, str(k)))
            for k, v in config.items()
            if to_pointer((*path, str(k))) not in pointers
        }
    if isinstance(config, list):
        return [
            None
            if to_pointer((*path, str(i))) in pointers
            else _without(v, pointers, (*path, str(i)))
            for i, v in enumerate(config)
        ]
    return config


def _manifest_identity(text: str, manifest: dict[str, Any] | None) -> str:
    """What "the manifest changed" compares: its digest, or its text's."""
    if manifest is not None:
        return manifest_digest(manifest)
    return "text:" + hashlib.sha256(text.encode()).hexdigest()


def _retarget_errors(
    *,
    old_text: str,
    old_config: dict[str, Any],
    new_text: str,
    new_config: dict[str, Any],
    kept: set[str],
) -> dict[str, str]:
    """``{pointer: message}`` for each kept secret the new draft sends elsewhere.

    The house rule for sources (``secret_retarget_errors``): a stored secret is
    only sent where it was entered for. The manifest says where every request
    goes, so any change of it counts, as does any place-naming field of the
    config (base URL, host...). Without it an editor who sees only the mask
    could point the project at their own server, press Test, and receive the
    key another member typed.
    """
    if not kept:
        return {}
    old_manifest, _ = manifest_text.parse(old_text)
    new_manifest, _ = manifest_text.parse(new_text)

    def schema(manifest: dict[str, Any] | None) -> dict[str, Any]:
        spec = (manifest or {}).get("spec") or {}
        found = spec.get("connection_specification") if isinstance(spec, dict) else {}
        return found if isinstance(found, dict) else {}

    return secret_retarget_errors(
        {
            **old_config,
            declarative.MANIFEST_KEY: _manifest_identity(old_text, old_manifest),
        },
        {
            **new_config,
            declarative.MANIFEST_KEY: _manifest_identity(new_text, new_manifest),
        },
        schema(new_manifest),
        kept,
        old_schema=schema(old_manifest),
    )


@transaction.atomic
def builder_project_save(
    *,
    actor: AbstractBaseUser | None,
    project: BuilderProject,
    manifest_text_value: str,
    test_config: dict[str, Any] | None = None,
    stream: str | None = None,
) -> BuilderProject:
    """Save the draft as typed: invalid YAML too, so no edit is ever lost.

    ``test_config`` None keeps the stored one; a value of MASK in it keeps the
    stored secret at that place.
    """
    if len(manifest_text_value) > MAX_MANIFEST_CHARS:
        raise ValidationError(
            {
                "manifest": f"The manifest is over {MAX_MANIFEST_CHARS:,} characters; "
                "nothing was saved."
            }
        )
    project = BuilderProject.objects.select_for_update().get(pk=project.pk)
    old_text, old_config = project.manifest_text, project_test_config(project)
    changed = []
    if test_config is not None:
        if declarative.MANIFEST_KEY in test_config:
            raise ValidationError(
                {"config": f"`{declarative.MANIFEST_KEY}` is reserved."}
            )
        kept: set[str] = set()
        merged = _keep_masked(test_config, old_config, kept)
        errors = _retarget_errors(
            old_text=old_text,
            old_config=old_config,
            new_text=manifest_text_value,
            new_config=merged,
            kept=kept,
        )
        if errors:
            raise ValidationError({"config": sorted(set(errors.values()))})
    else:
        # The config was not sent (``airbyte cdk deploy``, a form that did not
        # validate): its stored secrets count as kept. A manifest change forgets
        # them rather than send them wherever the new manifest points.
        merged = old_config
        stored = _mask_pointers(
            masked_test_config(old_config, manifest_text.parse(old_text)[0]),
            old_config,
        )
        if _retarget_errors(
            old_text=old_text,
            old_config=old_config,
            new_text=manifest_text_value,
            new_config=old_config,
            kept=stored,
        ):
            merged = _without(old_config, stored)
    if manifest_text_value != project.manifest_text:
        project.manifest_text = manifest_text_value
        changed.append("manifest")
    if merged != old_config:
        project.test_config = json.dumps(merged) if merged else ""
        changed.append("test config")
    if stream is not None and stream != project.stream:
        project.stream = stream
        changed.append("stream")
    if not changed:
        return project
    project.updated_by = actor
    project.full_clean()
    project.save()
    audit_record(
        actor=actor,
        action="connector_builder.saved",
        workspace=project.workspace,
        target=project,
        # What changed, never the config itself (it holds the API key).
        changes={"changed": [None, changed]},
    )
    return project


# -- Validate / Test runs -------------------------------------------------------------


@transaction.atomic
def builder_run_request(
    *,
    actor: AbstractBaseUser | None,
    project: BuilderProject,
    kind: str,
) -> BuilderProject:
    """Ask a worker to Validate or Test the saved draft; the page polls the row.

    A manifest that does not even parse is answered at once (failed, with its
    line), without a worker.
    """
    from apps.connectors.builder.tasks import builder_run_task

    if kind not in BuilderProject.RunKind.values:
        raise ValidationError(f"Unknown run {kind!r}.")
    project = BuilderProject.objects.select_for_update().get(pk=project.pk)
    manifest, problems = manifest_text.parse(project.manifest_text)
    now = timezone.now()
    project.run_id = uuid.uuid4()
    project.run_kind = kind
    project.run_stream = (
        project.stream if kind == BuilderProject.RunKind.TEST_READ else ""
    )
    project.run_requested_at = now
    project.run_digest = manifest_digest(manifest) if manifest is not None else ""
    if manifest is None:
        project.run_status = BuilderProject.RunStatus.FAILED
        project.run_result = {"problems": [p.as_dict() for p in problems]}
        project.run_message = "The manifest cannot be read."
        project.run_finished_at = now
    elif kind == BuilderProject.RunKind.TEST_READ and (
        project.stream not in manifest_text.stream_names(manifest)
    ):
        project.run_status = BuilderProject.RunStatus.FAILED
        project.run_result = None
        project.run_message = "Pick one of the manifest's streams to test."
        project.run_finished_at = now
    else:
        project.run_status = BuilderProject.RunStatus.PENDING
        project.run_result = None
        project.run_message = ""
        project.run_finished_at = None
    project.save()
    audit_record(
        actor=actor,
        action=f"connector_builder.{kind}_requested",
        workspace=project.workspace,
        target=project,
        changes={"stream": [None, project.run_stream]} if project.run_stream else {},
    )
    if project.run_status == BuilderProject.RunStatus.PENDING:
        builder_run_task.delay_on_commit(project.pk, str(project.run_id))
    return project


def validate(
    *, workspace: Workspace | None, text: str, config: dict[str, Any] | None = None
) -> tuple[dict[str, Any] | None, list[manifest_text.LineProblem]]:
    """The manifest in ``text`` and every problem with it, each on its line.

    Runs the CDK (``builder_engine``, whatever ``workspace`` runs on): call it
    outside transactions.
    """
    manifest, problems = manifest_text.parse(text)
    if manifest is None:
        return None, problems
    found: list[ManifestProblem] = builder_engine().validate_manifest(
        manifest, config=config
    )
    return manifest, manifest_text.locate(text, found)


def builder_engine() -> Engine:
    """The engine that Validates and Tests drafts: the default one, everywhere.

    Validating and test-reading run the CDK on this machine, for every
    workspace, as ``airbyte cdk`` does: an Airbyte server has no verb for either,
    and a workspace on one still builds its connectors here before publishing
    them there. ``workspace`` is not asked which engine it runs.
    """
    return get_engine(None)


def builder_run(*, project_pk: int, run_id: str) -> BuilderProject | None:
    """Run a requested Validate or Test (on a worker) and record it.

    The run is claimed with a conditional UPDATE (pending -> running) keyed on
    its id: a second delivery of the task, or a run replaced by a newer request,
    claims nothing and does nothing (None). A manifest saved since the request
    is not run in its place: the run's digest is what Publish trusts.
    """
    claimed = BuilderProject.objects.filter(
        pk=project_pk, run_id=run_id, run_status=BuilderProject.RunStatus.PENDING
    ).update(run_status=BuilderProject.RunStatus.RUNNING, updated_at=timezone.now())
    if not claimed:
        return None
    project = BuilderProject.objects.select_related("workspace").get(pk=project_pk)
    config = project_test_config(project)
    ok = False
    result: dict[str, Any] | None = None
    current, _ = manifest_text.parse(project.manifest_text)
    if current is None or manifest_digest(current) != project.run_digest:
        return builder_run_record(
            project=project,
            run_id=run_id,
            ok=False,
            message="The manifest changed since you asked: run it again.",
            result=None,
        )
    try:
        manifest, problems = validate(
            workspace=project.workspace, text=project.manifest_text, config=config
        )
        if problems or manifest is None:
            result = {"problems": [p.as_dict() for p in problems]}
            message = f"{len(problems)} problem(s) in the manifest."
        elif project.run_kind == BuilderProject.RunKind.VALIDATE:
            ok = True
            result = {"problems": []}
            message = "The manifest is valid."
        else:
            read = builder_engine().test_read(
                manifest, config, stream=project.run_stream, limits=ReadLimits()
            )
            ok = True
            result = read.as_dict()
            message = (
                f"Read {len(read.records)} record(s) in {len(read.pages)} page(s)"
                f" of {project.run_stream}."
            )
    except EngineError as exc:
        message = exc.message
        if exc.logs:
            result = {"logs": list(exc.logs)[-50:]}
    return builder_run_record(
        project=project, run_id=run_id, ok=ok, message=message, result=result
    )


@transaction.atomic
def builder_run_record(
    *,
    project: BuilderProject,
    run_id: str,
    ok: bool,
    message: str,
    result: dict[str, Any] | None,
) -> BuilderProject | None:
    """Store a run's outcome on the project if it is still the latest, audited.

    Only the worker that claimed the run (status running) records it.
    """
    updated = BuilderProject.objects.filter(
        pk=project.pk, run_id=run_id, run_status=BuilderProject.RunStatus.RUNNING
    ).update(
        run_status=(
            BuilderProject.RunStatus.SUCCEEDED
            if ok
            else BuilderProject.RunStatus.FAILED
        ),
        run_message=message[:5000],
        run_result=result,
        run_finished_at=timezone.now(),
        updated_at=timezone.now(),
    )
    if not updated:
        return None
    audit_record(
        actor=None,
        actor_label="worker",
        action=f"connector_builder.{project.run_kind}_finished",
        workspace=project.workspace,
        target=project,
        changes={"result": [None, "succeeded" if ok else "failed"]},
        outcome=AuditEvent.Outcome.SUCCESS if ok else AuditEvent.Outcome.FAILURE,
    )
    return BuilderProject.objects.get(pk=project.pk)


# -- publishing -----------------------------------------------------------------------


@dataclass(frozen=True)
class Published:
    """What a publish did: the catalog entry, the version, and whether it is new."""

    definition: ConnectorDefinition
    manifest: ConnectorManifest
    created: bool


def engine_note(workspace: Workspace, definition: ConnectorDefinition) -> str:
    """What a publish cannot do yet for this workspace's engine ("" if nothing).

    A workspace on an Airbyte server runs only what its server offers; the
    console does not create the connector there yet (Config API
    ``connector_builder_projects/publish``, then
    ``declarative_source_definitions/create_manifest`` per version).
    """
    engine = get_engine(workspace)
    if engine.runs_catalog_entry(
        package="",
        builtin="",
        docker_repository=definition.docker_repository,
        manifest_only=True,
    ):
        return ""
    return (
        f"This workspace runs on the {engine.name} engine, which cannot run it: "
        "publishing to an Airbyte server is not supported yet."
    )


def next_version(previous: str | None) -> str:
    """0.1.0 first, then the patch number bumps: 0.1.1, 0.1.2..."""
    if not previous:
        return FIRST_VERSION
    parts = previous.split(".")
    if len(parts) == 3 and all(p.isdigit() for p in parts):
        return f"{parts[0]}.{parts[1]}.{int(parts[2]) + 1}"
    return f"{previous}.1"


def builder_publish(
    *,
    actor: AbstractBaseUser | None,
    project: BuilderProject,
    manifest: dict[str, Any],
) -> Published:
    """Publish where the workspace's engine runs it, then in the catalog.

    An engine that runs connectors elsewhere (an Airbyte server) gets the
    manifest first, outside any transaction (an HTTP call): it answers the
    connector's id there, which becomes the catalog entry's definition id so
    sources made of it find it on the server. The same manifest as the latest
    version calls nobody and makes nothing.
    """
    try:
        spec = declarative.manifest_spec(manifest)
    except declarative.ManifestError as exc:
        raise ValidationError({"manifest": str(exc)}) from None
    # Claimed on the row before anything is read or sent: two tabs publishing
    # the first version would otherwise both find no definition and make two
    # connectors on the Airbyte server. The claim commits at once (no
    # transaction here), so the other tab's UPDATE sees it.
    now = timezone.now()
    claimed = (
        BuilderProject.objects.filter(pk=project.pk)
        .filter(
            Q(publishing_at__isnull=True)
            | Q(publishing_at__lt=now - PUBLISH_CLAIM_EXPIRES)
        )
        .update(publishing_at=now)
    )
    if not claimed:
        raise ValidationError(
            {
                "manifest": "A publish of this connector is already running: "
                "reload the page in a moment to see its version."
            }
        )
    try:
        return _publish_claimed(
            actor=actor, project=project, manifest=manifest, spec=spec
        )
    finally:
        BuilderProject.objects.filter(pk=project.pk, publishing_at=now).update(
            publishing_at=None
        )


def _publish_claimed(
    *,
    actor: AbstractBaseUser | None,
    project: BuilderProject,
    manifest: dict[str, Any],
    spec: ConnectorSpec,
) -> Published:
    """``builder_publish`` once this caller holds the project's publish claim."""
    # As it is now: the caller's copy may predate an earlier publish.
    project = BuilderProject.objects.select_related("definition", "workspace").get(
        pk=project.pk
    )
    definition = project.definition
    versions = list(definition.manifests.all()) if definition is not None else []
    digest = manifest_digest(manifest)
    if versions:
        latest = max(versions, key=lambda m: version_key(m.version))
        if latest.digest == digest:
            return Published(definition=definition, manifest=latest, created=False)
    on_server = (
        str(definition.definition_id)
        if definition is not None and definition.docker_repository == DECLARATIVE_IMAGE
        else ""
    )
    try:
        remote_id = get_engine(project.workspace).publish_declarative_source(
            name=definition.name
            if definition is not None
            else manifest_text.title(manifest, project.name),
            manifest=manifest,
            spec=spec,
            number=len(versions) + 1,
            definition_id=on_server,
        )
    except EngineError as exc:
        raise ValidationError({"manifest": exc.message}) from None
    return connector_publish(
        actor=actor, project=project, manifest=manifest, remote_definition_id=remote_id
    )


@transaction.atomic
def connector_publish(
    *,
    actor: AbstractBaseUser | None,
    project: BuilderProject,
    manifest: dict[str, Any],
    remote_definition_id: str = "",
) -> Published:
    """Publish a validated manifest as the project's connector, a new version.

    The first publish creates the catalog entry (a manifest-only source, release
    stage custom, a fresh definition id, seen by this workspace only). The same
    manifest as the latest version makes no new version. Sources keep the version
    they were created on; new sources get this one. The CDK has validated the
    manifest before this is called (``validate``): nothing slow runs here.
    """
    try:
        spec = declarative.manifest_spec(manifest)
    except declarative.ManifestError as exc:
        raise ValidationError({"manifest": str(exc)}) from None
    project = (
        BuilderProject.objects.select_for_update(of=("self",))
        .select_related("workspace", "definition")
        .get(pk=project.pk)
    )
    digest = manifest_digest(manifest)
    definition = project.definition
    created_definition = definition is None
    if definition is None:
        definition = ConnectorDefinition(
            kind=ConnectorDefinition.Kind.SOURCE,
            definition_id=uuid.uuid4(),
            name=manifest_text.title(manifest, project.name)[:200],
            manifest_only=True,
            release_stage=ConnectorDefinition.ReleaseStage.CUSTOM,
            documentation_url=spec.documentation_url[:500],
            engines=["embedded"],
        )
    moved = bool(remote_definition_id) and (
        str(definition.definition_id) != remote_definition_id
    )
    if moved:
        # Made on an Airbyte server too: the server's id is the connector's id,
        # and the server runs it on the declarative manifest image.
        definition.definition_id = uuid.UUID(remote_definition_id)
        definition.docker_repository = DECLARATIVE_IMAGE
        definition.engines = sorted({*definition.engines, "embedded", "airbyte"})
    if created_definition or moved:
        definition.full_clean()
        definition.save()
    if created_definition:
        project.definition = definition
        project.save(update_fields=["definition", "updated_at"])
    versions = sorted(definition.manifests.all(), key=lambda m: version_key(m.version))
    latest = versions[-1] if versions else None
    if latest is not None and latest.digest == digest:
        return Published(definition=definition, manifest=latest, created=False)
    version = next_version(latest.version if latest else None)
    row = ConnectorManifest.objects.create(
        definition=definition,
        version=version,
        manifest=manifest,
        components="",
        digest=digest,
        origin=ConnectorManifest.Origin.BUILDER,
        created_by=actor,
    )
    # The form for a new source reads the spec from here: no install, no run.
    ConnectorSpecCache.objects.get_or_create(
        definition=definition,
        version=version,
        defaults={"spec": declarative.manifest_raw_spec(manifest)},
    )
    definition.pypi_version = version
    definition.latest_version = version
    definition.save(update_fields=["pypi_version", "latest_version", "updated_at"])
    audit_record(
        actor=actor,
        action="connector_builder.published",
        workspace=project.workspace,
        target=project,
        changes={
            "version": [latest.version if latest else None, version],
            **(
                {"definition_id": [None, str(definition.definition_id)]}
                if created_definition
                else {}
            ),
        },
    )
    return Published(definition=definition, manifest=row, created=True)
