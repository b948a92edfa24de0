"""factory-boy factories for the console's models."""

from __future__ import annotations

import factory
from django.contrib.auth import get_user_model

from apps.core.roles import Role
from apps.workspaces.models import Membership, Workspace

PASSWORD = "correct-horse-battery-staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    username = factory.SelfAttribute("email")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class WorkspaceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Workspace

    name = factory.Sequence(lambda n: f"Workspace {n}")
    slug = factory.Sequence(lambda n: f"workspace-{n}")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    workspace = factory.SubFactory(WorkspaceFactory)
    role = Role.VIEWER


FAKER_CATALOG = {
    "streams": [
        {
            "name": "users",
            "json_schema": {
                "type": "object",
                "properties": {
                    "id": {"type": "integer"},
                    "name": {"type": "string"},
                    "updated_at": {"type": "string", "format": "date-time"},
                    "address": {
                        "type": "object",
                        "properties": {"city": {"type": "string"}},
                    },
                },
            },
            "supported_sync_modes": ["full_refresh", "incremental"],
            "source_defined_cursor": True,
            "default_cursor_field": ["updated_at"],
            "source_defined_primary_key": [["id"]],
        },
        {
            "name": "products",
            "json_schema": {
                "type": "object",
                "properties": {"id": {"type": "integer"}, "make": {"type": "string"}},
            },
            "supported_sync_modes": ["full_refresh"],
        },
    ]
}


class DefinitionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "connectors.ConnectorDefinition"

    kind = "source"
    definition_id = factory.Faker("uuid4")
    name = factory.Sequence(lambda n: f"Connector {n}")
    engines = ["embedded"]


class SourceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "connectors.Source"

    workspace = factory.SubFactory(WorkspaceFactory)
    name = factory.Sequence(lambda n: f"Source {n}")
    definition = factory.SubFactory(DefinitionFactory, kind="source")
    catalog = FAKER_CATALOG


class DestinationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "connectors.Destination"

    workspace = factory.SubFactory(WorkspaceFactory)
    name = factory.Sequence(lambda n: f"Destination {n}")
    definition = factory.SubFactory(DefinitionFactory, kind="destination")


class ConnectionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "connections.Connection"

    workspace = factory.SubFactory(WorkspaceFactory)
    name = factory.Sequence(lambda n: f"Connection {n}")
    source = factory.SubFactory(
        SourceFactory, workspace=factory.SelfAttribute("..workspace")
    )
    destination = factory.SubFactory(
        DestinationFactory, workspace=factory.SelfAttribute("..workspace")
    )
