"""Business time from a fixed day to any instant, each day's window looked up once: for reports."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from maildesk.sla.calendar import Calendar

ONE_DAY = timedelta(days=1)
ZERO = timedelta(0)


class RunningTotal:
    """``total(b) - total(a)`` equals ``calendar.elapsed(a, b)``, at two dictionary look-ups once the
    days involved are known; thousands of durations over one period then cost next to nothing."""

    def __init__(self, calendar: Calendar) -> None:
        self.calendar = calendar
        self._days: dict[date, tuple[timedelta, datetime | None, datetime | None]] = {}
        self._first: date | None = None
        self._last: date | None = None

    def total(self, moment: datetime) -> timedelta:
        """Business time from the first day asked about (or earlier) up to ``moment``."""
        day = self.calendar._local_date(moment)
        before, opening, closing = self._day(day)
        if opening is None or closing is None:
            return before
        return before + min(max(moment - opening, ZERO), closing - opening)

    def elapsed(self, start: datetime, end: datetime) -> timedelta:
        if end <= start:
            return ZERO
        if self.calendar._continuous:
            return end - start
        begin = self.total(start)  # first: it may move the origin back, never the later call
        return self.total(end) - begin

    def _day(self, day: date) -> tuple[timedelta, datetime | None, datetime | None]:
        if self._first is None or day < self._first:
            self._restart(day)
        assert self._last is not None
        while self._last < day:
            self._extend()
        return self._days[day]

    def _restart(self, day: date) -> None:
        self._days.clear()
        self._first = self._last = day
        self._days[day] = (ZERO, *self._window(day))

    def _extend(self) -> None:
        assert self._last is not None
        before, opening, closing = self._days[self._last]
        spent = closing - opening if opening is not None and closing is not None else ZERO
        self._last += ONE_DAY
        self._days[self._last] = (before + spent, *self._window(self._last))

    def _window(self, day: date) -> tuple[datetime | None, datetime | None]:
        if not self.calendar._working(day):
            return None, None
        return self.calendar._window(day)
