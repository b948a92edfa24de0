"""Emails name one user, whatever their case: a unique index on lower(email).

Sign-in by email (apps/accounts/backends.py) relies on it. Django's user model
lives in ``auth``, so the index is raw SQL that PostgreSQL and SQLite both read.
Blank emails (users made by ``createsuperuser`` without one) are left out.
"""

from __future__ import annotations

from django.db import migrations
from django.db.models.functions import Lower


def refuse_duplicates(apps, schema_editor) -> None:
    """Name the clashing emails instead of failing on the index."""
    User = apps.get_model("auth", "User")
    seen: dict[str, list[str]] = {}
    for user in User.objects.exclude(email="").annotate(key=Lower("email")):
        seen.setdefault(user.key, []).append(user.username)
    clashes = {email: names for email, names in seen.items() if len(names) > 1}
    if clashes:
        listed = "; ".join(
            f"{email}: {', '.join(names)}" for email, names in sorted(clashes.items())
        )
        raise RuntimeError(
            "Emails must be unique (case-insensitive) for sign-in by email. "
            f"Give these users different emails first, in the Django admin: {listed}"
        )


class Migration(migrations.Migration):
    dependencies = [("auth", "0012_alter_user_first_name_max_length")]

    operations = [
        migrations.RunPython(refuse_duplicates, migrations.RunPython.noop),
        migrations.RunSQL(
            "CREATE UNIQUE INDEX accounts_user_email_ci ON auth_user (LOWER(email)) "
            "WHERE email <> ''",
            "DROP INDEX accounts_user_email_ci",
        ),
    ]
