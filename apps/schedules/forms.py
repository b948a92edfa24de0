"""The schedule form: which connection, how it runs, in which time zone."""

from __future__ import annotations

from functools import cache
from typing import Any
from zoneinfo import available_timezones

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError

from apps.connections.models import Connection
from apps.schedules import timing
from apps.schedules.models import Schedule
from apps.workspaces.models import Workspace


@cache
def zone_choices() -> list[tuple[str, str]]:
    names = sorted(
        name for name in available_timezones() if "/" in name or name == "UTC"
    )
    return [(name, name.replace("_", " ")) for name in names]


class ScheduleForm(forms.Form):
    """Name, connection (when creating), kind and its timing, and the time zone."""

    name = forms.CharField(
        max_length=100,
        help_text="Unique in the workspace; the CLI pauses and resumes it by name.",
    )
    connection = forms.ModelChoiceField(
        queryset=Connection.objects.none(),
        to_field_name="public_id",
        empty_label="Choose a connection",
    )
    kind = forms.ChoiceField(
        choices=Schedule.Kind.choices,
        initial=Schedule.Kind.CRON,
        widget=forms.RadioSelect,
        label="Runs",
    )
    interval_minutes = forms.CharField(
        required=False,
        label="Every",
        help_text="Counted from the end of the previous sync: 30m, 6h, 1h30m, 1d.",
        widget=forms.TextInput(attrs={"placeholder": "6h", "spellcheck": "false"}),
    )
    cron_expression = forms.CharField(
        required=False,
        max_length=120,
        label="Cron expression",
        help_text="5 fields, cron(8) rules: minute hour day-of-month month "
        "day-of-week, e.g. 0 0 * * * for midnight.",
        widget=forms.TextInput(
            attrs={"placeholder": "0 0 * * *", "spellcheck": "false"}
        ),
    )
    timezone = forms.ChoiceField(
        choices=zone_choices,
        label="Time zone",
        help_text="Cron times are read in this zone, daylight saving included.",
    )

    def __init__(
        self,
        *args: Any,
        workspace: Workspace,
        schedule: Schedule | None = None,
        **kwargs: Any,
    ) -> None:
        initial = kwargs.setdefault("initial", {})
        if schedule is not None:
            initial.update(
                name=schedule.name,
                connection=schedule.connection.public_id,
                kind=schedule.kind,
                interval_minutes=timing.describe_every(schedule.interval_minutes)
                if schedule.interval_minutes
                else "",
                cron_expression=schedule.cron_expression,
                timezone=schedule.timezone,
            )
        else:
            initial.setdefault("timezone", getattr(settings, "TIME_ZONE", "UTC"))
            initial.setdefault("kind", Schedule.Kind.CRON)
            # Midnight: a sensible first schedule, and the preview has runs to show.
            initial.setdefault("cron_expression", "0 0 * * *")
        super().__init__(*args, **kwargs)
        self.schedule = schedule
        self.workspace = workspace
        self.fields["connection"].queryset = Connection.objects.for_workspace(
            workspace
        ).order_by("name")
        if schedule is not None:
            # A schedule belongs to its connection; another connection means a new
            # schedule.
            self.fields["connection"].disabled = True

    def clean_interval_minutes(self) -> int | None:
        raw = (self.cleaned_data.get("interval_minutes") or "").strip()
        if self.data.get("kind") != Schedule.Kind.INTERVAL:
            return None
        if not raw:
            raise forms.ValidationError("Say how often, e.g. 6h or 30m.")
        return timing.parse_every(raw)

    def clean_cron_expression(self) -> str:
        raw = (self.cleaned_data.get("cron_expression") or "").strip()
        if self.data.get("kind") != Schedule.Kind.CRON:
            return ""
        if not raw:
            raise forms.ValidationError("Type a cron expression, e.g. 0 0 * * *.")
        return raw

    def clean_name(self) -> str:
        name = " ".join((self.cleaned_data.get("name") or "").split())
        taken = Schedule.objects.for_workspace(self.workspace).filter(name__iexact=name)
        if self.schedule is not None:
            taken = taken.exclude(pk=self.schedule.pk)
        if name and taken.exists():
            raise forms.ValidationError(f"A schedule named “{name}” already exists.")
        return name

    def clean(self) -> dict[str, Any]:
        """Check the timing here too, so every problem shows at once.

        The service checks again when it saves; this only spares a second round
        trip when the name is missing and the cron expression is wrong as well.
        """
        data = super().clean()
        kind = data.get("kind")
        timing_fields = ("interval_minutes", "cron_expression", "timezone")
        if not kind or any(name in self.errors for name in timing_fields):
            return data
        draft = Schedule(
            kind=kind,
            interval_minutes=data.get("interval_minutes"),
            cron_expression=data.get("cron_expression") or "",
            timezone=data.get("timezone") or "UTC",
        )
        try:
            draft.clean()
        except ValidationError as exc:
            for field, messages in exc.message_dict.items():
                for message in messages:
                    self.add_error(field if field in self.fields else None, message)
        return data
