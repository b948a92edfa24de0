"""Public API connections: create, read, change and delete through the services.

Every call goes through ``api_client``, which fails the test when a request or an
answer departs from Airbyte's spec. Sources carry a discovered catalog (the
factories' Faker-like one: ``users`` incremental with a source-defined cursor and
key, ``products`` full refresh only), so no connector runs here; a source without
one is discovered through the worker path (``wait_for_discover``), stubbed here.
"""

from __future__ import annotations

import uuid

import pytest

from apps.api.problems import ApiProblem
from apps.api.public import connections as api_connections
from apps.api.public.connections import cron_to_quartz, quartz_to_cron
from apps.audit.models import AuditEvent
from apps.connections.models import Connection
from apps.schedules.models import Schedule
from tests.factories import (
    FAKER_CATALOG,
    ConnectionFactory,
    DestinationFactory,
    SourceFactory,
    WorkspaceFactory,
)

URL = "/api/public/v1/connections"


@pytest.fixture
def source(workspace):
    return SourceFactory(workspace=workspace, name="Faker")


@pytest.fixture
def destination(workspace):
    return DestinationFactory(
        workspace=workspace, name="Warehouse", config={"schema": "analytics"}
    )


def _create(client, source, destination, **body):
    return client.post(
        URL,
        json={
            "sourceId": str(source.public_id),
            "destinationId": str(destination.public_id),
            **body,
        },
    )


def _stream(connection: Connection, name: str):
    return connection.streams.get(name=name)


# --- create --------------------------------------------------------------------------


def test_editor_creates_a_connection_with_streams_schedule_and_namespace(
    api_client, editor, workspace, source, destination
):
    response = _create(
        api_client(editor),
        source,
        destination,
        name="Faker to warehouse",
        configurations={
            "streams": [
                {
                    "name": "users",
                    "syncMode": "incremental_deduped_history",
                    "selectedFields": [{"fieldPath": ["name"]}],
                }
            ]
        },
        schedule={"scheduleType": "cron", "cronExpression": "0 30 2 * * ?"},
        namespaceDefinition="custom_format",
        namespaceFormat="raw_faker",
        prefix="fk_",
        nonBreakingSchemaUpdatesBehavior="propagate_columns",
    )

    assert response.status_code == 200, response.content
    body = response.json()
    connection = Connection.objects.get(public_id=body["connectionId"])
    assert connection.workspace == workspace
    assert connection.name == "Faker to warehouse"
    assert (connection.namespace, connection.table_prefix) == ("raw_faker", "fk_")
    assert connection.schema_change_policy == "propagate_columns"
    users = _stream(connection, "users")
    assert (users.selected, users.sync_mode, users.destination_sync_mode) == (
        True,
        "incremental",
        "append_dedup",
    )
    # The source defines the cursor and key; they are always among the fields.
    assert users.cursor_field == ["updated_at"]
    assert users.primary_key == [["id"]]
    assert users.selected_fields == ["id", "name", "updated_at"]
    # A stream not asked for is kept, unselected, as the console's form keeps it.
    assert _stream(connection, "products").selected is False
    schedule = connection.schedule
    assert (schedule.kind, schedule.cron_expression, schedule.timezone) == (
        "cron",
        "30 2 * * *",
        "UTC",
    )
    actions = set(
        AuditEvent.objects.filter(actor=editor).values_list("action", flat=True)
    )
    assert {"connection.created", "schedule.created"} <= actions

    assert body["workspaceId"] == str(workspace.public_id)
    assert body["schedule"] == {
        "scheduleType": "cron",
        "cronExpression": "0 30 2 * * ? UTC",
    }
    assert body["namespaceDefinition"] == "custom_format"
    assert body["namespaceFormat"] == "raw_faker"
    assert body["prefix"] == "fk_"
    assert body["status"] == "active"
    assert body["configurations"]["streams"] == [
        {
            "name": "users",
            "syncMode": "incremental_deduped_history",
            "cursorField": ["updated_at"],
            "primaryKey": [["id"]],
            "selectedFields": [
                {"fieldPath": ["id"]},
                {"fieldPath": ["name"]},
                {"fieldPath": ["updated_at"]},
            ],
            "mappers": [],
        }
    ]


def test_create_without_streams_syncs_every_stream_in_its_best_mode(
    api_client, editor, source, destination
):
    body = _create(api_client(editor), source, destination).json()

    connection = Connection.objects.get(public_id=body["connectionId"])
    assert connection.name == "Faker → Warehouse"
    # namespaceDefinition defaults to destination: the destination's own schema.
    assert connection.namespace == "analytics"
    assert body["namespaceDefinition"] == "destination"
    assert "namespaceFormat" not in body
    assert body["schedule"] == {"scheduleType": "manual"}
    assert not Schedule.objects.filter(connection=connection).exists()
    modes = {s["name"]: s["syncMode"] for s in body["configurations"]["streams"]}
    assert modes == {
        "users": "incremental_deduped_history",
        "products": "full_refresh_overwrite",
    }


def test_a_second_default_name_is_numbered(api_client, editor, source, destination):
    client = api_client(editor)
    first = _create(client, source, destination).json()
    second = _create(client, source, destination).json()
    assert (first["name"], second["name"]) == (
        "Faker → Warehouse",
        "Faker → Warehouse (2)",
    )


def test_create_inactive_pauses_the_connection(api_client, editor, source, destination):
    body = _create(api_client(editor), source, destination, status="inactive").json()
    assert body["status"] == "inactive"
    connection = Connection.objects.get(public_id=body["connectionId"])
    assert connection.status == Connection.Status.PAUSED
    assert "statusReason" not in body  # paused by a person, with no reason given
    assert AuditEvent.objects.filter(action="connection.paused", actor=editor).exists()


def test_source_namespace_of_the_streams_becomes_the_schema(
    api_client, editor, workspace, destination
):
    catalog = {
        "streams": [
            {**stream, "namespace": "crm"} for stream in FAKER_CATALOG["streams"]
        ]
    }
    source = SourceFactory(workspace=workspace, catalog=catalog)
    body = _create(
        api_client(editor), source, destination, namespaceDefinition="source"
    ).json()
    connection = Connection.objects.get(public_id=body["connectionId"])
    assert connection.namespace == "crm"
    assert body["namespaceFormat"] == "crm"
    assert {s["namespace"] for s in body["configurations"]["streams"]} == {"crm"}


def test_source_namespace_without_namespaces_goes_to_the_destinations_schema(
    api_client, editor, source, destination
):
    body = _create(
        api_client(editor), source, destination, namespaceDefinition="source"
    ).json()
    assert Connection.objects.get().namespace == "analytics"
    assert body["namespaceDefinition"] == "destination"


def test_streams_from_several_namespaces_cannot_share_one_schema(
    api_client, editor, workspace, destination
):
    users, products = FAKER_CATALOG["streams"]
    source = SourceFactory(
        workspace=workspace,
        catalog={
            "streams": [{**users, "namespace": "a"}, {**products, "namespace": "b"}]
        },
    )
    response = _create(
        api_client(editor), source, destination, namespaceDefinition="source"
    )
    assert response.status_code == 400
    assert "several namespaces (a, b)" in response.json()["detail"]
    assert not Connection.objects.exists()


def test_a_source_never_discovered_is_discovered_first(
    api_client, editor, workspace, destination, monkeypatch
):
    source = SourceFactory(workspace=workspace, catalog=None)
    seen = []

    def discovered(*, actor, source, timeout=None):
        seen.append(actor)
        source.catalog = FAKER_CATALOG
        source.save(update_fields=["catalog"])
        return source

    monkeypatch.setattr(api_connections, "wait_for_discover", discovered)
    response = _create(api_client(editor), source, destination)
    assert response.status_code == 200, response.content
    assert seen == [editor]
    assert len(response.json()["configurations"]["streams"]) == 2


@pytest.mark.parametrize(
    ("stream", "message"),
    [
        ({"name": "nope"}, "Invalid stream found: nope"),
        (
            {"name": "products", "syncMode": "incremental_append"},
            "Cannot set sync mode to incremental_append for stream products. "
            "Valid sync modes are: full_refresh_overwrite, full_refresh_append.",
        ),
        (
            {"name": "users", "syncMode": "incremental_soft_delete"},
            "Cannot set sync mode to incremental_soft_delete",
        ),
        (
            {"name": "users", "selectedFields": [{"fieldPath": ["address", "city"]}]},
            "top-level fields only",
        ),
        ({"name": "users", "selectedFields": [{"fieldPath": ["x"]}]}, "field x"),
        (
            {
                "name": "users",
                "mappers": [
                    {
                        "type": "field-renaming",
                        "mapperConfiguration": {
                            "originalFieldName": "name",
                            "newFieldName": "full_name",
                        },
                    }
                ],
            },
            "no stream mappers",
        ),
    ],
)
def test_bad_stream_configuration_is_a_400_and_creates_nothing(
    api_client, editor, source, destination, stream, message
):
    response = _create(
        api_client(editor), source, destination, configurations={"streams": [stream]}
    )
    assert response.status_code == 400
    assert message in response.json()["detail"]
    assert not Connection.objects.exists()
    assert not AuditEvent.objects.filter(action="connection.created").exists()


def test_duplicate_stream_is_refused(api_client, editor, source, destination):
    response = _create(
        api_client(editor),
        source,
        destination,
        configurations={"streams": [{"name": "users"}, {"name": "users"}]},
    )
    assert response.status_code == 400
    assert (
        "Duplicate stream found in configuration for: users"
        in (response.json()["detail"])
    )


def test_bad_cron_is_a_400_that_names_the_field_and_creates_nothing(
    api_client, editor, source, destination
):
    response = _create(
        api_client(editor),
        source,
        destination,
        schedule={"scheduleType": "cron", "cronExpression": "30 0 12 * * ?"},
    )
    assert response.status_code == 400
    problem = response.json()
    assert problem["title"] == "bad-request"
    assert "seconds field must be 0" in problem["detail"]
    assert problem["data"]["errors"][0]["path"] == "schedule.cronExpression"
    assert not Connection.objects.exists()


def test_a_cron_the_schedule_refuses_rolls_the_whole_create_back(
    api_client, editor, source, destination, settings
):
    settings.SCHEDULE_MIN_INTERVAL_MINUTES = 5
    # Every minute: valid cron, but under the console's minimum gap between runs.
    response = _create(
        api_client(editor),
        source,
        destination,
        schedule={"scheduleType": "cron", "cronExpression": "0 * * * * ?"},
    )
    assert response.status_code == 400
    assert response.json()["data"]["errors"][0]["path"] == "schedule.cronExpression"
    # The connection was created inside the same transaction: gone with it.
    assert not Connection.objects.exists()
    assert not AuditEvent.objects.filter(action="connection.created").exists()


def test_a_name_postgresql_cannot_store_is_a_400(
    api_client, editor, source, destination
):
    response = _create(api_client(editor), source, destination, name="a\x00b")
    assert response.status_code == 400
    assert not Connection.objects.exists()


def test_a_taken_name_is_a_400(api_client, editor, workspace, source, destination):
    ConnectionFactory(workspace=workspace, name="Taken")
    response = _create(api_client(editor), source, destination, name="Taken")
    assert response.status_code == 400
    assert response.json()["data"]["errors"][0]["path"] == "name"


def test_source_and_destination_of_two_workspaces_are_refused(
    api_client, editor, workspace, source
):
    other = WorkspaceFactory()
    from tests.factories import MembershipFactory

    MembershipFactory(user=editor, workspace=other, role="editor")
    elsewhere = DestinationFactory(workspace=other)
    response = _create(api_client(editor), source, elsewhere)
    assert response.status_code == 400
    assert not Connection.objects.exists()


# --- cron both ways ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("quartz", "cron", "back"),
    [
        ("0 0 12 * * ?", "0 12 * * *", "0 0 12 * * ?"),
        ("0 15 */6 * * ?", "15 */6 * * *", "0 15 */6 * * ?"),
        ("0 0 12 ? * MON-FRI", "0 12 * * MON-FRI", "0 0 12 ? * MON-FRI"),
        # Quartz counts days of the week from 1 = Sunday; cron from 0 = Sunday.
        ("0 30 2 ? * 2-6", "30 2 * * 1-5", "0 30 2 ? * 2-6"),
        ("0 0 3 ? * 1", "0 3 * * 0", "0 0 3 ? * 1"),
        ("0 0 3 1 * ?", "0 3 1 * *", "0 0 3 1 * ?"),
        ("0 5/20 * * * ?", "5-59/20 * * * *", "0 5-59/20 * * * ?"),
        ("0 0 12 * * ? *", "0 12 * * *", "0 0 12 * * ?"),
        # The nth weekday and a step keep their numbers; only days are renumbered.
        ("0 0 12 ? * 6#3", "0 12 * * 5#3", "0 0 12 ? * 6#3"),
        ("0 0 12 ? * 6L", "0 12 * * 5L", "0 0 12 ? * 6L"),
        ("0 0 12 ? * 2/2", "0 12 * * 1-6/2", "0 0 12 ? * 2-7/2"),
    ],
)
def test_quartz_and_cron_convert_both_ways(quartz, cron, back):
    converted = quartz_to_cron(quartz)
    assert (converted.expression, converted.timezone) == (cron, "UTC")
    assert cron_to_quartz(cron) == back


def test_a_time_zone_read_back_is_taken_as_the_schedule_zone():
    assert quartz_to_cron("0 0 12 * * ? UTC").timezone == "UTC"
    converted = quartz_to_cron("0 0 8 * * ? Europe/Berlin")
    assert (converted.expression, converted.timezone) == ("0 8 * * *", "Europe/Berlin")


def test_cron_days_ending_on_sunday_read_back_as_quartz_days():
    # cron 5-7 is Friday to Sunday; Quartz weeks end on Saturday (7).
    assert cron_to_quartz("0 9 * * 5-7") == "0 0 9 ? * 6-7,1"


@pytest.mark.parametrize(
    ("quartz", "message"),
    [
        ("0 0 12 * *", "has 5 fields"),
        ("15 0 12 * * ?", "seconds field must be 0"),
        ("0 0 12 * * ? 2030", "names a year"),
        ("0 0 12 15W * ?", "nearest weekday"),
        ("0 0 25 * * ?", "hour"),
        ("0 0 12 * * ? Mars/Olympus", "IANA time zone"),
        ("0 0 12 ? * 0", "1 (Sunday) to 7 (Saturday)"),
        ("0 0 12 ? * 8", "1 (Sunday) to 7 (Saturday)"),
        ("0 0 12 ? * " + "9" * 5000, "characters long"),
    ],
)
def test_bad_quartz_expressions_say_what_is_wrong(quartz, message):
    with pytest.raises(ApiProblem) as caught:
        quartz_to_cron(quartz)
    assert caught.value.status == 400
    assert message in caught.value.detail


# --- read ----------------------------------------------------------------------------


def test_a_broken_connection_reads_inactive_with_its_reason(
    api_client, viewer, editor, workspace
):
    from apps.connections.services import connection_set_status

    connection = ConnectionFactory(workspace=workspace)
    connection_set_status(
        actor=None,
        connection=connection,
        status=Connection.Status.BROKEN,
        reason="The source's password was rejected.",
    )
    body = api_client(viewer).get(f"{URL}/{connection.public_id}").json()
    assert body["status"] == "inactive"
    assert body["statusReason"] == "The source's password was rejected."


def test_viewer_lists_and_gets_connections(api_client, viewer, workspace, destination):
    made = [
        ConnectionFactory(workspace=workspace, destination=destination)
        for _ in range(3)
    ]
    Schedule.objects.create(
        workspace=workspace,
        connection=made[0],
        name="Every 6 hours",
        kind=Schedule.Kind.INTERVAL,
        interval_minutes=360,
    )
    ConnectionFactory()  # in another workspace: never listed
    client = api_client(viewer)

    page = client.get(URL, query={"limit": 2}).json()
    assert [c["connectionId"] for c in page["data"]] == [
        str(c.public_id) for c in made[:2]
    ]
    assert page["next"].endswith("limit=2&offset=2")
    assert page["previous"] == ""
    assert page["data"][0]["schedule"] == {
        "scheduleType": "basic",
        "basicTiming": "Every 6 HOURS",
    }
    last = client.get(URL, query={"limit": 2, "offset": 2}).json()
    assert [c["connectionId"] for c in last["data"]] == [str(made[2].public_id)]
    assert last["next"] == ""
    assert "offset=0" in last["previous"]

    one = client.get(f"{URL}/{made[1].public_id}").json()
    assert one["name"] == made[1].name
    assert one["tags"] == []


def test_list_is_bounded_in_queries(
    api_client, viewer, workspace, django_assert_max_num_queries
):
    for _ in range(5):
        connection = ConnectionFactory(workspace=workspace)
        connection.streams.create(name="users", sync_mode="full_refresh")
    client = api_client(viewer)
    with django_assert_max_num_queries(12):
        page = client.get(URL, query={"limit": 5}).json()
    assert len(page["data"]) == 5


def test_workspace_filter_and_tags(api_client, viewer, workspace, outsider):
    ConnectionFactory(workspace=workspace)
    client = api_client(viewer)
    listed = client.get(URL, query={"workspaceIds": str(workspace.public_id)}).json()
    assert len(listed["data"]) == 1
    # The console's connections have no tags: a tag filter matches none.
    tagged = client.get(URL, query={"tagIds": str(uuid.uuid4())}).json()
    assert tagged["data"] == []
    other = outsider.memberships.get().workspace
    refused = client.get(URL, query={"workspaceIds": str(other.public_id)})
    assert refused.status_code == 404


def test_pages_past_the_end_are_empty_and_bad_windows_are_400(
    api_client, viewer, workspace
):
    ConnectionFactory(workspace=workspace)
    client = api_client(viewer)
    past = client.get(URL, query={"offset": 50}).json()
    assert (past["data"], past["next"]) == ([], "")
    for query in ({"limit": 101}, {"limit": 0}, {"offset": 2**40}):
        response = client.get(URL, query=query, valid_request=False)
        assert response.status_code == 400, query


# --- patch ---------------------------------------------------------------------------


@pytest.fixture
def connection(editor, workspace, source, destination):
    from apps.connections.services import connection_create

    return connection_create(
        actor=editor,
        workspace=workspace,
        name="Existing",
        source=source,
        destination=destination,
        streams=[{"name": "users"}, {"name": "products", "selected": False}],
        namespace="analytics",
    )


def test_patch_changes_only_what_is_sent(api_client, editor, connection):
    response = api_client(editor).patch(
        f"{URL}/{connection.public_id}",
        json={
            "name": "Renamed",
            "configurations": {
                "streams": [{"name": "products", "syncMode": "full_refresh_append"}]
            },
            "schedule": {"scheduleType": "cron", "cronExpression": "0 0 6 * * ? UTC"},
            "status": "inactive",
        },
    )
    assert response.status_code == 200, response.content
    connection.refresh_from_db()
    assert connection.name == "Renamed"
    assert connection.status == Connection.Status.PAUSED
    assert connection.namespace == "analytics"  # not sent: kept
    assert _stream(connection, "users").selected is False
    products = _stream(connection, "products")
    assert (products.selected, products.destination_sync_mode) == (True, "append")
    assert connection.schedule.cron_expression == "0 6 * * *"
    body = response.json()
    assert body["schedule"]["cronExpression"] == "0 0 6 * * ? UTC"
    assert [s["name"] for s in body["configurations"]["streams"]] == ["products"]
    actions = list(
        AuditEvent.objects.filter(actor=editor)
        .order_by("pk")
        .values_list("action", flat=True)
    )
    assert actions[-3:] == [
        "connection.updated",
        "schedule.created",
        "connection.paused",
    ]

    # Manual removes the schedule; active resumes.
    again = api_client(editor).patch(
        f"{URL}/{connection.public_id}",
        json={"schedule": {"scheduleType": "manual"}, "status": "active"},
    )
    assert again.json()["schedule"] == {"scheduleType": "manual"}
    assert again.json()["status"] == "active"
    assert not Schedule.objects.filter(connection=connection).exists()


def test_the_same_connection_sent_again_writes_nothing(
    api_client, editor, source, destination
):
    client = api_client(editor)
    made = _create(
        client,
        source,
        destination,
        configurations={
            "streams": [
                {"name": "users", "selectedFields": [{"fieldPath": ["name"]}]},
                {"name": "products", "syncMode": "full_refresh_append"},
            ]
        },
    ).json()
    path = f"{URL}/{made['connectionId']}"
    body = client.get(path).json()
    before = AuditEvent.objects.count()
    # What Airbyte's clients (and the console's own airbyte engine) send: all of it.
    again = client.patch(
        path,
        json={
            key: body[key]
            for key in (
                "name",
                "configurations",
                "namespaceDefinition",
                "prefix",
                "nonBreakingSchemaUpdatesBehavior",
                "status",
            )
        }
        | {"schedule": {"scheduleType": "manual"}},
    )
    assert again.status_code == 200, again.content
    assert again.json() == body
    assert AuditEvent.objects.count() == before


def test_patch_namespace_and_prefix(api_client, editor, connection):
    body = (
        api_client(editor)
        .patch(
            f"{URL}/{connection.public_id}",
            json={"namespaceDefinition": "destination", "prefix": "x_"},
        )
        .json()
    )
    connection.refresh_from_db()
    assert (connection.namespace, connection.table_prefix) == ("analytics", "x_")
    assert body["namespaceDefinition"] == "destination"
    bad = api_client(editor).patch(
        f"{URL}/{connection.public_id}",
        json={"namespaceDefinition": "custom_format", "namespaceFormat": "1 bad"},
    )
    assert bad.status_code == 400
    assert bad.json()["data"]["errors"][0]["path"] == "namespaceFormat"


def test_deprecated_cannot_be_set_by_patch(api_client, editor, connection):
    response = api_client(editor).patch(
        f"{URL}/{connection.public_id}", json={"status": "deprecated"}
    )
    assert response.status_code == 400
    assert "DELETE" in response.json()["detail"]
    assert Connection.objects.filter(pk=connection.pk).exists()


def test_a_refused_patch_changes_nothing(api_client, editor, connection):
    response = api_client(editor).patch(
        f"{URL}/{connection.public_id}",
        json={
            "name": "Should not stick",
            "schedule": {"scheduleType": "cron", "cronExpression": "0 * * * * ?"},
        },
    )
    assert response.status_code == 400
    connection.refresh_from_db()
    assert connection.name == "Existing"
    assert not AuditEvent.objects.filter(action="connection.updated").exists()


# --- delete --------------------------------------------------------------------------


def test_editor_deletes_a_connection(api_client, editor, connection):
    response = api_client(editor).delete(f"{URL}/{connection.public_id}")
    assert response.status_code == 204
    assert response.content == b""
    assert not Connection.objects.filter(pk=connection.pk).exists()
    assert AuditEvent.objects.filter(action="connection.deleted", actor=editor).exists()


def test_delete_while_a_sync_runs_is_a_409(api_client, editor, connection):
    from apps.connections.services import sync_request

    sync_request(connection=connection, trigger="manual", actor=editor)
    response = api_client(editor).delete(f"{URL}/{connection.public_id}")
    assert response.status_code == 409
    assert "Cancel the running sync" in response.json()["detail"]
    assert Connection.objects.filter(pk=connection.pk).exists()


# --- roles ---------------------------------------------------------------------------


def test_roles(
    api_client, viewer, runner, editor, outsider, connection, source, destination
):
    path = f"{URL}/{connection.public_id}"
    for user in (viewer, runner):
        client = api_client(user)
        assert client.get(path).status_code == 200
        assert client.patch(path, json={"name": "x"}).status_code == 403
        assert client.delete(path).status_code == 403
        assert _create(client, source, destination).status_code == 403
    stranger = api_client(outsider)
    for response in (
        stranger.get(path),
        stranger.patch(path, json={"name": "x"}),
        stranger.delete(path),
        _create(stranger, source, destination),
    ):
        assert response.status_code == 404
        assert response.json()["title"] == "resource-not-found"
    assert stranger.get(URL).json()["data"] == []
    connection.refresh_from_db()
    assert connection.name == "Existing"


def test_unknown_connection_is_a_404(api_client, viewer):
    response = api_client(viewer).get(f"{URL}/{uuid.uuid4()}")
    assert response.status_code == 404
