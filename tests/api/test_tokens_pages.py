"""The API tokens pages under the user's account: create (shown once), list, revoke."""

from __future__ import annotations

import pytest
from django.urls import include, path, reverse
from django.urls.exceptions import NoReverseMatch

from airbyte_console import urls as root_urls
from apps.api import services
from apps.api.models import ApiApplication, PersonalAccessToken, secret_hash
from apps.audit.models import AuditEvent
from tests.factories import UserFactory

# Until the lead mounts the pages at /accounts/api/, mount them here the same way.
try:
    reverse("api_tokens:list")
    urlpatterns = root_urls.urlpatterns
except NoReverseMatch:
    urlpatterns = [
        *root_urls.urlpatterns,
        path("accounts/api/", include("apps.api.urls_settings")),
    ]

pytestmark = pytest.mark.urls(__name__)


@pytest.fixture
def owner(db):
    return UserFactory(email="owner@acme.test")


@pytest.fixture
def other(db):
    return UserFactory(email="other@acme.test")


def test_list_needs_a_sign_in(client, db):
    response = client.get(reverse("api_tokens:list"))
    assert response.status_code == 302
    assert reverse("accounts:login") in response["Location"]


def test_creating_an_application_shows_its_secret_once(login, owner):
    client = login(owner)
    response = client.post(
        reverse("api_tokens:application_create"),
        {"name": "CI pipeline", "expires": "30"},
    )
    assert response.status_code == 200
    app = ApiApplication.objects.get(owner=owner)
    page = response.content.decode()
    secret = page.split('id="api-secret" value="')[1].split('"')[0]
    assert len(secret) >= 40
    assert app.client_id in page
    assert "not shown again" in page
    assert "no-store" in response["Cache-Control"]
    assert secret_hash(secret) == app.secret_hash
    assert AuditEvent.objects.filter(
        action="api.application_created", target_id=str(app.public_id)
    ).exists()
    listed = client.get(reverse("api_tokens:list")).content.decode()
    assert app.client_id in listed
    assert "CI pipeline" in listed
    assert secret not in listed


def test_creating_a_token_shows_it_once_and_lists_its_prefix(login, owner):
    client = login(owner)
    response = client.post(
        reverse("api_tokens:token_create"), {"name": "laptop", "expires": "never"}
    )
    assert response.status_code == 200
    raw = response.content.decode().split('id="api-secret" value="')[1].split('"')[0]
    assert raw.startswith("abc_pat_")
    token = PersonalAccessToken.objects.get(owner=owner)
    assert token.expires_at is None
    listed = client.get(reverse("api_tokens:list")).content.decode()
    assert token.prefix in listed
    assert raw not in listed
    # The token shown works against the API.
    api = client.get("/api/public/v1/applications", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert api.status_code == 200


def test_htmx_create_answers_the_fragment(login, owner, htmx_headers):
    response = login(owner).post(
        reverse("api_tokens:token_create"),
        {"name": "laptop", "expires": "7"},
        headers=htmx_headers,
    )
    assert response.status_code == 200
    assert b"<html" not in response.content
    assert b"abc_pat_" in response.content


def test_bad_input_keeps_what_was_typed_with_the_error_beside_it(login, owner):
    client = login(owner)
    services.token_create(actor=owner, name="laptop")
    response = client.post(
        reverse("api_tokens:token_create"), {"name": "Laptop", "expires": "365"}
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert 'value="Laptop"' in page
    assert 'value="365" selected' in page
    assert "already have one named" in page
    empty = client.post(
        reverse("api_tokens:application_create"), {"name": "  ", "expires": "30"}
    )
    assert empty.status_code == 400
    assert "has-error" in empty.content.decode()
    assert PersonalAccessToken.objects.count() == 1
    assert not ApiApplication.objects.exists()


def test_htmx_bad_input_rerenders_only_the_form(login, owner, htmx_headers):
    response = login(owner).post(
        reverse("api_tokens:application_create"),
        {"name": "", "expires": "30"},
        headers=htmx_headers,
    )
    assert response.status_code == 400
    assert b"<html" not in response.content
    assert b'id="api-credential-form"' in response.content


def test_list_shows_use_expiry_and_status(login, owner):
    app, _ = services.application_create(actor=owner, name="CI")
    token, _ = services.token_create(actor=owner, name="old laptop")
    services.token_revoke(actor=owner, token=token)
    services.credential_record_use(credential=app, ip="203.0.113.9")
    page = login(owner).get(reverse("api_tokens:list")).content.decode()
    assert "from 203.0.113.9" in page
    assert "Revoked" in page
    assert "Active" in page
    # A revoked token offers no revoke button.
    assert reverse("api_tokens:token_revoke", args=[token.public_id]) not in page
    assert reverse("api_tokens:application_revoke", args=[app.public_id]) in page


def test_list_shows_only_ones_own(login, owner, other):
    services.token_create(actor=other, name="someone else's")
    page = login(owner).get(reverse("api_tokens:list")).content.decode()
    assert "someone else" not in page


def test_list_queries_are_bounded(login, owner, django_assert_max_num_queries):
    for n in range(5):
        services.application_create(actor=owner, name=f"app {n}")
        services.token_create(actor=owner, name=f"token {n}")
    client = login(owner)
    with django_assert_max_num_queries(12):
        assert client.get(reverse("api_tokens:list")).status_code == 200


def test_revoking_an_application_asks_then_revokes(login, owner):
    app, secret = services.application_create(actor=owner, name="CI")
    client = login(owner)
    url = reverse("api_tokens:application_revoke", args=[app.public_id])
    confirm = client.get(url)
    assert confirm.status_code == 200
    assert "stop working at once" in confirm.content.decode()
    app.refresh_from_db()
    assert app.revoked_at is None
    response = client.post(url)
    assert response.status_code == 302
    assert response["Location"] == reverse("api_tokens:list")
    app.refresh_from_db()
    assert app.revoked_at is not None
    assert AuditEvent.objects.filter(
        action="api.application_revoked", target_id=str(app.public_id)
    ).exists()
    exchange = client.post(
        "/api/public/v1/applications/token",
        {"client_id": app.client_id, "client_secret": secret},
        content_type="application/json",
    )
    assert exchange.status_code == 401


def test_htmx_revoke_redirects_the_browser(login, owner, htmx_headers):
    token, _ = services.token_create(actor=owner, name="laptop")
    response = login(owner).post(
        reverse("api_tokens:token_revoke", args=[token.public_id]),
        headers=htmx_headers,
    )
    assert response.status_code == 204
    assert response["HX-Redirect"] == reverse("api_tokens:list")
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_someone_elses_token_or_application_is_404(login, owner, other):
    token, _ = services.token_create(actor=other, name="theirs")
    app, _ = services.application_create(actor=other, name="theirs")
    client = login(owner)
    for url in [
        reverse("api_tokens:token_revoke", args=[token.public_id]),
        reverse("api_tokens:application_revoke", args=[app.public_id]),
    ]:
        assert client.get(url).status_code == 404
        assert client.post(url).status_code == 404
    token.refresh_from_db()
    app.refresh_from_db()
    assert token.revoked_at is None
    assert app.revoked_at is None
    assert not AuditEvent.objects.filter(action__endswith="_revoked").exists()


def test_admin_lists_them_read_only_without_hashes(login, owner):
    staff = UserFactory(email="staff@acme.test", is_staff=True, is_superuser=True)
    app, _ = services.application_create(actor=owner, name="CI")
    token, _ = services.token_create(actor=owner, name="laptop")
    client = login(staff)
    for model, obj, digest in [
        ("apiapplication", app, app.secret_hash),
        ("personalaccesstoken", token, token.token_hash),
    ]:
        listing = client.get(f"/admin/api/{model}/")
        assert listing.status_code == 200
        assert obj.name in listing.content.decode()
        detail = client.get(f"/admin/api/{model}/{obj.pk}/change/")
        assert detail.status_code == 200
        assert digest not in detail.content.decode()
        assert b'name="_save"' not in detail.content  # view only
