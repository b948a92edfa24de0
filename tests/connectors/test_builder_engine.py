"""The connector builder's CDK runs, for real: validation and a test read.

The embedded engine runs the declarative CDK (airbyte-cdk at
DECLARATIVE_CDK_VERSION) in its own virtualenv, sandboxed like a connector; the
test read pages through a local API that checks an API key.
"""

from __future__ import annotations

import json

import pytest
import yaml

from apps.connectors.builder import scaffold
from apps.core.masking import MASK
from apps.engines.base import EngineError, ReadLimits
from apps.engines.embedded.engine import EmbeddedEngine
from tests.connectors.builder_api import API_KEY, ItemsApi

pytestmark = pytest.mark.usefixtures("real_connectors", "cdk_installed")


def _manifest() -> dict:
    return yaml.safe_load(scaffold.manifest_text("items_api"))


def test_the_scaffold_is_a_valid_manifest():
    assert EmbeddedEngine().validate_manifest(_manifest()) == []


def test_validation_names_each_wrong_field_by_its_path():
    manifest = _manifest()
    strategy = manifest["streams"][0]["retriever"]["paginator"]["pagination_strategy"]
    del strategy["cursor_value"]
    manifest["check"]["stream_names"] = "items"

    problems = EmbeddedEngine().validate_manifest(manifest)

    found = {(p.path, p.message) for p in problems}
    assert (("check", "stream_names"), "'items' is not of type 'array'") in found
    assert (
        ("streams", 0, "retriever", "paginator", "pagination_strategy"),
        "'cursor_value' is a required property",
    ) in found


def test_a_broken_ref_is_reported_for_the_whole_manifest():
    manifest = _manifest()
    manifest["streams"][0]["retriever"]["requester"]["$ref"] = "#/definitions/nope"

    problems = EmbeddedEngine().validate_manifest(manifest)

    assert problems and problems[0].path == ()
    assert "nope" in problems[0].message


def test_test_read_shows_each_page_with_the_api_key_masked():
    with ItemsApi() as api:
        result = EmbeddedEngine().test_read(
            _manifest(),
            {"base_url": api.url, "api_key": API_KEY},
            stream="items",
            limits=ReadLimits(max_records=50),
        )
        asked = list(api.requests)

    assert [r["page"] for r in asked] == [1, 2]
    assert all(r["key"] == API_KEY for r in asked)
    assert len(result.pages) == 2
    first, second = result.pages
    assert first["request"]["url"].endswith("/items")
    assert second["request"]["url"].endswith("/items?page=2")
    assert first["response"]["status"] == 200
    assert [r["name"] for r in first["records"]] == ["first", "second"]
    assert [r["id"] for r in result.records] == [1, 2, 3]
    assert set(result.inferred_schema["properties"]) == {"id", "name"}
    # The key the API checked never comes back: not in a header, not anywhere.
    text = json.dumps(result.as_dict())
    assert API_KEY not in text
    assert first["request"]["headers"]["X-API-Key"] in (MASK, "****")


def test_a_refused_key_is_a_failed_page_not_a_leak():
    with ItemsApi() as api:
        wrong = "Canary-wrong-key-7781"
        try:
            result = EmbeddedEngine().test_read(
                _manifest(),
                {"base_url": api.url, "api_key": wrong},
                stream="items",
            )
        except EngineError as exc:
            assert wrong not in exc.message
            assert "401" in exc.message or "Unauthorized" in exc.message
            return
    text = json.dumps(result.as_dict())
    assert wrong not in text
    assert result.pages[0]["response"]["status"] == 401
    assert result.records == ()


def test_test_read_refuses_a_stream_the_manifest_does_not_have():
    with pytest.raises(EngineError, match=r"no stream 'users' \(it has items\)"):
        EmbeddedEngine().test_read(_manifest(), {}, stream="users")
