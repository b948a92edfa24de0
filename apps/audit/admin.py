"""Read-only audit trail for staff: filters, search and a date hierarchy."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from apps.audit.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = (
        "occurred_at",
        "actor_label",
        "workspace_label",
        "action",
        "target_type",
        "target_label",
        "outcome",
        "ip",
    )
    list_filter = ("action", "outcome", "workspace_label", "actor_label")
    search_fields = (
        "action",
        "actor_label",
        "target_label",
        "target_id",
        "workspace_label",
    )
    date_hierarchy = "occurred_at"
    list_select_related = False
    show_full_result_count = False
    actions = None
    exclude = ("actor", "workspace")

    def get_readonly_fields(self, request: HttpRequest, obj: AuditEvent | None = None):
        return [
            field.name
            for field in self.model._meta.fields
            if field.name not in self.exclude
        ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(
        self, request: HttpRequest, obj: AuditEvent | None = None
    ) -> bool:
        return False

    def has_delete_permission(
        self, request: HttpRequest, obj: AuditEvent | None = None
    ) -> bool:
        return False
