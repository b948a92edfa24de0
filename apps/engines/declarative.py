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
# A manifest's ``components.py`` rides in the config too, with its checksum: the CDK
# refuses code whose checksum does not match (airbyte_cdk/sources/declarative/
# parsers/custom_code_compiler.py), and runs custom code at all only when the
# process's environment says ``AIRBYTE_ENABLE_UNSAFE_CODE=true``.
COMPONENTS_KEY = "__injected_components_py"
COMPONENTS_CHECKSUMS_KEY = "__injected_components_py_checksums"
UNSAFE_CODE_ENV = "AIRBYTE_ENABLE_UNSAFE_CODE"
# Every key the console injects; a user's config never gets to set one.
INJECTED_KEYS = (MANIFEST_KEY, COMPONENTS_KEY, COMPONENTS_CHECKSUMS_KEY)


class ManifestError(ValueError):
    """The manifest cannot be used; the message says what to fix."""


class YamlTooLarge(ManifestError):
    """YAML whose aliases expand past MAX_YAML_NODES values (or into themselves).

    It is about the whole document, so it is reported on line 1.
    """


def parse_manifest_text(text: str) -> dict[str, Any]:
    """A manifest from pasted or uploaded YAML (or JSON) text."""
    data = load_yaml(text)
    validate_manifest(data)
    return data


def load_yaml(text: str, *, what: str = "The manifest") -> Any:
    """Parsed YAML (or JSON) text; a ManifestError naming the line if it is not.

    Timestamps stay strings: a manifest's unquoted ``2024-01-01`` is text to the
    CDK, and a ``date`` would not survive the JSON the manifest is stored and
    passed in.
    """
    try:
        import yaml  # PyYAML: optional, JSON (a subset of YAML) works without it.
    except ModuleNotFoundError:
        try:
            return json.loads(text)
        except ValueError as exc:
            raise ManifestError(f"{what} is not valid YAML: {exc}") from None
    try:
        return guarded_load(text)
    except YamlTooLarge as exc:
        raise ManifestError(f"{what} is too large at line 1: {exc}.") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ManifestError(f"{what} is not valid YAML{where}: {problem}.") from None


# Nodes a YAML document may expand to once its aliases are followed. Real
# manifests hold a few thousand (Airbyte's largest, ~200 KB, under 50,000); an
# alias bomb of 355 characters holds millions and took 14 s to turn into JSON.
MAX_YAML_NODES = 100_000


def guarded_load(text: str) -> Any:
    """``text`` parsed by the manifest loader, refusing alias bombs.

    PyYAML keeps an alias as one shared object, so ``safe_load`` itself is
    quick; but everything after it (JSON, the digest, the CDK) copies each
    alias out in full, exponentially. The composed node graph is counted as it
    would be expanded (memoised per node, so the count is linear) before
    anything is built from it. Raises ``yaml.YAMLError`` (with its mark) for
    bad YAML, and :class:`YamlTooLarge` for a bomb.
    """
    loader = _loader()(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_expanded_size(node)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _check_expanded_size(root: Any, limit: int = MAX_YAML_NODES) -> None:
    """Raise YamlTooLarge when ``root`` expands to more than ``limit`` nodes."""
    import yaml

    def children(node: Any) -> list[Any]:
        if isinstance(node, yaml.MappingNode):
            return [part for pair in node.value for part in pair]
        if isinstance(node, yaml.SequenceNode):
            return list(node.value)
        return []

    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            open_nodes.discard(key)
            sizes[key] = 1 + sum(sizes[id(child)] for child in children(node))
            if sizes[key] > limit:
                raise YamlTooLarge(
                    f"the document expands to more than {limit:,} values once its "
                    "aliases (*name) are followed; write the repeated parts out or "
                    "use $ref"
                )
            continue
        if key in sizes:
            continue
        if key in open_nodes:
            raise YamlTooLarge("an alias (*name) refers to a value that contains it")
        open_nodes.add(key)
        stack.append((node, True))
        stack.extend(
            (child, False) for child in children(node) if id(child) not in sizes
        )


_LOADER: list[type] = []


def _loader() -> type:
    """PyYAML's SafeLoader, except that timestamps stay the strings they were."""
    if not _LOADER:
        import yaml

        base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        loader = type("ManifestLoader", (base,), {})
        loader.add_constructor(
            "tag:yaml.org,2002:timestamp",
            lambda self, node: self.construct_scalar(node),
        )
        _LOADER.append(loader)
    return _LOADER[0]


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


def manifest_raw_spec(manifest: dict[str, Any]) -> dict[str, Any]:
    """The protocol's ``spec`` object (as a SPEC message carries it) of a manifest.

    What the CDK's ``Spec.generate_spec`` answers for a manifest-only connector,
    built without starting it: the camelCase keys of the protocol, ``advanced_auth``
    as it is.
    """
    validate_manifest(manifest)
    spec = manifest["spec"]
    raw: dict[str, Any] = {"connectionSpecification": spec["connection_specification"]}
    if spec.get("documentation_url"):
        raw["documentationUrl"] = str(spec["documentation_url"])
    if spec.get("advanced_auth"):
        raw["advanced_auth"] = spec["advanced_auth"]
    return raw


def uses_custom_code(manifest: Any, components: str = "") -> bool:
    """Does running this manifest run Python the CDK does not ship?

    A ``components.py``, or any ``class_name`` (a custom component): the CDK runs
    either only under ``AIRBYTE_ENABLE_UNSAFE_CODE=true`` when the manifest is
    injected.
    """
    if components.strip():
        return True
    if isinstance(manifest, dict):
        return "class_name" in manifest or any(
            uses_custom_code(value) for value in manifest.values()
        )
    if isinstance(manifest, list):
        return any(uses_custom_code(value) for value in manifest)
    return False


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
