"""Workspaces as code on the airbyte engine: an import pushes like any edit."""

# The airbyte engine's fixtures (the fake server, pushes run at once) are shared
# with its own tests; pytest passes them by name.
# ruff: noqa: F811
from __future__ import annotations

import yaml

from apps.api.workspace_code import workspace_export, workspace_import
from apps.connectors.models import Source
from tests.airbyte.conftest import (  # noqa: F401
    _fast_retries,
    airbyte_workspace,
    make_connection,
    polls,
    pushes_now,
)


def test_an_import_into_an_airbyte_workspace_pushes_to_the_server(
    airbyte_fake,
    airbyte_workspace,
    admin,
    make_connection,
    django_capture_on_commit_callbacks,
):
    make_connection()
    document = yaml.safe_load(workspace_export(airbyte_workspace))
    copy = {**document["sources"][0], "name": "Faker copy"}
    copy["config"] = {**copy["config"], "count": 7}
    document["sources"].append(copy)

    with django_capture_on_commit_callbacks(execute=True):
        plan = workspace_import(
            actor=admin,
            workspace=airbyte_workspace,
            text=yaml.safe_dump(document),
            environ={},
        )

    assert [c.name for c in plan.changes if c.action == "create"] == ["Faker copy"]
    created = Source.objects.get(workspace=airbyte_workspace, name="Faker copy")
    assert created.remote_id in airbyte_fake.sources
    remote = airbyte_fake.sources[created.remote_id]
    assert remote.name == "Faker copy"
    assert remote.configuration["count"] == 7
