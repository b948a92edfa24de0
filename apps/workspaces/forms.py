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
