"""The [digest] section: when each agent gets the list of their open tickets and their tiers' unowned ones."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time
from typing import Any

from maildesk.config.schema import Option, Problems, read_table, show
from maildesk.sla.calendar import DAY_NAMES, Calendar, CalendarConfigError

_CLOCK = re.compile(r"(\d{1,2}):(\d{2})")


def _clock(value: Any) -> str | None:
    match = _CLOCK.fullmatch(value) if isinstance(value, str) else None
    if value == "" or value == "off" or (match and int(match[1]) < 24 and int(match[2]) < 60):
        return None
    return f'expected a local time of day such as "08:30" (or "off"), got {show(value)}'


DIGEST = {
    "at": Option(str, "off", _clock, help='local time of day, e.g. "08:30"; "off" sends none'),
    "days": Option(list, [], help="working days; default: [business_hours] days, else mon to fri"),
    "timezone": Option(str, "", help="default: [business_hours] timezone, else UTC"),
}


@dataclass(frozen=True)
class DigestConfig:
    """At ``at`` local time on each working day of ``calendar`` (its zone, days and holidays)."""

    at: time | None = None  # None: no digests
    calendar: Calendar = field(default_factory=Calendar.always)

    def day_due(self, now: datetime) -> date | None:
        """The local working day whose digest is due at ``now``: from ``at`` until that day ends."""
        if self.at is None:
            return None
        local = now.astimezone(self.calendar.zone)
        if not self.calendar.is_working_day(local.date()) or local.time().replace(tzinfo=None) < self.at:
            return None
        return local.date()


def read_digest(data: Mapping[str, Any], business: Calendar, problems: Problems) -> DigestConfig:
    """``[digest]``; the working days and zone default to ``[business_hours]``'s, whose holidays count."""
    v = read_table(data.get("digest", {}), "digest", DIGEST, problems)
    hours = data.get("business_hours") if isinstance(data.get("business_hours"), dict) else {}
    raw = {"timezone": v["timezone"] or hours.get("timezone") or "UTC", "hours": "00:00-24:00",
           "days": v["days"] or hours.get("days") or list(DAY_NAMES[:5])}
    try:
        calendar = replace(Calendar.from_config(raw), holidays=business.holidays)
    except CalendarConfigError as exc:
        if v["timezone"] or exc.key.startswith("days") and v["days"]:
            problems.add(f"digest.{exc.key}", exc.problem)  # else [business_hours] reports it
        return DigestConfig()
    match = _CLOCK.fullmatch(v["at"]) if _clock(v["at"]) is None else None
    if match is None:  # "off", or wrong (and reported)
        return DigestConfig(calendar=calendar)
    return DigestConfig(at=time(int(match[1]), int(match[2])), calendar=calendar)
