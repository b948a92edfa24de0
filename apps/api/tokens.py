"""Bearer tokens: short-lived signed ones for applications, and personal tokens.

``issue_access_token`` answers ``applications/token``: a bearer signed with the
console's secret key that names its application and its expiry. Nothing about it
is stored, so it is checked against its application on every request: revoking
or expiring the application stops its bearers at once. A personal access token
(``abc_pat_...``) is looked up by its hash.
"""

from __future__ import annotations

import hmac
import time
from typing import TYPE_CHECKING

from django.conf import settings
from django.core import signing

from apps.api import services
from apps.api.access import ApiPrincipal
from apps.api.models import ApiApplication, PersonalAccessToken, secret_hash
from apps.api.problems import unauthorized

if TYPE_CHECKING:
    from apps.api.models import ApiCredential

SALT = "apps.api.tokens.access-token"
# Airbyte 1.6+ gives application bearers 15 minutes (NOTES.md §2).
DEFAULT_TOKEN_SECONDS = 900

EXPIRED = "The token has expired; request a new one from /applications/token."
REVOKED = "The token was revoked."
UNKNOWN = "Unknown token."
BAD_CLIENT = "Unknown client_id or wrong client_secret."


def token_lifetime() -> int:
    """Seconds an application bearer lives (setting ``API_TOKEN_SECONDS``)."""
    return int(getattr(settings, "API_TOKEN_SECONDS", DEFAULT_TOKEN_SECONDS))


def issue_access_token(application: ApiApplication) -> tuple[str, int]:
    """A signed bearer for ``application`` and how many seconds it lives."""
    lifetime = token_lifetime()
    payload = {"app": str(application.public_id), "exp": int(time.time()) + lifetime}
    return signing.dumps(payload, salt=SALT, compress=False), lifetime


def exchange_client_credentials(
    *, client_id: str, client_secret: str, ip: str
) -> ApiApplication:
    """The application these credentials belong to, or a 401 saying why not."""
    application = (
        ApiApplication.objects.select_related("owner")
        .filter(client_id=client_id or "")
        .first()
    )
    # Compared even for an unknown client id, so timing does not tell ids apart.
    given = secret_hash(client_secret or "")
    expected = application.secret_hash if application else secret_hash("")
    if application is None or not hmac.compare_digest(given, expected):
        raise unauthorized(BAD_CLIENT)
    if application.is_revoked:
        raise unauthorized(
            "The application was revoked; create a new one under your account's "
            "API tokens."
        )
    if application.is_expired:
        raise unauthorized(
            "The application has expired; create a new one under your account's "
            "API tokens."
        )
    _check_owner(application)
    services.credential_record_use(credential=application, ip=ip)
    return application


def authenticate(raw: str, *, ip: str) -> ApiPrincipal:
    """The caller a bearer token stands for, or a 401 whose detail says why not."""
    raw = (raw or "").strip()
    if raw.startswith(services.PAT_PREFIX):
        credential: ApiCredential = _personal_token(raw)
        kind = "pat"
        label = f"token “{credential.name}” ({credential.prefix}…)"
    else:
        credential = _application_of(raw)
        kind = "application"
        label = f"application “{credential.name}”"
    _check_owner(credential)
    services.credential_record_use(credential=credential, ip=ip)
    return ApiPrincipal(
        user=credential.owner, kind=kind, token_id=credential.pk, label=label
    )


def _personal_token(raw: str) -> PersonalAccessToken:
    token = (
        PersonalAccessToken.objects.select_related("owner")
        .filter(token_hash=secret_hash(raw))
        .first()
    )
    if token is None:
        raise unauthorized(UNKNOWN)
    if token.is_revoked:
        raise unauthorized(REVOKED)
    if token.is_expired:
        raise unauthorized(
            "The token has expired; create a new one under your account's API tokens."
        )
    return token


def _application_of(raw: str) -> ApiApplication:
    try:
        payload = signing.loads(raw, salt=SALT)
        public_id, expires = str(payload["app"]), int(payload["exp"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        raise unauthorized(UNKNOWN) from None
    if expires <= time.time():
        raise unauthorized(EXPIRED)
    application = (
        ApiApplication.objects.select_related("owner")
        .filter(public_id=public_id)
        .first()
    )
    if application is None:
        raise unauthorized(UNKNOWN)
    if application.is_revoked:
        raise unauthorized(REVOKED)
    if application.is_expired:
        raise unauthorized(
            "The token's application has expired; create a new application under "
            "your account's API tokens."
        )
    return application


def _check_owner(credential: ApiCredential) -> None:
    if not credential.owner.is_active:
        raise unauthorized(
            "The account this token belongs to is deactivated; ask a console "
            "administrator."
        )
