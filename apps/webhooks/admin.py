"""Staff view of webhooks: endpoints and deliveries, read-only, never the secret."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from apps.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint


class ReadOnlyAdmin(admin.ModelAdmin):
    # Changes go through the console's pages and services, which audit them.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(ReadOnlyAdmin):
    list_display = ["name", "workspace", "format", "enabled", "failing_since"]
    list_filter = ["enabled", "format"]
    search_fields = ["name", "workspace__name"]
    fields = [
        "name",
        "workspace",
        "url_display",
        "events",
        "format",
        "enabled",
        "disabled_reason",
        "failing_since",
        "created_by",
    ]
    readonly_fields = fields


class WebhookAttemptInline(admin.TabularInline):
    model = WebhookAttempt
    extra = 0
    can_delete = False
    fields = [
        "number",
        "attempted_at",
        "status_code",
        "latency_ms",
        "error",
        "response_excerpt",
    ]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = ["webhook_id", "event", "endpoint", "status", "attempt_count"]
    list_filter = ["status", "event"]
    search_fields = ["webhook_id", "endpoint__name"]
    date_hierarchy = "created_at"
    fields = [
        "webhook_id",
        "event",
        "endpoint",
        "status",
        "attempt_count",
        "next_attempt_at",
        "last_status_code",
        "last_error",
        "payload",
    ]
    readonly_fields = fields
    inlines = [WebhookAttemptInline]
