"""The connector builder: low-code connectors made in a workspace (issue #16).

Its own Django app (label ``connector_builder``) inside the connectors layer: the
drafts being edited (``BuilderProject``), publishing them to the catalog as
manifest-only connectors visible to their workspace alone, the builder page and
the ``airbyte cdk`` commands.
"""
