"""Which stored credentials a secret field offers, and what choosing one fills in.

A password field offers database logins and username/password pairs, an API key
field API keys, a client secret OAuth clients; key/value credentials fit anywhere.
A database login also brings its host, port, database and user (stored as
non-secret hints), which the form copies into the fields beside the password.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# What the spec's sibling fields are called, per hint of a credential.
FILL_KEYS: dict[str, tuple[str, ...]] = {
    "host": ("host", "hostname", "server"),
    "port": ("port",),
    "database": ("database", "dbname", "db_name", "db"),
    "username": ("username", "user", "user_name", "login"),
}


@dataclass(frozen=True)
class CredentialMeta:
    """The non-secret facts of one credential a form may offer."""

    type: str
    fill: dict[str, Any] = field(default_factory=dict)


def credential_meta(credential: Any) -> CredentialMeta:
    """A credential's type and the non-secret values it fills in (its hints)."""
    hints = credential.hints or {}
    fill = {
        key: hints[key]
        for key in FILL_KEYS
        if hints.get(key) not in (None, "") and credential.type in _FILLS_FROM
    }
    return CredentialMeta(type=credential.type, fill=fill)


# Only logins carry settings worth copying into a connector's form.
_FILLS_FROM = ("database", "basic_auth")


def types_for_secret(key: str) -> tuple[str, ...] | None:
    """Credential types that fit a secret field named ``key``; None: any type."""
    name = key.lower()
    if "password" in name or name in ("pass", "passwd", "pwd"):
        return ("database", "basic_auth", "generic")
    if name in ("client_secret",) or "refresh_token" in name:
        return ("oauth2", "generic")
    if (
        "api_key" in name
        or "apikey" in name
        or "token" in name
        or name in ("key", "access_key", "secret_key", "api_secret")
    ):
        return ("api_key", "oauth2", "generic")
    return None
