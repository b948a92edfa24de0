"""What `airbyte cdk init NAME source` writes: a low-code project that builds as is.

The manifest is the smallest one that shows every part a real API needs: a spec
with a base URL and a secret API key, one stream read by an ``HttpRequester``
with an ``ApiKeyAuthenticator``, records picked out by a ``DpathExtractor`` in a
``RecordSelector``, and a ``CursorPagination`` that follows the API's
``next_page`` until it is empty. A developer changes the URL, path and field
names and has a connector; the tests point ``base_url`` at a local API and run
``init -> build -> test -> deploy`` on the untouched scaffold.
"""

from __future__ import annotations

import json
import re

# The CDK manifest version the scaffold declares (any 6.x/7.x manifest runs on the
# console's pinned CDK, settings.DECLARATIVE_CDK_VERSION).
MANIFEST_VERSION = "6.44.0"

NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,99}$")

MANIFEST_TEMPLATE = """\
# {name}: a low-code source for the Airbyte CDK (declarative manifest).
# `airbyte cdk build {name}` validates it, `cdk test {name}` reads a few records,
# `cdk deploy {name}` publishes it to a workspace's catalog.
version: {version}
type: DeclarativeSource

check:
  type: CheckStream
  stream_names:
    - {stream}

definitions:
  requester:
    type: HttpRequester
    url_base: "{{{{ config['base_url'] }}}}"
    http_method: GET
    authenticator:
      type: ApiKeyAuthenticator
      api_token: "{{{{ config['api_key'] }}}}"
      inject_into:
        type: RequestOption
        inject_into: header
        field_name: X-API-Key

streams:
  - type: DeclarativeStream
    name: {stream}
    primary_key:
      - id
    retriever:
      type: SimpleRetriever
      requester:
        $ref: "#/definitions/requester"
        path: /{stream}
      record_selector:
        type: RecordSelector
        extractor:
          type: DpathExtractor
          field_path:
            - data
      paginator:
        type: DefaultPaginator
        pagination_strategy:
          type: CursorPagination
          cursor_value: "{{{{ response.next_page }}}}"
          stop_condition: "{{{{ not response.next_page }}}}"
        page_token_option:
          type: RequestOption
          inject_into: request_parameter
          field_name: page
    schema_loader:
      type: InlineSchemaLoader
      schema:
        type: object
        $schema: http://json-schema.org/draft-07/schema#
        additionalProperties: true
        properties:
          id:
            type: integer
          name:
            type:
              - "null"
              - string

spec:
  type: Spec
  documentation_url: https://example.com/docs
  connection_specification:
    $schema: http://json-schema.org/draft-07/schema#
    title: {title}
    type: object
    additionalProperties: true
    required:
      - base_url
      - api_key
    properties:
      base_url:
        type: string
        title: Base URL
        description: Where the API answers, e.g. https://api.example.com/v1
        order: 0
      api_key:
        type: string
        title: API key
        description: Sent in the X-API-Key header.
        airbyte_secret: true
        order: 1
"""

GITIGNORE = """\
# Real credentials never go into git.
secrets/
"""

README_TEMPLATE = """\
# {name}

A low-code Airbyte source (a declarative manifest, `manifest.yaml`).

- `secrets/config.json`: the config `build` and `test` run with (git ignores it).
- `airbyte cdk build {name}`: validate the manifest against the CDK's schema, then
  run `spec` and `check` with that config.
- `airbyte cdk test {name} [--stream S] [--limit N]`: read a few records, show
  them and the schema inferred from them.
- `airbyte cdk deploy {name} [--workspace W]`: publish it to the workspace's
  catalog as a new version; sources made from it can sync.
"""


def manifest_text(name: str, *, stream: str = "items") -> str:
    """The scaffold's manifest.yaml for a connector called ``name``."""
    return MANIFEST_TEMPLATE.format(
        name=name,
        version=MANIFEST_VERSION,
        stream=stream,
        title=json.dumps(f"{name} spec"),
    )


def sample_config(base_url: str = "https://api.example.com/v1") -> str:
    """secrets/config.json: the fields the scaffold's spec asks for."""
    return json.dumps({"base_url": base_url, "api_key": "replace-me"}, indent=2) + "\n"


def readme(name: str) -> str:
    return README_TEMPLATE.format(name=name)
