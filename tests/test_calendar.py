"""Business-hours calendars: durations, add and elapsed across weekends, holidays and DST, config errors."""

from __future__ import annotations

import tomllib
from datetime import date, datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from maildesk.sla.calendar import Calendar, CalendarConfigError, business_duration, parse_duration

CONFIG = """
[business_hours]
timezone = "Europe/Berlin"
days = ["mon", "tue", "wed", "thu", "fri"]
hours = "08:00-18:00"
holidays = ["2026-12-25", "2026-12-26"]
"""
EVERY_DAY = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
H = timedelta(hours=1)
TICK = timedelta(microseconds=1)

CALENDARS = {
    "berlin": Calendar.from_config(tomllib.loads(CONFIG)["business_hours"]),
    "new_york": Calendar.from_config({"timezone": "America/New_York", "hours": "09:00-17:00"}),
    "berlin_daily": Calendar.from_config({"timezone": "Europe/Berlin", "days": EVERY_DAY, "hours": "08:00-18:00"}),
    # every hour of every day but New Year's Day: a holiday keeps it off the plain-arithmetic path
    "berlin_full": Calendar.from_config({"timezone": "Europe/Berlin", "days": EVERY_DAY, "hours": "00:00-24:00",
                                         "holidays": ["2026-01-01"]}),
    # windows the clock changes pass through: at 02:00 in spring (an hour lost), 03:00 in autumn (one repeated)
    "berlin_night": Calendar.from_config({"timezone": "Europe/Berlin", "days": EVERY_DAY, "hours": "01:00-05:00"}),
    "berlin_gap": Calendar.from_config({"timezone": "Europe/Berlin", "days": EVERY_DAY, "hours": "02:30-04:00"}),
    "always": Calendar.always(),
}


def at(zone: str, text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone))


def b(text: str) -> datetime:
    return at("Europe/Berlin", text)


def ny(text: str) -> datetime:
    return at("America/New_York", text)


def u(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


# -- durations -----------------------------------------------------------------

@pytest.mark.parametrize(("text", "expected"), [
    ("90m", timedelta(minutes=90)),
    ("1h", H),
    ("4h", 4 * H),
    ("2d", timedelta(days=2)),
    ("1d 4h", 28 * H),
    ("1d4h", 28 * H),
    ("1h30m", timedelta(minutes=90)),
    ("45s", timedelta(seconds=45)),
    ("1d 2h 3m 4s", timedelta(days=1, hours=2, minutes=3, seconds=4)),
    (" 2H ", 2 * H),
    ("0m", timedelta(0)),
    ("999999d 999999h", timedelta(days=999999, hours=999999)),
])
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", [
    "", "  ", "h", "1", "1x", "-1h", "1.5h", "1m1h", "1h 1h", "1 hour", "1hr", "1dd", "1234567d", "P1D", None, 5,
])
def test_parse_duration_refuses(text: Any) -> None:
    with pytest.raises(ValueError, match=r"invalid duration .*e\.g\. '90m'"):
        parse_duration(text)


@pytest.mark.parametrize(("text", "calendar", "expected"), [
    ("2d", "berlin", 20 * H),  # a business day is one 08:00-18:00 window
    ("1d 4h", "berlin", 14 * H),
    ("90m", "berlin", timedelta(minutes=90)),
    ("2d", "new_york", 16 * H),
    ("1d", "berlin_full", 24 * H),
    ("2d", "always", 48 * H),  # 24x7 keeps 1d = 24h
])
def test_business_duration_counts_days_as_windows(text: str, calendar: str, expected: timedelta) -> None:
    assert business_duration(text, CALENDARS[calendar]) == expected


def test_business_duration_refuses_what_parse_duration_refuses() -> None:
    with pytest.raises(ValueError, match="invalid duration '2 days'"):
        business_duration("2 days", CALENDARS["berlin"])


# -- add -----------------------------------------------------------------------

ADD = [
    pytest.param("berlin", b("2026-01-07 10:00"), "3h", b("2026-01-07 13:00"), id="within-a-day"),
    pytest.param("berlin", b("2026-01-09 17:00"), "2h", b("2026-01-12 09:00"), id="friday-over-the-weekend"),
    pytest.param("berlin", b("2026-01-09 17:00"), "1h", b("2026-01-09 18:00"), id="earliest-is-the-closing-time"),
    pytest.param("berlin", b("2026-01-07 06:00"), "1h", b("2026-01-07 09:00"), id="before-opening"),
    pytest.param("berlin", b("2026-01-07 18:00"), "1h", b("2026-01-08 09:00"), id="at-closing"),
    pytest.param("berlin", b("2026-01-07 22:30"), "90m", b("2026-01-08 09:30"), id="after-closing"),
    pytest.param("berlin", b("2026-01-11 12:00"), "1h", b("2026-01-12 09:00"), id="on-a-sunday"),
    pytest.param("berlin", b("2026-01-10 03:00"), "10h", b("2026-01-12 18:00"), id="saturday-a-whole-day"),
    pytest.param("berlin", u("2026-01-07 09:00"), "1h", u("2026-01-07 10:00"), id="start-given-in-utc"),
    pytest.param("berlin", b("2026-01-07 10:00"), "2d", b("2026-01-09 10:00"), id="two-business-days"),
    pytest.param("berlin", b("2026-01-07 10:00"), "1d 4h", b("2026-01-08 14:00"), id="a-day-and-hours"),
    pytest.param("berlin", b("2026-01-07 10:00"), "0m", b("2026-01-07 10:00"), id="zero-while-open"),
    pytest.param("berlin", b("2026-01-10 10:00"), "0m", b("2026-01-10 10:00"), id="zero-while-closed-stays-put"),
    pytest.param("berlin", b("2026-12-24 17:00"), "2h", b("2026-12-28 09:00"), id="over-christmas"),
    pytest.param("berlin", b("2026-12-25 10:00"), "1h", b("2026-12-28 09:00"), id="start-on-a-holiday"),
    pytest.param("berlin", b("2026-03-27 17:00"), "2h", u("2026-03-30 07:00"), id="berlin-spring-forward"),
    pytest.param("berlin", b("2026-10-23 17:00"), "2h", u("2026-10-26 08:00"), id="berlin-fall-back"),
    pytest.param("berlin_daily", b("2026-03-28 17:00"), "11h", u("2026-03-29 16:00"), id="spring-day-window-is-10h"),
    pytest.param("berlin_daily", b("2026-10-24 17:00"), "11h", u("2026-10-25 17:00"), id="autumn-day-window-is-10h"),
    pytest.param("new_york", ny("2026-03-06 16:00"), "2h", u("2026-03-09 14:00"), id="new-york-spring-forward"),
    pytest.param("new_york", ny("2026-10-30 16:00"), "2h", u("2026-11-02 15:00"), id="new-york-fall-back"),
    pytest.param("berlin_full", b("2026-03-28 12:00"), "1d", b("2026-03-29 13:00"), id="spring-day-has-23h"),
    pytest.param("berlin_full", b("2026-10-24 12:00"), "1d", b("2026-10-25 11:00"), id="autumn-day-has-25h"),
    pytest.param("berlin_full", b("2025-12-31 23:00"), "2h", b("2026-01-02 01:00"), id="full-days-skip-holiday"),
    pytest.param("berlin_full", b("2026-03-02 00:00"), "60d", b("2026-05-01 01:00"), id="full-days-over-spring"),
    pytest.param("berlin_full", b("2026-10-01 00:00"), "61d", b("2026-11-30 23:00"), id="full-days-over-autumn"),
    pytest.param("berlin_night", b("2026-03-28 12:00"), "4h", b("2026-03-30 02:00"), id="night-loses-an-hour"),
    pytest.param("berlin_night", b("2026-10-24 12:00"), "5h", u("2026-10-25 04:00"), id="night-gains-an-hour"),
    pytest.param("berlin_gap", b("2026-03-28 12:00"), "30m", u("2026-03-29 01:30"), id="skipped-opening-is-the-jump"),
    pytest.param("berlin_gap", b("2026-10-24 12:00"), "2h", u("2026-10-25 02:30"), id="repeated-opening-is-the-first"),
    pytest.param("berlin", b("2026-01-05 08:00"), "30d", b("2026-02-13 18:00"), id="six-weeks"),
    pytest.param("berlin", b("2026-12-07 08:00"), "20d", b("2027-01-04 18:00"), id="four-weeks-over-christmas"),
    pytest.param("berlin", b("2026-03-02 08:00"), "25d", u("2026-04-03 16:00"), id="five-weeks-over-dst"),
    pytest.param("berlin", b("2026-01-01 00:00"), "260d", b("2026-12-31 18:00"), id="a-whole-year"),
    pytest.param("always", u("2026-01-09 17:00"), "2h", u("2026-01-09 19:00"), id="always-friday-evening"),
    pytest.param("always", b("2026-03-28 12:00"), "2d", b("2026-03-30 13:00"), id="always-is-real-time"),
]


@pytest.mark.parametrize(("calendar", "start", "duration", "expected"), ADD)
def test_add(calendar: str, start: datetime, duration: str, expected: datetime) -> None:
    cal = CALENDARS[calendar]
    result = cal.add(start, business_duration(duration, cal))
    assert result == expected
    assert result.tzinfo is timezone.utc


# -- elapsed -------------------------------------------------------------------

ELAPSED = [
    pytest.param("berlin", b("2026-01-09 17:00"), b("2026-01-12 09:00"), 2 * H, id="over-the-weekend"),
    pytest.param("berlin", b("2026-01-07 10:00"), b("2026-01-07 10:00"), timedelta(0), id="same-instant"),
    pytest.param("berlin", b("2026-01-08 10:00"), b("2026-01-07 10:00"), timedelta(0), id="end-before-start"),
    pytest.param("berlin", b("2026-01-10 00:00"), b("2026-01-12 00:00"), timedelta(0), id="a-weekend"),
    pytest.param("berlin", b("2026-01-07 06:00"), b("2026-01-07 23:00"), 10 * H, id="a-whole-window"),
    pytest.param("berlin", b("2026-01-07 17:59:59"), u("2026-01-07 17:00"), timedelta(seconds=1), id="mixed-zones"),
    pytest.param("berlin", b("2026-12-21 00:00"), b("2026-12-28 00:00"), 40 * H, id="christmas-week"),
    pytest.param("berlin", b("2026-01-01 00:00"), b("2027-01-01 00:00"), 2600 * H, id="a-whole-year"),
    pytest.param("berlin_daily", b("2026-03-29 00:00"), b("2026-03-30 00:00"), 10 * H, id="spring-day-window"),
    pytest.param("berlin_daily", b("2026-10-25 00:00"), b("2026-10-26 00:00"), 10 * H, id="autumn-day-window"),
    pytest.param("berlin_full", b("2026-03-29 00:00"), b("2026-03-30 00:00"), 23 * H, id="spring-day-23h"),
    pytest.param("berlin_full", b("2026-10-25 00:00"), b("2026-10-26 00:00"), 25 * H, id="autumn-day-25h"),
    pytest.param("berlin_full", b("2026-03-26 00:00"), b("2026-04-02 00:00"), 167 * H, id="week-over-spring"),
    pytest.param("berlin_full", b("2026-01-01 00:00"), b("2027-01-01 00:00"), 364 * 24 * H, id="year-less-holiday"),
    pytest.param("berlin_full", b("2026-03-01 00:00"), b("2026-05-01 00:00"), 1463 * H, id="months-over-spring"),
    pytest.param("berlin_full", b("2026-10-01 00:00"), b("2026-12-01 00:00"), 1465 * H, id="months-over-autumn"),
    pytest.param("berlin_night", b("2026-03-29 00:00"), b("2026-03-30 00:00"), 3 * H, id="night-spring-3h"),
    pytest.param("berlin_night", b("2026-10-25 00:00"), b("2026-10-26 00:00"), 5 * H, id="night-autumn-5h"),
    pytest.param("berlin_night", b("2026-03-01 00:00"), b("2026-05-01 00:00"), 243 * H, id="nights-over-spring"),
    pytest.param("berlin_gap", b("2026-03-29 00:00"), b("2026-03-30 00:00"), H, id="skipped-opening"),
    pytest.param("berlin_gap", b("2026-10-25 00:00"), b("2026-10-26 00:00"), 2.5 * H, id="repeated-opening"),
    pytest.param("new_york", ny("2026-03-06 16:00"), ny("2026-03-09 10:00"), 2 * H, id="new-york-spring-forward"),
    pytest.param("new_york", ny("2026-10-30 16:00"), ny("2026-11-02 10:00"), 2 * H, id="new-york-fall-back"),
    pytest.param("always", b("2026-03-29 00:00"), b("2026-03-30 00:00"), 23 * H, id="always-is-real-time"),
]


@pytest.mark.parametrize(("calendar", "start", "end", "expected"), ELAPSED)
def test_elapsed(calendar: str, start: datetime, end: datetime, expected: timedelta) -> None:
    assert CALENDARS[calendar].elapsed(start, end) == expected


# a grid of starts around both DST changes and Christmas, on odd minutes, and durations short and long
STARTS = [first + k * timedelta(hours=7, minutes=13)
          for first in (u("2026-03-23 00:00"), u("2026-10-19 00:00"), u("2026-12-21 00:00")) for k in range(47)]
DURATIONS = [TICK, timedelta(seconds=1), timedelta(minutes=59), H, 8 * H, 10 * H, 10 * H + timedelta(minutes=1),
             37 * H, 100 * H, 300 * H, 1000 * H]


@pytest.mark.parametrize("calendar", CALENDARS)
def test_elapsed_inverts_add_and_add_is_earliest(calendar: str) -> None:
    cal = CALENDARS[calendar]
    for start in STARTS:
        assert cal.add(start, timedelta(0)) == start
        for duration in DURATIONS:
            deadline = cal.add(start, duration)
            assert cal.elapsed(start, deadline) == duration, (start, duration)
            assert cal.elapsed(start, deadline - TICK) < duration, (start, duration)
            assert cal.is_open(deadline - TICK), (start, duration)


def _open_by_wall_clock(cal: Calendar, moment: datetime) -> bool:
    """An independent oracle: the local wall-clock time, compared field by field."""
    local = moment.astimezone(cal.zone)
    end = cal.end if cal.end != time(0) else time.max
    return local.weekday() in cal.days and local.date() not in cal.holidays and cal.start <= local.time() < end


@pytest.mark.parametrize(("calendar", "first", "days"), [
    ("berlin", u("2026-03-25 00:00"), 9),
    ("berlin", u("2026-10-21 00:00"), 9),
    ("berlin", u("2026-12-22 00:00"), 9),
    ("berlin_daily", u("2026-03-27 00:00"), 4),
    ("berlin_full", u("2026-10-23 00:00"), 4),
    ("berlin_full", u("2025-12-30 00:00"), 4),
    ("berlin_full", u("2026-10-10 00:00"), 24),
    ("berlin_night", u("2026-03-20 00:00"), 20),
    ("berlin_night", u("2026-10-15 00:00"), 20),
    ("berlin_gap", u("2026-03-25 00:00"), 8),  # in autumn it opens at the first 02:30 and stays open: no oracle
    ("new_york", u("2026-03-05 00:00"), 6),
    ("new_york", u("2026-10-29 00:00"), 6),
])
def test_agrees_with_counting_quarter_hours(calendar: str, first: datetime, days: int) -> None:
    cal = CALENDARS[calendar]
    quarter = timedelta(minutes=15)
    counted = timedelta(0)
    for k in range(days * 96):
        moment = first + k * quarter
        assert cal.elapsed(first, moment) == counted, moment
        assert cal.is_open(moment) is _open_by_wall_clock(cal, moment), moment
        counted += quarter if _open_by_wall_clock(cal, moment) else timedelta(0)


def test_long_durations_jump_week_by_week(monkeypatch: pytest.MonkeyPatch) -> None:
    cal = CALENDARS["berlin"]
    windows: list[date] = []
    real = Calendar._window
    monkeypatch.setattr(Calendar, "_window", lambda self, day: windows.append(day) or real(self, day))
    assert cal.add(b("2026-01-01 00:00"), business_duration("260d", cal)) == b("2026-12-31 18:00")
    assert 0 < len(windows) < 40  # the year's 260 working days, nearly all skipped a week at a time
    windows.clear()
    assert cal.elapsed(b("2026-01-01 00:00"), b("2027-01-01 00:00")) == 2600 * H
    assert len(windows) < 40


def test_always_is_plain_arithmetic() -> None:
    always = Calendar.always()
    for start in STARTS:
        assert always.is_open(start)
        for duration in DURATIONS:
            assert always.add(start, duration) == start + duration
            assert always.elapsed(start, start + duration) == duration
            assert always.elapsed(start + duration, start) == timedelta(0)


# -- is_open -------------------------------------------------------------------

@pytest.mark.parametrize(("calendar", "moment", "expected"), [
    ("berlin", b("2026-01-07 08:00"), True),  # opening is inside
    ("berlin", b("2026-01-07 07:59:59.999999"), False),
    ("berlin", b("2026-01-07 17:59:59.999999"), True),
    ("berlin", b("2026-01-07 18:00"), False),  # closing is outside
    ("berlin", u("2026-01-07 07:00"), True),  # 08:00 in Berlin in winter
    ("berlin", u("2026-07-01 06:00"), True),  # 08:00 in Berlin in summer
    ("berlin", u("2026-07-01 05:59"), False),
    ("berlin", b("2026-01-10 12:00"), False),  # Saturday
    ("berlin", b("2026-12-25 12:00"), False),  # Christmas
    ("new_york", ny("2026-03-09 09:00"), True),
    ("new_york", u("2026-03-09 12:59"), False),  # 08:59 EDT
    ("berlin_full", b("2025-12-31 23:59:59"), True),
    ("berlin_full", b("2026-01-01 12:00"), False),
    ("berlin_full", b("2026-01-02 00:00"), True),
    ("berlin_gap", u("2026-03-29 00:59:59"), False),
    ("berlin_gap", u("2026-03-29 01:00"), True),  # 02:30 never comes: it opens when the clocks jump to 03:00
    ("berlin_gap", u("2026-10-25 00:29"), False),
    ("berlin_gap", u("2026-10-25 00:30"), True),  # the first 02:30
    ("berlin_gap", u("2026-10-25 01:15"), True),  # 02:15 again, after the clocks went back: still open
    ("always", b("2026-12-25 03:00"), True),
])
def test_is_open(calendar: str, moment: datetime, expected: bool) -> None:
    assert CALENDARS[calendar].is_open(moment) is expected


# -- configuration -------------------------------------------------------------

def test_from_config_reads_the_table() -> None:
    cal = CALENDARS["berlin"]
    assert (cal.zone, cal.days, cal.start, cal.end) == (ZoneInfo("Europe/Berlin"), frozenset(range(5)),
                                                        time(8), time(18))
    assert cal.holidays == {date(2026, 12, 25), date(2026, 12, 26)}
    assert cal.day_length == 10 * H


def test_from_config_takes_toml_dates_and_defaults() -> None:
    raw = tomllib.loads('timezone = "Europe/Berlin"\nhours = "08:00-18:00"\nholidays = [2026-12-25, 2026-12-26]')
    assert Calendar.from_config(raw) == CALENDARS["berlin"]  # days default to Monday to Friday
    plain = Calendar.from_config({"timezone": "UTC", "days": ["Sat", " SUN"], "hours": "00:00-24:00"})
    assert (plain.days, plain.start, plain.end, plain.holidays) == ({5, 6}, time(0), time(0), frozenset())
    assert plain.day_length == 24 * H


BASE = {"timezone": "Europe/Berlin", "days": ["mon", "tue", "wed"], "hours": "08:00-18:00",
        "holidays": ["2026-12-25"]}
REMOVE = object()


@pytest.mark.parametrize(("change", "key", "problem"), [
    ({"timezone": "Mars/Olympus"}, "timezone", "unknown time zone 'Mars/Olympus'"),
    ({"timezone": "Europe"}, "timezone", "unknown time zone"),
    ({"timezone": "../../etc/passwd"}, "timezone", "unknown time zone"),
    ({"timezone": ""}, "timezone", "expected a zone name"),
    ({"timezone": 1}, "timezone", "expected a zone name"),
    ({"timezone": REMOVE}, "timezone", "expected a zone name"),
    ({"days": ["mon", "tue", "fry"]}, "days[2]", "unknown day 'fry'"),
    ({"days": ["mon", 3]}, "days[1]", "unknown day 3"),
    ({"days": []}, "days", "at least one working day"),
    ({"days": "mon-fri"}, "days", "expected a list"),
    ({"hours": "18:00-08:00"}, "hours", "no overnight windows"),
    ({"hours": "08:00-08:00"}, "hours", "must end after it starts"),
    ({"hours": "8-18"}, "hours", "expected a daily window"),
    ({"hours": "08:00-25:00"}, "hours", "not a time of day"),
    ({"hours": "08:60-18:00"}, "hours", "not a time of day"),
    ({"hours": "24:00-24:00"}, "hours", "not a time of day"),
    ({"hours": REMOVE}, "hours", "expected a daily window"),
    ({"holidays": ["2026-13-01"]}, "holidays[0]", "not a date '2026-13-01'"),
    ({"holidays": ["2026-12-25", "soon"]}, "holidays[1]", "not a date 'soon'"),
    ({"holidays": ["2026-W52-5"]}, "holidays[0]", "expected YYYY-MM-DD"),
    ({"holidays": [datetime(2026, 12, 25)]}, "holidays[0]", "not a date"),
    ({"holidays": "2026-12-25"}, "holidays", "expected a list"),
    ({"weekdays": ["mon"]}, "weekdays", "unknown key"),
])
def test_from_config_errors_name_the_key(change: dict[str, Any], key: str, problem: str) -> None:
    raw = {k: v for k, v in {**BASE, **change}.items() if v is not REMOVE}
    with pytest.raises(ValueError) as caught:
        Calendar.from_config(raw)
    assert isinstance(caught.value, CalendarConfigError) and caught.value.key == key
    assert str(caught.value).startswith(f"{key}: ") and problem in str(caught.value)


@pytest.mark.parametrize(("days", "start", "end"), [
    (frozenset(), time(8), time(18)),
    (frozenset({7}), time(8), time(18)),
    (frozenset({0}), time(18), time(8)),
])
def test_a_calendar_made_directly_is_checked_too(days: frozenset[int], start: time, end: time) -> None:
    with pytest.raises(ValueError):
        Calendar(ZoneInfo("UTC"), days, start, end)


# -- misuse --------------------------------------------------------------------

def test_naive_datetimes_are_refused() -> None:
    cal, naive = CALENDARS["berlin"], datetime(2026, 1, 7, 10)
    with pytest.raises(ValueError, match="start must be a timezone-aware datetime"):
        cal.add(naive, H)
    with pytest.raises(ValueError, match="end must be a timezone-aware datetime"):
        cal.elapsed(b("2026-01-07 10:00"), naive)
    with pytest.raises(ValueError, match="at must be a timezone-aware datetime"):
        cal.is_open(naive)


def test_negative_durations_are_refused() -> None:
    with pytest.raises(ValueError, match="must not be negative"):
        CALENDARS["berlin"].add(b("2026-01-07 10:00"), -H)


def test_a_deadline_beyond_ten_years_is_refused() -> None:
    with pytest.raises(ValueError, match="does not fit in the ten years"):
        CALENDARS["berlin"].add(b("2026-01-07 10:00"), business_duration("3000d", CALENDARS["berlin"]))
    assert CALENDARS["berlin"].add(b("2026-01-07 10:00"), business_duration("2000d", CALENDARS["berlin"]))


def test_a_running_total_agrees_with_elapsed_everywhere():
    import random

    from maildesk.sla.totals import RunningTotal

    calendar = Calendar.from_config({"timezone": "Europe/Berlin", "hours": "08:00-18:00",
                                     "holidays": ["2026-12-25", "2026-12-26"]})
    total = RunningTotal(calendar)
    rng = random.Random(5)
    base = datetime(2026, 1, 1, tzinfo=timezone.utc)
    for _ in range(2000):  # across both DST changes, holidays and weekends; later starts first, then earlier
        start = base + timedelta(seconds=rng.randrange(365 * 86400))
        end = start + timedelta(seconds=rng.randrange(30 * 86400))
        assert total.elapsed(start, end) == calendar.elapsed(start, end)
    assert total.elapsed(base + timedelta(days=3), base) == timedelta(0)
