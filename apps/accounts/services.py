"""Account writes: sign-in, sign-out, password change, each audited."""

from __future__ import annotations

from django.contrib.auth import get_user_model, login, logout, update_session_auth_hash
from django.contrib.auth.models import AbstractBaseUser
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest

from apps.audit.models import AuditEvent
from apps.audit.services import audit_record


@transaction.atomic
def user_login(*, request: HttpRequest, user: AbstractBaseUser) -> None:
    """Start a session; Django's ``login`` rotates the session key (no fixation)."""
    login(request, user)
    _remember_time_zone(request, user)
    audit_record(actor=user, action="user.logged_in", target=user)


def _remember_time_zone(request: HttpRequest, user: AbstractBaseUser) -> None:
    """Keep the person's zone in the session, so pages read it without a query."""
    from apps.accounts.models import Profile
    from apps.accounts.timezones import SESSION_KEY

    chosen = (
        Profile.objects.filter(user=user).values_list("time_zone", flat=True).first()
    )
    request.session[SESSION_KEY] = chosen or ""


@transaction.atomic
def profile_update(
    *, request: HttpRequest, user: AbstractBaseUser, time_zone: str
) -> None:
    """Save the person's time zone ("" follows the browser) for this and later
    sessions."""
    from apps.accounts.models import Profile
    from apps.accounts.timezones import SESSION_KEY, zone_or_none

    if time_zone and zone_or_none(time_zone) is None:
        raise ValidationError({"time_zone": f"Unknown time zone: {time_zone}."})
    profile, _ = Profile.objects.select_for_update().get_or_create(user=user)
    before = profile.time_zone
    profile.time_zone = time_zone
    profile.full_clean()
    profile.save()
    request.session[SESSION_KEY] = time_zone
    if before != time_zone:
        audit_record(
            actor=user,
            action="user.profile_changed",
            target=user,
            changes={"time_zone": [before or None, time_zone or None]},
        )


@transaction.atomic
def user_login_failed(*, username: str, locked_out: bool) -> None:
    """Record a failed or refused sign-in; the password is never recorded."""
    audit_record(
        actor=None,
        actor_label=username[:254] or "anonymous",
        action="user.login_locked_out" if locked_out else "user.login_failed",
        target_label=username[:300],
        outcome=AuditEvent.Outcome.DENIED if locked_out else AuditEvent.Outcome.FAILURE,
    )


@transaction.atomic
def user_logout(*, request: HttpRequest) -> None:
    """End the session: its data is flushed and the cookie no longer works."""
    user = request.user
    if user.is_authenticated:
        audit_record(actor=user, action="user.logged_out", target=user)
    logout(request)


@transaction.atomic
def user_password_change(
    *, request: HttpRequest, user: AbstractBaseUser, new_password: str
) -> None:
    """Set a new password and keep this session (others are signed out)."""
    user.set_password(new_password)
    user.save(update_fields=["password"])
    update_session_auth_hash(request, user)
    audit_record(actor=user, action="user.password_changed", target=user)


@transaction.atomic
def user_create(
    *, actor: AbstractBaseUser | None, email: str, password: str, is_admin: bool = False
) -> AbstractBaseUser:
    """Create a console user (username = email); ``is_admin`` makes a superuser."""
    User = get_user_model()
    email = User.objects.normalize_email(email.strip())
    if not email or "@" not in email:
        raise ValidationError({"email": "Give a valid email address."})
    if User.objects.filter(email__iexact=email).exists():
        raise ValidationError(
            {"email": f"A user with the email {email} already exists."}
        )
    validate_password(password)
    user = User(username=email, email=email, is_staff=is_admin, is_superuser=is_admin)
    user.set_password(password)
    user.full_clean(exclude=["password"])
    user.save()
    audit_record(
        actor=actor,
        actor_label="" if actor else "system",
        action="user.created",
        target=user,
        changes={"email": [None, email], "is_superuser": [None, is_admin]},
    )
    return user


@transaction.atomic
def user_password_set(
    *, user: AbstractBaseUser, new_password: str, invitation: bool
) -> None:
    """Set a password from an emailed link: a first one (invitation) or a reset.

    Changing the password also ends the link: its token hashes the old one.
    """
    user.set_password(new_password)
    user.save(update_fields=["password"])
    audit_record(
        actor=user,
        action="user.invitation_accepted" if invitation else "user.password_reset",
        target=user,
    )


@transaction.atomic
def user_password_reset_request(*, email: str, sent_to: int) -> None:
    """Record that someone asked for a reset link; staff see it console-wide.

    The page answers the same whether or not the email has an account; the row
    says how many were sent, for staff only.
    """
    audit_record(
        actor=None,
        actor_label="anonymous",
        action="user.password_reset_requested",
        target_label=email[:300],
        changes={"sent": sent_to},
    )
