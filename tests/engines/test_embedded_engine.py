"""The embedded engine's spec, check and discover against real connectors."""

from __future__ import annotations

import pytest

from apps.connectors.models import ConnectorSpecCache
from apps.core.masking import MASK
from apps.engines.base import EngineError
from apps.engines.embedded import engine as engine_module
from apps.engines.embedded.engine import EmbeddedEngine
from apps.engines.registry import get_engine
from tests.engines.fixtures import FAKER_ID, HARDCODED_ID, definition

pytestmark = pytest.mark.django_db


def test_get_engine_returns_the_embedded_engine(workspace):
    assert isinstance(get_engine(workspace), EmbeddedEngine)


def test_faker_spec_is_run_once_then_served_from_the_cache(
    real_connectors, faker_installed, monkeypatch
):
    faker = definition(FAKER_ID)

    spec = EmbeddedEngine().spec(faker)

    assert spec.connection_specification["properties"]["count"]["type"] == "integer"
    assert (
        spec.documentation_url == "https://docs.airbyte.com/integrations/sources/faker"
    )
    assert ConnectorSpecCache.objects.filter(definition=faker, version="7.2.1").exists()
    monkeypatch.setattr(
        engine_module, "run_connector", lambda *a, **k: pytest.fail("ran spec again")
    )
    monkeypatch.setattr(
        engine_module.installer,
        "ensure_installed",
        lambda *a, **k: pytest.fail("installed again"),
    )
    assert EmbeddedEngine().spec(faker) == spec


def test_faker_check_and_discover(real_connectors, faker_installed):
    faker = definition(FAKER_ID)
    config = {"count": 100, "seed": 1}

    result = EmbeddedEngine().check(faker, config)
    catalog = EmbeddedEngine().discover(faker, config)

    assert result.ok, result.message
    names = {s.name for s in catalog.streams}
    assert {"users", "products", "purchases"} <= names
    users = catalog.stream("users")
    assert "incremental" in users.supported_sync_modes
    assert users.source_defined_cursor
    assert users.default_cursor_field == ("updated_at",)
    assert users.source_defined_primary_key == (("id",),)
    assert users.json_schema["properties"]["id"]["type"] in (
        "integer",
        ["null", "integer"],
    )
    assert catalog.as_dict()["streams"][0]["name"] in names


def test_faker_check_with_an_invalid_config_fails_with_its_message(
    real_connectors, faker_installed
):
    result = EmbeddedEngine().check(definition(FAKER_ID), {"count": "many"})

    assert not result.ok
    assert result.message == "Config validation error: 'many' is not of type 'integer'"


def test_hardcoded_records_spec_check_discover(real_connectors, hardcoded_installed):
    hardcoded = definition(HARDCODED_ID)
    config = {"count": 10}

    spec = EmbeddedEngine().spec(hardcoded)
    result = EmbeddedEngine().check(hardcoded, config)
    catalog = EmbeddedEngine().discover(hardcoded, config)

    assert "count" in spec.connection_specification["properties"]
    assert result.ok, result.message
    assert {"products", "customers"} <= {s.name for s in catalog.streams}


def test_check_masks_secrets_the_connector_echoes(offline_connectors, tiny_definition):
    result = EmbeddedEngine().check(
        tiny_definition, {"api_key": "wrong-Canary-123", "mode": "ok"}
    )

    assert not result.ok
    assert result.message == f"Wrong key {MASK}"


def test_check_of_a_connector_that_cannot_install_says_why(
    offline_connectors, tiny_definition
):
    tiny_definition.pypi_version = "9.9.9"

    result = EmbeddedEngine().check(tiny_definition, {"api_key": "right-key"})

    assert not result.ok
    assert "Version 9.9.9 of airbyte-source-tiny does not exist" in result.message


def test_check_timeout_is_reported(
    offline_connectors, tiny_definition, settings, tmp_path
):
    settings.CONNECTOR_TIMEOUTS = {"spec": 5, "check": 1}

    result = EmbeddedEngine().check(
        tiny_definition,
        {"api_key": "right-key", "mode": "hang", "pid_file": str(tmp_path / "p")},
    )

    assert not result.ok
    assert (
        result.message
        == "`check` did not finish within 1 s; the connector was stopped."
    )


def test_discover_failure_raises_with_the_trace_message(
    offline_connectors, tiny_definition
):
    with pytest.raises(EngineError) as failure:
        EmbeddedEngine().discover(
            tiny_definition, {"api_key": "Canary-abc-999", "mode": "trace"}
        )

    assert failure.value.message == f"Auth failed for key {MASK}"
