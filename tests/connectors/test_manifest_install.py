"""Installing a manifest-only connector from the catalog, as staff does.

The catalog's install runs on a worker (``connector_install_run``): it asks the
engine to install the pinned version (download, CDK check, store) and keeps the
spec the manifest declares, so the source form needs no process. The registry's
CDN is a FileServer on 127.0.0.1 (``tests/engines/manifest_only_cdn.py``).
"""

from __future__ import annotations

import pytest

from apps.audit.models import AuditEvent
from apps.connectors.catalog.services import (
    connector_install_request,
    connector_install_run,
    connector_uninstall_request,
)
from apps.connectors.models import (
    ConnectorInstall,
    ConnectorManifest,
    ConnectorSpecCache,
)
from apps.engines.registry import get_engine
from tests.engines.manifest_only_cdn import (
    cdn_fixture,  # noqa: F401 (the cdn fixture)
    tiny_api_fixture,  # noqa: F401 (the tiny_api fixture)
)

pytestmark = pytest.mark.django_db


def _install(staff, definition, version: str = "") -> ConnectorInstall:
    install = connector_install_request(
        actor=staff, definition=definition, version=version, enqueue=False
    )
    done = connector_install_run(install_id=install.pk)
    assert done is not None
    return done


def test_staff_installs_a_manifest_only_connector_from_the_catalog(
    staff, real_connectors, cdk_installed, cdn, tiny_api
):
    cdn.publish_manifest("1.0.0")

    install = _install(staff, tiny_api)

    assert install.status == ConnectorInstall.Status.SUCCEEDED, install.error
    assert "Downloading manifest.yaml (" in install.log
    assert "Installed Tiny API 1.0.0 (manifest-only)." in install.log
    assert ConnectorManifest.objects.filter(definition=tiny_api, version="1.0.0").get()
    cached = ConnectorSpecCache.objects.get(definition=tiny_api, version="1.0.0")
    assert cached.spec["connectionSpecification"]["required"] == [
        "account",
        "api_key",
    ]
    assert AuditEvent.objects.filter(action="connector.install").count() == 1
    assert get_engine().installed(tiny_api.ref)


def test_a_version_the_cdn_lacks_fails_with_a_message_and_stores_nothing(
    staff, real_connectors, cdk_installed, cdn, tiny_api
):
    cdn.publish_manifest("1.0.0")

    install = _install(staff, tiny_api, version="1.5.0")

    tiny_api.refresh_from_db()
    assert install.status == ConnectorInstall.Status.FAILED
    assert install.error.startswith(
        "Version 1.5.0 of Tiny API has no manifest on the registry's CDN"
    )
    assert "Failed: Version 1.5.0" in install.log
    assert not ConnectorManifest.objects.exists()
    assert not ConnectorSpecCache.objects.filter(definition=tiny_api).exists()
    assert tiny_api.pypi_version == "1.0.0"


def test_a_manifest_that_fails_validation_fails_the_install(
    staff, real_connectors, cdk_installed, cdn, tiny_api
):
    cdn.publish("1.0.0", "version: 6.0.0\ncheck: {}\nspec: {}\n")

    install = _install(staff, tiny_api)

    assert install.status == ConnectorInstall.Status.FAILED
    assert install.error == (
        "The manifest of Tiny API 1.0.0 cannot be used: The manifest defines no "
        "`streams`."
    )
    assert not ConnectorManifest.objects.exists()


def test_changing_version_installs_the_second_beside_the_first(
    staff, real_connectors, cdk_installed, cdn, tiny_api
):
    cdn.publish_manifest("1.0.0")
    cdn.publish_manifest("2.0.0")
    _install(staff, tiny_api)

    install = _install(staff, tiny_api, version="2.0.0")

    tiny_api.refresh_from_db()
    assert install.status == ConnectorInstall.Status.SUCCEEDED, install.error
    assert tiny_api.pypi_version == "2.0.0"
    assert sorted(
        ConnectorManifest.objects.filter(definition=tiny_api).values_list(
            "version", flat=True
        )
    ) == ["1.0.0", "2.0.0"]
    assert set(
        ConnectorSpecCache.objects.filter(definition=tiny_api).values_list(
            "version", flat=True
        )
    ) == {"1.0.0", "2.0.0"}


def test_uninstall_keeps_the_stored_versions_and_a_reinstall_downloads_nothing(
    staff, real_connectors, cdk_installed, cdn, tiny_api
):
    cdn.publish_manifest("1.0.0")
    _install(staff, tiny_api)
    removal = connector_uninstall_request(
        actor=staff, definition=tiny_api, enqueue=False
    )
    removed = connector_install_run(install_id=removal.pk)
    cdn.server.requests.clear()

    again = _install(staff, tiny_api)

    assert removed.status == ConnectorInstall.Status.SUCCEEDED, removed.error
    assert "Removed 0 installs of Tiny API." in removed.log
    assert ConnectorManifest.objects.filter(definition=tiny_api).count() == 1
    assert again.status == ConnectorInstall.Status.SUCCEEDED, again.error
    assert cdn.server.requests == []
