"""The connector builder page: drafts, Validate and Test on a worker, Publish.

The worker's task is run explicitly by each test (``queued``); the CDK runs for
real against a local API that checks an API key.
"""

from __future__ import annotations

from unittest import mock

import pytest
import yaml
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.connectors.builder import scaffold, services
from apps.connectors.builder.models import BuilderProject
from apps.connectors.models import ConnectorManifest
from apps.connectors.selectors import definition_choices
from apps.core.masking import MASK
from tests.connectors.builder_api import API_KEY, ItemsApi
from tests.factories import WorkspaceFactory

HX = {"HX-Request": "true"}


@pytest.fixture
def queued():
    with mock.patch(
        "apps.connectors.builder.tasks.builder_run_task.delay_on_commit"
    ) as task:
        yield task


@pytest.fixture
def project(workspace, editor):
    return services.builder_project_create(
        actor=editor, workspace=workspace, name="Items API"
    )


@pytest.fixture
def api():
    with ItemsApi() as running:
        yield running


def url(name: str, workspace, *args) -> str:
    return reverse(f"connector_builder:{name}", args=[workspace.public_id, *args])


def _save(
    client,
    workspace,
    project,
    *,
    action: str,
    text: str,
    config: str = "",
    stream: str = "items",
):
    return client.post(
        url("save", workspace, project.public_id),
        {"manifest": text, "stream": stream, "config": config, "action": action},
    )


def _run_queued(queued) -> BuilderProject:
    project_pk, run_id = queued.call_args.args
    return services.builder_run(project_pk=project_pk, run_id=run_id)


def test_an_editor_starts_a_connector_from_the_template(editor, workspace, login):
    client = login(editor)

    response = client.post(url("create", workspace), {"name": "Items API"})

    project = BuilderProject.objects.get(workspace=workspace)
    assert response.status_code == 302
    assert response["Location"] == url("detail", workspace, project.public_id)
    assert project.manifest_text == scaffold.manifest_text("Items API")
    assert AuditEvent.objects.filter(
        action="connector_builder.created", target_id=str(project.public_id)
    ).exists()
    page = client.get(response["Location"])
    assert "CursorPagination" in page.text and 'value="test_read"' in page.text


def test_a_viewer_cannot_save_and_an_outsider_is_not_told_it_exists(
    viewer, outsider, workspace, project, login
):
    data = {"manifest": "nope", "action": "save"}
    target = url("save", workspace, project.public_id)

    assert login(viewer).post(target, data).status_code == 403
    assert login(outsider).post(target, data).status_code == 404
    project.refresh_from_db()
    assert project.manifest_text != "nope"


def test_invalid_yaml_is_saved_as_a_draft_and_its_line_is_shown(
    editor, workspace, project, login, queued
):
    client = login(editor)
    broken = project.manifest_text.replace(
        "  type: CheckStream\n", "  type: CheckStream: oops\n", 1
    )

    response = _save(client, workspace, project, action="validate", text=broken)

    assert response.status_code == 302
    project.refresh_from_db()
    assert project.manifest_text == broken  # nothing lost
    assert project.run_status == "failed"
    queued.assert_not_called()  # no worker needed to read a syntax error
    line = broken.splitlines().index("  type: CheckStream: oops") + 1
    page = client.get(url("detail", workspace, project.public_id))
    assert f"line {line}" in page.text and "YAML syntax" in page.text
    assert "type: CheckStream: oops" in page.text  # the textarea keeps the edit


def test_validate_lists_each_schema_error_on_its_line(
    editor, workspace, project, login, queued, real_connectors, cdk_installed
):
    client = login(editor)
    text = project.manifest_text.replace(
        "  stream_names:\n    - items\n", "  stream_names: items\n"
    )
    _save(client, workspace, project, action="validate", text=text)

    done = _run_queued(queued)

    assert done.run_status == "failed"
    line = text.splitlines().index("  stream_names: items") + 1
    partial = client.get(url("run", workspace, project.public_id), headers=HX)
    assert "<html" not in partial.text
    assert f'href="#line-{line}" data-goto-line="{line}">line {line}</a>' in (
        partial.text
    )
    assert "check.stream_names" in partial.text
    assert "is not of type" in partial.text
    assert 'data-testid="publish"' not in partial.text


def test_test_shows_each_page_with_the_key_masked_and_publish_makes_versions(
    editor, workspace, project, login, queued, api, real_connectors, cdk_installed
):
    client = login(editor)
    config = f'{{"base_url": "{api.url}", "api_key": "{API_KEY}"}}'
    _save(
        client,
        workspace,
        project,
        action="test_read",
        text=project.manifest_text,
        config=config,
    )
    pending = client.get(url("run", workspace, project.public_id), headers=HX)
    assert (
        "running on a worker" in pending.text
        and 'hx-trigger="every 1s"' in pending.text
    )

    done = _run_queued(queued)

    assert done.run_status == "succeeded", done.run_message
    page = client.get(url("detail", workspace, project.public_id))
    html = page.text
    assert API_KEY not in html
    assert html.count('data-testid="page"') == 2
    assert "/items?page=2" in html
    assert "{&quot;id&quot;: 3, &quot;name&quot;: &quot;third&quot;}" in html
    # The CDK masks the header it sent; the console masks whatever it missed.
    assert any(
        f'data-testid="request-header">{mask}</td>' in html for mask in ("****", MASK)
    )
    assert "Inferred schema" in html
    # The config comes back masked, and sending the mask back keeps the key.
    assert MASK in html
    masked = f'{{"base_url": "{api.url}", "api_key": "{MASK}"}}'
    _save(
        client,
        workspace,
        project,
        action="save",
        text=done.manifest_text,
        config=masked,
    )
    assert (
        services.project_test_config(BuilderProject.objects.get(pk=project.pk))[
            "api_key"
        ]
        == API_KEY
    )

    first = client.post(url("publish", workspace, project.public_id))
    assert first.status_code == 302
    project.refresh_from_db()
    definition = project.definition
    assert definition.pypi_version == "0.1.0" and definition.release_stage == "custom"
    assert definition.name == "Items API"
    # Publishing the same manifest again makes no version.
    client.post(url("publish", workspace, project.public_id))
    assert ConnectorManifest.objects.filter(definition=definition).count() == 1
    assert AuditEvent.objects.filter(action="connector_builder.published").count() == 1
    # Only this workspace's picker offers it.
    assert definition in definition_choices(kind="source", workspace=workspace)
    other = WorkspaceFactory(name="Other team")
    assert definition not in definition_choices(kind="source", workspace=other)
    # An edit needs a passing run again before it can be published.
    edited = done.manifest_text.replace("example.com/docs", "example.com/docs/v2")
    # A changed manifest needs the key typed again (a kept one goes only where
    # it was entered for: test_builder_safety.py).
    _save(client, workspace, project, action="save", text=edited, config=config)
    refused = client.get(
        client.post(url("publish", workspace, project.public_id))["Location"]
    )
    assert "Validate or Test the manifest as it is now first" in refused.text
    assert ConnectorManifest.objects.filter(definition=definition).count() == 1


def test_publishing_a_changed_manifest_makes_the_next_version(editor, project):
    manifest = yaml.safe_load(project.manifest_text)
    first = services.connector_publish(actor=editor, project=project, manifest=manifest)
    same = services.connector_publish(actor=editor, project=project, manifest=manifest)
    manifest["spec"]["documentation_url"] = "https://example.com/v2"
    second = services.connector_publish(
        actor=editor, project=project, manifest=manifest
    )

    assert (first.created, same.created, second.created) == (True, False, True)
    assert [first.manifest.version, second.manifest.version] == ["0.1.0", "0.1.1"]
    assert same.manifest == first.manifest
    second.definition.refresh_from_db()
    assert second.definition.pypi_version == "0.1.1"
    assert second.manifest.origin == ConnectorManifest.Origin.BUILDER


def test_another_workspace_cannot_use_a_connector_built_here(
    editor, project, outsider, login
):
    from django.core.exceptions import ValidationError

    from apps.connectors.services import connector_create

    published = services.connector_publish(
        actor=editor, project=project, manifest=yaml.safe_load(project.manifest_text)
    )
    other = outsider.memberships.get().workspace
    client = login(outsider)

    # Its id typed into the new-source URL gets the picker, not the form...
    page = client.get(
        reverse("connectors:source_create", args=[other.public_id]),
        {"definition": published.definition.public_id},
    )
    assert page.status_code == 200
    assert "Items API" not in page.text
    # ...and the service refuses it whatever the caller.
    with pytest.raises(ValidationError, match="not in this workspace's catalog"):
        connector_create(
            actor=outsider,
            workspace=other,
            kind="source",
            name="Stolen",
            definition=published.definition,
            config={"base_url": "http://127.0.0.1:9"},
        )


def test_a_run_whose_worker_was_lost_stops_the_polling_and_says_so(
    editor, workspace, project, login, queued
):
    from datetime import timedelta

    import time_machine
    from django.utils import timezone

    client = login(editor)
    _save(client, workspace, project, action="validate", text=project.manifest_text)
    polling = client.get(url("run", workspace, project.public_id), headers=HX)
    assert 'hx-trigger="every 1s"' in polling.text

    with time_machine.travel(timezone.now() + timedelta(minutes=20)):
        lost = client.get(url("run", workspace, project.public_id), headers=HX)

    assert "the worker running it was lost" in lost.text
    assert "hx-trigger" not in lost.text


def test_the_shared_catalog_does_not_list_connectors_built_in_a_workspace(
    editor, project, outsider, login
):
    services.connector_publish(
        actor=editor, project=project, manifest=yaml.safe_load(project.manifest_text)
    )
    other = outsider.memberships.get().workspace

    page = login(outsider).get(
        reverse("connectors:catalog", args=[other.public_id]), {"q": "Items API"}
    )

    assert page.status_code == 200
    assert "Items API" not in page.text.replace('value="Items API"', "")


def test_staff_see_projects_in_the_admin_but_never_the_test_config(
    admin, project, login
):
    admin.is_staff = admin.is_superuser = True
    admin.save()
    project.test_config = '{"api_key": "Canary-admin-key-99"}'
    project.save()
    client = login(admin)

    listing = client.get(reverse("admin:connector_builder_builderproject_changelist"))
    detail = client.get(
        reverse("admin:connector_builder_builderproject_change", args=[project.pk])
    )

    assert "Items API" in listing.text
    assert detail.status_code == 200
    assert "Canary-admin-key-99" not in detail.text
