"""Every destination the console writes itself has a catalog row, on every install.

The shipped registry's data migration made rows for the built-in destinations
there were then; one added later (files, MySQL) would appear on an existing
install only after a registry refresh. After each ``migrate`` this adds the row
of any registered ``DestinationDescriptor`` the catalog lacks, and changes no row
that exists: a refresh or a person may have set more on it.
"""

from __future__ import annotations

import uuid
from typing import Any

from apps.connectors.catalog.registry import engines_for
from apps.connectors.models import ConnectorDefinition
from apps.engines import registry as engine_registry


def ensure_builtin_destinations(using: str = "default", **kwargs: Any) -> list[str]:
    """Add the rows of registered built-in destinations the catalog lacks."""
    existing = set(
        ConnectorDefinition.objects.using(using).values_list("definition_id", flat=True)
    )
    added = []
    for descriptor in engine_registry.destinations():
        definition_id = uuid.UUID(descriptor.definition_id)
        if definition_id in existing:
            continue
        ConnectorDefinition.objects.using(using).create(
            kind=ConnectorDefinition.Kind.DESTINATION,
            definition_id=definition_id,
            name=descriptor.title,
            documentation_url=descriptor.docs_url,
            builtin=descriptor.name,
            icon=descriptor.icon,
            engines=engines_for(builtin=descriptor.name),
        )
        added.append(descriptor.title)
    return added
