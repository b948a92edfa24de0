"""Staff views of transforms: read-only, like schedules.

Every change goes through the console's services (they write the audit trail and
enqueue work); the admin only shows rows. No field here holds a secret: a
project's git credential shows by name, and run logs are masked before they are
stored.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin

from apps.transforms.models import (
    DbtInstall,
    DbtProject,
    ProjectFile,
    RunNode,
    TransformRun,
    TransformTrigger,
)


class ReadOnlyMixin:
    def has_add_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False


class ProjectFileInline(ReadOnlyMixin, admin.TabularInline):
    model = ProjectFile
    extra = 0
    fields = ("path", "updated_at")
    readonly_fields = fields


class TriggerInline(ReadOnlyMixin, admin.TabularInline):
    model = TransformTrigger
    extra = 0
    fields = ("connection", "command", "selector", "enabled")
    readonly_fields = fields


@admin.register(DbtProject)
class DbtProjectAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = (
        "name",
        "workspace",
        "kind",
        "destination",
        "cron_expression",
        "next_run_at",
        "updated_at",
    )
    list_filter = ("kind",)
    search_fields = ("name", "dbt_name", "workspace__name", "git_url")
    fields = (
        "public_id",
        "workspace",
        "name",
        "kind",
        "destination",
        "connection",
        "dbt_name",
        "git_url",
        "git_branch",
        "git_credential_name",
        "git_commit",
        "cron_expression",
        "schedule_timezone",
        "schedule_selector",
        "next_run_at",
        "created_by",
        "created_at",
        "updated_at",
    )
    readonly_fields = fields
    inlines = [TriggerInline, ProjectFileInline]

    @admin.display(description="Git credential")
    def git_credential_name(self, obj: DbtProject) -> str:
        return obj.git_credential.name if obj.git_credential else "-"


class RunNodeInline(ReadOnlyMixin, admin.TabularInline):
    model = RunNode
    extra = 0
    fields = (
        "name",
        "resource_type",
        "status",
        "execution_time",
        "rows_affected",
        "failures",
        "message",
    )
    readonly_fields = fields


@admin.register(TransformRun)
class TransformRunAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = (
        "__str__",
        "workspace",
        "command",
        "trigger",
        "status",
        "created_at",
        "finished_at",
    )
    list_filter = ("status", "command", "trigger")
    search_fields = ("project__name", "workspace__name", "selector")
    date_hierarchy = "created_at"
    list_select_related = ("project", "workspace")
    fields = (
        "public_id",
        "workspace",
        "project",
        "number",
        "command",
        "selector",
        "trigger",
        "status",
        "requested_by",
        "sync_job",
        "created_at",
        "started_at",
        "finished_at",
        "worker",
        "heartbeat_at",
        "pgid",
        "git_commit",
        "stats",
        "failure_message",
        "log",
        "log_truncated_bytes",
    )
    readonly_fields = fields
    inlines = [RunNodeInline]


@admin.register(DbtInstall)
class DbtInstallAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = (
        "adapter",
        "status",
        "core_version",
        "adapter_version",
        "worker",
        "finished_at",
    )
    fields = (
        "adapter",
        "status",
        "core_version",
        "adapter_version",
        "worker",
        "message",
        "requested_by",
        "started_at",
        "finished_at",
        "log",
    )
    readonly_fields = fields
