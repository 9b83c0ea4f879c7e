"""KPIs from a hand-built history: every figure checked against the value computed by hand."""

from __future__ import annotations

from datetime import timedelta
from email import message_from_bytes, policy

from desktools import START, harness
from mailfactory import make_message
from maildesk.report.kpi import percentile, report

TIERS = [{"name": "L1", "agents": ["alice@example.test"]}, {"name": "L2", "agents": ["carol@example.test"]}]


def reply_to(h, kind, to, ticket_id):
    row = h.store.db.execute("SELECT data FROM outbox WHERE kind = ? AND recipient = ? AND ticket_id = ?"
                             " ORDER BY id DESC", [kind, to, ticket_id]).fetchone()
    msg = message_from_bytes(bytes(row[0]), policy=policy.default)
    return str(msg["Reply-To"].addresses[0].addr_spec)


def agent(h, who, kind, ticket_id, body, *, after):
    h.desk.clock.now = START + after
    h.take(make_message(sender=f"{who} <{who}@example.test>", to=reply_to(h, kind, f"{who}@example.test", ticket_id),
                        subject="Re: x", body=body))


def customer(h, who, ticket_id, body, *, after):
    h.desk.clock.now = START + after
    h.take(make_message(sender=f"{who}@customer.example", to=reply_to(h, "acknowledgement",
                                                                        f"{who}@customer.example", ticket_id),
                        subject="Re: x", body=body))


def test_kpis_match_the_hand_computed_figures(tmp_path):
    h = harness(tmp_path, tiers=TIERS)
    a, b, c = (h.take(make_message(sender=f"{n}@customer.example", subject=f"case {n}")).ticket_id
               for n in ("ann", "ben", "cid"))
    agent(h, "alice", "alert", a, "#take\n\nPlease restart the router.\n", after=timedelta(minutes=30))
    agent(h, "alice", "alert", a, "#resolve router restarted\n", after=timedelta(hours=2))
    customer(h, "ann", a, "5\n", after=timedelta(hours=2, minutes=10))
    agent(h, "alice", "alert", b, "#escalate L2 needs a firmware look\n", after=timedelta(hours=1))
    agent(h, "carol", "escalation", b, "#take\n\nWhich firmware do you run?\n", after=timedelta(hours=3))
    agent(h, "carol", "escalation", b, "#resolve firmware updated\n", after=timedelta(hours=5))
    customer(h, "ben", b, "Still broken after the update.\n", after=timedelta(hours=6))
    facts = h.store.reports.facts(since=START - timedelta(days=1), until=START + timedelta(days=1))
    kpi = report(facts, tiers=["L1", "L2"], now=START + timedelta(hours=6))
    overall = kpi["overall"]
    assert (overall["tickets_in"], overall["resolved"]) == (3, 2)
    assert overall["first_response"] == {"median_seconds": 6300, "p90_seconds": 10800, "count": 2}
    assert overall["resolution"] == {"median_seconds": 12600, "p90_seconds": 18000, "count": 2}
    assert overall["first_contact_resolution_rate"] == 0.5  # ann's: L1, one reply, no escalation, no reopen
    assert overall["escalation_rate"] == 0.3333 and overall["reopen_rate"] == 0.5
    assert overall["backlog_by_age"] == {"under 1 day": 2, "1-3 days": 0, "3-7 days": 0, "over 7 days": 0}
    assert overall["csat"] == {"average": 5.0, "response_rate": 0.5}
    assert set(kpi["agents"]) == {"alice@example.test", "carol@example.test"}
    assert kpi["agents"]["carol@example.test"]["resolution"]["median_seconds"] == 18000
    assert kpi["tiers"]["L1"]["tickets_in"] == 3 and c


def test_percentile_is_the_nearest_rank():
    assert percentile([], 0.9) is None
    assert percentile([5], 0.9) == 5
    assert percentile(list(range(1, 11)), 0.9) == 9 and percentile(list(range(1, 11)), 0.5) == 5


def test_the_report_command(tmp_path):
    import json

    from click.testing import CliRunner

    from maildesk.cli import cli

    runner = CliRunner()
    assert runner.invoke(cli, ["init", str(tmp_path)]).exit_code == 0
    config = str(tmp_path / "maildesk.toml")
    (tmp_path / "var" / "inbox" / "new").mkdir(parents=True)
    (tmp_path / "var" / "inbox" / "new" / "1.eml").write_bytes(make_message())
    assert runner.invoke(cli, ["--config", config, "run", "--once"]).exit_code == 0
    out = json.loads(runner.invoke(cli, ["--config", config, "report", "--json"]).output)
    assert out["overall"]["tickets_in"] == 1 and out["overall"]["backlog_by_age"]["under 1 day"] == 1
    human = runner.invoke(cli, ["--config", config, "report", "--html", str(tmp_path / "kpi.html")]).output
    assert human.splitlines()[2].startswith("overall") and "open backlog by age: 1 under 1 day" in human
    assert (tmp_path / "kpi.html").read_text().count("<svg") == 4
    assert runner.invoke(cli, ["--config", config, "report", "--since", "yesterday"]).exit_code == 2


def test_sla_compliance_counts_the_tickets_each_clock_ran_for(tmp_path):
    h = harness(tmp_path, tiers=TIERS, sla={"normal": {"first_response": "1h", "business_hours": False}},
                timers={"escalate_on_breach": False})
    from maildesk.sla.timers import run_timers
    from maildesk.stage import Context

    tickets = [h.take(make_message(sender=f"p{i}@customer.example", subject=f"case {i}")).ticket_id for i in range(4)]
    agent(h, "alice", "alert", tickets[0], "#take\n\nOn it.\n", after=timedelta(minutes=20))
    h.desk.clock.now = START + timedelta(hours=2)
    run_timers(Context(h.desk, h.store))  # three first responses breached
    facts = h.store.reports.facts(since=START - timedelta(days=1), until=START + timedelta(days=1),
                                  clocks_of=lambda sla, priority: (("first_response",), None))
    assert report(facts, tiers=["L1"], now=h.desk.clock())["overall"]["sla_compliance"] == {"first_response": 0.25}


def test_the_html_report_is_one_page_with_its_charts_and_nothing_fetched(tmp_path):
    import re

    from maildesk.report.html import page

    h = harness(tmp_path, tiers=TIERS)
    for who in ("ann", "<b>ben</b>"):
        h.take(make_message(sender=f"x{len(who)}@customer.example", subject=f"case {who}"))
    facts = h.store.reports.facts(since=START - timedelta(days=1), until=START + timedelta(days=1))
    html = page(facts, report(facts, tiers=["L1", "L2"], now=START), title="Desk <KPIs>")
    assert html.count("<svg") == 4 and "Desk &lt;KPIs&gt;" in html
    assert "Tickets created per day" in html and "Open backlog by tier" in html
    assert not re.search(r'(src|href)="?https?:', html)  # self-contained: nothing to load
    assert re.search(r"<title>L1: 2</title>", html)  # two open tickets in L1


def test_times_count_in_business_hours_where_the_policy_says_so():
    from datetime import datetime, timezone

    from maildesk.report.kpi import TicketFacts
    from maildesk.sla.calendar import Calendar

    berlin = Calendar.from_config({"timezone": "Europe/Berlin", "hours": "08:00-18:00"})
    friday = datetime(2026, 11, 6, 16, 0, tzinfo=timezone.utc)  # 17:00 in Berlin
    monday = datetime(2026, 11, 9, 8, 0, tzinfo=timezone.utc)  # 09:00 in Berlin

    def ticket(calendar):
        return TicketFacts(id=1, created_at=friday, first_tier="L1", status="open", first_response_at=monday,
                           resolved_at=None, resolver=None, replies=1, escalations=0, reopened=False, csat=None,
                           calendar=calendar)

    business = report([ticket(berlin)], tiers=["L1"], now=monday)["overall"]["first_response"]
    wall = report([ticket(None)], tiers=["L1"], now=monday)["overall"]["first_response"]
    assert business["median_seconds"] == 2 * 3600 and wall["median_seconds"] == 64 * 3600
