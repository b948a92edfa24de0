"""Where a secret may be sent: the host names in a config, and allowed-host patterns.

A credential carries the hosts it may be sent to (``allowed_hosts``: names and
``*.example.com`` patterns). Before its value is put into a connector's config, the
hosts that config names are read here and each must match one of the patterns, so a
source pointed at someone's own server cannot receive a credential that was stored
for another. The reading is by field name and by the shape of the value, with no
connector spec needed, because the data migration that fills ``allowed_hosts`` for
credentials already in use runs without one; the connector spec's formats add to it
(``apps.connectors.spec.config.config_hosts``).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from apps.engines.declarative import MANIFEST_KEY

# Words of a field name that say where a connector sends what it is given. The
# first set names a host (its value is, or holds, a host name); the second adds the
# fields that pick a place without naming a host (a port, an account, a region).
HOST_WORDS = frozenset(
    {
        "host",
        "hostname",
        "hosts",
        "server",
        "servers",
        "url",
        "urls",
        "uri",
        "uris",
        "endpoint",
        "endpoints",
        "domain",
        "address",
        "dsn",
    }
)
PLACE_WORDS = frozenset(
    {"port", "account", "region", "subdomain", "instance", "tenant", "site", "shop"}
)
# A field named like this is about a host's details, not the host: a URL's query
# parameters, a path, a scheme.
NOT_A_HOST_WORDS = frozenset(
    {"params", "param", "parameters", "path", "paths", "prefix", "scheme", "method"}
)
# JSON Schema formats of a value that is an address.
ADDRESS_FORMATS = frozenset(
    {"uri", "url", "iri", "hostname", "idn-hostname", "ipv4", "ipv6"}
)

_WORD_SPLIT = re.compile(r"[^a-z0-9]+")
_CAMEL = re.compile(r"([a-z0-9])([A-Z])")
_HOST = re.compile(r"^[a-z0-9_]([a-z0-9_.-]{0,252})$")
_TEMPLATE = re.compile(r"\{\{\s*(.*?)\s*\}\}")
_CONFIG_REF = re.compile(
    r"^config(?:\.(\w+)|\[\s*['\"]([^'\"]+)['\"]\s*\])((?:\[\s*['\"][^'\"]+['\"]\s*\])*)$"
)
_SUBKEY = re.compile(r"\[\s*['\"]([^'\"]+)['\"]\s*\]")
# Subtrees of a manifest that describe data, never a place requests go.
_MANIFEST_SKIP = frozenset(
    {"spec", "schema_loader", "schemas", "schema", "metadata", "description"}
)


def key_words(key: str) -> set[str]:
    """The lower-case words of a field name: ``tunnelHost`` -> {tunnel, host}."""
    return set(_WORD_SPLIT.split(_CAMEL.sub(r"\1_\2", str(key)).lower())) - {""}


def names_host(key: str) -> bool:
    """A field whose value is, or holds, the host a connector connects to."""
    words = key_words(key)
    return bool(words & HOST_WORDS) and not words & NOT_A_HOST_WORDS


def names_place(key: str) -> bool:
    """A field that says where a connector sends what it is given (host, port...)."""
    words = key_words(key)
    return (
        names_host(key)
        or bool(words & PLACE_WORDS)
        or (str(key).lower() in {"connection_string", "connectionstring"})
    )


def host_of(value: str) -> str | None:
    """The lower-case host name of a URL, ``host:port`` or bare host; None if none.

    Raises ValueError for text that names a place but not a host this module can
    read, so the caller refuses instead of guessing.
    """
    text = value.strip()
    if not text:
        return None
    if "://" in text or text.startswith("//"):
        try:
            host = urlsplit(text if "://" in text else "http:" + text).hostname
        except ValueError:
            raise ValueError(text) from None
        if not host:
            raise ValueError(text)
        return _checked_host(host)
    if text.startswith("/"):
        return None  # a path on whatever host the URL base names
    # user@host:port/database, as JDBC-like and SSH fields are written.
    text = text.rsplit("@", 1)[-1].split("/", 1)[0]
    if text.startswith("["):
        text = text[1:].split("]", 1)[0]
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]
    return _checked_host(text)


def _checked_host(host: str) -> str:
    host = host.strip().lower().rstrip(".")
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    if not _HOST.match(host):
        raise ValueError(host)
    return host


@dataclass
class ConfigHosts:
    """The hosts a config names, and what it names that cannot be read as a host."""

    hosts: set[str] = field(default_factory=set)
    unreadable: list[str] = field(default_factory=list)

    def add(self, value: Any) -> None:
        """Add a field's value: a string (maybe comma-separated) or a list of them."""
        values = value if isinstance(value, list) else [value]
        for item in values:
            if not isinstance(item, str):
                continue
            for part in re.split(r"[,\s]+", item.strip()) if item.strip() else []:
                try:
                    host = host_of(part)
                except ValueError:
                    self.unreadable.append(part[:200])
                    continue
                if host:
                    self.hosts.add(host)


def hosts_in(
    config: Mapping[str, Any], *, pointers: Iterable[tuple[str, ...]] = ()
) -> ConfigHosts:
    """The hosts a connector config names: host-like fields, URLs, its manifest.

    ``pointers`` are more paths whose values are addresses (fields the connector's
    spec marks ``format: uri`` or ``hostname`` under other names).
    """
    found = ConfigHosts()
    _walk_config(config, found)
    for path in pointers:
        value: Any = config
        for part in path:
            value = value.get(part) if isinstance(value, Mapping) else None
        found.add(value)
    manifest = config.get(MANIFEST_KEY)
    if isinstance(manifest, Mapping):
        _walk_manifest(manifest, config, found, depth=0)
    return found


def _walk_config(data: Any, found: ConfigHosts, depth: int = 0) -> None:
    if depth > 30:
        return
    if isinstance(data, Mapping):
        for key, value in data.items():
            if key == MANIFEST_KEY:
                continue
            named = isinstance(value, str | list) and names_host(str(key))
            if named or (isinstance(value, str) and "://" in value):
                found.add(value)
            else:
                _walk_config(value, found, depth + 1)
    elif isinstance(data, list):
        for item in data:
            _walk_config(item, found, depth + 1)


def _walk_manifest(
    data: Any, config: Mapping[str, Any], found: ConfigHosts, depth: int
) -> None:
    """The places a manifest sends requests: ``url_base``, ``url``, token endpoints.

    Templates that read the config (``{{ config['base_url'] }}``) are filled in; any
    other template in a host is unreadable, so a credential is not sent through it.
    """
    if depth > 40:
        return
    if isinstance(data, Mapping):
        for key, value in data.items():
            if str(key) in _MANIFEST_SKIP or key in ("$schema", "$id", "$comment"):
                continue
            if key == "path" and isinstance(value, str) and not _absolute(value):
                continue  # a path below the URL base, read where that is
            if isinstance(value, str) and (names_host(str(key)) or key == "path"):
                text = _render(value, config)
                if text is None:
                    found.unreadable.append(value[:200])
                else:
                    found.add(text)
            else:
                _walk_manifest(value, config, found, depth + 1)
    elif isinstance(data, list):
        for item in data:
            _walk_manifest(item, config, found, depth + 1)


def _absolute(path: str) -> bool:
    """A requester path that names its own host (the CDK joins it to the URL base)."""
    text = path.strip()
    return "://" in text or text.startswith(("//", "{{ config", "{{config"))


def _render(text: str, config: Mapping[str, Any]) -> str | None:
    """``text`` with each ``{{ config[...] }}`` filled in; None if another remains."""
    unreadable = False

    def fill(match: re.Match) -> str:
        nonlocal unreadable
        ref = _CONFIG_REF.match(match.group(1))
        if ref is None:
            unreadable = True
            return ""
        value: Any = config.get(ref.group(1) or ref.group(2))
        for sub in _SUBKEY.findall(ref.group(3) or ""):
            value = value.get(sub) if isinstance(value, Mapping) else None
        if not isinstance(value, str | int):
            unreadable = True
            return ""
        return str(value)

    rendered = _TEMPLATE.sub(fill, text)
    # A template may stand in a URL's path or query (the host is still read).
    if unreadable or "{%" in rendered:
        split = _TEMPLATE.split(text)
        head = split[0]
        if "://" in head and urlsplit(head).hostname and "/" in head.split("://")[1]:
            return head
        return None
    return rendered


# --- allowed-host patterns ----------------------------------------------------------


def clean_allowed_hosts(raw: str | Iterable[str]) -> list[str]:
    """Host names and ``*.example.com`` patterns, one a line or comma-separated.

    Raises ValueError naming the first entry that is neither.
    """
    items = re.split(r"[\s,]+", raw) if isinstance(raw, str) else list(raw)
    cleaned: list[str] = []
    for item in items:
        entry = str(item).strip().lower().rstrip(".")
        if not entry:
            continue
        if entry == "*":
            cleaned.append(entry)
            continue
        body = entry[2:] if entry.startswith("*.") else entry
        try:
            checked = _checked_host(body.strip("[]"))
        except ValueError:
            raise ValueError(
                f"“{item}” is not a host name or a pattern like *.example.com."
            ) from None
        entry = ("*." + checked) if entry.startswith("*.") else checked
        if entry not in cleaned:
            cleaned.append(entry)
    return cleaned


def host_allowed(host: str, patterns: Iterable[str]) -> bool:
    """Does ``host`` match one of the patterns (``*.example.com`` matches subdomains).

    ``*`` alone is any host: an admin's explicit choice, never a default.
    """
    host = host.lower().rstrip(".")
    for pattern in patterns:
        if pattern == "*" or pattern == host:
            return True
        if pattern.startswith("*.") and host.endswith(pattern[1:]):
            return True
    return False


def disallowed_hosts(found: ConfigHosts, patterns: Iterable[str]) -> list[str]:
    """The hosts (and unreadable addresses) of ``found`` the patterns do not allow."""
    patterns = list(patterns)
    refused = sorted(h for h in found.hosts if not host_allowed(h, patterns))
    if found.unreadable and "*" not in patterns:
        refused += sorted(set(found.unreadable))
    return refused


def refusal(name: str, patterns: Iterable[str], found: ConfigHosts) -> str | None:
    """Why credential ``name`` may not be sent where ``found`` says, or None."""
    patterns = list(patterns)
    refused = disallowed_hosts(found, patterns)
    if not refused:
        return None
    where = ", ".join(refused[:5]) + (" …" if len(refused) > 5 else "")
    if not patterns:
        return (
            f"The credential “{name}” may not be sent to {where}: no workspace admin "
            "has named the hosts it may be sent to yet. An admin can add them on the "
            "credential's page."
        )
    return (
        f"The credential “{name}” may only be sent to {', '.join(patterns)}, not to "
        f"{where}. Ask a workspace admin to add the host to the credential, or type "
        "the secret here instead."
    )
