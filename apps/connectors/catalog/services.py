"""Writes for the connector catalog: install, uninstall, change version, refresh.

The catalog is global to the console (a connector's virtualenv serves every
workspace), so changing it is for console staff (``catalog.access``) and every
change is audited console-wide: its audit event belongs to no workspace. A change
of version moves only the default for new sources; each source keeps its pinned
version (``Source.connector_version``) until its own admins move it. The request
is one short transaction (an install row plus its audit event); the install
itself runs in a Celery task, or in the CLI's own process, and reports progress on
the row as it goes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.audit.services import audit_record
from apps.connectors.catalog import icons
from apps.connectors.catalog.access import (
    require_catalog_staff,
    sees_every_workspace,
)
from apps.connectors.catalog.fetch import is_url, label_of, read_registry
from apps.connectors.catalog.registry import (
    VERSION_RE,
    MergeReport,
    RegistryEntry,
    RegistryError,
    Skipped,
    merge_registry,
    parse_registry,
)
from apps.connectors.catalog.selectors import (
    installed_version,
    source_versions,
    sources_visible_to,
)
from apps.connectors.models import (
    ConnectorDefinition,
    ConnectorInstall,
    ConnectorSpecCache,
    Destination,
    RegistryFetch,
    Source,
)
from apps.core import netguard
from apps.engines.base import ConnectorStartError, EngineError
from apps.engines.registry import get_engine

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

logger = logging.getLogger(__name__)

PROGRESS_EVERY_SECONDS = 1.0
# Lines that say which step a pip run is on, for the one-line progress.
_PHASE_PREFIXES = (
    "Creating",
    "Installing",
    "Collecting",
    "Downloading",
    "Building",
    "Running",
    "Installed",
    "Successfully",
    "Removing",
    "Removed",
)


def _stale_before() -> Any:
    # A running install updates its row at least every few seconds while pip talks;
    # one silent for longer than the install timeout lost its worker.
    return timezone.now() - timedelta(seconds=get_engine().install_timeout() + 120)


def _fail_stale(definition: ConnectorDefinition) -> None:
    ConnectorInstall.objects.filter(
        definition=definition,
        status__in=ConnectorInstall.ACTIVE,
        updated_at__lt=_stale_before(),
    ).update(
        status=ConnectorInstall.Status.FAILED,
        error="The worker running this went away before it finished.",
        finished_at=timezone.now(),
        updated_at=timezone.now(),
    )


def _create_active(**fields: Any) -> ConnectorInstall:
    install = ConnectorInstall(**fields)
    install.full_clean(validate_constraints=False)
    try:
        with transaction.atomic():
            install.save()
    except IntegrityError:
        raise ValidationError(
            f"{fields['definition'].name} is already being installed or removed; "
            "wait for that to finish."
        ) from None
    return install


def _enqueue(install: ConnectorInstall) -> None:
    from apps.connectors.tasks import connector_install_task

    def send() -> None:
        try:
            connector_install_task.delay(install.pk)
        except Exception:
            # The broker is down: say so on the row instead of leaving it pending.
            logger.exception("Could not queue connector install %s", install.pk)
            ConnectorInstall.objects.filter(
                pk=install.pk, status=ConnectorInstall.Status.PENDING
            ).update(
                status=ConnectorInstall.Status.FAILED,
                error="Could not reach the task queue; try again in a moment.",
                finished_at=timezone.now(),
                updated_at=timezone.now(),
            )

    transaction.on_commit(send)


@transaction.atomic
def connector_install_request(
    *,
    actor: AbstractBaseUser | None,
    definition: ConnectorDefinition,
    version: str = "",
    enqueue: bool = True,
) -> ConnectorInstall:
    """Ask for a connector to be installed (at ``version``: change version); staff.

    Raises PermissionDenied for anyone but staff (``actor=None`` is the console's
    own setup), ValidationError for a bad request.
    """
    require_catalog_staff(actor)
    if not definition.is_installable:
        raise ValidationError(
            f"{definition.name} is built into the console; there is nothing to install."
        )
    version = (version or "").strip() or definition.pypi_version
    if not VERSION_RE.match(version):
        raise ValidationError({"version": f"{version!r} is not a valid version."})
    _fail_stale(definition)
    install = _create_active(
        definition=definition,
        operation=ConnectorInstall.Operation.INSTALL,
        version=version,
        requested_by=actor if actor is not None and actor.is_authenticated else None,
        phase="Waiting for a worker.",
    )
    audit_record(
        actor=actor,
        action="connector.install",
        target=definition,
        changes={
            "package": definition.pypi_package,
            "version": [definition.pypi_version, version],
        },
    )
    if enqueue:
        _enqueue(install)
    return install


# How many sources an uninstall refusal names; it counts the rest.
SOURCES_NAMED = 3


def sources_in_use_message(
    *, definition: ConnectorDefinition, actor: AbstractBaseUser | None
) -> str:
    """Why an uninstall is refused, counting only sources ``actor`` may see.

    Empty when no source anywhere uses the connector. The count never includes
    workspaces the actor does not belong to (staff see them all).
    """
    if not Source.objects.filter(definition=definition).exists():
        return ""
    visible = sources_visible_to(actor).filter(definition=definition).count()
    if not visible:
        return (
            f"{definition.name} is used by sources in other workspaces; it stays "
            "installed while any source uses it."
        )
    where = "" if sees_every_workspace(actor) else " in your workspaces"
    # Named, so the refusal says which sources to delete (it was only a count).
    shown = (
        sources_visible_to(actor)
        .filter(definition=definition)
        .select_related("workspace")
        .order_by("workspace__name", "name")[:SOURCES_NAMED]
    )
    listed = ", ".join(f"{s.name} (in {s.workspace.name})" for s in shown)
    if visible > SOURCES_NAMED:
        listed += f" and {visible - SOURCES_NAMED} more"
    if visible == 1:
        return (
            f"1 source{where} uses {definition.name}: {listed}. "
            "Delete it before uninstalling the connector."
        )
    return (
        f"{visible} sources{where} use {definition.name}: {listed}. "
        "Delete them before uninstalling the connector."
    )


@transaction.atomic
def connector_uninstall_request(
    *,
    actor: AbstractBaseUser | None,
    definition: ConnectorDefinition,
    enqueue: bool = True,
) -> ConnectorInstall:
    """Ask for a connector's virtualenvs to be removed (staff); refused while any
    source uses it."""
    require_catalog_staff(actor)
    if not definition.is_installable:
        raise ValidationError(
            f"{definition.name} is built into the console; it cannot be uninstalled."
        )
    in_use = sources_in_use_message(definition=definition, actor=actor)
    if in_use:
        raise ValidationError(in_use)
    _fail_stale(definition)
    install = _create_active(
        definition=definition,
        operation=ConnectorInstall.Operation.UNINSTALL,
        version=installed_version(definition=definition) or definition.pypi_version,
        requested_by=actor if actor is not None and actor.is_authenticated else None,
        phase="Waiting for a worker.",
    )
    audit_record(
        actor=actor,
        action="connector.uninstall",
        target=definition,
        changes={"package": definition.pypi_package},
    )
    if enqueue:
        _enqueue(install)
    return install


class _Progress:
    """Collects output lines; writes them to the install row at most once a second."""

    def __init__(self, install: ConnectorInstall, echo: Callable[[str], None] | None):
        self.install = install
        self.echo = echo
        self.lines: list[str] = []
        self.size = 0
        self.phase = ""
        self.last_write = 0.0

    def __call__(self, line: str) -> None:
        if self.echo is not None:
            self.echo(line)
        self.lines.append(line)
        self.size += len(line) + 1
        while self.size > ConnectorInstall.LOG_LIMIT and len(self.lines) > 1:
            self.size -= len(self.lines.pop(0)) + 1
        if line.startswith(_PHASE_PREFIXES):
            self.phase = line[:200]
        if time.monotonic() - self.last_write >= PROGRESS_EVERY_SECONDS:
            self.flush()

    @property
    def log(self) -> str:
        return "\n".join(self.lines)

    def flush(self) -> None:
        self.last_write = time.monotonic()
        ConnectorInstall.objects.filter(pk=self.install.pk).update(
            log=self.log, phase=self.phase, updated_at=timezone.now()
        )


def connector_install_run(
    *, install_id: int, echo: Callable[[str], None] | None = None
) -> ConnectorInstall | None:
    """Carry out a pending install or uninstall; safe to call twice.

    The row is claimed with a conditional UPDATE (pending -> running): a second
    delivery of the same task finds nothing to claim and returns None.
    """
    now = timezone.now()
    claimed = ConnectorInstall.objects.filter(
        pk=install_id, status=ConnectorInstall.Status.PENDING
    ).update(
        status=ConnectorInstall.Status.RUNNING,
        started_at=now,
        updated_at=now,
        phase="Starting.",
    )
    if not claimed:
        return None
    install = ConnectorInstall.objects.select_related("definition").get(pk=install_id)
    definition = install.definition
    progress = _Progress(install, echo)
    error = ""
    spec: dict[str, Any] | None = None
    try:
        if install.operation == ConnectorInstall.Operation.UNINSTALL:
            removed = get_engine().uninstall(definition.ref)
            progress(
                f"Removed {removed} install{'s' if removed != 1 else ''} "
                f"of {definition.pypi_package or definition.name}."
            )
        else:
            spec = get_engine().install(
                replace(definition.ref, version=install.version), on_output=progress
            )
    except ConnectorStartError as exc:
        # Installed, but it does not start here: the catalog says so and why.
        error = exc.message
        progress(f"Failed: {error}")
        return _finish(install, progress, error, spec, spec_failed=True)
    except EngineError as exc:
        error = exc.message
        progress(f"Failed: {error}")
    except Exception as exc:
        logger.exception("Connector install %s crashed", install_id)
        error = f"The install stopped unexpectedly: {exc}"
        progress(f"Failed: {error}")
    return _finish(install, progress, error, spec)


@transaction.atomic
def _finish(
    install: ConnectorInstall,
    progress: _Progress,
    error: str,
    spec: dict[str, Any] | None,
    *,
    spec_failed: bool = False,
) -> ConnectorInstall:
    """Record the outcome; a successful version change moves the pinned version.

    An install whose ``spec`` failed marks the definition with the reason
    (``spec_error``, shown on the catalog); one that starts clears it.
    """
    definition = ConnectorDefinition.objects.select_for_update().get(
        pk=install.definition_id
    )
    if install.operation == ConnectorInstall.Operation.INSTALL:
        # Another failure (pip, the network) says nothing about starting.
        marked = error if spec_failed else ""
        if (spec_failed or not error) and definition.spec_error != marked:
            definition.spec_error = marked
            definition.save(update_fields=["spec_error", "updated_at"])
    install.status = (
        ConnectorInstall.Status.FAILED if error else ConnectorInstall.Status.SUCCEEDED
    )
    install.error = error
    install.log = progress.log
    install.phase = "Failed." if error else "Done."
    install.finished_at = timezone.now()
    install.save(
        update_fields=["status", "error", "log", "phase", "finished_at", "updated_at"]
    )
    if error or install.operation != ConnectorInstall.Operation.INSTALL:
        return install
    if spec is not None:
        ConnectorSpecCache.objects.get_or_create(
            definition=definition, version=install.version, defaults={"spec": spec}
        )
    if definition.pypi_version != install.version:
        before = definition.pypi_version
        # Sources that follow the catalog's version (no pin of their own) are
        # pinned where they are first: the new version is for new sources only.
        pinned = Source.objects.filter(
            definition=definition, connector_version=""
        ).update(connector_version=before)
        definition.pypi_version = install.version
        definition.full_clean()
        definition.save(update_fields=["pypi_version", "updated_at"])
        audit_record(
            actor=install.requested_by,
            actor_label="" if install.requested_by else "system",
            action="connector.change_version",
            target=definition,
            changes={
                "version": [before, install.version],
                **({"sources_kept_on_old_version": pinned} if pinned else {}),
            },
        )
    return install


def _is_installed(definition: Any) -> bool:
    return bool(installed_version(definition=definition))


def _installed_checker() -> Callable[[Any], bool]:
    """``is_installed`` for a merge in one query: the definitions whose last
    successful install or uninstall was an install."""
    last: dict[int, str] = {}
    rows = (
        ConnectorInstall.objects.filter(status=ConnectorInstall.Status.SUCCEEDED)
        .order_by("created_at", "id")
        .values_list("definition_id", "operation")
    )
    for definition_id, operation in rows:
        last[definition_id] = operation
    installed = {
        pk for pk, op in last.items() if op == ConnectorInstall.Operation.INSTALL
    }
    return lambda definition: definition.pk in installed


def _in_use_checker() -> Callable[[Any], bool]:
    """``is_in_use`` for a merge in two queries: the definitions some source or
    destination of any workspace uses (a Docker connector a sync pulls on demand
    has no install row, yet it runs)."""
    used = set(Source.objects.values_list("definition_id", flat=True).distinct())
    used |= set(Destination.objects.values_list("definition_id", flat=True).distinct())
    return lambda definition: definition.pk in used


def _merge(
    entries: list[RegistryEntry], *, prune: bool, skipped: Skipped
) -> MergeReport:
    return merge_registry(
        entries,
        model=ConnectorDefinition,
        is_installed=_installed_checker(),
        is_in_use=_in_use_checker(),
        prune=prune,
        skipped=skipped,
    )


def _audit_refresh(
    actor: AbstractBaseUser | None,
    entries: list[RegistryEntry],
    report: MergeReport,
    location: str = "",
) -> None:
    changes: dict[str, Any] = {
        key: len(names) for key, names in report.as_dict().items() if names
    }
    if report.skipped_count:
        changes["skipped"] = report.skipped_count
    if location:
        changes["from"] = location
    audit_record(
        actor=actor,
        action="catalog.refresh",
        target_label=f"{len(entries)} connectors",
        changes=changes,
    )


@transaction.atomic
def catalog_refresh(
    *,
    actor: AbstractBaseUser | None,
    registry: dict[str, Any],
    prune: bool = False,
) -> MergeReport:
    """Merge a registry document into the catalog (see catalog.registry); staff.

    A malformed entry is skipped and named in the report; a document with no
    usable entry is refused.
    """
    require_catalog_staff(actor)
    skipped = Skipped()
    try:
        entries = parse_registry(registry, skipped=skipped)
    except ValueError as exc:
        raise ValidationError(str(exc)) from None
    report = _merge(entries, prune=prune, skipped=skipped)
    _audit_refresh(actor, entries, report)
    return report


def catalog_fetch(
    *,
    actor: AbstractBaseUser | None,
    location: str | None = None,
    prune: bool = False,
) -> RegistryFetch:
    """Read the registry (``CONNECTOR_REGISTRY_URL``, or a URL or file), merge it.

    Staff or the console itself (``actor=None``: the daily task). The download
    and the parse happen outside any transaction; the merge, the RegistryFetch row
    and (for a person) the audit event are one transaction. Whatever goes wrong
    before the merge (no answer, an error status, not JSON, not a registry) is
    recorded as a failed fetch with its message and changes nothing: the catalog
    stays the last good one. Returns the RegistryFetch row either way.
    """
    require_catalog_staff(actor)
    where = (settings.CONNECTOR_REGISTRY_URL if location is None else location) or ""
    where = where.strip()
    if not where:
        raise ValidationError(
            "No registry to fetch: CONNECTOR_REGISTRY_URL is empty; pass a URL "
            "or a file."
        )
    requested_by = actor if actor is not None and actor.is_authenticated else None
    skipped = Skipped()
    try:
        document = read_registry(where)
        entries = parse_registry(document, skipped=skipped, label=label_of(where))
    except RegistryError as exc:
        return RegistryFetch.objects.create(
            location=where[:500],
            status=RegistryFetch.Status.FAILED,
            error=str(exc),
            requested_by=requested_by,
        )
    del document
    try:
        fetch = _record_fetch(
            actor=actor,
            requested_by=requested_by,
            location=where,
            entries=entries,
            skipped=skipped,
            prune=prune,
        )
    except IntegrityError:
        # Two refreshes (the daily task and a person) added the same new
        # connector at once: this one rolled back whole; the other one won.
        return RegistryFetch.objects.create(
            location=where[:500],
            status=RegistryFetch.Status.FAILED,
            error="Another refresh of the catalog ran at the same time; try again.",
            requested_by=requested_by,
        )
    try:
        # Local files only; a full disk must not undo a good merge.
        icons.cache_inline(entries)
    except OSError:
        logger.exception("Could not write the registry's inline icons")
    return fetch


@transaction.atomic
def _record_fetch(
    *,
    actor: AbstractBaseUser | None,
    requested_by: Any,
    location: str,
    entries: list[RegistryEntry],
    skipped: Skipped,
    prune: bool,
) -> RegistryFetch:
    report = _merge(entries, prune=prune, skipped=skipped)
    fetch = RegistryFetch.objects.create(
        location=location[:500],
        status=RegistryFetch.Status.SUCCEEDED,
        entries=len(entries),
        report={
            **{k: v for k, v in report.as_dict().items() if k != "unchanged"},
            "unchanged": len(report.unchanged),
            # ``skipped`` holds the first few messages only (see Skipped).
            "skipped_count": report.skipped_count,
            "summary": report.summary(),
        },
        requested_by=requested_by,
    )
    # The daily task's fetches are their own record (RegistryFetch); a person's
    # refresh is also an audited change of what every workspace shares.
    if requested_by is not None:
        _audit_refresh(actor, entries, report, location)
    return fetch


@transaction.atomic
def catalog_fetch_request(*, actor: AbstractBaseUser) -> str:
    """Ask a worker to fetch CONNECTOR_REGISTRY_URL now (staff); the URL.

    The fetch itself (a download of ~600 entries, then icons) runs on a worker:
    nothing slow happens in the web request. Its outcome is a RegistryFetch row the
    catalog page shows, and, when it succeeds, the ``catalog.refresh`` audit event
    in the name of whoever asked.
    """
    require_catalog_staff(actor)
    location = (settings.CONNECTOR_REGISTRY_URL or "").strip()
    if not location:
        raise ValidationError(
            "No registry to fetch: CONNECTOR_REGISTRY_URL is empty. An "
            "administrator sets it, or runs `airbyte connectors refresh --from "
            "URL|FILE`."
        )
    from apps.connectors.tasks import registry_fetch_task

    registry_fetch_task.delay_on_commit(user_id=actor.pk)
    return location


def catalog_icons_fetch(*, location: str = "", limit: int = 0) -> dict[str, int]:
    """Download the catalog's icons that are not cached yet (see catalog.icons).

    Icons come from the addresses a registry names: private ones only when the
    registry itself was read from one (a registry on the local network, or the
    tests' server on 127.0.0.1), so a public registry cannot point the console at
    its own network.
    """
    allow_private = _private_location(location or settings.CONNECTOR_REGISTRY_URL)
    definitions = ConnectorDefinition.objects.exclude(icon_url="").only(
        "definition_id", "icon_url", "name"
    )
    return icons.icons_fetch(definitions, allow_private=allow_private, limit=limit)


def _private_location(location: str) -> bool:
    if not is_url(location):
        return True  # A file on this host: its administrator's choice.
    host = (urlsplit(location).hostname or "").strip("[]")
    try:
        return netguard.classify(host) is not netguard.AddressClass.PUBLIC
    except ValueError:
        return host == "localhost"


def sources_staying_message(
    *, definition: ConnectorDefinition, version: str, actor: AbstractBaseUser | None
) -> str:
    """After a change of version: which sources stay where they are, and who moves them.

    Counts only the sources ``actor`` may see; empty when none is on another
    version.
    """
    staying = [
        (v, n)
        for v, n in source_versions(definition=definition, user=actor)
        if v != version
    ]
    if not staying:
        return ""
    total = sum(n for _, n in staying)
    if len(staying) == 1:
        where = f"on {staying[0][0]}"
    else:
        where = (
            "on other versions (" + ", ".join(f"{n} on {v}" for v, n in staying) + ")"
        )
    return (
        f"{total} source{'s' if total != 1 else ''} "
        f"{'stay' if total != 1 else 'stays'} {where}; their admins can move "
        f"{'them' if total != 1 else 'it'} to {version} on the source's edit page."
    )
