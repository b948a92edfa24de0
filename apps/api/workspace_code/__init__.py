"""Workspaces as code: a workspace as a YAML file, and that file applied to one.

``export`` reads a workspace into the file (references where secrets are),
``plan`` compares a file with a workspace and lists what an import would do, and
``apply`` does it through the services that own each write. The CLI
(``apps.api.workspace_cli``), the page (``apps.api.workspace_views``) and the API
(``apps.api.console``) are thin callers of these three.
"""

from __future__ import annotations

from apps.api.workspace_code.apply import ImportRefused, workspace_import
from apps.api.workspace_code.export import workspace_export, workspace_state
from apps.api.workspace_code.plan import Plan, workspace_plan

__all__ = [
    "ImportRefused",
    "Plan",
    "workspace_export",
    "workspace_import",
    "workspace_plan",
    "workspace_state",
]
