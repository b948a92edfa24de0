"""Staff see transforms in the Django admin, read-only, without any secret."""

from __future__ import annotations

import json

from django.urls import reverse

from apps.connectors.models import Destination
from apps.credentials.models import Credential
from apps.transforms.models import DbtInstall, DbtProject, RunNode, TransformRun
from tests.engines.fixtures import POSTGRES_ID, definition

CANARY = "canary-admin-5e1f"


def test_staff_read_projects_runs_and_installs_without_secrets(admin, workspace, login):
    admin.is_staff = admin.is_superuser = True
    admin.save()
    destination = Destination.objects.create(
        workspace=workspace,
        name="PG",
        definition=definition(POSTGRES_ID),
        config={"host": "db", "database": "dw", "username": "u"},
        secrets=json.dumps({"/password": CANARY}),
    )
    credential = Credential.objects.create(
        workspace=workspace, name="Deploy key", type="generic"
    )
    credential.set_payload({"deploy_key": CANARY})
    credential.save()
    project = DbtProject.objects.create(
        workspace=workspace,
        name="Shop (git)",
        kind=DbtProject.Kind.GIT,
        destination=destination,
        git_url="https://git.example.com/shop.git",
        git_branch="main",
        git_credential=credential,
    )
    run = TransformRun.objects.create(
        workspace=workspace,
        project=project,
        number=1,
        command="build",
        trigger="manual",
        status="failed",
        failure_message="1 of 1 nodes failed.",
        log="12:00:00 Running with dbt=1.11.16",
    )
    RunNode.objects.create(
        run=run,
        unique_id="model.shop.orders",
        name="orders",
        resource_type="model",
        status="error",
        message="syntax error",
    )
    DbtInstall.objects.create(adapter="postgres", status="installed")
    client = login(admin)

    pages = [
        reverse("admin:transforms_dbtproject_changelist"),
        reverse("admin:transforms_dbtproject_change", args=[project.pk]),
        reverse("admin:transforms_transformrun_changelist"),
        reverse("admin:transforms_transformrun_change", args=[run.pk]),
        reverse("admin:transforms_dbtinstall_changelist"),
    ]
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        assert CANARY not in response.text, url
    detail = client.get(pages[1]).text
    assert "Deploy key" in detail and "Shop (git)" in detail
    assert "syntax error" in client.get(pages[3]).text
    # Read-only: changes go through the console's services.
    change = client.post(pages[1], {"name": "Renamed"})
    assert change.status_code == 403
    assert DbtProject.objects.get(pk=project.pk).name == "Shop (git)"
