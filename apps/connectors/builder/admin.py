"""Staff view of builder projects: read-only, never the test config or run result."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from apps.connectors.builder.models import BuilderProject


@admin.register(BuilderProject)
class BuilderProjectAdmin(admin.ModelAdmin):
    # Edits go through the builder page and the services, which audit; the test
    # config holds an API key and is never shown. Nor is the last run's result:
    # it holds what the API answered and the requests sent, which carry that key
    # in whatever form the manifest sends it (masked, but the page shows it to
    # the people who may see it; staff need the status, not the payload).
    list_display = ["name", "workspace", "definition", "run_kind", "run_status"]
    list_filter = ["run_status", "run_kind"]
    search_fields = ["name", "workspace__name"]
    list_select_related = ["workspace", "definition"]
    date_hierarchy = "created_at"
    exclude = ["test_config", "run_result"]
    actions = None

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
