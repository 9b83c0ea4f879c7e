"""Business-time arithmetic for SLA clocks: working days, a daily window, holidays, and DST."""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

UTC = timezone.utc
ZERO = timedelta(0)
SECOND = timedelta(seconds=1)
ONE_DAY = timedelta(days=1)
WEEK = timedelta(days=7)
MIDNIGHT = time(0)
SEARCH_LIMIT = timedelta(days=3653)  # about ten years of calendar: a deadline further out is an error
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
KEYS = ("timezone", "days", "hours", "holidays")
_N = r"(?:(\d{1,6})\s*%s)?\s*"  # six digits at most: no sum of them can overflow a timedelta
_DURATION = re.compile(r"\s*" + "".join(_N % unit for unit in "dhms"), re.IGNORECASE)
_HOURS = re.compile(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*")
_DATE = re.compile(r"\s*\d{4}-\d{2}-\d{2}\s*")


class CalendarConfigError(ValueError):
    """A ``[business_hours]`` setting is wrong: ``key`` names it (``"days[2]"``), ``problem`` says how."""

    def __init__(self, key: str, problem: str) -> None:
        self.key = key
        self.problem = problem
        super().__init__(f"{key}: {problem}")


def parse_duration(text: str) -> timedelta:
    """``"90m"``, ``"4h"``, ``"1d 4h"``, ``"1h30m"``, ``"45s"`` as a timedelta; a day is 24 hours here."""
    days, rest = _parts(text)
    return timedelta(days=days) + rest


def business_duration(text: str, calendar: Calendar) -> timedelta:
    """A duration of business time: a day is one daily window of ``calendar`` ("2d" is 20h for 08:00-18:00)."""
    days, rest = _parts(text)
    return days * calendar.day_length + rest


def _parts(text: str) -> tuple[int, timedelta]:
    """A duration split into its whole days and the rest; ValueError when it is not one."""
    match = _DURATION.fullmatch(text) if isinstance(text, str) else None
    if match is None or not any(match.groups()):
        raise ValueError(f"invalid duration {text!r}: expected whole numbers with units d, h, m, s in that order, "
                         "e.g. '90m', '4h', '1d 4h', '1h30m'")
    days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return days, timedelta(hours=hours, minutes=minutes, seconds=seconds)


@dataclass(frozen=True)
class Calendar:
    """When business time runs: from ``start`` to ``end`` local time on working ``days`` that are not holidays.

    ``days`` are numbered 0 (Monday) to 6 (Sunday). An ``end`` of midnight means the end of the day
    (configured as "24:00"). A window includes its opening instant and excludes its closing one.
    """

    zone: ZoneInfo
    days: frozenset[int]
    start: time
    end: time
    holidays: frozenset[date] = frozenset()

    def __post_init__(self) -> None:
        if not self.days or not self.days <= frozenset(range(7)):
            raise CalendarConfigError("days", "need at least one working day, numbered 0 (Monday) to 6 (Sunday)")
        if self.end != MIDNIGHT and self.start >= self.end:
            raise CalendarConfigError("hours", f"the window must end after it starts, not {self.start}-{self.end}")

    @classmethod
    def from_config(cls, raw: Mapping[str, Any]) -> Calendar:
        """A calendar from a ``[business_hours]`` table; CalendarConfigError (a ValueError) names the key."""
        unknown = sorted(str(k) for k in raw if k not in KEYS)
        if unknown:
            raise CalendarConfigError(unknown[0], f"unknown key (expected {', '.join(KEYS)})")
        start, end = _hours(raw.get("hours"))
        return cls(_zone(raw.get("timezone")), _days(raw.get("days", list(DAY_NAMES[:5]))), start, end,
                   _holidays(raw.get("holidays", [])))

    @classmethod
    def always(cls) -> Calendar:
        """The 24x7 calendar: every instant counts, and a day is 24 hours."""
        return cls(ZoneInfo("UTC"), frozenset(range(7)), MIDNIGHT, MIDNIGHT)

    @cached_property
    def day_length(self) -> timedelta:
        """One business day: the daily window as configured (a DST change does not alter it)."""
        end = datetime.combine(date.min + ONE_DAY if self.end == MIDNIGHT else date.min, self.end)
        return end - datetime.combine(date.min, self.start)

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """The earliest instant, in UTC, by which ``duration`` of business time has run since ``start``.

        A start outside business hours counts from the next opening. The result can be a closing
        instant: Friday 17:00 + 1h is Friday 18:00, not Monday's opening. A zero ``duration`` gives
        ``start`` itself (in UTC), open or not.
        """
        moment = _aware(start, "start")
        if duration < ZERO:
            raise ValueError(f"duration must not be negative: {duration}")
        if not duration or self._continuous:
            return moment + duration
        remaining = duration
        first = day = self._local_date(moment)
        limit = first + SEARCH_LIMIT
        while day < limit:
            week = self._week(day) if day > first and remaining > len(self.days) * self.day_length else None
            if week is not None and remaining > week:
                remaining -= week  # every window of these seven days is used up: skip them at once
                day += WEEK
                continue
            if self._working(day):
                opening, closing = self._window(day)
                begin = max(opening, moment)
                if remaining <= closing - begin:
                    return begin + remaining
                remaining -= max(ZERO, closing - begin)
            day += ONE_DAY
        raise ValueError(f"{duration} of business time does not fit in the ten years after {moment.isoformat()}")

    def elapsed(self, start: datetime, end: datetime) -> timedelta:
        """The business time between two instants; zero when ``end`` is not after ``start``."""
        begin, finish = _aware(start, "start"), _aware(end, "end")
        if finish <= begin:
            return ZERO
        if self._continuous:
            return finish - begin
        total = ZERO
        first = day = self._local_date(begin)
        last = self._local_date(finish)
        while day <= last:
            week = self._week(day) if first < day and day + WEEK <= last else None
            if week is not None:
                total += week
                day += WEEK
                continue
            if self._working(day):
                opening, closing = self._window(day)
                total += max(ZERO, min(closing, finish) - max(opening, begin))
            day += ONE_DAY
        return total

    def is_working_day(self, day: date) -> bool:
        """Whether ``day`` (a local date) is one of the working days and no holiday."""
        return self._working(day)

    def is_open(self, at: datetime) -> bool:
        """Whether business time runs at ``at``: opening time included, closing time not."""
        moment = _aware(at, "at")
        day = self._local_date(moment)
        if not self._working(day):
            return False
        opening, closing = self._window(day)
        return opening <= moment < closing

    @cached_property
    def _closed(self) -> tuple[date, ...]:
        """The holidays that fall on working days, in order: the only ones that take time away."""
        return tuple(sorted(d for d in self.holidays if d.weekday() in self.days))

    @cached_property
    def _continuous(self) -> bool:
        """Every instant counts: plain arithmetic will do."""
        return len(self.days) == 7 and self.start == self.end == MIDNIGHT and not self._closed

    @cached_property
    def _folded(self) -> dict[time, time]:
        """Each window bound read with fold=1, as after a clock change: it differs where clocks skip it."""
        return {clock: clock.replace(fold=1) for clock in (self.start, self.end, MIDNIGHT)}

    def _local_date(self, moment: datetime) -> date:
        return moment.astimezone(self.zone).date()

    def _working(self, day: date) -> bool:
        return day.weekday() in self.days and day not in self.holidays

    def _window(self, day: date) -> tuple[datetime, datetime]:
        """The day's window in UTC: local bounds converted one by one, so a DST change moves them."""
        closing = self._instant(day + ONE_DAY, MIDNIGHT) if self.end == MIDNIGHT else self._instant(day, self.end)
        return self._instant(day, self.start), closing

    def _instant(self, day: date, clock: time) -> datetime:
        """When the local clock first reads ``clock`` on ``day``, in UTC; in a DST gap, the moment of the jump."""
        local, later = datetime.combine(day, clock, self.zone), datetime.combine(day, self._folded[clock], self.zone)
        if self.zone.utcoffset(local) >= self.zone.utcoffset(later):
            return local.astimezone(UTC)  # the time exists; if it repeats, fold 0 is its first occurrence
        naive, low = datetime.combine(day, clock), later.astimezone(UTC)  # skipped: search between the readings
        lo, hi = 0, int((local.astimezone(UTC) - low).total_seconds())
        while lo < hi:
            mid = (lo + hi) // 2
            if (low + mid * SECOND).astimezone(self.zone).replace(tzinfo=None) >= naive:
                hi = mid
            else:
                lo = mid + 1
        return low + hi * SECOND

    def _week(self, day: date) -> timedelta | None:
        """Business time in the seven days from ``day``; None when the zone's offset changes in them.

        The same offset at all eight local midnights means no transition between them (no tzdata
        zone shifts and shifts back within three days), so every window has its nominal length.
        """
        midnight = datetime.combine(day, MIDNIGHT)
        offset = self.zone.utcoffset(midnight)
        for _ in range(7):
            midnight += ONE_DAY
            if self.zone.utcoffset(midnight) != offset:
                return None
        closed = bisect_left(self._closed, day + WEEK) - bisect_left(self._closed, day)
        return len(self.days) * self.day_length - closed * self.day_length


def _aware(value: datetime, name: str) -> datetime:
    """``value`` in UTC; ValueError unless it is a timezone-aware datetime."""
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, not {value!r}")
    return value.astimezone(UTC)


def _zone(value: Any) -> ZoneInfo:
    if not isinstance(value, str) or not value.strip():
        raise CalendarConfigError("timezone", f'expected a zone name such as "Europe/Berlin", not {value!r}')
    try:
        return ZoneInfo(value.strip())
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise CalendarConfigError("timezone", f"unknown time zone {value!r}") from None


def _days(value: Any) -> frozenset[int]:
    if not isinstance(value, (list, tuple)):
        raise CalendarConfigError("days", f'expected a list of day names such as ["mon", "tue"], not {value!r}')
    if not value:
        raise CalendarConfigError("days", "at least one working day is needed")
    days: set[int] = set()
    for i, name in enumerate(value):
        key = name.strip().lower() if isinstance(name, str) else ""
        if key not in DAY_NAMES:
            raise CalendarConfigError(f"days[{i}]", f"unknown day {name!r} (expected one of {', '.join(DAY_NAMES)})")
        days.add(DAY_NAMES.index(key))
    return frozenset(days)


def _hours(value: Any) -> tuple[time, time]:
    """``"08:00-18:00"`` as two times; an end of "24:00" is midnight, meaning the end of the day."""
    match = _HOURS.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise CalendarConfigError("hours", f'expected a daily window such as "08:00-18:00", not {value!r}')
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h1 > 23 or m1 > 59 or m2 > 59 or h2 > 24 or (h2 == 24 and m2):
        raise CalendarConfigError("hours", f"not a time of day in {value!r}")
    if h1 * 60 + m1 >= h2 * 60 + m2:
        raise CalendarConfigError("hours", f"the window must end after it starts on the same day "
                                           f"(no overnight windows), not {value!r}")
    return time(h1, m1), time(h2 % 24, m2)


def _holidays(value: Any) -> frozenset[date]:
    """TOML dates, or strings written YYYY-MM-DD."""
    if not isinstance(value, (list, tuple)):
        raise CalendarConfigError("holidays", f'expected a list of dates such as ["2026-12-25"], not {value!r}')
    holidays: set[date] = set()
    for i, item in enumerate(value):
        day = item if isinstance(item, date) and not isinstance(item, datetime) else None
        if isinstance(item, str) and _DATE.fullmatch(item):
            with suppress(ValueError):
                day = date.fromisoformat(item.strip())
        if day is None:
            raise CalendarConfigError(f"holidays[{i}]", f"not a date {item!r} (expected YYYY-MM-DD)")
        holidays.add(day)
    return frozenset(holidays)
