"""The files destination's form in Chromium, tested by a real worker against moto's
S3 on 127.0.0.1: a bucket that refuses writes is not saved and the page says why
(naming the bucket, never the secret); with a key that may write, it is saved."""

from __future__ import annotations

# The S3 server fixture comes from the files destination's engine tests.
# ruff: noqa: F811
import pytest

from apps.connectors.models import Destination
from apps.core.roles import Role
from tests.engines.fixtures import definition
from tests.engines.test_files_destination import (  # noqa: F401 - the S3 server
    FILES_ID,
    s3_server,
)
from tests.factories import PASSWORD, MembershipFactory, UserFactory, WorkspaceFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_s3_files_destination_refused_then_saved(
    live_server, page, screenshot, worker, s3_server
):
    from playwright.sync_api import expect

    files = definition(FILES_ID)
    user = UserFactory(email="fay@acme.test")
    workspace = WorkspaceFactory(name="Lake")
    MembershipFactory(user=user, workspace=workspace, role=Role.ADMIN)
    bucket = s3_server.bucket()
    worker("files")
    page.set_default_timeout(30_000)
    page.goto(live_server.url + "/accounts/login/")
    page.get_by_label("Email or username").fill("fay@acme.test")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Lake")).to_be_visible()

    base = f"{live_server.url}/w/{workspace.public_id}"
    page.goto(f"{base}/destinations/new/?definition={files.public_id}")
    page.wait_for_function("() => window.htmx !== undefined")
    page.get_by_label("Name").first.fill("Lake files")
    page.get_by_label("S3 or an S3-compatible store").check()
    s3 = "cfg__storage__1__"
    page.locator(f"[name={s3}s3_bucket_name]").fill(bucket)
    page.locator(f"[name={s3}s3_bucket_path]").fill("raw")
    page.locator(f"[name={s3}s3_endpoint]").fill(s3_server.endpoint)
    page.locator(f"[name={s3}access_key_id]").fill(s3_server.reader_key[0])
    page.locator(f"[name={s3}secret_access_key]").fill(s3_server.reader_key[1])
    page.get_by_label("JSON lines").check()
    page.get_by_role("button", name="Test and create").click()

    refusal = f"S3 bucket '{bucket}' refused the request (AccessDenied)"
    expect(page.get_by_text(refusal).first).to_be_visible(timeout=60_000)
    assert s3_server.reader_key[1] not in page.content()
    screenshot("70-files-destination-bucket-refuses-writes")
    assert not Destination.objects.exists()

    page.locator(f"[name={s3}access_key_id]").fill(s3_server.admin_key[0])
    page.locator(f"[name={s3}secret_access_key]").fill(s3_server.admin_key[1])
    page.get_by_role("button", name="Test again").click()
    expect(page.locator("#check")).to_contain_text("Passed", timeout=60_000)
    saved = Destination.objects.get(name="Lake files")
    assert saved.last_check_status == "succeeded"
    assert saved.config["storage"]["s3_bucket_name"] == bucket
    assert saved.config["format"]["format_type"] == "JSONL"
    assert "secret_access_key" not in saved.config["storage"]
    assert s3_server.keys(bucket) == []  # the probe was deleted
    screenshot("71-files-destination-saved")
