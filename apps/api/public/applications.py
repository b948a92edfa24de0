"""Applications: exchange client credentials for a bearer, and manage one's own.

``POST /api/public/v1/applications/token`` and ``POST /api/v1/applications/token``
need no token (they hand one out). The rest act on the caller's own applications
only: another user's application is a 404 like an unknown id.

A client secret is stored as a hash, so it can be shown only in the answer that
creates the application; lists and gets carry the mask ``**********`` where
Airbyte (which keeps the secret) returns it again. ``createdAt`` is in epoch
milliseconds, as in the spec's examples.
"""

from __future__ import annotations

import json
from typing import Any, Literal
from uuid import UUID

from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from ninja import Router, Schema

from apps.api import services, tokens
from apps.api.access import principal
from apps.api.models import ApiApplication, PersonalAccessToken
from apps.api.problems import (
    bad_request,
    forbidden,
    not_found,
    problem_from_validation,
)
from apps.api.ratelimit import check_rate
from apps.core.masking import MASK

router = Router(tags=["Applications"])
# The Config API's calls (``/api/v1/applications/...``), all POST.
config_router = Router(tags=["applications"])


class ApplicationTokenRequest(Schema):
    client_id: str
    client_secret: str
    grant_type: str = "client_credentials"


class PublicAccessTokenResponse(Schema):
    access_token: str
    token_type: Literal["Bearer"]
    expires_in: int


class AccessToken(Schema):
    access_token: str


class ApplicationCreate(Schema):
    name: str


class ApplicationIdRequestBody(Schema):
    applicationId: str
    includeTombstone: bool | None = None


class ApplicationRead(Schema):
    id: str
    name: str
    clientId: str
    clientSecret: str
    createdAt: int


class ApplicationReadList(Schema):
    applications: list[ApplicationRead]


def _token_body(schema: type[Schema], *, form: bool) -> dict[str, Any]:
    # The body is read by hand (JSON or form-encoded), so describe it here.
    shape = schema.model_json_schema()
    content = {"application/json": {"schema": shape}}
    if form:
        content["application/x-www-form-urlencoded"] = {"schema": shape}
    return {"requestBody": {"required": True, "content": content}}


def _credentials(request: HttpRequest) -> ApplicationTokenRequest:
    """The token request's fields, from a JSON or a form-encoded body."""
    if request.content_type in {
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    }:
        data: Any = request.POST.dict()
    else:
        try:
            data = json.loads(request.body or b"{}")
        except (ValueError, UnicodeDecodeError):
            raise bad_request(
                "The body is neither JSON nor form-encoded: send client_id, "
                "client_secret and grant_type."
            ) from None
    if not isinstance(data, dict):
        raise bad_request(
            "The body must be an object with client_id and client_secret."
        )
    missing = [k for k in ("client_id", "client_secret") if not data.get(k)]
    if missing:
        raise bad_request(
            f"Missing {' and '.join(missing)}.",
            {
                "errors": [
                    {"path": k, "message": "This field is required."} for k in missing
                ]
            },
        )
    # Airbyte ignores grant_type; a wrong one is still a mistake worth naming.
    grant = data.get("grant_type") or data.get("grant-type") or "client_credentials"
    if grant != "client_credentials":
        raise bad_request(
            f"Unsupported grant_type {grant!r}: use client_credentials.",
            {"errors": [{"path": "grant_type", "message": "Use client_credentials."}]},
        )
    return ApplicationTokenRequest(
        client_id=str(data["client_id"]), client_secret=str(data["client_secret"])
    )


def _exchange(request: HttpRequest) -> tuple[str, int]:
    body = _credentials(request)
    # Counted per client id like any token's calls, so a script that guesses
    # secrets (or fetches a token per call) meets the same limit.
    check_rate(f"exchange:{body.client_id}")
    application = tokens.exchange_client_credentials(
        client_id=body.client_id,
        client_secret=body.client_secret,
        ip=request.META.get("REMOTE_ADDR", ""),
    )
    return tokens.issue_access_token(application)


@router.post(
    "applications/token",
    auth=None,
    response=PublicAccessTokenResponse,
    operation_id="createAccessToken",
    summary="Get an Access Token",
    openapi_extra=_token_body(ApplicationTokenRequest, form=True),
)
def access_token(request: HttpRequest) -> dict[str, Any]:
    """Client credentials in, a short-lived bearer out (401 with the reason if not)."""
    token, lifetime = _exchange(request)
    return {"access_token": token, "token_type": "Bearer", "expires_in": lifetime}


@config_router.post(
    "applications/token",
    auth=None,
    response=AccessToken,
    operation_id="applicationTokenRequest",
    summary="Grant an Access Token for an Application.",
    openapi_extra=_token_body(ApplicationTokenRequest, form=False),
)
def config_access_token(request: HttpRequest) -> dict[str, Any]:
    """The Config API's form of the exchange: only ``access_token`` in the answer."""
    token, _ = _exchange(request)
    return {"access_token": token}


def _read(application: ApiApplication, secret: str = MASK) -> dict[str, Any]:
    return {
        "id": str(application.public_id),
        "name": application.name,
        "clientId": application.client_id,
        "clientSecret": secret,
        "createdAt": int(application.created_at.timestamp() * 1000),
    }


def _own(request: HttpRequest, application_id: str) -> ApiApplication:
    application = (
        ApiApplication.objects.filter(
            owner=principal(request).user, revoked_at__isnull=True
        )
        .filter(public_id=_uuid_or_none(application_id))
        .first()
    )
    if application is None:
        raise not_found(
            f"Application {application_id} not found.",
            resource_type="application",
            resource_id=application_id,
        )
    return application


def _uuid_or_none(value: str) -> str | None:
    try:
        return str(UUID(str(value)))
    except ValueError:
        return None


def _list(request: HttpRequest) -> dict[str, Any]:
    rows = ApiApplication.objects.filter(
        owner=principal(request).user, revoked_at__isnull=True
    )
    return {"applications": [_read(a) for a in rows]}


def _create(request: HttpRequest, name: str) -> dict[str, Any]:
    caller = principal(request)
    # A new application must not outlive what made it: a leaked short-lived
    # bearer could otherwise mint a lasting secret that survives its revocation.
    if caller.kind == "application":
        raise forbidden(
            "An application's token cannot create applications; create them "
            "under API tokens in the user menu, with `airbyte applications create`, "
            "or with a personal access token."
        )
    expires_at = None
    if caller.kind == "pat":
        expires_at = (
            PersonalAccessToken.objects.filter(pk=caller.token_id)
            .values_list("expires_at", flat=True)
            .first()
        )
    try:
        application, secret = services.application_create(
            actor=caller.user, name=name, expires_at=expires_at
        )
    except ValidationError as exc:
        raise problem_from_validation(exc) from None
    return _read(application, secret)


def _delete(request: HttpRequest, application_id: str) -> dict[str, Any]:
    application = _own(request, application_id)
    services.application_revoke(actor=principal(request).user, application=application)
    return _read(application)


@router.get(
    "applications",
    response=ApplicationReadList,
    operation_id="listApplications",
    summary="List Applications",
)
def list_applications(request: HttpRequest) -> dict[str, Any]:
    """The caller's applications that still work (secrets masked)."""
    return _list(request)


@router.post(
    "applications",
    response=ApplicationRead,
    operation_id="createApplication",
    summary="Create an Application",
)
def create_application(request: HttpRequest, body: ApplicationCreate) -> dict[str, Any]:
    """A new application of the caller's; its secret is in this answer only."""
    return _create(request, body.name)


@router.get(
    "applications/{applicationId}",
    response=ApplicationRead,
    operation_id="getApplication",
    summary="Get an Application detail",
)
def get_application(request: HttpRequest, applicationId: str) -> dict[str, Any]:
    """One of the caller's applications (secret masked)."""
    return _read(_own(request, applicationId))


@router.delete(
    "applications/{applicationId}",
    response=ApplicationRead,
    operation_id="deleteApplication",
    summary="Deletes an Application",
)
def delete_application(request: HttpRequest, applicationId: str) -> dict[str, Any]:
    """Revoke one of the caller's applications: its bearers stop at once."""
    return _delete(request, applicationId)


@config_router.post(
    "applications/list",
    response=ApplicationReadList,
    operation_id="listConfigApplications",
    summary="Returns all Applications for a User.",
)
def config_list_applications(request: HttpRequest) -> dict[str, Any]:
    """The Config API's list of the caller's applications."""
    return _list(request)


@config_router.post(
    "applications/create",
    response=ApplicationRead,
    operation_id="createConfigApplication",
    summary="Creates a new Application.",
)
def config_create_application(
    request: HttpRequest, body: ApplicationCreate
) -> dict[str, Any]:
    """The Config API's create; its secret is in this answer only."""
    return _create(request, body.name)


@config_router.post(
    "applications/delete",
    response={200: None},
    operation_id="deleteConfigApplication",
    summary="Deletes an Application.",
)
def config_delete_application(
    request: HttpRequest, body: ApplicationIdRequestBody
) -> HttpResponse:
    """The Config API's delete: revoke, answer 200 with no body."""
    _delete(request, body.applicationId)
    return HttpResponse(status=200)
