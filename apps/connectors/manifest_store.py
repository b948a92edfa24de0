"""Where engines find a manifest-only connector's manifest: one row per version.

The embedded engine downloads a manifest on install and runs it from here; the
connector builder publishes new versions here too. The connectors app registers
this store with the engine registry on start-up.
"""

from __future__ import annotations

import hashlib

import orjson

from apps.connectors.models import ConnectorDefinition, ConnectorManifest
from apps.engines.base import ConnectorRef, StoredManifest


def manifest_digest(manifest: dict, components: str = "") -> str:
    """sha256 of the manifest (canonical JSON) and its components text."""
    digest = hashlib.sha256(orjson.dumps(manifest, option=orjson.OPT_SORT_KEYS))
    digest.update(b"\0")
    digest.update(components.encode("utf-8"))
    return digest.hexdigest()


class ConnectorManifestStore:
    """The ``ManifestStore`` engines use, kept in ``ConnectorManifest``."""

    def get(self, ref: ConnectorRef) -> StoredManifest | None:
        row = (
            ConnectorManifest.objects.filter(
                definition__definition_id=ref.definition_id, version=ref.version
            )
            .values("manifest", "components", "digest")
            .first()
        )
        return StoredManifest(**row) if row else None

    def put(self, ref: ConnectorRef, stored: StoredManifest) -> None:
        definition = ConnectorDefinition.objects.filter(
            definition_id=ref.definition_id
        ).first()
        if definition is None:
            return
        # A download, not a change anyone made: the install that asked for it is
        # the audited event. get_or_create: a stored version never changes.
        ConnectorManifest.objects.get_or_create(
            definition=definition,
            version=ref.version,
            defaults={
                "manifest": stored.manifest,
                "components": stored.components,
                "digest": stored.digest
                or manifest_digest(stored.manifest, stored.components),
            },
        )
