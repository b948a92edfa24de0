"""When a schedule runs: cron(8) through cronsim, intervals, and the minimum gap.

Pure functions with no database access, shared by the model's ``clean()``, the
form's preview, the dispatcher and the CLI.
"""

from __future__ import annotations

import itertools
import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from cronsim import CronSim, CronSimError
from django.conf import settings
from django.core.exceptions import ValidationError

FIELD_NAMES = ("minute", "hour", "day of month", "month", "day of week")
FIELD_RANGES = (
    "minutes go from 0 to 59",
    "hours go from 0 to 23",
    "days of the month go from 1 to 31",
    "months go from 1 to 12, or jan to dec",
    "days of the week go from 0 (Sunday) to 7 (Sunday again), or sun to sat",
)
# How many upcoming runs of a cron expression are checked against the minimum gap.
GAP_CHECK_RUNS = 24
# The longest interval: a year. Longer ones are surely typos, and their next run
# would overflow the date arithmetic and the database column (a 500 before).
MAX_INTERVAL_DAYS = 365
MAX_INTERVAL_MINUTES = MAX_INTERVAL_DAYS * 1440
# More digits than any interval up to a year needs: refused before int() parses
# them (Python refuses integers over 4300 digits with a ValueError).
_MAX_DIGITS = 7


def min_interval_minutes() -> int:
    """The smallest gap allowed between two runs of one schedule."""
    return int(getattr(settings, "SCHEDULE_MIN_INTERVAL_MINUTES", 5))


def zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name``, or a ValidationError that says what is wrong."""
    try:
        if name not in available_timezones():
            raise ZoneInfoNotFoundError(name)
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(
            f"“{name}” is not an IANA time zone; use a name such as "
            "Europe/Berlin, America/New_York or UTC."
        ) from None


def parse_cron(expression: str) -> str:
    """Check a 5-field cron expression and return it normalised; explain any error."""
    normalised = " ".join(expression.split())
    fields = normalised.split(" ") if normalised else []
    if len(fields) != 5:
        raise ValidationError(
            f"A cron expression has 5 fields (minute hour day-of-month month "
            f"day-of-week), e.g. “0 0 * * *”; this one has {len(fields)}."
        )
    try:
        CronSim(normalised, datetime(2000, 1, 1, tzinfo=ZoneInfo("UTC")))
    except CronSimError as exc:
        # cronsim names the field ("Bad day-of-week"); say which value it was and
        # what the field takes, in words without the library's name.
        text = str(exc).lower()
        for index, name in enumerate(FIELD_NAMES):
            if text.endswith(name.replace(" ", "-")):
                raise ValidationError(
                    f"The {name} field “{fields[index]}” is not valid: "
                    f"{FIELD_RANGES[index]}."
                ) from None
        raise ValidationError(
            "This cron expression is not valid: each of its 5 fields takes a number, "
            "a range (1-5), a list (1,15), a step (*/10) or *."
        ) from None
    return normalised


def explain_cron(expression: str) -> str:
    """A sentence in English for a valid expression (empty if cronsim cannot)."""
    try:
        return CronSim(
            expression, datetime(2000, 1, 1, tzinfo=ZoneInfo("UTC"))
        ).explain()
    except Exception:  # explain() is best effort; the expression is already valid
        return ""


def cron_next(expression: str, tz: ZoneInfo, after: datetime) -> datetime:
    """The first run strictly after ``after``, as an aware time in ``tz``.

    cronsim follows Debian cron across DST: a fixed-time job in a skipped hour runs
    right after the jump, and in a repeated hour it runs once.
    """
    return next(CronSim(expression, after.astimezone(tz)))


def cron_runs(
    expression: str, tz: ZoneInfo, after: datetime, count: int
) -> list[datetime]:
    """The next ``count`` runs strictly after ``after``, in ``tz``."""
    runs = []
    iterator = CronSim(expression, after.astimezone(tz))
    for _ in range(count):
        try:
            runs.append(next(iterator))
        except StopIteration:  # no match within cronsim's 50-year horizon
            break
    return runs


_EVERY = re.compile(r"^\s*(?:(\d+)\s*d)?\s*(?:(\d+)\s*h)?\s*(?:(\d+)\s*m?)?\s*$", re.I)


def parse_every(text: str) -> int:
    """Minutes in ``6h``, ``30m``, ``1h30m``, ``1d`` or a bare number of minutes."""
    match = _EVERY.match(text or "")
    if not match or not any(match.groups()):
        raise ValidationError(
            f"“{text}” is not an interval: write it like 30m, 6h, 1h30m or 1d."
        )
    if any(g and len(g.lstrip("0")) > _MAX_DIGITS for g in match.groups()):
        raise ValidationError(_too_long(text.strip()))
    days, hours, minutes = (int(g) if g else 0 for g in match.groups())
    total = days * 1440 + hours * 60 + minutes
    if total > MAX_INTERVAL_MINUTES:
        raise ValidationError(_too_long(text.strip()))
    return total


def _too_long(shown: str) -> str:
    if len(shown) > 20:
        shown = shown[:20] + "…"
    return (
        f"Every {shown} is too long: a schedule must run at least once every "
        f"{MAX_INTERVAL_DAYS} days ({MAX_INTERVAL_DAYS}d)."
    )


def describe_every(minutes: int) -> str:
    """``90`` -> ``1h30m``: the interval the way people type it."""
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    parts = [f"{days}d" if days else "", f"{hours}h" if hours else ""]
    parts.append(f"{mins}m" if mins or not any(parts) else "")
    return "".join(parts)


def check_interval(minutes: int) -> None:
    """Refuse an interval shorter than the minimum or longer than a year."""
    if minutes > MAX_INTERVAL_MINUTES:
        raise ValidationError(_too_long(describe_every(minutes)))
    floor = min_interval_minutes()
    if minutes < floor:
        raise ValidationError(
            f"Every {describe_every(minutes)} is too frequent: a schedule may run "
            f"at most every {floor} minutes."
        )


def check_cron_gap(expression: str, tz: ZoneInfo, start: datetime) -> None:
    """Refuse a cron expression whose runs come closer together than the minimum."""
    floor = min_interval_minutes()
    runs = cron_runs(expression, tz, start, GAP_CHECK_RUNS)
    for earlier, later in itertools.pairwise(runs):
        gap = later - earlier
        if gap < timedelta(minutes=floor):
            raise ValidationError(
                f"“{expression}” runs too often: {format_gap(gap)} apart (at "
                f"{earlier:%H:%M} and {later:%H:%M}). A schedule may run at most "
                f"every {floor} minutes."
            )


def format_gap(gap: timedelta) -> str:
    minutes = int(gap.total_seconds() // 60)
    if minutes >= 1:
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    return f"{int(gap.total_seconds())} seconds"
