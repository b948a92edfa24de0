"""Which function answers which operation."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tests.airbyte_fake.config_api import (
    actor_check,
    attempt_for_job,
    clear_connection_streams,
    config_cancel_job,
    config_get_job,
    config_get_job_light,
    config_get_job_without_logs,
    config_health,
    config_token,
    create_builder_project,
    create_declarative_manifest,
    discover_schema,
    get_specification,
    get_specification_for_actor,
    instance_configuration,
    list_definitions,
    publish_builder_project,
    scheduler_check,
)
from tests.airbyte_fake.core import (
    Call,
    Reply,
    for_kind,
)
from tests.airbyte_fake.public_api import (
    cancel_job,
    create_actor,
    create_connection,
    create_job,
    create_workspace,
    delete_actor,
    delete_connection,
    delete_workspace,
    get_actor,
    get_connection,
    get_job,
    get_streams,
    get_workspace,
    list_actors,
    list_connections,
    list_connector_definitions,
    list_jobs,
    list_workspaces,
    patch_connection,
    patch_workspace,
    public_health,
    public_token,
    update_actor,
    workspace_definitions,
)


@dataclass(frozen=True)
class Route:
    """One operation: API, method, path template below the API prefix, handler."""

    api: str
    method: str
    template: str
    handler: Callable[[Call], Reply]
    anonymous: bool = False

    @property
    def pattern(self) -> re.Pattern[str]:
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", self.template)
        return re.compile(f"^{regex}$")


def _public(method: str, template: str, handler: Callable, **kw: Any) -> Route:
    return Route("public", method, template, handler, **kw)


def _config(template: str, handler: Callable, method: str = "POST", **kw: Any) -> Route:
    return Route("config", method, template, handler, **kw)


ROUTES: tuple[Route, ...] = (
    _public("GET", "/health", public_health, anonymous=True),
    _public("POST", "/applications/token", public_token, anonymous=True),
    _public("GET", "/workspaces", list_workspaces),
    _public("POST", "/workspaces", create_workspace),
    _public("GET", "/workspaces/{workspaceId}", get_workspace),
    _public("PATCH", "/workspaces/{workspaceId}", patch_workspace),
    _public("DELETE", "/workspaces/{workspaceId}", delete_workspace),
    _public("GET", "/connector_definitions", list_connector_definitions),
    _public(
        "GET",
        "/workspaces/{workspaceId}/definitions/sources",
        for_kind("source", workspace_definitions),
    ),
    _public(
        "GET",
        "/workspaces/{workspaceId}/definitions/destinations",
        for_kind("destination", workspace_definitions),
    ),
    *(
        route
        for kind in ("source", "destination")
        for route in (
            _public("GET", f"/{kind}s", for_kind(kind, list_actors)),
            _public("POST", f"/{kind}s", for_kind(kind, create_actor)),
            _public("GET", f"/{kind}s/{{id}}", for_kind(kind, get_actor)),
            _public("PATCH", f"/{kind}s/{{id}}", for_kind(kind, update_actor)),
            _public("PUT", f"/{kind}s/{{id}}", for_kind(kind, update_actor)),
            _public("DELETE", f"/{kind}s/{{id}}", for_kind(kind, delete_actor)),
        )
    ),
    _public("GET", "/connections", list_connections),
    _public("POST", "/connections", create_connection),
    _public("GET", "/connections/{id}", get_connection),
    _public("PATCH", "/connections/{id}", patch_connection),
    _public("DELETE", "/connections/{id}", delete_connection),
    _public("GET", "/streams", get_streams),
    _public("GET", "/jobs", list_jobs),
    _public("POST", "/jobs", create_job),
    _public("GET", "/jobs/{jobId}", get_job),
    _public("DELETE", "/jobs/{jobId}", cancel_job),
    _config("/health", config_health, method="GET", anonymous=True),
    _config(
        "/instance_configuration", instance_configuration, method="GET", anonymous=True
    ),
    _config("/applications/token", config_token, anonymous=True),
    _config(
        "/source_definitions/list_for_workspace", for_kind("source", list_definitions)
    ),
    _config(
        "/destination_definitions/list_for_workspace",
        for_kind("destination", list_definitions),
    ),
    _config(
        "/source_definition_specifications/get",
        for_kind("source", get_specification),
    ),
    _config(
        "/destination_definition_specifications/get",
        for_kind("destination", get_specification),
    ),
    _config(
        "/source_definition_specifications/get_for_source",
        for_kind("source", get_specification_for_actor),
    ),
    _config(
        "/destination_definition_specifications/get_for_destination",
        for_kind("destination", get_specification_for_actor),
    ),
    _config("/scheduler/sources/check_connection", for_kind("source", scheduler_check)),
    _config(
        "/scheduler/destinations/check_connection",
        for_kind("destination", scheduler_check),
    ),
    _config("/sources/check_connection", for_kind("source", actor_check)),
    _config("/destinations/check_connection", for_kind("destination", actor_check)),
    _config("/sources/discover_schema", discover_schema),
    _config("/jobs/get", config_get_job),
    _config("/jobs/get_without_logs", config_get_job_without_logs),
    _config("/jobs/get_light", config_get_job_light),
    _config("/jobs/cancel", config_cancel_job),
    _config("/attempt/get_for_job", attempt_for_job),
    _config("/connections/clear/stream", clear_connection_streams),
    _config("/connector_builder_projects/create", create_builder_project),
    _config("/connector_builder_projects/publish", publish_builder_project),
    _config(
        "/declarative_source_definitions/create_manifest", create_declarative_manifest
    ),
)


def match_route(
    api: str, method: str, suffix: str
) -> tuple[Route, dict[str, str]] | None:
    for route in ROUTES:
        if route.api != api or route.method != method:
            continue
        found = route.pattern.match(suffix)
        if found:
            return route, found.groupdict()
    return None
