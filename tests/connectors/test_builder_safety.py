"""The connector builder against misuse and races (issue #16, review part 4).

A stored secret goes only where it was entered for; a secret in any encoding
stays out of the page, the database and the admin; an alias bomb is refused on
line 1; a run records only the manifest it was asked about, once; two tabs
creating or publishing do not crash or double; ``content add`` picks only a
connector its workspace sees; an Airbyte workspace Validates, Tests and
Publishes from the page.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from unittest import mock
from urllib.parse import quote, quote_plus

import pytest
import yaml
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.connectors.builder import services
from apps.connectors.builder.models import BuilderProject
from apps.connectors.content_cli import _definition
from apps.connectors.manifest_store import manifest_digest
from apps.connectors.models import ConnectorManifest
from apps.core.masking import MASK
from apps.engines import declarative
from tests.airbyte.conftest import (  # noqa: F401 - fixtures
    _fast_retries,
    airbyte_workspace,
    polls,
    pushes_now,
)
from tests.connectors.builder_api import API_KEY, ItemsApi
from tests.connectors.test_builder_page import _run_queued, _save, url
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


def _config(base_url: str, api_key: str) -> str:
    return json.dumps({"base_url": base_url, "api_key": api_key})


def _stored(project: BuilderProject) -> dict[str, Any]:
    return services.project_test_config(BuilderProject.objects.get(pk=project.pk))


# -- 1. a kept secret goes only where it was entered for ----------------------------


def test_a_masked_key_is_not_sent_to_a_changed_base_url(
    admin, editor, workspace, project, login, queued
):
    with ItemsApi() as real, ItemsApi(api_key="whatever") as evil:
        _save(
            login(admin),
            workspace,
            project,
            action="save",
            text=project.manifest_text,
            config=_config(real.url, API_KEY),
        )
        # Another editor sees only the mask, points base_url at their server
        # and presses Test.
        refused = _save(
            login(editor),
            workspace,
            project,
            action="test_read",
            text=project.manifest_text,
            config=_config(evil.url, MASK),
        )

        assert refused.status_code == 400
        assert (
            "Enter the API key again: the base URL changed, and a saved secret is "
            "only sent where it was entered for." in refused.text
        )
        # Nothing was saved or run; the evil server heard nothing.
        assert not queued.called
        assert evil.requests == []
        assert _stored(project) == {"base_url": real.url, "api_key": API_KEY}
        # Typing the key again is accepted (it is the editor's own now).
        _save(
            login(editor),
            workspace,
            project,
            action="save",
            text=project.manifest_text,
            config=_config(evil.url, "my-own-key"),
        )
        assert _stored(project) == {"base_url": evil.url, "api_key": "my-own-key"}


def test_a_masked_key_is_not_kept_across_a_manifest_change(
    admin, editor, workspace, project, login, queued
):
    _save(
        login(admin),
        workspace,
        project,
        action="save",
        text=project.manifest_text,
        config=_config("https://api.example.com/v1", API_KEY),
    )
    # The manifest decides where requests go: a url_base written into it
    # instead of the config sends the key just as far.
    moved = project.manifest_text.replace(
        "url_base: \"{{ config['base_url'] }}\"", 'url_base: "https://evil.example"'
    )
    assert moved != project.manifest_text

    refused = _save(
        login(editor),
        workspace,
        project,
        action="test_read",
        text=moved,
        config=_config("https://api.example.com/v1", MASK),
    )

    assert refused.status_code == 400
    assert "Enter the API key again: the manifest changed" in refused.text
    # The edit is not lost: the page shows it back in the editor.
    assert "https://evil.example" in refused.text
    assert API_KEY not in refused.text
    assert not queued.called
    assert BuilderProject.objects.get(pk=project.pk).manifest_text == (
        project.manifest_text
    )
    # The same config with the same manifest keeps the key (the mask works).
    _save(
        login(editor),
        workspace,
        project,
        action="save",
        text=project.manifest_text,
        config=_config("https://api.example.com/v1", MASK),
    )
    assert _stored(project)["api_key"] == API_KEY


def test_a_manifest_saved_without_the_config_forgets_the_stored_key(
    admin, editor, workspace, project
):
    """``airbyte cdk deploy`` (and a form that did not validate) send no config:
    the manifest changes, so the key typed for the old one is dropped rather
    than left for the next Test to send wherever the new one points."""
    services.builder_project_save(
        actor=admin,
        project=project,
        manifest_text_value=project.manifest_text,
        test_config={"base_url": "https://api.example.com/v1", "api_key": API_KEY},
    )
    moved = project.manifest_text.replace("path: /items", "path: /items/v2")

    services.builder_project_save(
        actor=editor, project=project, manifest_text_value=moved
    )

    assert _stored(project) == {"base_url": "https://api.example.com/v1"}
    saved = AuditEvent.objects.filter(action="connector_builder.saved").latest("pk")
    assert saved.changes["changed"][1] == ["manifest", "test config"]
    # A save of the same manifest without a config keeps what is stored.
    services.builder_project_save(
        actor=admin,
        project=project,
        manifest_text_value=moved,
        test_config={"base_url": "https://api.example.com/v1", "api_key": API_KEY},
    )
    services.builder_project_save(
        actor=editor, project=project, manifest_text_value=moved
    )
    assert _stored(project)["api_key"] == API_KEY


# -- 2. a secret in any encoding stays out of the result ------------------------------


class EchoApi:
    """One record per GET whose body echoes the raw path and Authorization."""

    def __enter__(self) -> EchoApi:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = json.dumps(
                    {
                        "data": [{"id": 1, "name": "x"}],
                        "echo_path": self.path,
                        "echo_auth": self.headers.get("Authorization"),
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


SECRET = "Canary/key+9=="
BASIC = "    authenticator:\n      type: BasicHttpAuthenticator\n"


def test_a_key_sent_as_query_parameter_and_basic_auth_is_masked_everywhere(
    editor, workspace, project, login, queued, real_connectors, cdk_installed
):
    text = project.manifest_text.replace(
        "    authenticator:\n"
        "      type: ApiKeyAuthenticator\n"
        "      api_token: \"{{ config['api_key'] }}\"\n"
        "      inject_into:\n"
        "        type: RequestOption\n"
        "        inject_into: header\n"
        "        field_name: X-API-Key\n",
        BASIC + "      username: reader\n"
        "      password: \"{{ config['api_key'] }}\"\n"
        "    request_parameters:\n"
        "      key: \"{{ config['api_key'] }}\"\n",
    )
    assert BASIC in text
    client = login(editor)
    with EchoApi() as api:
        _save(
            client,
            workspace,
            project,
            action="test_read",
            text=text,
            config=_config(api.url, SECRET),
        )
        done = _run_queued(queued)

    assert done.run_status == "succeeded", done.run_message
    stored = json.dumps(done.run_result)
    html = client.get(url("detail", workspace, project.public_id)).text
    partial = client.get(url("run", workspace, project.public_id), headers=HX).text
    # The server did get the key both ways (the echo is in the result)...
    assert "echo_path" in stored and "Basic " in stored
    # ...and no form of it is left: plain, URL-encoded, base64 of user:key.
    basic = base64.b64encode(f"reader:{SECRET}".encode()).decode()
    forms = (SECRET, quote(SECRET, safe=""), quote_plus(SECRET), basic)
    for where in (stored, html, partial):
        for form in forms:
            assert form not in where, form
    assert MASK in html
    # Staff never see the run's result in the admin.
    editor.is_staff = editor.is_superuser = True
    editor.save()
    admin_page = client.get(
        reverse("admin:connector_builder_builderproject_change", args=[project.pk])
    ).text
    assert "echo_path" not in admin_page
    assert quote(SECRET, safe="") not in admin_page


# -- 3. alias bombs -------------------------------------------------------------------


def _alias_bomb() -> str:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 7):
        lines.append(f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]")
    lines.append("streams: [*a6]")
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_is_saved_as_a_draft_and_refused_on_line_one(
    editor, workspace, project, login, queued
):
    text = _alias_bomb()
    assert len(text) < 400
    client = login(editor)

    _save(client, workspace, project, action="validate", text=text)
    page = client.get(url("detail", workspace, project.public_id))

    assert page.status_code == 200
    assert BuilderProject.objects.get(pk=project.pk).manifest_text == text
    assert not queued.called
    done = BuilderProject.objects.get(pk=project.pk)
    assert done.run_status == "failed"
    [problem] = done.run_result["problems"]
    assert problem["line"] == 1
    assert "expands to more than 100,000 values" in problem["message"]
    assert "expands to more than 100,000 values" in page.text


def test_the_guarded_loader_refuses_bombs_and_self_reference_everywhere():
    with pytest.raises(declarative.ManifestError, match="too large at line 1"):
        declarative.parse_manifest_text(_alias_bomb())
    # The registry's CDN manifests are read with load_yaml too.
    with pytest.raises(declarative.ManifestError, match="too large at line 1"):
        declarative.load_yaml(_alias_bomb(), what="source-x's manifest")
    with pytest.raises(declarative.ManifestError, match="refers to a value that"):
        declarative.load_yaml("a: &a [1, *a]\n")
    # Ordinary aliases (and timestamps as text) still load.
    assert declarative.load_yaml("d: 2024-01-01\nx: &x {a: 1}\ny: [*x, *x]\n") == {
        "d": "2024-01-01",
        "x": {"a": 1},
        "y": [{"a": 1}, {"a": 1}],
    }


# -- 4 and 9. a run records the manifest it was asked about, once ---------------------


def test_a_run_of_a_manifest_replaced_before_the_worker_started_fails(
    editor, workspace, project, login, queued
):
    good = project.manifest_text
    bad = good.replace("  stream_names:\n    - items\n", "  stream_names: items\n")
    client = login(editor)
    _save(client, workspace, project, action="validate", text=bad)  # tab 1
    _save(client, workspace, project, action="save", text=good)  # tab 2

    with mock.patch.object(services, "validate") as validate:
        done = _run_queued(queued)

    assert not validate.called
    assert done.run_status == "failed"
    assert done.run_message == "The manifest changed since you asked: run it again."
    _save(client, workspace, project, action="save", text=bad)
    refused = client.get(
        client.post(url("publish", workspace, project.public_id))["Location"]
    )
    assert "Validate or Test the manifest as it is now first" in refused.text
    assert not BuilderProject.objects.get(pk=project.pk).definition_id


def test_a_second_delivery_of_a_run_does_not_run_the_cdk_again(
    editor, workspace, project, login, queued
):
    _save(
        login(editor), workspace, project, action="validate", text=project.manifest_text
    )
    project_pk, run_id = queued.call_args.args
    runs = []
    seen = []

    def validate(**kwargs: Any):
        runs.append(1)
        seen.append(BuilderProject.objects.get(pk=project_pk).run_status)
        if len(runs) == 1:  # the broker redelivers while this one runs
            assert services.builder_run(project_pk=project_pk, run_id=run_id) is None
        return yaml.safe_load(kwargs["text"]), []

    with mock.patch.object(services, "validate", side_effect=validate):
        done = services.builder_run(project_pk=project_pk, run_id=run_id)
        again = services.builder_run(project_pk=project_pk, run_id=run_id)

    assert len(runs) == 1
    assert seen == ["running"]
    assert done.run_status == "succeeded" and again is None
    assert (
        AuditEvent.objects.filter(action="connector_builder.validate_finished").count()
        == 1
    )


def test_the_page_keeps_polling_while_the_run_is_claimed(
    editor, workspace, project, login, queued
):
    client = login(editor)
    _save(client, workspace, project, action="validate", text=project.manifest_text)
    BuilderProject.objects.filter(pk=project.pk).update(run_status="running")

    partial = client.get(url("run", workspace, project.public_id), headers=HX)

    assert 'hx-trigger="every 1s"' in partial.text
    assert "<html" not in partial.text


# -- 7. two creates of one name -------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_tabs_creating_the_same_name_get_the_form_error_not_a_crash():
    workspace = WorkspaceFactory(name="Race")
    errors: list[BaseException] = []

    def first() -> None:
        with transaction.atomic():
            services.builder_project_create(actor=None, workspace=workspace, name="Dup")
            time.sleep(1.5)  # the other tab's request arrives meanwhile
        connection.close()

    def second() -> None:
        time.sleep(0.4)
        try:
            services.builder_project_create(actor=None, workspace=workspace, name="Dup")
        except BaseException as exc:
            errors.append(exc)
        connection.close()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    [error] = errors
    assert isinstance(error, ValidationError)
    assert error.message_dict == {
        "name": ["This workspace already has a connector called Dup."]
    }
    assert BuilderProject.objects.filter(workspace=workspace).count() == 1


# -- 8. content add by name -----------------------------------------------------------


def test_content_add_by_name_picks_only_a_connector_its_workspace_sees(
    editor, workspace, outsider
):
    theirs_ws = outsider.memberships.get().workspace
    theirs = services.builder_project_create(
        actor=outsider, workspace=theirs_ws, name="Items API"
    )
    services.connector_publish(
        actor=outsider, project=theirs, manifest=yaml.safe_load(theirs.manifest_text)
    )
    with pytest.raises(Exception, match="No source connector 'Items API'"):
        _definition("source", "Items API", workspace)
    theirs.refresh_from_db()
    with pytest.raises(Exception, match="No source connector"):
        _definition("source", str(theirs.definition.definition_id), workspace)

    mine = services.builder_project_create(
        actor=editor, workspace=workspace, name="Items API"
    )
    published = services.connector_publish(
        actor=editor, project=mine, manifest=yaml.safe_load(mine.manifest_text)
    )

    assert _definition("source", "items api", workspace) == published.definition
    assert _definition("source", "Items API", theirs_ws) == theirs.definition


# -- 5 and 6. an Airbyte workspace ----------------------------------------------------


def test_an_airbyte_workspace_validates_and_publishes_from_the_page(
    airbyte_fake,
    airbyte_workspace,  # noqa: F811
    admin,
    login,
    queued,
    real_connectors,
    cdk_installed,
):
    project = services.builder_project_create(
        actor=admin, workspace=airbyte_workspace, name="Items API"
    )
    client = login(admin)
    _save(
        client,
        airbyte_workspace,
        project,
        action="validate",
        text=project.manifest_text,
    )

    done = _run_queued(queued)

    assert done.run_status == "succeeded", done.run_message
    assert done.run_message == "The manifest is valid."
    page = client.get(
        client.post(url("publish", airbyte_workspace, project.public_id))["Location"]
    )
    assert "Published Items API 0.1.0" in page.text
    project.refresh_from_db()
    remote = airbyte_fake.state.definitions[str(project.definition.definition_id)]
    assert remote.name == "Items API" and remote.active_manifest == 1


def test_two_tabs_publishing_the_first_version_make_one_server_connector(
    airbyte_fake,
    airbyte_workspace,  # noqa: F811
    admin,
):
    from apps.airbyte.engine import AirbyteEngine

    project = services.builder_project_create(
        actor=admin, workspace=airbyte_workspace, name="Items API"
    )
    manifest = yaml.safe_load(project.manifest_text)
    original = AirbyteEngine.publish_declarative_source
    refusals: list[str] = []

    def slow_server(self, **kwargs: Any) -> str:
        # The other tab's publish arrives while this one waits on the server.
        try:
            services.builder_publish(actor=admin, project=project, manifest=manifest)
        except ValidationError as exc:
            refusals.append(" ".join(exc.messages))
        return original(self, **kwargs)

    with mock.patch.object(AirbyteEngine, "publish_declarative_source", slow_server):
        first = services.builder_publish(
            actor=admin, project=project, manifest=manifest
        )

    assert refusals == [
        "A publish of this connector is already running: reload the page in a "
        "moment to see its version."
    ]
    named = [
        d for d in airbyte_fake.state.definitions.values() if d.name == "Items API"
    ]
    assert len(named) == 1
    assert ConnectorManifest.objects.filter(definition=first.definition).count() == 1
    # The claim is released: the next publish (a changed manifest) goes through,
    # onto the same server connector.
    manifest["spec"]["documentation_url"] = "https://example.com/v2"
    second = services.builder_publish(actor=admin, project=project, manifest=manifest)
    assert second.created
    assert second.definition.definition_id == first.definition.definition_id
    assert BuilderProject.objects.get(pk=project.pk).publishing_at is None


def test_a_failed_publish_releases_its_claim(
    airbyte_fake,
    airbyte_workspace,  # noqa: F811
    admin,
):
    from apps.airbyte.engine import AirbyteEngine
    from apps.engines.base import EngineError

    project = services.builder_project_create(
        actor=admin, workspace=airbyte_workspace, name="Items API"
    )
    manifest = yaml.safe_load(project.manifest_text)
    with (
        mock.patch.object(
            AirbyteEngine,
            "publish_declarative_source",
            side_effect=EngineError("The Airbyte server is down."),
        ),
        pytest.raises(ValidationError, match="The Airbyte server is down"),
    ):
        services.builder_publish(actor=admin, project=project, manifest=manifest)

    assert BuilderProject.objects.get(pk=project.pk).publishing_at is None
    assert services.builder_publish(
        actor=admin, project=project, manifest=manifest
    ).created


def _passed(project: BuilderProject) -> None:
    """The draft as if a Validate of it had just passed."""
    manifest = yaml.safe_load(project.manifest_text)
    BuilderProject.objects.filter(pk=project.pk).update(
        run_id=uuid.uuid4(),
        run_kind="validate",
        run_status="succeeded",
        run_digest=manifest_digest(manifest),
    )


def test_the_page_says_a_publish_is_already_running_and_an_old_claim_expires(
    editor, workspace, project, login
):
    _passed(project)
    client = login(editor)
    BuilderProject.objects.filter(pk=project.pk).update(publishing_at=timezone.now())

    page = client.get(
        client.post(url("publish", workspace, project.public_id))["Location"]
    )

    assert "A publish of this connector is already running" in page.text
    assert not BuilderProject.objects.get(pk=project.pk).definition_id
    # A claim older than the expiry lost its process: the next publish takes it.
    BuilderProject.objects.filter(pk=project.pk).update(
        publishing_at=timezone.now() - timedelta(minutes=11)
    )
    page = client.get(
        client.post(url("publish", workspace, project.public_id))["Location"]
    )
    assert "Published Items API 0.1.0" in page.text
    assert BuilderProject.objects.get(pk=project.pk).publishing_at is None
