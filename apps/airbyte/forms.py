"""Forms for a workspace's engine settings; they bind input, the services decide."""

from __future__ import annotations

from typing import Any

from django import forms

from apps.airbyte.models import AirbyteServer
from apps.workspaces.models import Workspace

SECRET_KEPT = "Stored — leave blank to keep."  # noqa: S105 - a help text


class EngineForm(forms.Form):
    engine = forms.ChoiceField(
        choices=Workspace.Engine.choices, widget=forms.RadioSelect, label="Engine"
    )


class AirbyteServerForm(forms.Form):
    """The server's address and how the console signs in to it.

    Secrets are write-only: the inputs never carry a stored value, so a blank field
    keeps what is stored (the service does that), and a page answering an invalid
    form does not echo back what was typed into them.
    """

    url = forms.CharField(
        label="Server URL",
        max_length=300,
        help_text="Where the Airbyte UI answers, e.g. http://localhost:8000.",
        widget=forms.TextInput(attrs={"placeholder": "http://localhost:8000"}),
    )
    auth = forms.ChoiceField(
        label="Authentication",
        # Basic auth is no API mode on Airbyte 1.x (a proxy in front of 0.x
        # installs): still offered and working, labelled as what it is.
        choices=[
            (value, "Basic auth: legacy (before 1.0)" if value == "basic" else label)
            for value, label in AirbyteServer.Auth.choices
        ],
        initial=AirbyteServer.Auth.APPLICATION,
        widget=forms.RadioSelect(attrs={"data-auth-choice": ""}),
    )
    client_id = forms.CharField(
        label="Client id",
        max_length=200,
        required=False,
        help_text="abctl local credentials prints the instance admin's.",
    )
    client_secret = forms.CharField(
        label="Client secret",
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    username = forms.CharField(label="User name", max_length=200, required=False)
    password = forms.CharField(
        label="Password",
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    # Which fields belong to which authentication, for the template's show/hide.
    AUTH_FIELDS = {
        AirbyteServer.Auth.APPLICATION: ("client_id", "client_secret"),
        AirbyteServer.Auth.BASIC: ("username", "password"),
    }

    def __init__(
        self, *args: Any, server: AirbyteServer | None = None, **kwargs: Any
    ) -> None:
        if server is not None and "initial" not in kwargs:
            kwargs["initial"] = {
                "url": server.url,
                "auth": server.auth,
                "client_id": server.client_id,
                "username": server.username,
            }
        super().__init__(*args, **kwargs)
        if server is not None and server.client_secret:
            self.fields["client_secret"].help_text = SECRET_KEPT
        if server is not None and server.password:
            self.fields["password"].help_text = SECRET_KEPT

    def auth_groups(self) -> list[tuple[str, list[forms.BoundField]]]:
        """(auth value, its bound fields) for each authentication that has fields."""
        return [
            (str(auth), [self[name] for name in names])
            for auth, names in self.AUTH_FIELDS.items()
        ]

    def chosen_auth(self) -> str:
        value = self["auth"].value()
        return str(value) if value else str(AirbyteServer.Auth.APPLICATION)


class RemoteWorkspaceForm(forms.Form):
    """Pick one of the server's workspaces, or name a new one to create there.

    The choices are what the server listed last; the service checks the id with the
    server itself, so the field does not validate against them.
    """

    remote_workspace_id = forms.CharField(
        label="Airbyte workspace",
        required=False,
        widget=forms.Select(),
    )
    create_name = forms.CharField(
        label="Or create a new one named",
        required=False,
        max_length=200,
        help_text="Created on the Airbyte server, in its default organization.",
    )

    def __init__(
        self,
        *args: Any,
        workspaces: list[dict[str, str]] | tuple[dict[str, str], ...] = (),
        current: tuple[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        choices = [("", "— choose —")]
        seen = set()
        for item in workspaces:
            choices.append((item["id"], item["name"] or item["id"]))
            seen.add(item["id"])
        if current and current[0] and current[0] not in seen:
            choices.append((current[0], current[1] or current[0]))
        self.fields["remote_workspace_id"].widget.choices = choices
        if current and current[0] and "remote_workspace_id" not in self.initial:
            self.initial["remote_workspace_id"] = current[0]
