"""Fixtures shared by the engine and catalog tests (imported by their modules).

Real connectors are installed once into a directory the suite reuses between runs
(``<repo>/var/test-connectors``, or ``TEST_CONNECTORS_DIR``), so only the first run
pays for pip; the file lock makes parallel xdist workers share one install.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from django.test import override_settings

from apps.connectors.models import ConnectorDefinition
from apps.engines.embedded import installer
from tests.engines import fakes

ROOT = Path(__file__).resolve().parent.parent.parent
CONNECTORS_DIR = Path(
    os.environ.get("TEST_CONNECTORS_DIR", ROOT / "var" / "test-connectors")
)

FAKER = ("airbyte-source-faker", "7.2.1")
HARDCODED = ("airbyte-source-hardcoded-records", "0.0.48")
CDK = ("airbyte-cdk", "7.39.1")

FAKER_ID = uuid.UUID("dfd88b22-b603-4c3d-aad7-3701784586b1")
HARDCODED_ID = uuid.UUID("084124ab-22db-4019-b36d-630418541bf7")
MANIFEST_ID = uuid.UUID("0b5c867e-1b12-4d02-ab74-97b2184ff6d8")
POSTGRES_ID = uuid.UUID("25c5221d-dce2-4163-ade9-739ef790f503")
DUCKDB_ID = uuid.UUID("94bd199c-2ff0-4aa2-b98e-17f0acb72610")


def _install_real(package: str, version: str, entrypoint: str = ""):
    with override_settings(CONNECTORS_DIR=CONNECTORS_DIR):
        return installer.ensure_installed(package, version, entrypoint=entrypoint)


@pytest.fixture
def real_connectors(settings) -> Path:
    """Point the installer at the suite's reusable connectors directory."""
    settings.CONNECTORS_DIR = CONNECTORS_DIR
    return CONNECTORS_DIR


@pytest.fixture(scope="session")
def faker_installed() -> installer.Installation:
    return _install_real(*FAKER)


@pytest.fixture(scope="session")
def hardcoded_installed() -> installer.Installation:
    return _install_real(*HARDCODED)


@pytest.fixture(scope="session")
def cdk_installed() -> installer.Installation:
    return _install_real(*CDK, entrypoint="source-declarative-manifest")


@pytest.fixture(scope="session")
def tiny_wheels(tmp_path_factory) -> Path:
    """A local package index (a --find-links folder) holding tiny connector wheels.

    1.0.0 and 1.1.0 work, 2.0.0's ``spec`` hangs, 3.0.0's ``spec`` crashes and
    4.0.0 needs a Python that does not exist yet.
    """
    directory = tmp_path_factory.mktemp("wheels")
    fakes.build_wheel(directory, "1.0.0")
    fakes.build_wheel(directory, "1.1.0")
    fakes.build_wheel(directory, "2.0.0", spec_mode="hang")
    fakes.build_wheel(directory, "3.0.0", spec_mode="crash")
    fakes.build_wheel(directory, "4.0.0", requires_python=">=3.99")
    return directory


@pytest.fixture
def offline_connectors(settings, tmp_path, tiny_wheels) -> Path:
    """A fresh connectors directory, with pip pointed at the local wheels only."""
    settings.CONNECTORS_DIR = tmp_path / "connectors"
    settings.CONNECTOR_PIP_ARGS = ["--no-index", "--find-links", str(tiny_wheels)]
    settings.CONNECTOR_TIMEOUTS = {"spec": 5, "check": 5, "discover": 5}
    return settings.CONNECTORS_DIR


@pytest.fixture
def tiny_definition(db) -> ConnectorDefinition:
    return ConnectorDefinition.objects.create(
        kind=ConnectorDefinition.Kind.SOURCE,
        definition_id=uuid.uuid4(),
        name="Tiny",
        pypi_package=fakes.PACKAGE,
        pypi_version="1.0.0",
        latest_version="1.1.0",
        engines=["embedded"],
    )


def definition(definition_id: uuid.UUID) -> ConnectorDefinition:
    """A shipped catalog entry; reloaded when a transactional test flushed it."""
    found = ConnectorDefinition.objects.filter(definition_id=definition_id).first()
    if found is None:
        from apps.connectors.catalog.registry import (
            SHIPPED_REGISTRY,
            load_registry_file,
            merge_registry,
            parse_registry,
        )

        merge_registry(
            parse_registry(load_registry_file(SHIPPED_REGISTRY)),
            model=ConnectorDefinition,
        )
        found = ConnectorDefinition.objects.get(definition_id=definition_id)
    return found
