"""Issue #13 item 10: a bad Host header, the Content-Security-Policy, /metrics."""

from __future__ import annotations

import pytest
from django.test import Client


@pytest.mark.parametrize("path", ["/", "/healthz", "/accounts/login/", "/metrics"])
def test_a_host_outside_allowed_hosts_is_a_400_not_a_500(db, path):
    response = Client(raise_request_exception=False).get(
        path, HTTP_HOST="evil.example.com"
    )
    assert response.status_code == 400
    assert b"Bad request" in response.content
    assert b"Something went wrong" not in response.content
