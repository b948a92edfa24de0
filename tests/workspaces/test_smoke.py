from __future__ import annotations

from django.urls import reverse


def test_admin_sees_workspace_dashboard(admin, workspace, login):
    response = login(admin).get(
        reverse("workspaces:detail", args=[workspace.public_id])
    )
    assert response.status_code == 200
    assert "Acme Data" in response.text
