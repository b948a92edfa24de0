"""The connector builder's two CDK runs: validating a manifest and a test read.

Both run in the declarative CDK's own virtualenv (``airbyte-cdk`` at
``settings.DECLARATIVE_CDK_VERSION``, installed by ``installer`` like any
connector, console script ``source-declarative-manifest``) and in the connector
sandbox, like every connector process: a manifest is the user's code, and its
requests go wherever it says. The console's own process never imports
``airbyte_cdk``.

- Validation runs ``builder_validate.py`` (next to this module) with the CDK's
  python: the CDK's own ``$ref`` resolution and component schema, every error
  with its JSON path.
- A test read runs the CDK's connector builder handler,
  ``python -m airbyte_cdk.connector_builder.main read --config F --catalog C``,
  with the manifest under ``__injected_declarative_manifest``, ``__command:
  test_read`` and the limits under ``__test_read_config``. It prints one RECORD
  whose data is the CDK's ``StreamRead`` (slices of pages, each with its HTTP
  request, response and records; the inferred schema; logs), or an ERROR trace.

Everything the CDK printed is masked with the config's secrets (those the
manifest's spec marks ``airbyte_secret``, and secret-looking keys) before it
leaves this module.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from django.conf import settings

from apps.engines import declarative
from apps.engines.base import (
    EngineError,
    ManifestProblem,
    ReadLimits,
    StreamReadResult,
)
from apps.engines.embedded import installer, protocol
from apps.engines.embedded.runner import (
    ConnectorProcess,
    connector_env,
    private_files,
    run_connector,
)
from apps.engines.masking import SecretMasker, secret_values

logger = logging.getLogger(__name__)

CDK_PACKAGE = "airbyte-cdk"
CDK_ENTRYPOINT = "source-declarative-manifest"
VALIDATE_SCRIPT = Path(__file__).with_name("builder_validate.py")
DEFAULT_TIMEOUTS = {"validate_manifest": 120, "test_read": 300}
# A response body longer than this is cut for the page (records are kept whole).
MAX_BODY_CHARS = 20_000
MAX_RECORDS = 1_000


def timeout_for(verb: str) -> float:
    """Seconds a builder run gets (settings.CONNECTOR_TIMEOUTS, else the default)."""
    configured = getattr(settings, "CONNECTOR_TIMEOUTS", {}) or {}
    return float(configured.get(verb, DEFAULT_TIMEOUTS[verb]))


def cdk() -> installer.Installation:
    """The CDK's virtualenv, installed first if this host has none yet."""
    version = str(getattr(settings, "DECLARATIVE_CDK_VERSION", "") or "")
    if not version:
        raise EngineError("DECLARATIVE_CDK_VERSION is empty: no CDK to run.")
    return installer.ensure_installed(CDK_PACKAGE, version, entrypoint=CDK_ENTRYPOINT)


def masker_for(manifest: dict[str, Any], config: dict[str, Any]) -> SecretMasker:
    """A masker for the secrets of ``config`` under the manifest's own spec."""
    try:
        spec = declarative.manifest_spec(manifest)
    except declarative.ManifestError:
        spec = None
    return SecretMasker(secret_values(config, spec))


def _masked(data: Any, masker: SecretMasker) -> Any:
    """``data`` with every secret replaced, through its JSON text (keys included)."""
    return json.loads(masker.mask(json.dumps(data, default=str)))


# -- validation -----------------------------------------------------------------------


def validate(
    manifest: dict[str, Any],
    *,
    config: dict[str, Any] | None = None,
    workspace_id: str = "",
) -> list[ManifestProblem]:
    """Every problem the CDK finds in ``manifest`` ([] when it would run it)."""
    if not isinstance(manifest, dict):
        return [ManifestProblem((), "A manifest is a YAML mapping.")]
    config = dict(config or {})
    masker = masker_for(manifest, config)
    installation = cdk()
    result = run_connector(
        [str(installation.python), str(VALIDATE_SCRIPT)],
        "validate",
        masker=masker,
        config={"manifest": manifest, "config": config},
        timeout=timeout_for("validate_manifest"),
        bin_dir=installation.bin_dir,
        workspace_id=workspace_id or None,
    )
    message = result.first(protocol.RECORD)
    if message is None:
        raise EngineError(
            result.failure_message(
                "validate the manifest", timeout_for("validate_manifest")
            ),
            logs=tuple(result.logs),
        )
    problems = ((message.get("record") or {}).get("data") or {}).get("problems")
    return [
        ManifestProblem(
            tuple(p.get("path") or ()), masker.mask(str(p.get("message") or ""))
        )
        for p in problems or []
    ]


# -- test read ------------------------------------------------------------------------


def _catalog(stream: str) -> dict[str, Any]:
    return {
        "streams": [
            {
                "stream": {
                    "name": stream,
                    "json_schema": {},
                    "supported_sync_modes": ["full_refresh", "incremental"],
                },
                "sync_mode": "full_refresh",
                "destination_sync_mode": "append",
            }
        ]
    }


def test_read(
    manifest: dict[str, Any],
    config: dict[str, Any],
    *,
    stream: str,
    limits: ReadLimits | None = None,
    workspace_id: str = "",
) -> StreamReadResult:
    """Read a few records of ``stream`` the way the CDK's connector builder does."""
    limits = limits or ReadLimits()
    names = [
        s.get("name") for s in manifest.get("streams") or [] if isinstance(s, dict)
    ]
    if stream not in names:
        raise EngineError(
            f"The manifest has no stream {stream!r}"
            + (f" (it has {', '.join(map(str, names))})." if names else ".")
        )
    if declarative.MANIFEST_KEY in config:
        raise EngineError(f"`{declarative.MANIFEST_KEY}` is reserved for the manifest.")
    masker = masker_for(manifest, config)
    installation = cdk()
    full = {
        **config,
        declarative.MANIFEST_KEY: manifest,
        "__command": "test_read",
        "__test_read_config": {
            "max_records": limits.max_records,
            "max_pages_per_slice": limits.max_pages_per_slice,
            "max_slices": limits.max_slices,
        },
    }
    timeout = timeout_for("test_read")
    with private_files(config=full, catalog=_catalog(stream)) as (directory, files):
        argv = [
            str(installation.python),
            "-m",
            "airbyte_cdk.connector_builder.main",
            "read",
            "--config",
            str(files["config"]),
            "--catalog",
            str(files["catalog"]),
        ]
        process = ConnectorProcess(
            argv,
            masker=masker,
            env=connector_env(installation.bin_dir),
            cwd=directory,
            timeout=timeout,
            workspace_id=workspace_id or None,
        )
        try:
            process.start()
        except OSError as exc:
            raise EngineError(
                f"Could not start the CDK: {exc.strerror or exc}"
            ) from None
        messages: list[dict[str, Any]] = []
        try:
            messages.extend(process.messages())
        finally:
            returncode = process.stop()
        logs = tuple(process.logs)
        stderr = "\n".join(process.stderr_tail)
    answer = next(
        (
            m
            for m in messages
            if m.get("type") == protocol.RECORD
            and (m.get("record") or {}).get("stream") == stream
        ),
        None,
    )
    if answer is None:
        errors = [protocol.trace_error(m) for m in messages if m.get("type") == "TRACE"]
        errors = [e for e in errors if e is not None]
        if process.timed_out:
            reason = f"The test read did not finish within {timeout:g} s."
        elif errors:
            reason = errors[-1][0]
        else:
            tail = " | ".join(stderr.strip().splitlines()[-5:])
            reason = f"The CDK exited with code {returncode} without an answer" + (
                f": {tail}" if tail else "."
            )
        raise EngineError(masker.mask(reason), logs=logs)
    data = _masked((answer.get("record") or {}).get("data") or {}, masker)
    return stream_read_result(stream, data, logs=logs)


def stream_read_result(
    stream: str, data: dict[str, Any], *, logs: tuple[str, ...] = ()
) -> StreamReadResult:
    """The CDK's ``StreamRead`` (already masked) as the console's plain result."""
    pages: list[dict[str, Any]] = []
    records: list[dict[str, Any]] = []
    for slice_ in data.get("slices") or []:
        descriptor = slice_.get("slice_descriptor")
        for page in slice_.get("pages") or []:
            page_records = [r for r in page.get("records") or [] if isinstance(r, dict)]
            response = dict(page.get("response") or {})
            body = response.get("body")
            if isinstance(body, str) and len(body) > MAX_BODY_CHARS:
                response["body"] = body[:MAX_BODY_CHARS] + "…"
                response["truncated"] = True
            pages.append(
                {
                    "slice": descriptor,
                    "request": page.get("request") or {},
                    "response": response,
                    "records": page_records,
                }
            )
            records.extend(page_records)
    cdk_logs = tuple(
        f"{entry.get('level', 'INFO')}: {entry.get('message', '')}"
        for entry in data.get("logs") or []
        if isinstance(entry, dict)
    )
    return StreamReadResult(
        stream=stream,
        pages=tuple(pages),
        records=tuple(records[:MAX_RECORDS]),
        inferred_schema=data.get("inferred_schema"),
        logs=cdk_logs + tuple(logs),
        limit_reached=bool(data.get("test_read_limit_reached")),
    )
