"""/healthz and /metrics."""

from __future__ import annotations

import time

from django.test import Client
from django.urls import reverse

from tests.factories import UserFactory


def test_healthz_is_ok_when_database_and_broker_are_up(db):
    response = Client().get(reverse("healthz"))
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["broker"]["ok"] is True


def test_healthz_reports_broker_down_within_five_seconds(db, settings):
    # Port 9 (discard) on loopback: nothing listens, so the connection is refused.
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:9/0"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {}
    started = time.monotonic()
    response = Client().get(reverse("healthz"))
    elapsed = time.monotonic() - started
    assert response.status_code == 503
    body = response.json()
    assert body["checks"]["broker"]["ok"] is False
    assert body["checks"]["database"]["ok"] is True
    assert elapsed < 5


def test_healthz_with_a_broker_that_never_answers_still_answers(db, settings):
    import socket

    # A listening socket that accepts and never replies: the probe must time out.
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(5)
    port = server.getsockname()[1]
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{port}/0"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {}
    settings.HEALTH_PROBE_TIMEOUT = 1.0
    try:
        started = time.monotonic()
        response = Client().get(reverse("healthz"))
        assert time.monotonic() - started < 5
        assert response.status_code == 503
    finally:
        server.close()


def test_metrics_open_to_loopback(db):
    response = Client(REMOTE_ADDR="127.0.0.1").get(reverse("metrics"))
    assert response.status_code == 200
    assert b"django_http_requests" in response.content


def test_metrics_closed_to_the_public(db):
    response = Client(REMOTE_ADDR="203.0.113.9").get(reverse("metrics"))
    assert response.status_code == 403


def test_metrics_with_token(db, settings):
    settings.METRICS_TOKEN = "scrape-me"
    client = Client(REMOTE_ADDR="203.0.113.9")
    assert (
        client.get(
            reverse("metrics"), headers={"Authorization": "Bearer nope"}
        ).status_code
        == 403
    )
    ok = client.get(reverse("metrics"), headers={"Authorization": "Bearer scrape-me"})
    assert ok.status_code == 200


def test_metrics_for_staff_session(db):
    staff = UserFactory(is_staff=True)
    client = Client(REMOTE_ADDR="203.0.113.9")
    client.force_login(staff)
    assert client.get(reverse("metrics")).status_code == 200


def test_metrics_not_for_non_staff_session(db):
    client = Client(REMOTE_ADDR="203.0.113.9")
    client.force_login(UserFactory())
    assert client.get(reverse("metrics")).status_code == 403
