"""One-time links that let an invited person choose their first password."""

from __future__ import annotations

from django.contrib.auth.tokens import PasswordResetTokenGenerator


class InvitationTokenGenerator(PasswordResetTokenGenerator):
    """Django's reset tokens under a salt of their own.

    A token made for an invitation is not a password reset token: a link given
    to a workspace admin (when no mail is sent) cannot be replayed on the reset
    page of an account that already has a password. Like a reset token it stops
    working once the password is set, and after ``PASSWORD_RESET_TIMEOUT``.
    """

    key_salt = "apps.core.invitations.InvitationTokenGenerator"


invitation_token_generator = InvitationTokenGenerator()
