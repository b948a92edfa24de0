from __future__ import annotations

app_name = "credentials"

urlpatterns: list = []
