"""Standard Webhooks signatures: HMAC-SHA256 over ``id.timestamp.body``.

The secret is ``whsec_`` followed by base64 of the key bytes; the signature header
is a space-separated list of ``v1,<base64 digest>`` (several during a rotation).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
import uuid
from collections.abc import Mapping

PREFIX = "whsec_"
# Receivers refuse timestamps further than this from their clock (replays).
TOLERANCE_SECONDS = 5 * 60


class SignatureError(Exception):
    """The headers or the signature do not verify."""


def new_secret() -> str:
    """A fresh ``whsec_`` secret of 32 random bytes."""
    return PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def new_message_id() -> str:
    return f"msg_{uuid.uuid4().hex}"


def _key(secret: str) -> bytes:
    raw = secret.removeprefix(PREFIX)
    return base64.b64decode(raw)


def sign(*, secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value for these exact bytes."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(*, secret: str, msg_id: str, body: bytes, now: int | None = None) -> dict:
    """The three Standard Webhooks headers for one request."""
    timestamp = int(time.time()) if now is None else now
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(
            secret=secret, msg_id=msg_id, timestamp=timestamp, body=body
        ),
    }


def verify(
    *,
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    now: int | None = None,
    tolerance: int = TOLERANCE_SECONDS,
) -> str:
    """Check a received request over its raw bytes; returns the ``webhook-id``."""
    lowered = {k.lower(): v for k, v in headers.items()}
    try:
        msg_id = lowered["webhook-id"]
        timestamp = int(lowered["webhook-timestamp"])
        received = lowered["webhook-signature"]
    except (KeyError, ValueError) as exc:
        raise SignatureError("Missing or malformed webhook headers.") from exc
    current = int(time.time()) if now is None else now
    if abs(current - timestamp) > tolerance:
        raise SignatureError("The timestamp is outside the tolerance.")
    expected = sign(secret=secret, msg_id=msg_id, timestamp=timestamp, body=body)
    for candidate in received.split():
        if hmac.compare_digest(candidate, expected):
            return msg_id
    raise SignatureError("No signature matches.")
