"""The model editor with real dbt: a compile error shows beside its line, then the fix.

The views request the runs; this test plays the worker (``transform_run_execute``
in-process) on DuckDB, and reads the pages as the browser would.
"""

from __future__ import annotations

import re
from unittest import mock

import pytest
from django.urls import reverse

from apps.transforms.services.runs import transform_run_execute
from tests.transforms.runs_helpers import (
    dbt_project_yml,
    duckdb_destination,
    make_project,
)

# The run's heartbeat thread writes through its own connection: commit for real.
pytestmark = [
    pytest.mark.usefixtures("dbt_settings"),
    pytest.mark.django_db(transaction=True),
]
NO_BROKER = "apps.transforms.tasks.transform_run_task.apply_async"


def _save_and_check(client, url: str, path: str, content: str):
    with mock.patch(NO_BROKER):
        saved = client.post(url, {"path": path, "content": content})
    assert saved.status_code == 302, saved.content
    run_id = re.search(r"run=([0-9a-f-]+)", saved["Location"]).group(1)
    from apps.transforms.models import TransformRun

    run = TransformRun.objects.get(public_id=run_id)
    transform_run_execute(run.pk)
    run.refresh_from_db()
    return run, client.get(saved["Location"]).text


def test_a_jinja_error_shows_beside_its_line_and_the_fix_compiles(
    workspace, editor, login, settings, tmp_path
):
    settings.TRANSFORMS_DIR = tmp_path / "transforms"
    settings.DUCKDB_DIR = tmp_path / "duckdb"
    # The workspace's DuckDB folder, as its first sync leaves it.
    (settings.DUCKDB_DIR / str(workspace.public_id)).mkdir(parents=True)
    project = make_project(
        workspace,
        duckdb_destination(workspace),
        {
            "dbt_project.yml": dbt_project_yml("acme"),
            "models/users.sql": "select 1 as id\n",
        },
    )
    client = login(editor)
    url = reverse("transforms:file", args=[workspace.public_id, project.public_id])
    path = "models/user_totals.sql"

    broken, page = _save_and_check(
        client,
        url,
        path,
        "select\n    id,\n    {{ oops( }}\nfrom {{ ref('users') }}\n",
    )

    assert (broken.command, broken.selector, broken.status) == (
        "compile",
        "user_totals",
        "failed",
    )
    assert "dbt compile failed at line 3" in page
    marked = re.search(r'<li value="(\d+)" class="error-line"[^>]*><code>([^<]*)', page)
    assert marked and marked.groups() == ("3", "    {{ oops( }}")
    assert "Compilation Error in model user_totals" in page

    fixed, page = _save_and_check(
        client, url, path, "select\n    id,\n    2 as two\nfrom {{ ref('users') }}\n"
    )

    assert fixed.status == "succeeded", fixed.failure_message
    assert "dbt compile passed" in page and "error-line" not in page
    node = reverse(
        "transforms:node",
        args=[workspace.public_id, project.public_id, "model.acme.user_totals"],
    )
    model_page = client.get(node, {"run": fixed.public_id}).text
    # The compiled SQL, its ref resolved to the table in the destination.
    assert "&quot;main&quot;.&quot;users&quot;" in model_page
