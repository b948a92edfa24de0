"""A low-code YAML manifest source against a local HTTP server: pages, cursor, dedup."""

from __future__ import annotations

import functools
import http.server
import json
import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import yaml

from apps.connectors.models import Source
from apps.connectors.services import source_discover_run
from apps.engines.declarative import MANIFEST_KEY
from tests.connections.test_sync_embedded import duck_rows, run_now
from tests.engines.fixtures import MANIFEST_ID, definition

pytestmark = pytest.mark.django_db(transaction=True)

MANIFEST = yaml.safe_load("""
version: 6.0.0
type: DeclarativeSource
spec:
  type: Spec
  connection_specification:
    type: object
    required: [base_url]
    properties:
      base_url: {type: string, title: Base URL}
check:
  type: CheckStream
  stream_names: [items]
streams:
  - type: DeclarativeStream
    name: items
    primary_key: [id]
    retriever:
      type: SimpleRetriever
      requester:
        type: HttpRequester
        url_base: "{{ config['base_url'] }}"
        http_method: GET
        path: "/items/page_{{ next_page_token['next_page_token'] or 1 }}.json"
      record_selector:
        type: RecordSelector
        extractor: {type: DpathExtractor, field_path: []}
      paginator:
        type: DefaultPaginator
        pagination_strategy:
          type: PageIncrement
          page_size: 100
          start_from_page: 1
          inject_on_first_request: false
    incremental_sync:
      type: DatetimeBasedCursor
      cursor_field: updated_at
      datetime_format: "%Y-%m-%dT%H:%M:%SZ"
      start_datetime:
        type: MinMaxDatetime
        datetime: "2024-01-01T00:00:00Z"
        datetime_format: "%Y-%m-%dT%H:%M:%SZ"
      is_client_side_incremental: true
    schema_loader:
      type: InlineSchemaLoader
      schema:
        type: object
        properties:
          id: {type: integer}
          name: {type: [string, "null"]}
          price: {type: [number, "null"]}
          updated_at: {type: [string, "null"], format: date-time}
""")


def write_pages(root, items: list[dict]) -> None:
    pages = root / "items"
    pages.mkdir(exist_ok=True)
    for old in pages.iterdir():
        old.unlink()
    for number, start in enumerate(range(0, max(len(items), 1), 100), start=1):
        (pages / f"page_{number}.json").write_text(
            json.dumps(items[start : start + 100])
        )
    # The page after the last full one is empty: the paginator stops on a short page.
    last = len(items) // 100 + 1
    if not (pages / f"page_{last}.json").exists():
        (pages / f"page_{last}.json").write_text("[]")


def make_items(count: int, *, first_id: int = 1, start: datetime) -> list[dict]:
    return [
        {
            "id": first_id + n,
            "name": f"item {first_id + n}",
            "price": 1.5 * n,
            "updated_at": (start + timedelta(hours=n)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        for n in range(count)
    ]


@pytest.fixture
def api(tmp_path):
    handler = functools.partial(
        http.server.SimpleHTTPRequestHandler, directory=str(tmp_path)
    )
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield tmp_path, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_manifest_source_paginates_and_reads_only_new_records(
    admin,
    workspace,
    api,
    real_connectors,
    cdk_installed,
    duckdb_destination,
    make_connection,
):
    root, base_url = api
    start = datetime(2024, 2, 1, tzinfo=UTC)
    items = make_items(350, start=start)
    write_pages(root, items)
    source = Source.objects.create(
        workspace=workspace,
        name=f"API {uuid.uuid4().hex[:6]}",
        definition=definition(MANIFEST_ID),
        config={"base_url": base_url, MANIFEST_KEY: MANIFEST},
    )
    catalog = source_discover_run(pk=source.pk)
    assert catalog is not None, Source.objects.get(pk=source.pk).discover_message
    source.refresh_from_db()
    connection = make_connection(
        source,
        duckdb_destination,
        [
            {
                "name": "items",
                "sync_mode": "incremental",
                "destination_sync_mode": "append_dedup",
            }
        ],
        namespace="api",
    )
    first = run_now(connection, admin)
    assert first.status == "succeeded", first.failure_message
    assert duck_rows(duckdb_destination, "select count(*) from api.items") == [(350,)]

    # 20 newer items appear on the last page; the next sync reads only those (the
    # record at the saved cursor may come again: dedup keeps one row per id).
    newer = make_items(20, first_id=351, start=start + timedelta(hours=400))
    write_pages(root, items + newer)
    second = run_now(connection, admin)
    assert second.status == "succeeded", second.failure_message
    assert 20 <= second.records_committed <= 21
    assert duck_rows(
        duckdb_destination,
        "select count(*), count(distinct id), max(id) from api.items",
    ) == [(370, 370, 370)]
