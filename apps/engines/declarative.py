"""The "Custom YAML manifest" source: Airbyte's low-code CDK run on a user's manifest.

It runs through ``source-declarative-manifest`` from airbyte-cdk, installed like any
other connector. That command takes the manifest inside its config, under the key
``__injected_declarative_manifest`` (airbyte_cdk/cli/source_declarative_manifest/
_run.py; newer CDKs also accept ``--manifest-path``, older ones do not, so the key
is what the console uses). Its own ``spec`` is a generic one; the form a user fills
in comes from the manifest's ``spec.connection_specification`` instead.
"""

from __future__ import annotations

import json
from typing import Any

from apps.engines.base import ConnectorSpec

MANIFEST_KEY = "__injected_declarative_manifest"


class ManifestError(ValueError):
    """The manifest cannot be used; the message says what to fix."""


def parse_manifest_text(text: str) -> dict[str, Any]:
    """A manifest from pasted or uploaded YAML (or JSON) text."""
    try:
        import yaml  # PyYAML: optional, JSON (a subset of YAML) works without it.
    except ModuleNotFoundError:
        yaml = None
    try:
        data = yaml.safe_load(text) if yaml is not None else json.loads(text)
    except (ValueError, getattr(yaml, "YAMLError", ValueError)) as exc:
        raise ManifestError(f"The manifest is not valid YAML: {exc}") from None
    validate_manifest(data)
    return data


def validate_manifest(manifest: Any) -> None:
    """Refuse a manifest the CDK could not run, with a message that says why."""
    if not isinstance(manifest, dict):
        raise ManifestError("A manifest is a YAML mapping (version, streams, spec...).")
    if not (manifest.get("streams") or manifest.get("dynamic_streams")):
        raise ManifestError("The manifest defines no `streams`.")
    if "check" not in manifest:
        raise ManifestError("The manifest has no `check` section.")
    spec = manifest.get("spec")
    if not isinstance(spec, dict) or not isinstance(
        spec.get("connection_specification"), dict
    ):
        raise ManifestError(
            "The manifest has no `spec.connection_specification`: it says what the "
            "user configures, even if that is nothing (an empty object schema)."
        )


def manifest_spec(manifest: dict[str, Any]) -> ConnectorSpec:
    """The spec a source built from this manifest offers to the user."""
    validate_manifest(manifest)
    spec = manifest["spec"]
    return ConnectorSpec(
        connection_specification=spec["connection_specification"],
        documentation_url=str(spec.get("documentation_url") or ""),
        advanced_auth=spec.get("advanced_auth"),
    )


def build_config(manifest: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    """The config ``source-declarative-manifest`` runs with: user's + manifest."""
    validate_manifest(manifest)
    if MANIFEST_KEY in config:
        raise ManifestError(f"`{MANIFEST_KEY}` is reserved for the manifest itself.")
    return {**config, MANIFEST_KEY: manifest}


def split_config(
    full: dict[str, Any],
) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """``(manifest, user config)`` from a config built by ``build_config``."""
    rest = {k: v for k, v in full.items() if k != MANIFEST_KEY}
    manifest = full.get(MANIFEST_KEY)
    return (manifest if isinstance(manifest, dict) else None), rest
