"""The catalog's icon cache: each connector's icon fetched once, kept on disk.

Airbyte's registry names an icon per connector (``iconUrl``) and usually inlines
the SVG too (``icon``). A page of the catalog must not send a browser to a third
party 50 times, nor make the console fetch anything while it renders, so icons
live in ``DATA_DIR/icons/``: an inline SVG is written when the registry is merged,
the others are downloaded by the refresh (the daily task, ``airbyte connectors
refresh``), once. The file name carries a hash of the icon's URL, so a new URL is a
new download and an unchanged one is never fetched again; a download that failed
leaves a ``.failed`` marker, so a broken icon is not retried every day either
(the page shows initials instead). A slow server counts as broken: each icon
must arrive within ``ICON_DEADLINE``, and a pass stops starting downloads after
``ICON_PASS_SECONDS``, so one server cannot hold the refresh, or block the icons
after its own, for longer than that.

The icon view serves these files. An SVG can carry script, so it is served with a
Content-Security-Policy ``sandbox`` and ``nosniff``: opened on its own it runs
nothing, and as an ``<img>`` browsers never run it anyway.
"""

from __future__ import annotations

import hashlib
import html
import logging
import os
import random
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import httpx
from django.conf import settings

from apps.core import netguard
from apps.core.pinned_transport import PinnedTransport

logger = logging.getLogger(__name__)

# Content types an icon may have, and the file extension each is kept under.
TYPES = {
    "image/svg+xml": "svg",
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/gif": "gif",
    "image/webp": "webp",
}
CONTENT_TYPES = {ext: content_type for content_type, ext in TYPES.items()}
ICON_TIMEOUT = httpx.Timeout(10.0)
# What an SVG may do when opened on its own: draw, with its inline styles.
SVG_POLICY = "default-src 'none'; style-src 'unsafe-inline'; sandbox"


def icon_dir() -> Path:
    return Path(settings.DATA_DIR) / "icons"


def _key(definition_id: Any, url: str) -> str:
    digest = hashlib.sha256(url.encode()).hexdigest()[:12]
    return f"{definition_id}-{digest}"


def cached_icon(definition_id: Any, url: str) -> tuple[Path, str] | None:
    """The cached file of this icon and its content type, or None."""
    key = _key(definition_id, url)
    for ext, content_type in CONTENT_TYPES.items():
        path = icon_dir() / f"{key}.{ext}"
        if path.is_file():
            return path, content_type
    return None


def _failed_marker(definition_id: Any, url: str) -> Path:
    return icon_dir() / f"{_key(definition_id, url)}.failed"


def _write(path: Path, data: bytes) -> None:
    """Write atomically: a reader sees the old file or the whole new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".icon-")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def cache_inline(entries: Iterable[Any]) -> int:
    """Write the registry's inline SVGs into the cache; how many were new.

    ``entries`` are ``RegistryEntry`` objects; each SVG is kept under the key of
    its entry's ``icon_url``, so that URL is never downloaded.
    """
    written = 0
    limit = int(settings.CONNECTOR_ICON_MAX_BYTES)
    for entry in entries:
        svg = getattr(entry, "icon_svg", "")
        if not svg:
            continue
        data = svg.encode()
        if len(data) > limit or cached_icon(entry.definition_id, entry.icon_url):
            continue
        _write(icon_dir() / f"{_key(entry.definition_id, entry.icon_url)}.svg", data)
        written += 1
    return written


def _sniff(data: bytes) -> str:
    """The extension the bytes look like (whatever the server said), or ""."""
    head = data[:512].lstrip()
    if head.startswith(b"\x89PNG"):
        return "png"
    if head.startswith(b"\xff\xd8"):
        return "jpg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if b"<svg" in data[:4096]:
        return "svg"
    return ""


ICON_REDIRECTS = 3
# The whole download of one icon, redirects included, must end within this many
# seconds: the per-read timeout alone lets a server that sends a byte every few
# seconds hold the worker for days (an icon is at most a few hundred kB).
ICON_DEADLINE = 30.0
# One pass downloads icons for at most this long, well inside the registry task's
# time limit; the icons it did not reach are tried by the next pass.
ICON_PASS_SECONDS = 10 * 60.0


def _timeout(deadline: float) -> httpx.Timeout:
    """ICON_TIMEOUT, cut to what is left before ``deadline``."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise ValueError(f"did not finish within {ICON_DEADLINE:g} s")
    return httpx.Timeout(
        min(float(ICON_TIMEOUT.read or left), left),
        connect=min(float(ICON_TIMEOUT.connect or left), left),
    )


def download(url: str, *, allow_private: bool) -> tuple[bytes, str]:
    """One icon's bytes and extension; ValueError says why not.

    Every hop (redirects are followed by hand, at most three) goes through the
    pinned transport (``apps.core.pinned_transport``): its host is resolved once,
    every address checked against ``netguard``, and the connection made to the
    address checked, so a DNS answer that changes between the check and the
    connect (rebinding) cannot point the console at its own network. A registry
    names these addresses; a public one must not reach inside.

    The whole download ends within ``ICON_DEADLINE``, checked as bytes arrive
    and by cutting each request's timeouts to what is left.
    """
    limit = int(settings.CONNECTOR_ICON_MAX_BYTES)
    deadline = time.monotonic() + ICON_DEADLINE
    transport = PinnedTransport(allow_private=allow_private)
    try:
        with httpx.Client(transport=transport, follow_redirects=False) as client:
            for _hop in range(ICON_REDIRECTS + 1):
                if not url.startswith(("https://", "http://")):
                    raise ValueError("not an http or https URL")
                with client.stream("GET", url, timeout=_timeout(deadline)) as response:
                    if response.is_redirect and "location" in response.headers:
                        url = str(response.url.join(response.headers["location"]))
                        continue
                    if response.status_code != 200:
                        raise ValueError(f"answered {response.status_code}")
                    data = b""
                    for chunk in response.iter_bytes():
                        data += chunk
                        if len(data) > limit:
                            raise ValueError(f"larger than {limit // 1024} kB")
                        if time.monotonic() > deadline:
                            raise ValueError(
                                f"did not finish within {ICON_DEADLINE:g} s"
                            )
                    break
            else:
                raise ValueError(f"redirected more than {ICON_REDIRECTS} times")
    except netguard.BlockedAddress as exc:
        raise ValueError(str(exc)) from None
    except httpx.TimeoutException as exc:
        if time.monotonic() >= deadline:
            raise ValueError(f"did not finish within {ICON_DEADLINE:g} s") from None
        raise ValueError(str(exc) or type(exc).__name__) from None
    except httpx.HTTPError as exc:
        raise ValueError(str(exc) or type(exc).__name__) from None
    ext = _sniff(data)
    if not ext:
        raise ValueError("not an image")
    return data, ext


def icons_fetch(
    definitions: Iterable[Any],
    *,
    allow_private: bool = False,
    limit: int = 0,
    seconds: float | None = None,
) -> dict[str, int]:
    """Download the icons not cached yet (nor failed before); counts by outcome.

    Runs on a worker or in the CLI (never in a web request). ``limit`` caps the
    downloads of one run (0: no cap); ``seconds`` caps its time
    (``ICON_PASS_SECONDS`` by default). An icon is either stored or leaves a
    ``.failed`` marker, so the next pass starts with those no pass reached; they
    are taken in a random order, so an icon that somehow outlives the pass (a
    worker killed mid-download) cannot be the first of every later pass.
    """
    budget = ICON_PASS_SECONDS if seconds is None else seconds
    ends = time.monotonic() + budget
    counts = {"fetched": 0, "failed": 0, "cached": 0, "deferred": 0}
    pending = []
    for definition in definitions:
        url = definition.icon_url
        if not url:
            continue
        if (
            cached_icon(definition.definition_id, url)
            or _failed_marker(definition.definition_id, url).exists()
        ):
            counts["cached"] += 1
            continue
        pending.append(definition)
    # Not cryptography: only an order that differs from pass to pass.
    random.shuffle(pending)
    for index, definition in enumerate(pending):
        if (limit and counts["fetched"] + counts["failed"] >= limit) or (
            time.monotonic() >= ends
        ):
            counts["deferred"] = len(pending) - index
            break
        url = definition.icon_url
        try:
            data, ext = download(url, allow_private=allow_private)
        except ValueError as exc:
            logger.info("Icon of %s from %s: %s", definition.name, url, exc)
            _write(_failed_marker(definition.definition_id, url), str(exc).encode())
            counts["failed"] += 1
            continue
        _write(icon_dir() / f"{_key(definition.definition_id, url)}.{ext}", data)
        counts["fetched"] += 1
    if counts["deferred"]:
        logger.info(
            "Icons: %d left for the next pass (this one's %g s are up or its "
            "limit reached).",
            counts["deferred"],
            budget,
        )
    return counts


PALETTE = ("#4f46e5", "#0e7490", "#15803d", "#b45309", "#be123c", "#7c3aed")


def initials_svg(name: str) -> bytes:
    """The fallback icon: up to two initials on a colour picked from the name."""
    words = [w for w in name.replace("(", " ").split() if w[:1].isalnum()]
    letters = "".join(w[0] for w in words[:2]).upper() or "?"
    colour = PALETTE[int(hashlib.sha256(name.encode()).hexdigest(), 16) % 6]
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32" width="32" '
        f'height="32"><rect width="32" height="32" rx="6" fill="{colour}"/>'
        '<text x="16" y="21" font-family="sans-serif" font-size="13" '
        f'text-anchor="middle" fill="#fff">{html.escape(letters)}</text></svg>'
    ).encode()
