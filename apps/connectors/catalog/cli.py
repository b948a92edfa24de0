"""`airbyte connectors list|install|uninstall|refresh`: the catalog from scripts.

``install`` and ``uninstall`` run in the CLI's own process by default, streaming
pip's output to stderr, so a script gets the outcome as its exit code;
``--background`` hands them to a worker instead (``--wait`` then follows it to the
end). Changing the catalog is for console staff: the ``--as`` user (default: the
first superuser) must be staff. Counts of sources cover only the workspaces the
``--as`` user belongs to (staff see them all).
"""

from __future__ import annotations

import sys
import time
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import CommandError

from apps.connectors.catalog import selectors, services
from apps.connectors.catalog.access import can_change_catalog
from apps.connectors.models import ConnectorDefinition, ConnectorInstall
from apps.core.clikit import CliResult, arg, cli_user, group, table

connectors = group(
    "connectors", "The connector catalog: list, install, uninstall, refresh."
)

AS_USER = arg(
    "--as",
    dest="as_user",
    metavar="EMAIL",
    help="Act as this user (default: the first admin).",
)
WAIT_SECONDS = 2 * 60 * 60
# How many connector names a refresh report lists per change before counting.
NAMES_SHOWN = 10


def _row(d: ConnectorDefinition) -> dict[str, Any]:
    install = d.latest_install
    return {
        "id": str(d.public_id),
        "definition_id": str(d.definition_id),
        "name": d.name,
        "kind": d.kind,
        "stage": d.release_stage,
        "package": d.pypi_package or ("(built-in)" if d.builtin else ""),
        "version": d.pypi_version,
        "latest_version": d.latest_version,
        "installed": bool(d.builtin or d.installed_version or d.installed_versions),
        "installed_version": d.installed_version,
        "installed_versions": d.installed_versions,
        "sources": d.source_count,
        "source_versions": dict(d.source_versions),
        "install_status": install.status if install else "",
        "engines": d.engines,
        "runs": d.runtime_label,
        "support_level": d.support_level,
        "upgrade_available": d.upgrade_available,
        "spec_error": d.spec_error,
    }


@connectors.action(
    "list",
    "List the catalog: name, kind, stage, how it runs, package, version, installed?",
    arg("--search", default="", help="Only names or packages containing this."),
    arg("--stage", default="", choices=["", *ConnectorDefinition.ReleaseStage.values]),
    arg("--kind", default="", choices=["", *ConnectorDefinition.Kind.values]),
    arg(
        "--runs",
        default="",
        choices=["", *(value for value, _ in selectors.RUNS_CHOICES)],
        help="Only those that run this way (airbyte: on an Airbyte server).",
    ),
    arg(
        "--support",
        default="",
        choices=["", "certified", "community", "archived"],
        help="Only this support level.",
    ),
    arg(
        "--as",
        dest="as_user",
        metavar="EMAIL",
        help="Count only the sources in this user's workspaces (default: all).",
    ),
)
def connectors_list(options: dict[str, Any]) -> CliResult:
    user = cli_user(options["as_user"]) if options.get("as_user") else None
    rows = [
        _row(d)
        for d in selectors.connector_definition_list(
            search=options["search"],
            stage=options["stage"],
            kind=options["kind"],
            runs=options.get("runs", ""),
            support=options.get("support", ""),
            user=user,
        )
    ]
    text_rows = [{**r, "installed": "yes" if r["installed"] else "no"} for r in rows]
    text = table(
        text_rows,
        ["name", "kind", "stage", "runs", "package", "version", "installed"],
    )
    return CliResult(data=rows, text=text)


def _find(name: str) -> ConnectorDefinition:
    found = selectors.connector_definition_find(name=name)
    if not found:
        raise CommandError(
            f"No connector named {name!r} in the catalog; `airbyte connectors list` "
            "shows them."
        )
    if len(found) > 1:
        names = ", ".join(sorted(d.pypi_package or d.name for d in found))
        raise CommandError(f"{name!r} matches several connectors: {names}.")
    return found[0]


def _staff_user(options: dict[str, Any], verb: str) -> Any:
    """The ``--as`` user, who must be console staff to change the catalog."""
    user = cli_user(options.get("as_user"))
    if not can_change_catalog(user):
        raise CommandError(
            f"{user.get_username()} is not console staff: only staff can {verb}, "
            "because the catalog is shared by every workspace. Pass "
            "--as with a staff user's email, or ask a console administrator."
        )
    return user


def _echo(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


@connectors.action(
    "install",
    "Install a connector (by package or name) at its pinned or another version.",
    arg("name", help="Package (airbyte-source-faker) or catalog name."),
    arg("--version", default="", help="Install this version and pin it."),
    arg(
        "--background",
        action="store_true",
        help="Hand the install to a worker instead of running it here.",
    ),
    arg(
        "--wait",
        action="store_true",
        help="With --background: wait for the worker to finish.",
    ),
    arg("--quiet", action="store_true", help="Do not stream pip's output."),
    AS_USER,
)
def connectors_install(options: dict[str, Any]) -> CliResult:
    user = _staff_user(options, "install or upgrade connectors")
    definition = _find(options["name"])
    install = _request_and_run(
        options,
        lambda background: services.connector_install_request(
            actor=user,
            definition=definition,
            version=options["version"],
            enqueue=background,
        ),
    )
    data = {
        "id": str(install.public_id),
        "name": definition.name,
        "package": definition.pypi_package,
        "version": install.version,
        "status": install.status,
        "error": install.error,
    }
    # What people call it: the package, or the name of a manifest or image.
    label = definition.pypi_package or definition.name
    if install.status == ConnectorInstall.Status.FAILED:
        raise CommandError(
            f"Installing {label} {install.version} failed: {install.error}"
        )
    if install.is_active:
        text = f"Queued {label} {install.version} ({install.status})."
    else:
        text = f"Installed {label} {install.version}."
    staying = services.sources_staying_message(
        definition=definition, version=install.version, actor=user
    )
    if staying:
        data["sources_staying"] = staying
        text = f"{text}\n{staying}"
    return CliResult(data=data, text=text)


def _request_and_run(options: dict[str, Any], request: Any) -> ConnectorInstall:
    """Ask for an install or uninstall, then run it here or follow the worker."""
    background = options["background"]
    try:
        install = request(background)
    except (ValidationError, PermissionDenied) as exc:
        messages = getattr(exc, "messages", None) or [str(exc)]
        raise CommandError(" ".join(messages)) from None
    if not background:
        echo = None if options["quiet"] or options.get("json") else _echo
        services.connector_install_run(install_id=install.pk, echo=echo)
    elif options["wait"]:
        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline:
            install.refresh_from_db()
            if not install.is_active:
                break
            time.sleep(1)
    install.refresh_from_db()
    return install


@connectors.action(
    "uninstall",
    "Remove every installed version of a connector; refused while sources use it.",
    arg("name", help="Package (airbyte-source-faker) or catalog name."),
    arg(
        "--background",
        action="store_true",
        help="Hand the removal to a worker instead of running it here.",
    ),
    arg(
        "--wait",
        action="store_true",
        help="With --background: wait for the worker to finish.",
    ),
    arg("--quiet", action="store_true", help="Do not print progress."),
    AS_USER,
)
def connectors_uninstall(options: dict[str, Any]) -> CliResult:
    user = _staff_user(options, "uninstall connectors")
    definition = _find(options["name"])
    install = _request_and_run(
        options,
        lambda background: services.connector_uninstall_request(
            actor=user, definition=definition, enqueue=background
        ),
    )
    data = {
        "id": str(install.public_id),
        "name": definition.name,
        "package": definition.pypi_package,
        "status": install.status,
        "error": install.error,
    }
    # What people call it: the package, or the name of a manifest or image.
    label = definition.pypi_package or definition.name
    if install.status == ConnectorInstall.Status.FAILED:
        raise CommandError(f"Uninstalling {label} failed: {install.error}")
    if install.is_active:
        text = f"Queued the removal of {label} ({install.status})."
    else:
        text = f"Uninstalled {label}."
    return CliResult(data=data, text=text)


@connectors.action(
    "refresh",
    "Fetch the registry (CONNECTOR_REGISTRY_URL, or --from URL|FILE) and merge it.",
    arg(
        "--from",
        dest="path",
        default=None,
        metavar="URL|FILE",
        help="A registry URL or file in Airbyte's shape (default: "
        "CONNECTOR_REGISTRY_URL).",
    ),
    arg(
        "--prune",
        action="store_true",
        help="Also remove connectors missing from the file (never ones in use).",
    ),
    arg(
        "--no-icons",
        action="store_true",
        help="Do not download the icons that are not cached yet.",
    ),
    AS_USER,
)
def connectors_refresh(options: dict[str, Any]) -> CliResult:
    user = _staff_user(options, "refresh the catalog")
    try:
        fetch = services.catalog_fetch(
            actor=user, location=options["path"], prune=options["prune"]
        )
    except (ValidationError, PermissionDenied) as exc:
        messages = getattr(exc, "messages", None) or [str(exc)]
        raise CommandError(" ".join(messages)) from None
    if fetch.status != fetch.Status.SUCCEEDED:
        last = selectors.registry_last_good_fetch()
        kept = " The catalog is unchanged."
        if last is not None:
            when = last.created_at.strftime("%Y-%m-%d %H:%M")
            kept = (
                f" The catalog is unchanged: last fetched {when} UTC from "
                f"{last.location}."
            )
        raise CommandError(f"{fetch.error}{kept}")
    report = fetch.report
    data = {key: value for key, value in report.items() if key != "summary"}
    if not options["no_icons"]:
        data["icons"] = services.catalog_icons_fetch(location=fetch.location)
    lines = [f"Catalog refreshed from {fetch.location}: {report['summary']}."]
    for label in ("added", "updated", "removed", "kept_in_use"):
        names = report.get(label) or []
        if names:
            # Airbyte's registry adds ~600 at once: name a few, count the rest
            # (--json has them all).
            shown = ", ".join(names[:NAMES_SHOWN])
            if len(names) > NAMES_SHOWN:
                shown += f" and {len(names) - NAMES_SHOWN} more"
            lines.append(f"  {label.replace('_', ' ')}: {shown}")
    for kept in report.get("kept_runtime") or []:
        lines.append(f"  kept as it runs: {kept}")
    # The report keeps the first few skip messages and "and N more" (see
    # registry.Skipped): a thousand broken entries print two dozen lines.
    for problem in report.get("skipped") or []:
        lines.append(f"  skipped {problem}")
    if data.get("icons", {}).get("failed"):
        lines.append(
            f"  {data['icons']['failed']} icon(s) could not be fetched; the "
            "catalog shows initials for them."
        )
    return CliResult(data=data, text="\n".join(lines))
