"""`airbyte cdk init|build|test|deploy`: low-code connectors from a terminal.

A project is a folder (``./NAME``, or ``--dir PARENT``/NAME) holding
``manifest.yaml``, ``secrets/config.json`` (the config build and test run with;
git ignores it), a README and a .gitignore. ``init`` writes one that builds as
is; ``build`` validates it against the CDK's schema and runs ``spec`` and
``check``; ``test`` reads a few records and shows them with the inferred
schema; ``deploy`` publishes it to a workspace's catalog as a new version.
Every problem is printed as ``manifest.yaml:LINE: path: message`` and makes the
command exit non-zero.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError

from apps.connectors.builder import manifest_text, scaffold, selectors, services
from apps.core.clikit import CliResult, arg, group
from apps.core.roles import Role
from apps.engines import declarative
from apps.engines.base import EngineError, ReadLimits
from apps.engines.registry import get_engine
from apps.workspaces.cli import AS_USER, WORKSPACE, cli_membership

cdk = group("cdk", "Build custom low-code connectors: init, build, test, deploy.")

MANIFEST = "manifest.yaml"
CONFIG = Path("secrets") / "config.json"

DIR = arg(
    "--dir",
    metavar="PARENT",
    default=".",
    help="The folder the project folder is in (default: the current one).",
)
NAME = arg("name", metavar="NAME", help="The connector project's folder name.")


def _folder(options: dict[str, Any]) -> Path:
    return Path(options.get("dir") or ".") / options["name"]


def _read_project(options: dict[str, Any]) -> tuple[Path, str]:
    folder = _folder(options)
    path = folder / MANIFEST
    try:
        return folder, path.read_text()
    except FileNotFoundError:
        raise CommandError(
            f"No {path}: `airbyte cdk init {options['name']} source` makes one."
        ) from None
    except OSError as exc:
        raise CommandError(f"Cannot read {path}: {exc.strerror}.") from None


def _read_config(folder: Path, *, required: bool) -> dict[str, Any]:
    path = folder / CONFIG
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        if required:
            raise CommandError(
                f"No {path}: it holds the config to run with (see the README)."
            ) from None
        return {}
    except (OSError, ValueError) as exc:
        raise CommandError(f"{path} is not a JSON file: {exc}.") from None
    if not isinstance(data, dict):
        raise CommandError(f"{path} must hold a JSON object.")
    return data


def _validated(
    folder: Path, text: str, config: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The manifest, or CommandError listing every problem as file:line."""
    try:
        manifest, problems = services.validate(workspace=None, text=text, config=config)
    except EngineError as exc:
        raise CommandError(
            f"Could not validate {folder / MANIFEST}: {exc.message}"
        ) from None
    if problems or manifest is None:
        lines = [p.text(str(folder / MANIFEST)) for p in problems]
        raise CommandError(
            f"{folder / MANIFEST} is not valid ({len(lines)} problem(s)):\n"
            + "\n".join(lines)
        )
    return manifest


@cdk.action(
    "init",
    "Make a new low-code connector project: NAME/manifest.yaml and friends.",
    NAME,
    arg("type", nargs="?", default="source", choices=["source"], help="source"),
    DIR,
    arg(
        "--base-url",
        default="https://api.example.com/v1",
        help="The API address to put in secrets/config.json.",
    ),
)
def cdk_init(options: dict[str, Any]) -> CliResult:
    name = options["name"]
    if not scaffold.NAME_RE.match(name):
        raise CommandError(
            f"{name!r} cannot be a project name: start with a letter; letters, "
            "digits, - and _ only."
        )
    folder = _folder(options)
    if folder.exists() and any(folder.iterdir()):
        raise CommandError(
            f"{folder} already exists and is not empty: nothing written."
        )
    (folder / "secrets").mkdir(mode=0o700, parents=True, exist_ok=True)
    files = {
        MANIFEST: scaffold.manifest_text(name),
        str(CONFIG): scaffold.sample_config(options["base_url"]),
        "README.md": scaffold.readme(name),
        ".gitignore": scaffold.GITIGNORE,
    }
    for relative, content in files.items():
        # The config will hold an API key: readable by its owner only, from the
        # moment it exists.
        mode = 0o600 if relative == str(CONFIG) else 0o644
        fd = os.open(folder / relative, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "w") as handle:
            handle.write(content)
    listed = "\n".join(f"  {folder / f}" for f in files)
    return CliResult(
        data={"folder": str(folder), "files": sorted(files)},
        text=(
            f"Created {folder}:\n{listed}\n"
            f"Put your API's address and key in {folder / CONFIG}, then "
            f"`airbyte cdk build {name}`."
        ),
    )


@cdk.action(
    "build",
    "Validate NAME/manifest.yaml against the CDK's schema, then run spec and check.",
    NAME,
    DIR,
)
def cdk_build(options: dict[str, Any]) -> CliResult:
    folder, text = _read_project(options)
    config = _read_config(folder, required=False)
    manifest = _validated(folder, text, config)
    spec = declarative.manifest_spec(manifest)
    fields = sorted((spec.connection_specification.get("properties") or {}).keys())
    data: dict[str, Any] = {
        "valid": True,
        "streams": manifest_text.stream_names(manifest),
        "spec_fields": fields,
        "check": None,
    }
    lines = [
        f"{folder / MANIFEST}: valid",
        f"streams: {', '.join(data['streams'])}",
        f"spec: {', '.join(fields) or '(no fields)'}",
    ]
    exit_code = 0
    if config:
        try:
            result = get_engine(None).check(
                services.runner_ref(options["name"]),
                declarative.build_config(manifest, config),
            )
        except (EngineError, declarative.ManifestError) as exc:
            raise CommandError(getattr(exc, "message", str(exc))) from None
        data["check"] = {"ok": result.ok, "message": result.message}
        lines.append(
            "check: ok"
            if result.ok
            else f"check: FAILED: {result.message or 'the connector said no'}"
        )
        exit_code = 0 if result.ok else 1
    else:
        lines.append(f"check: skipped (no {folder / CONFIG})")
    return CliResult(data=data, text="\n".join(lines), exit_code=exit_code)


@cdk.action(
    "test",
    "Read a few records of a stream and show them with the inferred schema.",
    NAME,
    DIR,
    arg("--stream", help="The stream to read (default: the first)."),
    arg("--limit", type=int, default=10, help="Records to read at most (10)."),
)
def cdk_test(options: dict[str, Any]) -> CliResult:
    folder, text = _read_project(options)
    config = _read_config(folder, required=True)
    manifest = _validated(folder, text, config)
    streams = manifest_text.stream_names(manifest)
    stream = options.get("stream") or (streams[0] if streams else "")
    if stream not in streams:
        have = ", ".join(streams)
        raise CommandError(
            f"No stream {stream!r} in {folder / MANIFEST} (it has {have})."
        )
    limit = options.get("limit") or 10
    if limit < 1:
        raise CommandError("--limit must be at least 1.")
    try:
        read = get_engine(None).test_read(
            manifest, config, stream=stream, limits=ReadLimits(max_records=limit)
        )
    except EngineError as exc:
        raise CommandError(f"The test read of {stream} failed: {exc.message}") from None
    records = list(read.records)[:limit]
    lines = [f"{stream}: {len(records)} record(s) in {len(read.pages)} page(s)"]
    for number, page in enumerate(read.pages, 1):
        request, response = page["request"], page["response"]
        lines.append(
            f"  page {number}: {request.get('http_method', 'GET')} "
            f"{request.get('url', '')} -> {response.get('status', '?')}, "
            f"{len(page['records'])} record(s)"
        )
    lines.append("records:")
    lines.extend(json.dumps(r, sort_keys=True, default=str) for r in records)
    lines.append("inferred schema:")
    lines.append(json.dumps(read.inferred_schema, indent=2, sort_keys=True))
    return CliResult(
        data={**read.as_dict(), "records": records},
        text="\n".join(lines),
    )


@cdk.action(
    "deploy",
    "Publish NAME to a workspace's catalog as a new version (sources can use it).",
    NAME,
    DIR,
    WORKSPACE,
    AS_USER,
)
def cdk_deploy(options: dict[str, Any]) -> CliResult:
    membership = cli_membership(options, Role.EDITOR)
    folder, text = _read_project(options)
    manifest = _validated(folder, text, _read_config(folder, required=False))
    name = options["name"]
    workspace = membership.workspace
    try:
        project = selectors.builder_project_by_name(workspace=workspace, name=name)
        if project is None:
            project = services.builder_project_create(
                actor=membership.user,
                workspace=workspace,
                name=name,
                manifest_text_value=text,
            )
        else:
            project = services.builder_project_save(
                actor=membership.user, project=project, manifest_text_value=text
            )
        published = services.builder_publish(
            actor=membership.user, project=project, manifest=manifest
        )
    except ValidationError as exc:
        raise CommandError(" ".join(exc.messages)) from None
    definition, version = published.definition, published.manifest.version
    data = {
        "connector": definition.name,
        "definition_id": str(definition.definition_id),
        "version": version,
        "created": published.created,
        "workspace": workspace.name,
    }
    if published.created:
        text_out = (
            f"Published {definition.name} {version} to {workspace.name} "
            f"(definition {definition.definition_id}). New sources get it; "
            "existing ones keep their version."
        )
    else:
        text_out = (
            f"Unchanged: {definition.name} {version} already holds this manifest."
        )
    note = services.engine_note(workspace, definition)
    if note:
        data["note"] = note
        text_out += f"\n{note}"
    return CliResult(data=data, text=text_out)
