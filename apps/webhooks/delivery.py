"""The only module that sends webhook HTTP requests.

SSRF guard at connect time: the URL's host is resolved once, every address it
resolves to must be public (private ones only with ``WEBHOOKS_ALLOW_PRIVATE``;
link-local, metadata, multicast and IPv6-wrapped private ones never: see
``apps.core.netguard``), and the request
then goes to that checked address itself, with the original name in the ``Host``
header and, for HTTPS, as the TLS server name (SNI and certificate check). So a
DNS answer that changes between the check and the connect (rebinding) cannot
steer the request elsewhere. Redirects are never followed, so no other address is
ever connected to; proxies from the environment are ignored for the same reason.
Requests go through a bare ``httpx.HTTPTransport`` with explicit timeouts.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.utils import timezone

from apps.core import metrics, netguard
from apps.core.netguard import BlockedAddress

EXCERPT_BYTES = 1024
# A whole request (connect, send, headers, the excerpt) lasts at most this many
# timeouts, so a receiver that drips its answer cannot hold a worker.
MAX_REQUEST_TIMEOUTS = 3
USER_AGENT = "AirbyteConsole-Webhooks/1"


@dataclass(frozen=True)
class HttpResult:
    """What one request produced; ``status_code`` is None when none came back."""

    status_code: int | None
    latency_ms: int
    error: str = ""
    excerpt: str = ""
    retry_after: float | None = None
    location: str = ""
    # A network failure worth retrying (timeout, refused, DNS); False for a
    # blocked address, which no retry will fix.
    transient: bool = False


def allow_private() -> bool:
    return bool(getattr(settings, "WEBHOOKS_ALLOW_PRIVATE", False))


def timeout_seconds() -> float:
    return float(getattr(settings, "WEBHOOK_TIMEOUT_SECONDS", 10))


def address_allowed(address: str) -> bool:
    """Public addresses always; private ones only when the setting allows them.

    Link-local, metadata, multicast and IPv6-wrapped private addresses never
    (``apps.core.netguard`` says why).
    """
    return not netguard.refusal(address, allow_private=allow_private())


def check_literal(url: str) -> None:
    """Refuse a URL whose host is a literal address webhooks may not call."""
    netguard.check_literal(url, allow_private=allow_private())


def resolve(host: str, port: int) -> str:
    """The address to connect to, after checking every address ``host`` has."""
    try:
        return netguard.resolve(host, port, allow_private=allow_private())
    except BlockedAddress as exc:
        raise BlockedAddress(f"{exc} Webhooks only go to public addresses.") from None


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - timezone.now()).total_seconds())


def post(url: str, body: bytes, headers: dict[str, str]) -> HttpResult:
    """POST ``body`` to ``url`` once, through the guard; never raises."""
    result = _post(url, body, headers)
    metrics.webhook_delivered(outcome=outcome(result), seconds=result.latency_ms / 1000)
    return result


def outcome(result: HttpResult) -> str:
    """How a request ended: succeeded, http_error, network_error or refused."""
    if result.status_code is not None:
        return "succeeded" if 200 <= result.status_code < 300 else "http_error"
    return "network_error" if result.transient else "refused"


def _post(url: str, body: bytes, headers: dict[str, str]) -> HttpResult:
    started = time.monotonic()

    def elapsed() -> int:
        return int((time.monotonic() - started) * 1000)

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return HttpResult(None, 0, error="Only http and https URLs can be called.")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        address = resolve(parts.hostname, port)
    except BlockedAddress as exc:
        return HttpResult(None, elapsed(), error=str(exc))
    except OSError as exc:
        return HttpResult(None, elapsed(), error=str(exc)[:300], transient=True)

    target = httpx.URL(url).copy_with(host=address)
    name = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    host_header = name if parts.port is None else f"{name}:{port}"
    request_headers = {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        **headers,
        "host": host_header,
    }
    deadline_ms = timeout_seconds() * MAX_REQUEST_TIMEOUTS * 1000
    extensions: dict = {"timeout": httpx.Timeout(timeout_seconds()).as_dict()}
    if parts.scheme == "https":
        extensions["sni_hostname"] = parts.hostname
    request = httpx.Request(
        "POST", target, content=body, headers=request_headers, extensions=extensions
    )
    try:
        # The bare transport: no redirects, no proxies from the environment, and
        # no request log line carrying the URL (paths often hold a token).
        with httpx.HTTPTransport(retries=0) as transport:
            response = transport.handle_request(request)
            try:
                excerpt = b""
                # Only the first KiB is kept: a receiver cannot make us read more.
                for chunk in response.iter_raw():
                    excerpt += chunk
                    if len(excerpt) >= EXCERPT_BYTES:
                        break
                    if elapsed() > deadline_ms:
                        raise httpx.ReadTimeout("The answer took too long.")
            finally:
                response.close()
            return HttpResult(
                status_code=response.status_code,
                latency_ms=elapsed(),
                excerpt=excerpt[:EXCERPT_BYTES].decode("utf-8", "replace"),
                retry_after=_retry_after(response.headers.get("retry-after")),
                location=response.headers.get("location", "")[:300],
            )
    except httpx.TimeoutException:
        return HttpResult(
            None,
            elapsed(),
            error=f"Timed out after {timeout_seconds():g} s.",
            transient=True,
        )
    except httpx.HTTPError as exc:
        message = str(exc) or type(exc).__name__
        return HttpResult(None, elapsed(), error=message[:300], transient=True)
