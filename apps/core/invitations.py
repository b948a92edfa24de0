"""One-time links that bring an invited person in: a first password, or sign in.

Both kinds are Django's reset tokens under salts of their own, so neither is a
password reset link, and the two look alike to whoever passes them on (an admin
is shown the link when no mail is sent).
"""

from __future__ import annotations

from django.contrib.auth.tokens import PasswordResetTokenGenerator


class InvitationTokenGenerator(PasswordResetTokenGenerator):
    """Lets a new, passwordless account choose its first password.

    Like a reset token it stops working once the password is set, and after
    ``PASSWORD_RESET_TIMEOUT``.
    """

    key_salt = "apps.core.invitations.InvitationTokenGenerator"


class JoinTokenGenerator(PasswordResetTokenGenerator):
    """Tells an account that may not be given a password by this link to sign in.

    Issued for accounts that exist already: one with a password, or one that
    belongs to another workspace too, whose password is its owner's business
    (they choose it from their own invitation or a reset by email).
    """

    key_salt = "apps.core.invitations.JoinTokenGenerator"


invitation_token_generator = InvitationTokenGenerator()
join_token_generator = JoinTokenGenerator()
