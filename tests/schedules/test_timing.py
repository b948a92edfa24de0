"""Cron(8) semantics through cronsim, DST in Europe/Berlin, intervals, minimum gap."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.schedules import timing

BERLIN = ZoneInfo("Europe/Berlin")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def runs(expression: str, start: datetime, count: int, tz=BERLIN) -> list[datetime]:
    return timing.cron_runs(expression, tz, start, count)


def test_five_dash_five_is_hourly_at_five_past_not_every_minute():
    got = runs("5-5 * * * *", utc(2026, 1, 1, 10, 7), 3, tz=ZoneInfo("UTC"))
    assert got == [
        utc(2026, 1, 1, 11, 5),
        utc(2026, 1, 1, 12, 5),
        utc(2026, 1, 1, 13, 5),
    ]


def test_day_of_week_star_slash_one_does_not_widen_day_of_month():
    # cron(8): a day-of-week field that starts with "*" leaves day-of-month alone,
    # so this runs on the 1st only, not every day (the OR rule would say daily).
    got = runs("0 0 1 * */1", utc(2026, 1, 15), 3, tz=ZoneInfo("UTC"))
    assert got == [utc(2026, 2, 1), utc(2026, 3, 1), utc(2026, 4, 1)]


def test_both_day_fields_restricted_means_either_day():
    # cron(8): "1 * 1" runs on the 1st and on every Monday.
    got = runs("0 0 1 * 1", utc(2026, 6, 1, 1), 3, tz=ZoneInfo("UTC"))
    assert [d.date().isoformat() for d in got] == [
        "2026-06-08",
        "2026-06-15",
        "2026-06-22",
    ]


def test_daily_run_in_the_skipped_spring_hour_runs_right_after_the_jump():
    # 2026-03-29 02:00 CET jumps to 03:00 CEST: 02:30 does not exist that day.
    got = runs("30 2 * * *", utc(2026, 3, 27, 12), 3)
    assert [d.isoformat() for d in got] == [
        "2026-03-28T02:30:00+01:00",
        "2026-03-29T03:00:00+02:00",
        "2026-03-30T02:30:00+02:00",
    ]


def test_daily_run_in_the_repeated_autumn_hour_runs_once():
    # 2026-10-25 03:00 CEST falls back to 02:00 CET: 02:30 happens twice.
    got = runs("30 2 * * *", utc(2026, 10, 24, 12), 3)
    assert [d.isoformat() for d in got] == [
        "2026-10-25T02:30:00+02:00",
        "2026-10-26T02:30:00+01:00",
        "2026-10-27T02:30:00+01:00",
    ]


def test_hourly_runs_every_real_hour_through_the_autumn_change():
    got = runs("0 * * * *", utc(2026, 10, 24, 22, 30), 4)
    # Each run is one real hour after the previous, 02:00 appearing in both offsets.
    assert [d.astimezone(UTC).hour for d in got] == [23, 0, 1, 2]
    assert [d.strftime("%H:%M%z") for d in got] == [
        "01:00+0200",
        "02:00+0200",
        "02:00+0100",
        "03:00+0100",
    ]


def test_midnight_in_berlin_is_23_utc_in_winter_and_22_in_summer():
    winter = timing.cron_next("0 0 * * *", BERLIN, utc(2026, 1, 10, 12))
    summer = timing.cron_next("0 0 * * *", BERLIN, utc(2026, 7, 10, 12))
    assert winter.astimezone(UTC) == utc(2026, 1, 10, 23)
    assert summer.astimezone(UTC) == utc(2026, 7, 10, 22)


@pytest.mark.parametrize(
    ("expression", "words"),
    [
        ("0 0 * *", "has 4"),
        ("0 0 0 * * *", "has 6"),
        ("61 * * * *", "minute field “61”"),
        ("0 25 * * *", "hour field “25”"),
        ("0 0 32 * *", "day of month field “32”"),
        ("0 0 * 13 *", "month field “13”"),
        ("0 0 * * 9", "day of week field “9”"),
        ("", "has 0"),
    ],
)
def test_invalid_cron_is_explained_in_words(expression, words):
    with pytest.raises(ValidationError) as caught:
        timing.parse_cron(expression)
    assert words in caught.value.messages[0]


def test_cron_is_normalised():
    assert timing.parse_cron("  0   0 * *  * ") == "0 0 * * *"


@pytest.mark.parametrize(
    ("text", "minutes"),
    [("30m", 30), ("6h", 360), ("1h30m", 90), ("1d", 1440), ("45", 45), ("2H", 120)],
)
def test_every_understands_minutes_hours_days(text, minutes):
    assert timing.parse_every(text) == minutes
    assert timing.parse_every(timing.describe_every(minutes)) == minutes


@pytest.mark.parametrize("text", ["", "often", "6x", "h"])
def test_every_refuses_what_it_cannot_read(text):
    with pytest.raises(ValidationError, match="not an interval"):
        timing.parse_every(text)


def test_interval_below_the_minimum_is_refused_with_the_minimum(settings):
    settings.SCHEDULE_MIN_INTERVAL_MINUTES = 5
    with pytest.raises(ValidationError, match="at most every 5 minutes"):
        timing.check_interval(4)
    timing.check_interval(5)


def test_cron_closer_than_the_minimum_is_refused(settings):
    settings.SCHEDULE_MIN_INTERVAL_MINUTES = 5
    with pytest.raises(ValidationError) as caught:
        timing.check_cron_gap("0,2 * * * *", BERLIN, utc(2026, 1, 1))
    assert "2 minutes apart" in caught.value.messages[0]
    assert "at most every 5 minutes" in caught.value.messages[0]
    timing.check_cron_gap("*/5 * * * *", BERLIN, utc(2026, 1, 1))


def test_minimum_follows_the_setting(settings):
    settings.SCHEDULE_MIN_INTERVAL_MINUTES = 60
    with pytest.raises(ValidationError, match="at most every 60 minutes"):
        timing.check_cron_gap("*/30 * * * *", BERLIN, utc(2026, 1, 1))


def test_unknown_time_zone_is_refused():
    with pytest.raises(ValidationError, match="not an IANA time zone"):
        timing.zone("Mars/Olympus")


# --- Properties -------------------------------------------------------------------

ZONES = [
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Asia/Kolkata",
    "Australia/Lord_Howe",
]


def _field(low: int, high: int) -> st.SearchStrategy[str]:
    value = st.integers(low, high)
    return st.one_of(
        st.just("*"),
        value.map(str),
        st.tuples(value, value).map(lambda p: f"{min(p)}-{max(p)}"),
        st.integers(1, max(1, (high - low) // 2)).map(lambda s: f"*/{s}"),
        st.lists(value, min_size=1, max_size=3, unique=True).map(
            lambda vs: ",".join(map(str, sorted(vs)))
        ),
    )


EXPRESSIONS = st.tuples(
    _field(0, 59), _field(0, 23), _field(1, 28), _field(1, 12), _field(0, 6)
).map(" ".join)
STARTS = st.datetimes(
    min_value=datetime(2024, 1, 1), max_value=datetime(2030, 12, 31)
).map(lambda d: d.replace(tzinfo=UTC))


def _matches(expression: str, moment: datetime) -> bool:
    """An independent, slow reading of cron(8) for one local minute."""
    minute, hour, dom, month, dow = expression.split()

    def values(field: str, low: int, high: int) -> set[int]:
        out: set[int] = set()
        for part in field.split(","):
            step = 1
            if "/" in part:
                part, raw = part.split("/")
                step = int(raw)
            if part == "*":
                start, end = low, high
            elif "-" in part:
                start, end = map(int, part.split("-"))
            else:
                start = end = int(part)
                if step > 1:
                    end = high
            out.update(range(start, end + 1, step))
        return out

    weekday = (moment.weekday() + 1) % 7
    dom_ok = moment.day in values(dom, 1, 31)
    dow_ok = weekday in values(dow, 0, 6)
    day_ok = (
        dom_ok and dow_ok
        if dom.startswith("*") or dow.startswith("*")
        else dom_ok or dow_ok
    )
    return (
        moment.second == 0
        and moment.minute in values(minute, 0, 59)
        and moment.hour in values(hour, 0, 23)
        and moment.month in values(month, 1, 12)
        and day_ok
    )


def _local_minutes(start: datetime, end: datetime, tz: ZoneInfo):
    moment = (start + timedelta(minutes=1)).replace(second=0, microsecond=0)
    while moment < end:
        yield moment.astimezone(tz)
        moment += timedelta(minutes=1)


@settings(max_examples=150, deadline=None)
@given(
    expression=EXPRESSIONS,
    start=STARTS,
    zone_name=st.sampled_from(["UTC", "Asia/Kolkata"]),
)
def test_next_run_matches_is_after_the_start_and_skips_no_match(
    expression, start, zone_name
):
    # Zones without DST, where every local minute exists once: the brute-force
    # reading is exact there. DST is covered by the Berlin cases above.
    tz = ZoneInfo(zone_name)
    found = timing.cron_next(expression, tz, start)
    assert found > start
    assert _matches(expression, found.astimezone(tz))
    # Brute force over at most two days of minutes: nothing matches in between.
    horizon = min(found, start + timedelta(days=2))
    for moment in _local_minutes(start, horizon, tz):
        assert not _matches(expression, moment), moment


@settings(max_examples=100, deadline=None)
@given(expression=EXPRESSIONS, start=STARTS, zone_name=st.sampled_from(ZONES))
def test_runs_are_strictly_increasing_in_every_zone(expression, start, zone_name):
    tz = ZoneInfo(zone_name)
    got = timing.cron_runs(expression, tz, start, 5)
    assert got, "every generated expression matches some day"
    assert got[0] > start
    assert all(a < b for a, b in itertools.pairwise(got))
    assert all(d.tzinfo is not None and d.utcoffset() == tz.utcoffset(d) for d in got)
