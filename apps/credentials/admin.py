"""Staff view of credentials: names, types and hints; the payload is never shown."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from apps.credentials.models import Credential


@admin.register(Credential)
class CredentialAdmin(admin.ModelAdmin):
    list_display = ["name", "type", "workspace", "rotated_at", "last_used_at"]
    list_filter = ["type"]
    search_fields = ["name", "workspace__name"]
    # Changes go through the console's pages and services, which mask and audit.
    fields = ["name", "type", "workspace", "hints", "created_by", "rotated_at"]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
