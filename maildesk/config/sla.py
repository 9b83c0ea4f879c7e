"""The [business_hours], [sla.NAME] and [timers] sections: what the desk promises, and when it reminds."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from maildesk.config.schema import Option, Problems, read_table, show
from maildesk.sla.calendar import Calendar, CalendarConfigError, business_duration, parse_duration

CLOCKS: tuple[str, ...] = ("first_response", "next_update", "resolution")


@dataclass(frozen=True)
class SlaPolicy:
    """One ``[sla.NAME]``: how long each clock may run, counted in business time or around the clock."""

    name: str
    first_response: timedelta | None = None
    next_update: timedelta | None = None
    resolution: timedelta | None = None
    business_hours: bool = True

    def limit(self, clock: str) -> timedelta | None:
        return getattr(self, clock) if clock in CLOCKS else None


@dataclass(frozen=True)
class TimersConfig:
    warn_at: float = 0.8  # warn the owner (or the tier) at this share of any SLA clock
    escalate_on_breach: bool = True  # a breached ticket moves to the next tier with an automatic handover
    customer_update_every: timedelta | None = None  # "still working on it" after this silence (None: never)
    auto_close_resolved_after: timedelta | None = None  # resolved tickets close after this (None: never)


@dataclass(frozen=True)
class SlaConfig:
    """Every policy by name (a routing rule's ``then.sla``, else the ticket's priority), the business
    calendar, and the timers' settings."""

    calendar: Calendar = field(default_factory=Calendar.always)
    policies: Mapping[str, SlaPolicy] = field(default_factory=dict)
    timers: TimersConfig = TimersConfig()

    @property
    def active(self) -> bool:
        """Whether any timer can ever be due: a policy, customer updates or auto-close."""
        return bool(self.policies or self.timers.customer_update_every or self.timers.auto_close_resolved_after)

    def calendar_for(self, policy: SlaPolicy) -> Calendar:
        return self.calendar if policy.business_hours else Calendar.always()


POLICY = {
    "first_response": Option(str, ""),
    "next_update": Option(str, ""),
    "resolution": Option(str, ""),
    "business_hours": Option(bool, True),
}

TIMERS = {
    "warn_at": Option((float, int), 0.8),
    "escalate_on_breach": Option(bool, True),
    "customer_update_every": Option(str, "off"),
    "auto_close_resolved_after": Option(str, "off"),
}


def read_sla(data: Mapping[str, Any], problems: Problems) -> SlaConfig:
    """The three sections of the whole TOML document; every mistake is added with its key path."""
    calendar = _calendar(data.get("business_hours"), problems)
    raw = data.get("sla", {})
    policies: dict[str, SlaPolicy] = {}
    if not isinstance(raw, dict):
        problems.add("sla", f"expected tables like [sla.urgent], got {show(raw)}")
        raw = {}
    for name, table in raw.items():
        policies[name] = _policy(name, table, calendar, problems)
    return SlaConfig(calendar=calendar, policies=policies, timers=_timers(data.get("timers", {}), problems))


def _calendar(raw: Any, problems: Problems) -> Calendar:
    if raw is None:
        return Calendar.always()
    try:
        return Calendar.from_config(raw)
    except CalendarConfigError as exc:
        problems.add(f"business_hours.{exc.key}" if exc.key else "business_hours", exc.problem)
    except ValueError as exc:
        problems.add("business_hours", str(exc))
    return Calendar.always()


def _policy(name: str, raw: Any, calendar: Calendar, problems: Problems) -> SlaPolicy:
    key = f"sla.{name}"
    v = read_table(raw, key, POLICY, problems)
    counted = calendar if v["business_hours"] else Calendar.always()
    limits: dict[str, timedelta | None] = {}
    for clock in CLOCKS:
        limits[clock] = _duration(v[clock], f"{key}.{clock}", problems, counted)
    if not any(limits.values()):
        problems.add(key, f"policy {name!r} sets none of {', '.join(CLOCKS)}")
    return SlaPolicy(name, business_hours=v["business_hours"], **limits)


def _timers(raw: Any, problems: Problems) -> TimersConfig:
    v = read_table(raw, "timers", TIMERS, problems)
    if not 0 < float(v["warn_at"]) < 1:
        problems.add("timers.warn_at", f"expected a share between 0 and 1 (0.8 = at 80%), got {show(v['warn_at'])}")
    return TimersConfig(
        warn_at=float(v["warn_at"]), escalate_on_breach=v["escalate_on_breach"],
        customer_update_every=_duration(v["customer_update_every"], "timers.customer_update_every", problems),
        auto_close_resolved_after=_duration(v["auto_close_resolved_after"], "timers.auto_close_resolved_after",
                                            problems))


def _duration(text: str, key: str, problems: Problems, calendar: Calendar | None = None) -> timedelta | None:
    """A duration ("4h", "2d"; in business days on a business calendar), None when empty or "off"."""
    if not text or text == "off":
        return None
    try:
        value = business_duration(text, calendar) if calendar is not None else parse_duration(text)
    except ValueError as exc:
        problems.add(key, str(exc))
        return None
    if not value:
        problems.add(key, "must be longer than zero (leave it out, or write \"off\", to have no such clock)")
        return None
    return value
