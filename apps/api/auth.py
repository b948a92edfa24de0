"""The API's authentication: ``Authorization: Bearer <token>``, then the rate limit."""

from __future__ import annotations

from django.http import HttpRequest
from ninja.security import HttpBearer

from apps.api import tokens
from apps.api.access import ApiPrincipal
from apps.api.problems import unauthorized
from apps.api.ratelimit import check_rate

MISSING = (
    "Send an Authorization: Bearer <token> header: a token from "
    "/applications/token, or a personal access token from your account's API "
    "tokens page."
)


class BearerAuth(HttpBearer):
    """A signed application bearer or a personal access token, rate limited per token.

    Every refusal is a 401 problem whose detail says what to do about it (ninja's
    own answer to a missing header would be a bare "Unauthorized").
    """

    def __call__(self, request: HttpRequest) -> ApiPrincipal:
        header = request.headers.get(self.header, "")
        scheme, _, token = header.partition(" ")
        if not header or scheme.lower() != self.openapi_scheme or not token.strip():
            raise unauthorized(MISSING)
        return self.authenticate(request, token.strip())

    def authenticate(self, request: HttpRequest, token: str) -> ApiPrincipal:
        principal = tokens.authenticate(token, ip=request.META.get("REMOTE_ADDR", ""))
        check_rate(f"{principal.kind}:{principal.token_id}")
        return principal


bearer = BearerAuth()
