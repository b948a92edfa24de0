"""What each person chose to hear about (the accounts app's only table)."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class NotificationPreference(models.Model):
    """Which events of one workspace reach one member: in the app, by email.

    No row means the console's defaults (``apps.webhooks.preferences``). The
    event names are the webhooks app's; this app only keeps the choice.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="notification_preferences",
    )
    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="+"
    )
    in_app = models.JSONField(default=list, blank=True)
    email = models.JSONField(default=list, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "workspace"], name="notification_preference_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"Notifications of {self.user_id} in {self.workspace_id}"
