"""A connector's spec: its JSON Schema, the config it describes, and its form.

Airbyte connectors describe their configuration as a draft-07 JSON Schema (the
``connectionSpecification`` of their ``spec``). Import from the module that does
the job; this package re-exports nothing, so each caller says which job it needs:

- ``pointers``: RFC 6901 JSON pointers into a config, and ``MISSING``.
- ``schema``: reading the schema (``$ref``, types, ``oneOf`` options).
- ``config``: a config and its secrets (``split_config``, ``merge_config``,
  ``mask_config``, ``secret_pointers``), for services, selectors and the CLI; and
  where secrets go (``destination_fields``, ``secret_retarget_errors``,
  ``config_hosts``): a masked secret is kept only while those fields are unchanged.
- ``errors``: jsonschema errors in plain words, by JSON pointer (``config_errors``).
- ``fields``: one field per property, of one kind, with its widget.
- ``forms``: ``SpecForm``, the form the source and destination pages render.
"""
