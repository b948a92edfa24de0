"""Sign in with an email address, whatever its case, or with a username."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import AbstractBaseUser
from django.http import HttpRequest


class EmailOrUsernameBackend(ModelBackend):
    """Django's backend, looking the user up by email first (case-insensitive).

    Emails are unique regardless of case (an index in the accounts migrations), so
    an email names at most one user. A login without an ``@`` is a username, as
    Django's ``createsuperuser`` makes them: exact first, then case-insensitive
    when that names one user only.
    """

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> AbstractBaseUser | None:
        if username is None or password is None:
            return None
        user = self._find(username.strip())
        if user is None:
            # Run the hasher anyway, so a missing account takes as long as a
            # wrong password (Django's ModelBackend does the same).
            get_user_model()().set_password(password)
            return None
        if user.check_password(password) and self.user_can_authenticate(user):
            return user
        return None

    def _find(self, login: str) -> AbstractBaseUser | None:
        users = get_user_model()._default_manager
        if "@" in login:
            match = list(users.filter(email__iexact=login)[:2])
            if len(match) == 1:
                return match[0]
        exact = users.filter(username=login).first()
        if exact is not None:
            return exact
        match = list(users.filter(username__iexact=login)[:2])
        return match[0] if len(match) == 1 else None
