"""Connection setup in Chromium with a real worker: a destination whose test fails
is not saved (the error shows beside its cause, "Save anyway" is offered), a stored
login fills the form, the stream pickers follow the mode, a review step comes
before the save, and a real faker sync writes only the selected columns."""

from __future__ import annotations

import re
import uuid

import psycopg
import pytest

from apps.connectors.models import Destination, Source
from apps.connectors.services import source_discover_run
from apps.core.roles import Role
from apps.credentials.services import credential_create
from tests.connections.conftest import PG_DSN, pg_rows
from tests.engines.fixtures import FAKER_ID, POSTGRES_ID, definition
from tests.factories import PASSWORD, MembershipFactory, UserFactory, WorkspaceFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def shop_schema():
    name = f"shop_{uuid.uuid4().hex[:8]}"
    yield name
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


def test_test_before_save_pickers_review_and_field_selection(
    live_server,
    page,
    screenshot,
    worker,
    settings,
    real_connectors,
    faker_installed,
    shop_schema,
):
    from playwright.sync_api import expect

    postgres = definition(POSTGRES_ID)
    user = UserFactory(email="dee@acme.test")
    workspace = WorkspaceFactory(name="Setup")
    MembershipFactory(user=user, workspace=workspace, role=Role.ADMIN)
    faker = definition(FAKER_ID)
    source = Source.objects.create(
        workspace=workspace,
        name="Shop events",
        definition=faker,
        connector_version=faker.pypi_version,
        config={"count": 30, "seed": 3, "records_per_slice": 100, "parallelism": 1},
    )
    assert source_discover_run(pk=source.pk) is not None  # a real discover
    # A stored database login whose database is wrong: choosing it fills the form.
    login_credential = credential_create(
        actor=user,
        workspace=workspace,
        name="PG login",
        type="database",
        fields={
            "host": "127.0.0.1",
            "port": 5432,
            "database": "no_such_database_h7",
            "username": "postgres",
            "password": "not-needed-here",
        },
        allowed_hosts="127.0.0.1",
    )
    worker("setup")
    base = f"{live_server.url}/w/{workspace.public_id}"
    page.set_default_timeout(30_000)

    page.goto(live_server.url + "/accounts/login/")
    page.get_by_label("Email or username").fill("dee@acme.test")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Setup")).to_be_visible()

    # A PostgreSQL destination naming a database that does not exist.
    page.goto(f"{base}/destinations/new/?definition={postgres.public_id}")
    page.wait_for_function("() => window.htmx !== undefined")
    page.get_by_label("Name").first.fill("Warehouse")
    page.get_by_label("or from a stored credential").select_option(
        str(login_credential.public_id)
    )
    expect(page.locator("[name=cfg__host]")).to_have_value("127.0.0.1")
    expect(page.locator("[name=cfg__port]")).to_have_value("5432")
    expect(page.locator("[name=cfg__database]")).to_have_value("no_such_database_h7")
    expect(page.locator("[name=cfg__username]")).to_have_value("postgres")
    page.get_by_role("button", name="Test and create").click()
    expect(page.get_by_test_id("draft-check")).to_contain_text("Testing")
    database = page.locator('[data-spec-field="/database"]')
    expect(database).to_contain_text("no_such_database_h7", timeout=60_000)
    expect(database).to_contain_text("The connection test failed")
    expect(page.get_by_role("button", name="Save anyway")).to_be_visible()
    screenshot("40-test-before-save-refused")
    assert not Destination.objects.exists()

    # Fixed, tested again: saved with its passing test.
    page.locator("[name=cfg__database]").fill("postgres")
    page.get_by_role("button", name="Test again").click()
    expect(page.locator("#check")).to_contain_text("Passed", timeout=60_000)
    warehouse = Destination.objects.get(name="Warehouse")
    assert warehouse.last_check_status == "succeeded"
    assert warehouse.credential_refs == {"/password": str(login_credential.public_id)}
    screenshot("41-destination-saved-after-test")

    # The new connection: pickers from the schema, shown where they apply.
    page.goto(f"{base}/connections/new/")
    page.wait_for_function("() => window.htmx !== undefined")
    page.locator("#id_name").fill("Shop to PG")
    page.locator("#id_source").select_option(value=str(source.pk))
    expect(page.locator("#streams")).to_contain_text("users")
    page.locator("#id_destination").select_option(value=str(warehouse.pk))
    page.locator("#id_namespace").fill(shop_schema)
    page.get_by_role("button", name="Select none").click()
    page.get_by_label("Sync users").check()
    page.get_by_label("Sync products").check()
    page.get_by_label("Sync mode of products").select_option("full_refresh:overwrite")
    products = page.locator('tr[data-stream-row="products"]')
    expect(products.get_by_text("Not used by full refresh")).to_be_visible()
    expect(products.get_by_label("Cursor of products")).to_be_hidden()
    users = page.locator('tr[data-stream-row="users"]')
    page.get_by_label("Sync mode of users").select_option("full_refresh:overwrite")
    expect(users.get_by_text("Not used by full refresh")).to_be_visible()
    expect(users.get_by_text("Only for deduped modes")).to_be_visible()
    page.get_by_label("Sync mode of users").select_option("incremental:append_dedup")
    expect(users.get_by_text("Not used by full refresh")).to_be_hidden()
    expect(users.get_by_text("set by the source").first).to_be_visible()
    # The schema-change policy select shows its whole choice.
    policy = page.locator("#id_schema_change_policy")
    box = policy.bounding_box()
    card = page.locator("#connection-form section.card").first.bounding_box()
    assert box["x"] + box["width"] <= card["x"] + card["width"]
    # Every choice's text fits the select (padding and arrow included).
    fits = policy.evaluate(
        """el => [...el.options].every(o => {
            const s = document.createElement("span");
            s.style.font = getComputedStyle(el).font;
            s.style.whiteSpace = "pre";
            s.textContent = o.text;
            document.body.appendChild(s);
            const w = s.getBoundingClientRect().width;
            s.remove();
            return w + 24 <= el.clientWidth;
        })"""
    )
    assert fits
    # Field selection: leave two of the users' fields out.
    users.locator("details.fields-pick summary").click()
    users.get_by_label("telephone", exact=True).uncheck()
    users.get_by_label("address", exact=True).uncheck()
    # The primary key and the cursor cannot be left out.
    expect(users.get_by_role("checkbox", name="id (key or cursor)")).to_be_disabled()
    screenshot("42-new-connection-pickers")

    page.get_by_role("button", name="Next: review").click()
    review = page.get_by_test_id("review")
    expect(review).to_contain_text(f"{shop_schema}.users")
    expect(review).to_contain_text(f"{shop_schema}.products")
    expect(review).to_contain_text("fields")
    expect(review).to_contain_text("A full load of 2 streams into 2 tables")
    expect(page.locator('.steps [aria-current="step"]')).to_have_text("Review and save")
    screenshot("43-new-connection-review")
    page.get_by_role("button", name="Back to the settings").click()
    expect(page.locator("#id_name")).to_have_value("Shop to PG")
    page.get_by_role("button", name="Next: review").click()
    page.get_by_role("button", name="Save connection").click()
    expect(page.get_by_role("heading", name=re.compile("Shop to PG"))).to_be_visible()

    # A real sync: the users table has the chosen columns only.
    page.wait_for_function("() => window.htmx !== undefined")
    page.get_by_role("button", name="Sync now").click()
    expect(page.locator("#live")).to_contain_text("Succeeded", timeout=120_000)
    columns = {
        name
        for (name,) in pg_rows(
            "select column_name from information_schema.columns "
            "where table_schema = %s and table_name = 'users'",
            shop_schema,
        )
    }
    from apps.connections.models import ConnectionStream

    saved = ConnectionStream.objects.get(name="users").selected_fields
    assert {"id", "updated_at", "email", "name"} <= columns, (columns, saved)
    assert not {"telephone", "address"} & columns
    assert pg_rows(f'select count(*) from "{shop_schema}".users') == [(30,)]
