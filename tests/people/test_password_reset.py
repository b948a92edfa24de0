"""Password reset by email (#18 item 11): Django's views in the console's style."""

from __future__ import annotations

import re

from django.core import mail
from django.urls import reverse

from apps.audit.models import AuditEvent
from tests.factories import UserFactory

LINK = re.compile(r"https?://\S+/accounts/password/reset/[\w-]+/[\w-]+/")


def test_sign_in_page_offers_a_reset(client, db):
    page = client.get(reverse("accounts:login"))
    assert reverse("accounts:password_reset") in page.text


def test_reset_link_sets_a_new_password_and_signs_in(client, db, mail_now):
    user = UserFactory(email="forgetful@acme.test")
    response = client.post(
        reverse("accounts:password_reset"), {"email": "FORGETFUL@acme.test"}
    )
    assert response["Location"] == reverse("accounts:password_reset_sent")
    (sent,) = mail.outbox
    assert sent.to == ["forgetful@acme.test"]
    link = LINK.search(sent.body).group(0)

    form = client.get(link, follow=True)
    assert "Choose a new password" in form.text
    done = client.post(
        form.redirect_chain[-1][0],
        {
            "new_password1": "another long secret",
            "new_password2": "another long secret",
        },
    )
    assert done.status_code == 302
    user.refresh_from_db()
    assert user.check_password("another long secret")
    assert AuditEvent.objects.filter(action="user.password_reset", actor=user).exists()
    client.logout()
    assert "no longer works" in client.get(link, follow=True).text


def test_unknown_email_gets_the_same_answer_and_no_mail(client, db, mail_now):
    UserFactory(email="real@acme.test")
    known = client.post(reverse("accounts:password_reset"), {"email": "real@acme.test"})
    unknown = client.post(
        reverse("accounts:password_reset"), {"email": "ghost@acme.test"}
    )
    assert (known.status_code, known["Location"]) == (
        unknown.status_code,
        unknown["Location"],
    )
    assert [m.to for m in mail.outbox] == [["real@acme.test"]]
    miss = AuditEvent.objects.get(
        action="user.password_reset_requested", target_label="ghost@acme.test"
    )
    assert miss.changes == {"sent": 0} and miss.workspace is None


def test_mismatched_passwords_keep_the_form_with_the_error(client, db, mail_now):
    UserFactory(email="typo@acme.test")
    client.post(reverse("accounts:password_reset"), {"email": "typo@acme.test"})
    link = LINK.search(mail.outbox[0].body).group(0)
    form_url = client.get(link, follow=True).redirect_chain[-1][0]
    page = client.post(
        form_url, {"new_password1": "one long secret", "new_password2": "other"}
    )
    assert page.status_code == 200
    assert "The two password fields" in page.text
