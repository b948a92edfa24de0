"""One-time links that bring an invited person in: a first password, or sign in.

Both kinds are Django's reset tokens under salts of their own, so neither is a
password reset link, and the two look alike to whoever passes them on (an admin
is shown the link when no mail is sent).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.tokens import PasswordResetTokenGenerator


class InvitationTokenGenerator(PasswordResetTokenGenerator):
    """Lets a new, passwordless account choose its first password.

    Like a reset token it stops working once the password is set, and after
    ``PASSWORD_RESET_TIMEOUT``.
    """

    key_salt = "apps.core.invitations.InvitationTokenGenerator"

    def _make_hash_value(self, user: Any, timestamp: int) -> str:
        # Joining another workspace ends the link too: an admin who was shown it
        # must not choose the password of someone who now belongs elsewhere.
        workspaces = ",".join(
            str(pk)
            for pk in sorted(user.memberships.values_list("workspace_id", flat=True))
        )
        return f"{super()._make_hash_value(user, timestamp)}|{workspaces}"


class JoinTokenGenerator(PasswordResetTokenGenerator):
    """Tells an account that may not be given a password by this link to sign in.

    Issued for accounts that exist already: one with a password, or one that
    belongs to another workspace too, whose password is its owner's business
    (they choose it from their own invitation or a reset by email).
    """

    key_salt = "apps.core.invitations.JoinTokenGenerator"


invitation_token_generator = InvitationTokenGenerator()
join_token_generator = JoinTokenGenerator()
