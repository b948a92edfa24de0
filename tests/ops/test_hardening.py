"""Issue #13 item 10: a bad Host header, the Content-Security-Policy, /metrics."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse


@pytest.mark.parametrize("path", ["/", "/healthz", "/accounts/login/", "/metrics"])
def test_a_host_outside_allowed_hosts_is_a_400_not_a_500(db, path):
    response = Client(raise_request_exception=False).get(
        path, HTTP_HOST="evil.example.com"
    )
    assert response.status_code == 400
    assert b"Bad request" in response.content
    assert b"Something went wrong" not in response.content


@pytest.mark.parametrize("path", ["/api/public/v1/sources", "/api/v1/sources/list"])
def test_a_refused_host_under_the_api_gets_a_json_problem(db, path):
    # API clients parse the body as a problem; Airbyte's SDKs choke on HTML.
    response = Client(raise_request_exception=False).post(
        path, data="{}", content_type="application/json", HTTP_HOST="KE5&\t&k7T4]2"
    )
    assert response.status_code == 400
    body = response.json()
    assert "could not be understood" in (body.get("detail") or body.get("message"))


def test_every_page_carries_a_content_security_policy(db, client):
    for path in ["/accounts/login/", "/healthz"]:
        policy = client.get(path).headers["Content-Security-Policy"]
        assert "default-src 'self'" in policy
        assert "script-src 'self';" in policy
        assert "unsafe-eval" not in policy
        assert "frame-ancestors 'none'" in policy
    # The refused Host gets it too: the policy is set outside the failing part.
    refused = Client(raise_request_exception=False).get(
        "/", HTTP_HOST="evil.example.com"
    )
    assert "default-src 'self'" in refused.headers["Content-Security-Policy"]


def test_no_template_has_an_inline_script_or_event_handler():
    # The policy allows scripts from the console's static files only: an inline
    # <script> or onclick= would silently stop working.
    root = Path(__file__).resolve().parents[2]
    offenders = []
    for template in (root / "templates").rglob("*.html"):
        text = template.read_text()
        if re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text) or re.search(
            r"\s(on[a-z]+|hx-on[:\w-]*)=", text
        ):
            offenders.append(str(template.relative_to(root)))
    assert offenders == []


def _setting(name: str, **environment: str) -> str:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "DJANGO_BEHIND_PROXY", "METRICS_ALLOW_LOOPBACK"}
    }
    env.update(environment)
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django, os; "
            "os.environ.setdefault('DJANGO_SETTINGS_MODULE', "
            "'airbyte_console.settings'); "
            "from django.conf import settings; "
            f"print(settings.{name})",
        ],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout.strip()


def test_metrics_loopback_is_off_by_default_behind_a_proxy(tmp_path):
    data = str(tmp_path)
    assert _setting("METRICS_ALLOW_LOOPBACK", CONSOLE_DATA_DIR=data) == "True"
    behind = {"CONSOLE_DATA_DIR": data, "DJANGO_BEHIND_PROXY": "1"}
    assert _setting("METRICS_ALLOW_LOOPBACK", **behind) == "False"
    # Said explicitly, it still wins (a Prometheus on the proxy's host).
    explicit = {**behind, "METRICS_ALLOW_LOOPBACK": "1"}
    assert _setting("METRICS_ALLOW_LOOPBACK", **explicit) == "True"


def test_behind_a_proxy_a_loopback_client_needs_the_token(db, settings):
    # What the proxy's requests look like: every one comes from 127.0.0.1.
    settings.METRICS_ALLOW_LOOPBACK = False
    settings.METRICS_TOKEN = "scrape-me"
    client = Client(REMOTE_ADDR="127.0.0.1")
    assert client.get(reverse("metrics")).status_code == 403
    ok = client.get(reverse("metrics"), headers={"Authorization": "Bearer scrape-me"})
    assert ok.status_code == 200
