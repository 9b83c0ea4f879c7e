"""``maildesk report``: the desk's KPIs over a period, overall, per tier and per agent."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import click

from maildesk.cli.mail import parse_now
from maildesk.cli.output import echo, json_text
from maildesk.cli.state import State
from maildesk.config.sla import CLOCKS
from maildesk.report.html import page
from maildesk.report.kpi import report as compute
from maildesk.sla.calendar import Calendar
from maildesk.sla.timers import policy_for


@click.command()
@click.option("--since", metavar="DATE", help="First day (ISO 8601; default: 30 days before --until).")
@click.option("--until", metavar="DATE", help="End, exclusive (ISO 8601; default: now).")
@click.option("--now", "now", metavar="ISO-TIME", help="Compute ages and backlog as at this time (default: now).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--html", "html_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write one self-contained HTML page with charts to this file.")
@click.pass_obj
def report(state: State, since: str | None, until: str | None, now: str | None, as_json: bool,
           html_file: Path | None) -> None:
    """KPIs of the tickets created in a period: volumes, first response and resolution times,
    first contact resolution, escalation and reopen rates, backlog by age, CSAT."""
    moment = parse_now(now) or datetime.now(timezone.utc)
    end = parse_now(until) or moment
    start = parse_now(since) or end - timedelta(days=30)
    config = state.config()
    sla = config.sla

    def clocks_of(name: str | None, priority: str) -> tuple[tuple[str, ...], Calendar | None]:
        policy = policy_for(sla, name, priority)
        if policy is None:
            return (), None
        return tuple(c for c in CLOCKS if policy.limit(c)), sla.calendar if policy.business_hours else None

    with state.store() as store:
        facts = store.reports.facts(since=start, until=end, clocks_of=clocks_of)
        due = Counter(kind.partition("@")[0] for _, kind in store.timers.due(moment, limit=1_000_000))
    kpi = compute(facts, tiers=[t.name for t in config.tiers], now=moment)
    kpi["period"] = {"since": start.isoformat(), "until": end.isoformat()}
    kpi["timers_due"] = dict(sorted(due.items()))  # what a timer pass at --now would fire
    if html_file is not None:
        title = f"{config.desk.name}: tickets created {start:%Y-%m-%d} to {end:%Y-%m-%d}"
        html_file.write_text(page(facts, kpi, title=title), encoding="utf-8")
    echo(json_text(kpi, indent=2) if as_json else text(kpi))


def _time(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes = int(seconds // 60)
    return f"{minutes // 60}h{minutes % 60:02d}m"


def _pct(rate: float | None) -> str:
    return "-" if rate is None else f"{rate:.0%}"


def _line(name: str, k: dict[str, Any]) -> str:
    return (f"{name:<28} in {k['tickets_in']:>5}  resolved {k['resolved']:>5}  "
            f"first response {_time(k['first_response']['median_seconds']):>7} (p90 "
            f"{_time(k['first_response']['p90_seconds'])})  resolution {_time(k['resolution']['median_seconds']):>7}  "
            f"FCR {_pct(k['first_contact_resolution_rate']):>4}  escalated {_pct(k['escalation_rate']):>4}  "
            f"reopened {_pct(k['reopen_rate']):>4}  CSAT {k['csat']['average'] or '-'}")


def text(kpi: dict[str, Any]) -> str:
    period = kpi["period"]
    lines = [f"tickets created {period['since'][:10]} to {period['until'][:10]}", "",
             _line("overall", kpi["overall"])]
    lines += [_line(f"tier {name}", k) for name, k in kpi["tiers"].items()]
    lines += [_line(name, k) for name, k in kpi["agents"].items()]
    if kpi["timers_due"]:
        lines += ["", "SLA timers due now: " + ", ".join(f"{n} {k.replace('_', ' ')}"
                                                         for k, n in kpi["timers_due"].items())]
    compliance = kpi["overall"]["sla_compliance"]
    if compliance:
        lines += ["", "SLA compliance: " + ", ".join(f"{c.replace('_', ' ')} {_pct(r)}" for c, r in compliance.items())]
    backlog = kpi["overall"]["backlog_by_age"]
    lines += ["", "open backlog by age: " + ", ".join(f"{n} {age}" for age, n in backlog.items())]
    return "\n".join(lines)
