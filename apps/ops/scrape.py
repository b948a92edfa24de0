"""Who may scrape the metrics, and the worker host's own metrics port.

A scrape is allowed for a staff session (the web view only), a loopback client
(``METRICS_ALLOW_LOOPBACK``, on unless the console is behind a proxy), the
``METRICS_TOKEN`` setting, or the scrape token `airbyte metrics enable` created
(stored hashed; `disable` revokes it). The worker's port applies the same rule
without sessions: bound to loopback (the default) it answers the host itself;
bound to another address, a remote scraper needs one of the tokens.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import secrets
import socket
import threading
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import close_old_connections, transaction
from django.utils import timezone
from prometheus_client import CONTENT_TYPE_LATEST

from apps.audit.services import audit_record
from apps.core import metrics
from apps.ops.models import ScrapeToken, token_hash

logger = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
TOKEN_PREFIX = "abc_scrape_"  # noqa: S105 - a prefix, not a secret
SHOWN_CHARS = len(TOKEN_PREFIX) + 6


@transaction.atomic
def scrape_token_create(
    *, actor: AbstractBaseUser | None
) -> tuple[ScrapeToken, str, int]:
    """A new scrape token (shown once), replacing any active one.

    Returns the token row, the raw token and how many tokens it revoked.
    """
    now = timezone.now()
    revoked = ScrapeToken.objects.filter(revoked_at__isnull=True).update(
        revoked_at=now, updated_at=now
    )
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ScrapeToken(
        prefix=raw[:SHOWN_CHARS], token_hash=token_hash(raw), created_by=actor
    )
    token.full_clean()
    token.save()
    audit_record(
        actor=actor,
        action="metrics.scrape_token_created",
        target=token,
        changes={"prefix": [None, token.prefix], "replaced": [None, revoked]},
    )
    return token, raw, revoked


@transaction.atomic
def scrape_token_revoke(*, actor: AbstractBaseUser | None) -> int:
    """Revoke the active scrape token; returns how many were (0 or 1)."""
    now = timezone.now()
    active = list(ScrapeToken.objects.filter(revoked_at__isnull=True))
    if not active:
        return 0
    ScrapeToken.objects.filter(pk__in=[t.pk for t in active]).update(
        revoked_at=now, updated_at=now
    )
    for token in active:
        audit_record(
            actor=actor,
            action="metrics.scrape_token_revoked",
            target=token,
            changes={"revoked_at": [None, now.isoformat()]},
        )
    return len(active)


def token_valid(raw: str) -> bool:
    """Is ``raw`` the ``METRICS_TOKEN`` setting or the active scrape token?"""
    raw = raw.strip()
    if not raw:
        return False
    configured = settings.METRICS_TOKEN
    # Bytes: compare_digest refuses a str with non-ASCII characters (a TypeError).
    if configured and hmac.compare_digest(raw.encode(), configured.encode()):
        return True
    if not raw.startswith(TOKEN_PREFIX):
        return False
    return ScrapeToken.objects.filter(
        token_hash=token_hash(raw), revoked_at__isnull=True
    ).exists()


def scrape_allowed(*, authorization: str, remote_addr: str) -> bool:
    """The rule both the web view and the worker port apply (no sessions here)."""
    if authorization.startswith("Bearer "):
        return token_valid(authorization.removeprefix("Bearer "))
    if not settings.METRICS_ALLOW_LOOPBACK:
        return False
    return _loopback(remote_addr)


def _loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


# -- the worker host's port -----------------------------------------------------------


def metrics_app(environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
    """A WSGI app answering ``GET /metrics`` with the folder's sums."""
    if environ.get("PATH_INFO", "/") not in ("/", "/metrics"):
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"Not found: the metrics are at /metrics.\n"]
    try:
        allowed = scrape_allowed(
            authorization=environ.get("HTTP_AUTHORIZATION", ""),
            remote_addr=environ.get("REMOTE_ADDR", ""),
        )
    finally:
        # This thread's database connection (a scrape token lookup) is not kept.
        close_old_connections()
    if not allowed:
        start_response("403 Forbidden", [("Content-Type", "text/plain")])
        return [b"Forbidden: metrics need a token from this address.\n"]
    body = metrics.exposition()
    start_response(
        "200 OK",
        [("Content-Type", CONTENT_TYPE_LATEST), ("Content-Length", str(len(body)))],
    )
    return [body]


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes every few seconds would fill the worker's log."""


def serve_worker_metrics(
    port: int | None = None, host: str | None = None
) -> WSGIServer | None:
    """Serve /metrics from this process on ``WORKER_METRICS_PORT`` (0: not at all).

    Runs in a daemon thread of the Celery worker's main process; a port in use is
    logged, never fatal (the worker's job is syncs).
    """
    port = settings.WORKER_METRICS_PORT if port is None else port
    # Blank is the default, loopback (an empty host would bind every address).
    host = (host or settings.WORKER_METRICS_HOST or "").strip() or LOOPBACK
    if not port:
        return None
    if not _loopback(host) and host != "localhost":
        logger.warning(
            "Worker metrics are bound to %s, which other hosts may reach: they need "
            "the scrape token or METRICS_TOKEN (WORKER_METRICS_HOST=127.0.0.1 keeps "
            "the port to this host).",
            host,
        )
    server_class = _Server
    if ":" in host:
        server_class = type("_Server6", (_Server,), {"address_family": socket.AF_INET6})
    try:
        server = make_server(
            host,
            port,
            metrics_app,
            server_class=server_class,
            handler_class=_QuietHandler,
        )
    except OSError as exc:
        logger.error("Cannot serve worker metrics on %s:%s: %s", host, port, exc)
        return None
    thread = threading.Thread(
        target=server.serve_forever, name="worker-metrics", daemon=True
    )
    thread.start()
    logger.info("Worker metrics on http://%s:%s/metrics", host, port)
    return server
