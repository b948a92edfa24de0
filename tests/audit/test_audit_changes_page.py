"""The audit page shows what changed as values a person reads, not Python reprs."""

from __future__ import annotations

import re

from django.urls import reverse

from apps.audit.presenters import change_lines
from apps.audit.services import audit_record


def _changes_cell(client, workspace) -> str:
    response = client.get(reverse("audit:list", args=[workspace.public_id]))
    assert response.status_code == 200
    html = response.content.decode()
    cells = re.findall(r'<td class="changes">(.*?)</td>', html, flags=re.S)
    assert cells, "the audit page shows no changes column"
    return cells[0]


def test_changes_render_as_values_not_python_reprs(admin, workspace, login):
    audit_record(
        actor=admin,
        action="connection.updated",
        workspace=workspace,
        changes={
            "streams": [[{"stream": "users", "mode": "append"}], []],
            "cursor": [None, None],
            "package": "airbyte-source-faker",
            "enabled": [False, True],
            "password": ["old-canary", "new-canary"],
        },
    )
    cell = _changes_cell(login(admin), workspace)
    # Lists and objects read as JSON, never as Python's repr.
    assert (
        "{&quot;mode&quot;: &quot;append&quot;, &quot;stream&quot;: &quot;users&quot;}"
        in cell
    )
    assert "{'stream'" not in cell and "None" not in cell and "False" not in cell
    # A plain string is one value, not its first and second letters.
    assert "airbyte-source-faker" in cell
    assert "a →" not in cell
    assert re.search(r"<code>enabled</code>: no <span[^>]*>→</span> yes", cell)
    assert "secret (hidden)" in cell
    assert "canary" not in cell


def test_long_values_are_cut_and_say_so():
    (line,) = change_lines({"description": ["short", "x" * 5000]})
    assert line.before.text == "short"
    assert line.after.cut and len(line.after.text) < 500


def test_the_audit_table_scrolls_inside_its_card(admin, workspace, login):
    audit_record(actor=admin, action="thing.done", workspace=workspace)
    response = login(admin).get(reverse("audit:list", args=[workspace.public_id]))
    assert b'<div class="table-scroll">' in response.content
