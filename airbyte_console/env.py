"""Typed readers for settings from the environment.

Each helper names the variable in its error, so a bad value stops start-up with a
message that says what to fix. Every secret can also be given as ``NAME_FILE``, the
path of a file holding it (Docker and Kubernetes secrets).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Literal

import dj_database_url
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _raw(name: str) -> str | None:
    return os.environ.get(name)


def string(name: str, default: str) -> str:
    """A plain string, or the default when unset."""
    value = _raw(name)
    return default if value is None else value


def boolean(name: str, default: bool) -> bool:
    """One of 1/0, true/false, yes/no, on/off (any case)."""
    value = _raw(name)
    if value is None:
        return default
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(
        f"{name}={value!r} is not a boolean: use one of 1, 0, true, false, yes, no."
    )


def integer(name: str, default: int) -> int:
    """A whole number."""
    value = _raw(name)
    if value is None or value.strip() == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not a whole number.") from None


def number(name: str, default: float) -> float:
    """A decimal number."""
    value = _raw(name)
    if value is None or value.strip() == "":
        return default
    try:
        return float(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not a number.") from None


def str_list(name: str, default: list[str]) -> list[str]:
    """A comma-separated list; blanks are dropped."""
    value = _raw(name)
    if value is None:
        return list(default)
    return [item.strip() for item in value.split(",") if item.strip()]


def choice(name: str, choices: tuple[str, ...], default: str) -> str:
    """One of a fixed set of words (any case); blank means the default."""
    value = _raw(name)
    if value is None or value.strip() == "":
        return default
    lowered = value.strip().lower()
    if lowered not in choices:
        raise ImproperlyConfigured(
            f"{name}={value!r} is not one of: {', '.join(choices)}."
        )
    return lowered


def path(name: str, default: Path) -> Path:
    """A filesystem path, made absolute."""
    value = _raw(name)
    return Path(value).expanduser().resolve() if value else default


def secret(
    name: str,
    *,
    default: str | None = None,
    generated_file: Path | None = None,
    generator: Literal["django", "fernet"] = "django",
) -> str:
    """A secret from ``NAME``, from the file named by ``NAME_FILE``, or generated once.

    A generated secret is written to ``generated_file`` with mode 0600 and read back on
    every later start, so it survives restarts without being configured.
    """
    value = _raw(name)
    file_name = _raw(f"{name}_FILE")
    if value is not None and file_name is not None:
        raise ImproperlyConfigured(f"Set {name} or {name}_FILE, not both.")
    if file_name is not None:
        try:
            return Path(file_name).read_text().strip()
        except OSError as exc:
            raise ImproperlyConfigured(
                f"{name}_FILE={file_name!r} cannot be read: {exc.strerror}."
            ) from None
    if value is not None:
        return value
    if generated_file is not None:
        return _generated(generated_file, generator)
    if default is None:
        raise ImproperlyConfigured(f"{name} must be set.")
    return default


def _generated(target: Path, generator: Literal["django", "fernet"]) -> str:
    if target.exists():
        return target.read_text().strip()
    if generator == "fernet":
        value = Fernet.generate_key().decode()
    else:
        value = secrets.token_urlsafe(50)
    target.parent.mkdir(parents=True, exist_ok=True)
    # O_EXCL: when two processes start at once, one writes and the other reads its key.
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return target.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    return value


def fernet_keys(name: str, *, generated_file: Path) -> list[str]:
    """One or more Fernet keys, comma-separated, the newest first.

    A malformed key stops start-up here; a well-formed but wrong key is caught later
    by the canary check in ``apps.credentials``.
    """
    raw = secret(name, generated_file=generated_file, generator="fernet")
    keys = [key.strip() for key in raw.split(",") if key.strip()]
    if not keys:
        raise ImproperlyConfigured(f"{name} is empty: give at least one Fernet key.")
    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key)
        except (ValueError, TypeError):
            raise ImproperlyConfigured(
                f"{name}: key {position} is not a valid Fernet key (32 url-safe "
                'base64-encoded bytes). Generate one with `python -c "from '
                "cryptography.fernet import Fernet; print(Fernet.generate_key()"
                '.decode())"`.'
            ) from None
    return keys


def database(name: str, *, default: str) -> dict:
    """A database URL such as ``postgres://user@host:5432/db`` or ``sqlite:///path``."""
    url = secret(name, default=default)
    try:
        config = dj_database_url.parse(url)
    except Exception as exc:  # dj-database-url raises several types on bad input
        raise ImproperlyConfigured(f"{name} is not a database URL: {exc}") from None
    if not config.get("ENGINE"):
        raise ImproperlyConfigured(
            f"{name}: unsupported scheme; use postgres:// or sqlite:///."
        )
    return config
