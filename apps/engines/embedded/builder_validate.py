"""Validate a declarative manifest with the CDK: run *inside* the CDK's virtualenv.

The console never imports this module (nor airbyte_cdk): ``builder.py`` runs it as
a script with the CDK virtualenv's python, in the connector sandbox, as
``python builder_validate.py validate --config FILE``, where FILE holds
``{"manifest": {...}, "config": {...}}``. It prints one Airbyte protocol RECORD
message whose data is ``{"problems": [{"path": [...], "message": "..."}]}``.

It does what the CDK's own source does before it runs a manifest (resolve
``$ref``s, propagate types and ``$parameters``, validate against
``declarative_component_schema.yaml``), but reports every error with its JSON
path instead of stopping at the first, then builds the source and its streams
so that errors the schema cannot see (a broken ``$ref``, a component that cannot
be created) are reported too.
"""

import copy
import json
import sys

MAX_MESSAGE = 500


def _emit(problems):
    message = {
        "type": "RECORD",
        "record": {
            "stream": "validate_manifest",
            "data": {"problems": problems},
            "emitted_at": 0,
        },
    }
    sys.stdout.write(json.dumps(message, default=str) + "\n")
    sys.stdout.flush()


def _short(text):
    text = " ".join(str(text).split())
    if len(text) > MAX_MESSAGE:
        return text[: MAX_MESSAGE - 1] + "…"
    return text


def _schema_problems(manifest):
    from airbyte_cdk.sources.declarative.concurrent_declarative_source import (
        get_declarative_component_schema,
    )
    from airbyte_cdk.sources.declarative.parsers.manifest_component_transformer import (
        ManifestComponentTransformer,
    )
    from airbyte_cdk.sources.declarative.parsers.manifest_reference_resolver import (
        ManifestReferenceResolver,
    )
    from jsonschema.exceptions import best_match
    from jsonschema.validators import validator_for

    source = copy.deepcopy(manifest)
    source.setdefault("type", "DeclarativeSource")
    try:
        resolved = ManifestReferenceResolver().preprocess_manifest(source)
        propagated = ManifestComponentTransformer().propagate_types_and_parameters(
            "", resolved, {}
        )
    except Exception as exc:
        return [{"path": [], "message": _short(f"Cannot resolve the manifest: {exc}")}]
    schema = get_declarative_component_schema()
    validator = validator_for(schema)(schema)
    problems = []
    seen = set()
    for error in validator.iter_errors(propagated):
        for leaf in _leaves(error, best_match):
            key = (tuple(leaf.absolute_path), leaf.message)
            if key in seen:
                continue
            seen.add(key)
            problems.append(
                {"path": list(leaf.absolute_path), "message": _short(leaf.message)}
            )
    problems.sort(key=lambda p: [str(part) for part in p["path"]])
    return problems


def _type_refused(errors):
    """A branch of anyOf whose ``type`` does not match is not the one meant."""
    return any(
        e.validator in ("enum", "const") and list(e.relative_path) == ["type"]
        for e in errors
    )


def _leaves(error, best_match, depth=0):
    """The errors that name a wrong field, not "... is not valid under any of".

    An anyOf/oneOf error holds every branch's errors. The branch meant is the one
    whose ``type`` matched (a ``CursorPagination`` is not a ``PageIncrement``):
    all of its errors are reported, each followed down the same way. When no
    single branch is meant, jsonschema's own best match stands in.
    """
    if not error.context or depth > 20:
        return [error]
    branches = {}
    for sub in error.context:
        branches.setdefault(sub.relative_schema_path[0], []).append(sub)
    meant = [errors for errors in branches.values() if not _type_refused(errors)]
    if len(meant) != 1:
        return [best_match([error]) or error]
    return [leaf for sub in meant[0] for leaf in _leaves(sub, best_match, depth + 1)]


def _build_problems(manifest, config):
    from airbyte_cdk.sources.declarative.concurrent_declarative_source import (
        ConcurrentDeclarativeSource,
    )

    try:
        source = ConcurrentDeclarativeSource(
            source_config=copy.deepcopy(manifest),
            config=config,
            custom_components_trusted=False,
        )
        source.streams(config=config)
    except Exception as exc:
        return [{"path": [], "message": _short(f"The CDK cannot build it: {exc}")}]
    return []


def main(argv):
    if len(argv) < 3 or argv[0] != "validate" or argv[1] != "--config":
        sys.stderr.write("usage: builder_validate.py validate --config FILE\n")
        return 2
    with open(argv[2]) as handle:
        document = json.load(handle)
    manifest = document.get("manifest")
    config = document.get("config") or {}
    if not isinstance(manifest, dict):
        _emit([{"path": [], "message": "A manifest is a YAML mapping."}])
        return 0
    problems = _schema_problems(manifest)
    if not problems:
        problems = _build_problems(manifest, config)
    _emit(problems)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
