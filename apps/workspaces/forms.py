"""Forms for workspaces and members; they bind input, services decide."""

from __future__ import annotations

from django import forms

from apps.core.roles import Role


class WorkspaceForm(forms.Form):
    name = forms.CharField(
        max_length=100,
        help_text=(
            "Shown in the workspace switcher; unique among your workspaces (other "
            "teams may use the same name)."
        ),
        widget=forms.TextInput(attrs={"autofocus": True}),
    )


class MemberAddForm(forms.Form):
    email = forms.EmailField(
        label="Email",
        help_text=(
            "They get a link by email: to choose a password if they have no "
            "account here yet, to sign in if they have one."
        ),
    )
    role = forms.ChoiceField(choices=Role.choices, initial=Role.VIEWER)


class MemberRoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class WorkspaceDeleteForm(forms.Form):
    confirm_name = forms.CharField(
        label="Type the workspace's name to confirm",
        max_length=100,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    delete_on_server = forms.TypedChoiceField(
        label="On the Airbyte server",
        choices=[
            ("", "Keep its sources, destinations and connections on the server"),
            ("1", "Delete them on the server too"),
        ],
        coerce=bool,
        empty_value=False,
        required=False,
        initial="",
        widget=forms.RadioSelect,
    )

    def __init__(self, *args, ask_server: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Only a workspace on the airbyte engine has objects on a server.
        if not ask_server:
            del self.fields["delete_on_server"]
