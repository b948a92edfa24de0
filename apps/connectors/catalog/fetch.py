"""Reading a registry document from a URL or a file, with limits and plain errors.

The registry is Airbyte's (``CONNECTOR_REGISTRY_URL``) or one an administrator
names; either way it is read on a worker or in the CLI, never in a web request.
Every way it can go wrong becomes a ``RegistryError`` whose message says what
happened where the user reads it: "did not answer (timed out after 30 s)",
"answered 503", "is not JSON at line 3". Only http and https URLs (redirects
limited, each hop http or https too) or a path on this host are read, and no more
than ``CONNECTOR_REGISTRY_MAX_BYTES``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
from django.conf import settings

from apps.connectors.catalog.registry import RegistryError

MAX_REDIRECTS = 3
# How many JSON objects a registry document may hold (see read_registry).
MAX_OBJECTS = 3_000_000


def is_url(location: str) -> bool:
    return location.startswith(("http://", "https://"))


def label_of(location: str) -> str:
    """How messages name the place: "The registry at URL" or "The registry file X"."""
    if is_url(location):
        return f"The registry at {location}"
    return f"The registry file {location}"


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):g} MB"


def read_registry(location: str) -> dict[str, Any]:
    """The JSON object at ``location`` (a URL or a path); RegistryError otherwise.

    The document's shape (sources and destinations) is ``parse_registry``'s to
    judge; this only promises a JSON object.
    """
    location = location.strip()
    label = label_of(location)
    if "://" in location and not is_url(location):
        raise RegistryError(
            f"{label} cannot be read: only http and https URLs or a file path."
        )
    limit = int(settings.CONNECTOR_REGISTRY_MAX_BYTES)
    body = _download(location, label, limit) if is_url(location) else None
    if body is None:
        body = _read_file(location, label, limit)
    # Parsing costs memory by the object, not by the byte: 100 MB of `{}` would
    # be some 33 million dicts (GBs). Airbyte's registry holds a few hundred
    # thousand objects (entries and their specs).
    objects = body.count(b"{")
    if objects > MAX_OBJECTS:
        raise RegistryError(
            f"{label} is not a registry: it holds {objects:,} JSON objects, more "
            f"than the {MAX_OBJECTS:,} any registry needs."
        )
    try:
        data = json.loads(body)
    except UnicodeDecodeError:
        raise RegistryError(f"{label} is not JSON: it is not UTF-8 text.") from None
    except json.JSONDecodeError as exc:
        raise RegistryError(
            f"{label} is not JSON at line {exc.lineno} (column {exc.colno}): {exc.msg}."
        ) from None
    if not isinstance(data, dict):
        raise RegistryError(
            f"{label} is not a registry: the JSON is not an object with "
            "`sources` and `destinations`."
        )
    return data


def _read_file(location: str, label: str, limit: int) -> bytes:
    path = Path(location)
    try:
        size = path.stat().st_size
        if size > limit:
            raise RegistryError(f"{label} is larger than {_megabytes(limit)}.")
        return path.read_bytes()
    except OSError as exc:
        raise RegistryError(f"{label} cannot be read: {exc.strerror or exc}.") from None


def _download(url: str, label: str, limit: int) -> bytes:
    timeout = float(settings.CONNECTOR_REGISTRY_TIMEOUT_SECONDS)
    # The per-read timeout alone would let a server that sends a byte a second
    # hold a worker for hours: the whole download gets a deadline too.
    deadline = time.monotonic() + timeout * 4
    seconds = f"{timeout:g} s"
    try:
        with (
            httpx.Client(
                timeout=httpx.Timeout(timeout),
                follow_redirects=True,
                max_redirects=MAX_REDIRECTS,
                headers={"Accept": "application/json"},
            ) as client,
            client.stream("GET", url) as response,
        ):
            if response.status_code != 200:
                raise RegistryError(
                    f"{label} answered {response.status_code}"
                    f"{' ' + response.reason_phrase if response.reason_phrase else ''}."
                )
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > limit:
                raise RegistryError(f"{label} is larger than {_megabytes(limit)}.")
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > limit:
                    raise RegistryError(f"{label} is larger than {_megabytes(limit)}.")
                if time.monotonic() > deadline:
                    raise RegistryError(
                        f"{label} did not finish answering within {timeout * 4:g} s."
                    )
                chunks.append(chunk)
            return b"".join(chunks)
    except httpx.TimeoutException:
        raise RegistryError(
            f"{label} did not answer (timed out after {seconds})."
        ) from None
    except httpx.TooManyRedirects:
        raise RegistryError(
            f"{label} redirected more than {MAX_REDIRECTS} times."
        ) from None
    except httpx.UnsupportedProtocol:
        raise RegistryError(
            f"{label} redirected to a URL that is not http or https."
        ) from None
    except httpx.ConnectError as exc:
        raise RegistryError(f"{label} did not answer ({_reason(exc)}).") from None
    except httpx.HTTPError as exc:
        raise RegistryError(f"{label} could not be read: {_reason(exc)}.") from None


def _reason(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    if "Connection refused" in text:
        return "connection refused"
    if "Name or service not known" in text or "nodename nor servname" in text:
        return "its host name does not resolve"
    return text.rstrip(".")
