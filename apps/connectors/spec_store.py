"""Where engines keep a connector's ``spec`` between runs: one row per version.

The embedded engine runs ``spec`` once per connector version and asks this store
first; the connectors app registers it with the engine registry on start-up.
"""

from __future__ import annotations

from typing import Any

from apps.connectors.models import ConnectorDefinition, ConnectorSpecCache
from apps.engines.base import ConnectorRef


class ConnectorSpecStore:
    """The ``SpecStore`` engines use, kept in ``ConnectorSpecCache``."""

    def get(self, ref: ConnectorRef) -> dict[str, Any] | None:
        return (
            ConnectorSpecCache.objects.filter(
                definition__definition_id=ref.definition_id, version=ref.version
            )
            .values_list("spec", flat=True)
            .first()
        )

    def put(self, ref: ConnectorRef, spec: dict[str, Any]) -> None:
        definition = ConnectorDefinition.objects.filter(
            definition_id=ref.definition_id
        ).first()
        if definition is None:
            return
        # A cache, not a change anyone made: no audit event. get_or_create keeps
        # two workers that ran spec at once from colliding on the unique key.
        ConnectorSpecCache.objects.get_or_create(
            definition=definition, version=ref.version, defaults={"spec": spec}
        )
