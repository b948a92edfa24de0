"""What each person chose: what to hear about, and their own settings."""

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


class Profile(models.Model):
    """One person's own settings: the time zone their pages show times in."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile"
    )
    # An IANA name (``Europe/Paris``); blank follows the browser's zone, then UTC.
    time_zone = models.CharField(max_length=64, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Profile of {self.user_id}"
