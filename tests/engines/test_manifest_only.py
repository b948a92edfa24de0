"""Manifest-only connectors on the embedded engine: install, spec, check, discover.

The registry's CDN and the API the manifests read are a FileServer on 127.0.0.1
(``manifest_only_cdn``); the CDK's declarative runner (airbyte-cdk 7.39.1) runs
for real, sandboxed like any connector.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import httpx
import pytest
import yaml
from django.conf import settings

from apps.connectors.models import ConnectorManifest, ConnectorSpecCache
from apps.engines import declarative, sandbox
from apps.engines.base import EngineError
from apps.engines.embedded import launch, manifests
from apps.engines.embedded.engine import EmbeddedEngine
from tests.engines.manifest_only_cdn import (
    API_KEY,
    COMPONENTS,
    cdn_fixture,  # noqa: F401 (the cdn fixture)
    good_config,
    manifest,
    tiny_api_fixture,  # noqa: F401 (the tiny_api fixture)
)
from tests.http_files import FileServer

pytestmark = pytest.mark.django_db


def _install(ref):
    lines: list[str] = []
    spec = EmbeddedEngine().install(ref, on_output=lines.append)
    return spec, lines


def test_install_downloads_checks_and_stores_the_manifest(
    real_connectors, cdk_installed, cdn, tiny_api
):
    doc = cdn.publish_manifest("1.0.0")

    spec, lines = _install(tiny_api.ref)

    stored = ConnectorManifest.objects.get(definition=tiny_api, version="1.0.0")
    assert stored.manifest == doc
    assert stored.components == ""
    assert stored.origin == ConnectorManifest.Origin.REGISTRY
    assert len(stored.digest) == 64
    # components.py was looked for beside the manifest: its 404 means none.
    assert cdn.requested("1.0.0") == ["manifest.yaml", "components.py"]
    assert any(
        line.startswith("Downloading manifest.yaml (") and "KB)" in line
        for line in lines
    ), lines
    assert "Checking the manifest with airbyte-cdk 7.39.1." in lines
    assert spec["connectionSpecification"]["required"] == ["account", "api_key"]
    assert spec["documentationUrl"] == "https://docs.example.test/tiny-api"
    assert launch.installed(tiny_api.ref)


def test_spec_comes_from_the_stored_manifest_without_a_process(
    real_connectors, cdk_installed, cdn, tiny_api, monkeypatch
):
    cdn.publish_manifest("1.0.0")
    _install(tiny_api.ref)

    def no_process(*args, **kwargs):
        raise AssertionError("spec started a process")

    monkeypatch.setattr("apps.engines.embedded.engine.run_connector", no_process)
    spec = EmbeddedEngine().spec(tiny_api.ref)

    assert list(spec.connection_specification["properties"]) == ["account", "api_key"]
    assert spec.secret_paths() == [("api_key",)]
    assert ConnectorSpecCache.objects.filter(
        definition=tiny_api, version="1.0.0"
    ).exists()


def test_check_and_discover_run_the_manifest_for_real(
    real_connectors, cdk_installed, cdn, tiny_api
):
    cdn.publish_manifest("1.0.0")
    _install(tiny_api.ref)
    engine = EmbeddedEngine()

    ok = engine.check(tiny_api.ref, good_config())
    refused = engine.check(tiny_api.ref, good_config(account="nobody"))
    catalog = engine.discover(tiny_api.ref, good_config())

    assert ok.ok, ok.message
    assert not refused.ok
    assert "404" in refused.message
    # The key rides in the URL the CDK quotes: masked everywhere it could show.
    assert API_KEY not in refused.message + "".join(refused.logs)
    assert [s.name for s in catalog.streams] == ["items"]
    assert catalog.streams[0].source_defined_primary_key == (("id",),)


def test_components_ride_in_the_config_and_unlock_custom_code(
    real_connectors, cdk_installed, cdn, tiny_api
):
    cdn.publish_manifest("2.0.0")
    ref = replace(tiny_api.ref, version="2.0.0")

    _install(ref)
    ready = launch.launch(ref)
    config = ready.prepare_config(
        {**good_config(), declarative.COMPONENTS_KEY: "import os  # smuggled"}
    )

    assert ConnectorManifest.objects.get(version="2.0.0").components == COMPONENTS
    assert config[declarative.COMPONENTS_KEY] == COMPONENTS
    assert set(config[declarative.COMPONENTS_CHECKSUMS_KEY]) == {"sha256"}
    assert config[declarative.MANIFEST_KEY]["streams"][1]["name"] == "users"
    assert ready.env == {"AIRBYTE_ENABLE_UNSAFE_CODE": "true"}
    assert ready.sandboxed
    # Without components the runner keeps custom code off.
    cdn.publish_manifest("1.0.0")
    assert launch.launch(tiny_api.ref).env == {}
    catalog = EmbeddedEngine().discover(ref, good_config())
    assert [s.name for s in catalog.streams] == ["items", "users"]


def test_a_second_version_installs_beside_the_first(
    real_connectors, cdk_installed, cdn, tiny_api
):
    cdn.publish_manifest("1.0.0")
    cdn.publish_manifest("2.0.0")
    first = tiny_api.ref
    second = replace(first, version="2.0.0")

    _install(first)
    _install(second)

    assert sorted(
        ConnectorManifest.objects.filter(definition=tiny_api).values_list(
            "version", flat=True
        )
    ) == ["1.0.0", "2.0.0"]
    engine = EmbeddedEngine()
    assert [s.name for s in engine.discover(first, good_config()).streams] == ["items"]
    assert [s.name for s in engine.discover(second, good_config()).streams] == [
        "items",
        "users",
    ]


def test_an_installed_version_is_not_downloaded_again(
    real_connectors, cdk_installed, cdn, tiny_api
):
    cdn.publish_manifest("1.0.0")
    _install(tiny_api.ref)
    cdn.server.requests.clear()

    spec, lines = _install(tiny_api.ref)

    assert cdn.server.requests == []
    assert spec["connectionSpecification"]["required"] == ["account", "api_key"]
    assert "Tiny API 1.0.0: the manifest is already stored." in lines


def test_a_builder_manifest_installs_without_the_cdn_and_survives_uninstall(
    real_connectors, cdk_installed, cdn, tiny_api
):
    ConnectorManifest.objects.create(
        definition=tiny_api,
        version="0.1.0",
        manifest=manifest(cdn.api_url),
        digest="0" * 64,
        origin=ConnectorManifest.Origin.BUILDER,
    )
    ref = replace(tiny_api.ref, version="0.1.0")

    spec, _ = _install(ref)
    removed = EmbeddedEngine().uninstall(ref)

    assert cdn.server.requests == []
    assert spec["connectionSpecification"]["required"] == ["account", "api_key"]
    assert removed == 0
    assert ConnectorManifest.objects.filter(version="0.1.0").exists()
    assert EmbeddedEngine().check(ref, good_config()).ok


def test_a_version_never_installed_is_downloaded_when_a_worker_needs_it(
    real_connectors, cdk_installed, cdn, tiny_api
):
    cdn.publish_manifest("1.0.0")

    result = EmbeddedEngine().check(tiny_api.ref, good_config())

    assert result.ok, result.message
    assert ConnectorManifest.objects.filter(definition=tiny_api).count() == 1


# -- bad input: a clear message, nothing stored ---------------------------------------


def _refused(ref) -> str:
    with pytest.raises(EngineError) as caught:
        _install(ref)
    assert not ConnectorManifest.objects.exists()
    assert not manifests.installed(ref)
    return caught.value.message


def test_a_version_missing_from_the_cdn_says_so(cdn, tiny_api):
    message = _refused(replace(tiny_api.ref, version="9.9.9"))

    assert "Version 9.9.9 of Tiny API has no manifest on the registry's CDN" in message
    assert "404" in message


def test_a_cdn_error_on_components_fails_the_install(cdn, tiny_api):
    cdn.publish("1.0.0", yaml.safe_dump(manifest(cdn.api_url)), components=500)

    message = _refused(tiny_api.ref)

    assert "Downloading components.py failed" in message
    assert "500" in message


def test_invalid_yaml_names_the_line(cdn, tiny_api):
    cdn.publish("1.0.0", "version: 6.0.0\nstreams:\n  - name: [unclosed\ncheck: {}\n")

    message = _refused(tiny_api.ref)

    assert message.startswith(
        "The manifest of Tiny API 1.0.0 is not valid YAML at line"
    )
    assert "line 4" in message


def test_a_manifest_without_streams_is_refused(cdn, tiny_api):
    broken = manifest(cdn.api_url)
    del broken["streams"]
    cdn.publish("1.0.0", yaml.safe_dump(broken))

    message = _refused(tiny_api.ref)

    assert message == (
        "The manifest of Tiny API 1.0.0 cannot be used: The manifest defines no "
        "`streams`."
    )


def test_a_manifest_the_cdk_refuses_is_not_stored(
    real_connectors, cdk_installed, cdn, tiny_api
):
    broken = manifest(cdn.api_url)
    broken["streams"][0]["retriever"]["requester"]["http_method"] = "TELEPORT"
    cdn.publish("1.0.0", yaml.safe_dump(broken))

    message = _refused(tiny_api.ref)

    assert message.startswith(
        "airbyte-cdk 7.39.1 refused the manifest of Tiny API 1.0.0:"
    ), message
    assert "TELEPORT" in message


def test_components_that_do_not_compile_are_refused(cdn, tiny_api):
    cdn.publish(
        "2.0.0", yaml.safe_dump(manifest(cdn.api_url, version="2.0.0")), "def x(:\n"
    )

    message = _refused(replace(tiny_api.ref, version="2.0.0"))

    assert message.startswith(
        "The components.py of Tiny API 2.0.0 is not valid Python at line 1"
    )


def test_components_that_fail_in_the_cdk_are_refused(
    real_connectors, cdk_installed, cdn, tiny_api
):
    cdn.publish(
        "2.0.0",
        yaml.safe_dump(manifest(cdn.api_url, version="2.0.0")),
        "raise RuntimeError('components exploded')\n",
    )

    message = _refused(replace(tiny_api.ref, version="2.0.0"))

    assert "refused the manifest" in message
    assert "components exploded" in message


def test_a_huge_file_is_not_a_manifest(cdn, tiny_api, monkeypatch):
    monkeypatch.setattr(manifests, "MAX_FILE_BYTES", 1000)
    cdn.publish("1.0.0", "# " + "x" * 2000 + "\n")

    message = _refused(tiny_api.ref)

    assert message == "manifest.yaml is larger than 1000 bytes; that is no manifest."


def test_a_huge_file_without_a_content_length_is_cut_off_as_it_arrives(
    cdn, tiny_api, monkeypatch
):
    monkeypatch.setattr(manifests, "MAX_FILE_BYTES", 1000)
    cdn.publish("1.0.0", "# " + "x" * 2000 + "\n")
    # No Content-Length: only counting the bytes as they come can refuse it.
    cdn.server.no_length.add(cdn.path("1.0.0"))

    message = _refused(tiny_api.ref)

    assert message == "manifest.yaml is larger than 1000 bytes; that is no manifest."


def test_a_cdn_that_drips_the_manifest_is_given_up_on_at_the_deadline(
    cdn, tiny_api, monkeypatch
):
    # A byte every 50 ms never trips the 60 s read timeout; the whole download
    # (a few KB, minutes at this pace) must still end at the deadline.
    monkeypatch.setattr(manifests, "DOWNLOAD_DEADLINE", 1.0)
    cdn.publish_manifest("1.0.0")
    cdn.server.drip[cdn.path("1.0.0")] = 0.05

    message = _refused(tiny_api.ref)

    assert message == (
        "manifest.yaml did not finish downloading within 1 s "
        f"({cdn.server.url(cdn.path('1.0.0'))}): the registry's CDN sends it too "
        "slowly. Try again later."
    )
    assert cdn.requested("1.0.0") == ["manifest.yaml"]


def test_a_redirect_within_the_cdn_is_followed(
    real_connectors, cdk_installed, cdn, tiny_api
):
    doc = cdn.publish_manifest("1.0.0")
    moved = "/files/moved/manifest.yaml"
    cdn.server.files[moved] = cdn.server.files[cdn.path("1.0.0")]
    cdn.server.files[cdn.path("1.0.0")] = ("redirect", cdn.server.url(moved))

    _install(tiny_api.ref)

    assert ConnectorManifest.objects.get(definition=tiny_api).manifest == doc
    assert moved in cdn.server.requests


def test_a_redirect_to_another_host_is_refused_without_going_there(cdn, tiny_api):
    cdn.publish_manifest("1.0.0")
    with FileServer() as elsewhere:
        elsewhere.files["/evil/manifest.yaml"] = cdn.server.files[cdn.path("1.0.0")]
        cdn.server.files[cdn.path("1.0.0")] = (
            "redirect",
            elsewhere.url("/evil/manifest.yaml?token=sig"),
        )

        message = _refused(tiny_api.ref)

        assert elsewhere.requests == []
    assert message == (
        f"Downloading manifest.yaml from {cdn.server.url(cdn.path('1.0.0'))} "
        f"failed: it redirected to {elsewhere.url('/evil/manifest.yaml')}, which is "
        f"not the registry's CDN ({cdn.server.url()}). The console follows "
        "redirects only within the CDN."
    )


def test_a_redirect_from_https_to_http_on_the_same_host_is_refused(settings):
    settings.CONNECTOR_CDN_URL = "https://cdn.example.test/files"

    with pytest.raises(manifests.ManifestInstallError) as caught:
        manifests._check_redirect(
            "manifest.yaml",
            "https://cdn.example.test/files/m.yaml",
            httpx.URL("http://cdn.example.test/files/m.yaml"),
        )

    assert "redirected to http://cdn.example.test/files/m.yaml" in (
        caught.value.message
    )
    manifests._check_redirect(
        "manifest.yaml",
        "https://cdn.example.test/files/m.yaml",
        httpx.URL("https://cdn.example.test:443/elsewhere/m.yaml"),
    )


def test_a_redirect_loop_on_the_cdn_gives_up(cdn, tiny_api):
    here = cdn.path("1.0.0")
    cdn.server.files[here] = ("redirect", cdn.server.url(here))

    message = _refused(tiny_api.ref)

    assert message.endswith("failed: it redirected more than 3 times.")
    assert cdn.requested("1.0.0") == ["manifest.yaml"] * 4


def test_a_connector_without_a_repository_has_nothing_to_download(cdn, tiny_api):
    message = _refused(replace(tiny_api.ref, docker_repository=""))

    assert "names no Airbyte connector" in message
    assert cdn.server.requests == []


def test_a_check_of_streams_the_manifest_lacks_is_refused_at_install(
    real_connectors, cdk_installed, cdn, tiny_api
):
    broken = manifest(cdn.api_url)
    broken["check"] = {"type": "CheckStream", "stream_names": ["nope"]}
    cdn.publish("1.0.0", yaml.safe_dump(broken))

    message = _refused(tiny_api.ref)

    assert message == (
        "airbyte-cdk 7.39.1 refused the manifest of Tiny API 1.0.0: its check "
        "reads streams it does not define: nope"
    )


def test_the_cdk_refusing_a_stored_manifest_at_check_is_a_failed_check(
    real_connectors, cdk_installed, cdn, tiny_api
):
    # Published from the builder, so no install checked it.
    broken = manifest(cdn.api_url)
    broken["check"] = {"type": "CheckStream", "stream_names": ["nope"]}
    ConnectorManifest.objects.create(
        definition=tiny_api,
        version="1.0.0",
        manifest=broken,
        digest="0" * 64,
        origin=ConnectorManifest.Origin.BUILDER,
    )

    result = EmbeddedEngine().check(tiny_api.ref, good_config())

    assert not result.ok
    assert result.message
    assert "nope is not part of the catalog" in "".join(result.logs)
    assert API_KEY not in result.message + "".join(result.logs)


@pytest.mark.skipif(not sandbox.enabled(), reason="needs the bwrap sandbox")
def test_components_run_in_the_sandbox_away_from_the_console_files(
    real_connectors, cdk_installed, cdn, tiny_api
):
    console_file = Path(settings.BASE_DIR) / "manage.py"
    assert console_file.is_file()
    cdn.publish(
        "2.0.0",
        yaml.safe_dump(manifest(cdn.api_url, version="2.0.0")),
        f"open({str(console_file)!r}).read()\n",
    )

    message = _refused(replace(tiny_api.ref, version="2.0.0"))

    assert "No such file or directory" in message


def test_manifest_yaml_keeps_dates_as_the_text_they_were():
    data = declarative.load_yaml("start: 2024-01-01\nat: 2024-01-01T00:00:00Z\n")

    assert data == {"start": "2024-01-01", "at": "2024-01-01T00:00:00Z"}


def test_custom_code_is_any_class_name_or_a_components_file():
    assert not declarative.uses_custom_code({"streams": [{"name": "x"}]})
    assert declarative.uses_custom_code({"streams": [{"a": {"class_name": "x.Y"}}]})
    assert declarative.uses_custom_code({}, "class Y: ...\n")
