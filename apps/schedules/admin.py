from __future__ import annotations

from django.contrib import admin

from apps.schedules.models import Schedule, Tick


class TickInline(admin.TabularInline):
    model = Tick
    extra = 0
    fields = ("scheduled_for", "outcome", "job", "message", "updated_at")
    readonly_fields = fields
    ordering = ("-scheduled_for",)

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Schedule)
class ScheduleAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "workspace",
        "connection",
        "kind",
        "cron_expression",
        "interval_minutes",
        "timezone",
        "paused",
        "next_run_at",
    )
    list_filter = ("kind", "paused")
    search_fields = ("name", "connection__name", "workspace__name")
    readonly_fields = ("public_id", "next_run_at", "last_tick_at")
    inlines = [TickInline]

    # Changes go through the console, whose services write the audit trail and
    # compute the next run; the admin only shows them.
    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
