"""Reading a user's API applications and tokens: always scoped to their owner."""

from __future__ import annotations

from typing import TYPE_CHECKING
from uuid import UUID

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from apps.api.models import ApiApplication, PersonalAccessToken

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser


def application_list(
    *, owner: AbstractBaseUser, include_revoked: bool = True
) -> QuerySet[ApiApplication]:
    """The owner's applications, newest first."""
    rows = ApiApplication.objects.filter(owner=owner)
    return rows if include_revoked else rows.filter(revoked_at__isnull=True)


def application_get(
    *, owner: AbstractBaseUser, application_id: UUID | str
) -> ApiApplication:
    """One of the owner's applications; someone else's is a 404 like an unknown id."""
    return get_object_or_404(ApiApplication, owner=owner, public_id=application_id)


def token_list(*, owner: AbstractBaseUser) -> QuerySet[PersonalAccessToken]:
    """The owner's personal access tokens, newest first."""
    return PersonalAccessToken.objects.filter(owner=owner)


def token_get(*, owner: AbstractBaseUser, token_id: UUID | str) -> PersonalAccessToken:
    """One of the owner's tokens; someone else's is a 404 like an unknown id."""
    return get_object_or_404(PersonalAccessToken, owner=owner, public_id=token_id)
