"""Staff view of API applications and tokens: who owns what, its use; never a hash."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from apps.api.models import ApiApplication, PersonalAccessToken

_COMMON = [
    "name",
    "owner",
    "created_at",
    "expires_at",
    "last_used_at",
    "last_used_ip",
    "revoked_at",
]


class _ReadOnlyAdmin(admin.ModelAdmin):
    # Revoking goes through the owner's pages and the services, which audit.
    list_filter = ["revoked_at", "expires_at"]
    search_fields = ["name", "owner__email", "owner__username"]
    list_select_related = ["owner"]
    date_hierarchy = "created_at"
    actions = None

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(ApiApplication)
class ApiApplicationAdmin(_ReadOnlyAdmin):
    list_display = ["name", "owner", "client_id", *_COMMON[2:]]
    search_fields = [*_ReadOnlyAdmin.search_fields, "client_id"]
    fields = ["public_id", "client_id", *_COMMON]
    readonly_fields = fields


@admin.register(PersonalAccessToken)
class PersonalAccessTokenAdmin(_ReadOnlyAdmin):
    list_display = ["name", "owner", "prefix", *_COMMON[2:]]
    search_fields = [*_ReadOnlyAdmin.search_fields, "prefix"]
    fields = ["public_id", "prefix", *_COMMON]
    readonly_fields = fields
