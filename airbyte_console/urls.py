"""Top-level URLs: each app mounts its own ``urls.py``."""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path, re_path

from apps.api.api import api, sdk_token_redirect, unknown_path
from apps.ops import views as ops_views
from apps.ops import workspace_delete

urlpatterns = [
    path("", ops_views.home, name="home"),
    path("healthz", ops_views.healthz, name="healthz"),
    path("metrics", ops_views.metrics, name="metrics"),
    path("accounts/", include("apps.accounts.urls")),
    path("accounts/api/", include("apps.api.urls_settings")),
    path("notifications/settings/", include("apps.webhooks.preference_urls")),
    path("w/", include("apps.workspaces.urls")),
    # Above the app layers: deleting looks at every app's rows (apps/ops).
    path(
        "w/<uuid:workspace_id>/delete/",
        workspace_delete.workspace_delete_view,
        name="workspace_delete",
    ),
    path("w/<uuid:workspace_id>/code/", include("apps.api.workspace_urls")),
    path("w/<uuid:workspace_id>/audit/", include("apps.workspaces.audit_urls")),
    path("w/<uuid:workspace_id>/credentials/", include("apps.credentials.urls")),
    path("w/<uuid:workspace_id>/", include("apps.connectors.urls")),
    path("w/<uuid:workspace_id>/builder/", include("apps.connectors.builder.urls")),
    path("w/<uuid:workspace_id>/connections/", include("apps.connections.urls")),
    path(
        "w/<uuid:workspace_id>/connections/", include("apps.connections.quality_urls")
    ),
    path(
        "w/<uuid:workspace_id>/connections/", include("apps.connections.optimize_urls")
    ),
    path("w/<uuid:workspace_id>/metrics/", include("apps.connections.metrics_urls")),
    path("w/<uuid:workspace_id>/webhooks/", include("apps.webhooks.urls")),
    path("w/<uuid:workspace_id>/schedules/", include("apps.schedules.urls")),
    path("w/<uuid:workspace_id>/engine/", include("apps.airbyte.urls")),
    path("w/<uuid:workspace_id>/transforms/", include("apps.transforms.urls")),
    path(
        "w/<uuid:workspace_id>/notifications/",
        include("apps.webhooks.notification_urls"),
    ),
    # Airbyte's SDK asks for tokens at <host>/applications/token unless told
    # otherwise; a 308 keeps the POST and sends it to the API's token call.
    path("applications/token", sdk_token_redirect),
    path("api/", api.urls),
    re_path(r"^api/(?P<rest>.*)$", unknown_path),
    path("admin/", admin.site.urls),
]

# A bad Host header is refused before any middleware runs: the page must not need
# the user or the session (see apps/ops/views.py).
handler400 = "apps.ops.views.bad_request"
