"""Routing in the pipeline: rules place new tickets, record why, assign owners, ignore or hold mail."""

from __future__ import annotations

import pytest

from desktools import harness
from mailfactory import make_message, message_id_of
from maildesk.store import views

TIERS = [{"name": "L1", "agents": ["alice@example.test", "bob@example.test"]},
         {"name": "L2", "agents": ["carol@example.test", "dave@example.test"], "assign": "round-robin"},
         {"name": "L3", "agents": ["erin@example.test", "frank@example.test"], "assign": "least-open"}]
RULES = [
    {"name": "outage", "if": {"subject_matches": r"(?i)\boutage\b"},
     "then": {"tier": "L2", "priority": "urgent", "tags": ["outage"]}},
    {"name": "orders", "if": {"subject_matches": r"order (?P<order>\d+)"}, "then": {"tags": ["order-{order}"]},
     "continue": True},
    {"name": "billing", "if": {"to": ["billing@example.test"]},
     "then": {"assign": "alice@example.test", "sla": "gold", "tags": ["billing"]}},
    {"name": "database", "if": {"body_matches": "(?i)database"}, "then": {"tier": "L3"}},
    {"name": "newsletters", "if": {"header": {"List-Id": ".*vendor-news.*"}}, "then": {"action": "ignore"}},
    {"name": "suspicious", "if": {"subject_matches": "(?i)invoice attached"}, "then": {"action": "quarantine"}},
]


@pytest.fixture
def h(tmp_path):
    return harness(tmp_path, tiers=TIERS, routing={"default_priority": "normal"}, rules=RULES,
                   sla={"gold": {"first_response": "1h"}})


def show(h, ticket_id):
    return views.show_ticket(h.store.db, ticket_id)


def alerted(h, ticket_id):
    rows = h.store.db.execute("SELECT recipient FROM outbox WHERE kind = 'alert' AND ticket_id = ? ORDER BY id",
                              [ticket_id]).fetchall()
    return [r[0] for r in rows]


def test_a_matching_rule_places_the_ticket_and_records_why(h):
    out = h.take(make_message(subject="Outage in Berlin"))
    t = show(h, out.ticket_id)
    assert (t["tier"], t["priority"], t["tags"]) == ("L2", "urgent", ["outage"])
    routed, = [e for e in t["events"] if e["kind"] == "routed"]
    assert routed["detail"]["rules"] == ["outage"]
    assert "outage" in routed["detail"]["matched"][0]["conditions"][0]["why"].lower()


def test_no_rule_means_the_default_tier_and_priority_and_every_tier_agent_is_alerted(h):
    out = h.take(make_message(subject="Printer jammed"))
    t = show(h, out.ticket_id)
    assert (t["tier"], t["priority"], t["assignee"], t["tags"]) == ("L1", "normal", None, [])
    assert alerted(h, out.ticket_id) == ["alice@example.test", "bob@example.test"]


def test_continue_lets_a_later_rule_add_and_named_groups_become_tags(h):
    out = h.take(make_message(subject="order 4711 never arrived", to="billing@example.test"))
    t = show(h, out.ticket_id)
    assert t["tags"] == ["billing", "order-4711"] and t["sla"] == "gold"
    assert t["assignee"] == "alice@example.test"
    assert alerted(h, out.ticket_id) == ["alice@example.test"]  # the owner, not the whole tier


def test_round_robin_and_least_open_assignment(h):
    owners = [show(h, h.take(make_message(subject=f"outage {i}")).ticket_id)["assignee"] for i in range(3)]
    assert owners == ["carol@example.test", "dave@example.test", "carol@example.test"]
    l3 = [show(h, h.take(make_message(subject=f"db {i}", body="the database is down")).ticket_id)["assignee"]
          for i in range(3)]
    assert l3 == ["erin@example.test", "frank@example.test", "erin@example.test"]


def test_ignored_mail_is_kept_without_a_ticket_or_notice(h):
    out = h.take(make_message(subject="Vendor news", headers={"List-Id": "<vendor-news.lists.example>"}))
    assert out.status == "quarantined" and h.ticket_count() == 0
    entry = h.store.quarantine.get(out.quarantine_id)
    assert entry.kind == "ignored" and "newsletters" in entry.reason
    assert h.store.db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] == 0


def test_a_hold_rule_quarantines_a_new_ticket(h):
    out = h.take(make_message(subject="Invoice attached, open now"))
    assert out.status == "quarantined" and h.store.quarantine.get(out.quarantine_id).kind == "rule"


def test_rules_route_new_tickets_only_replies_stay_where_they_are(h):
    first = make_message(subject="Printer jammed")
    out = h.take(first)
    reply = h.take(make_message(subject="Re: outage now!", in_reply_to=message_id_of(first)))
    assert reply.ticket_id == out.ticket_id and show(h, out.ticket_id)["tier"] == "L1"
    ignored_reply = h.take(make_message(subject="Re: x", in_reply_to=message_id_of(first),
                                        headers={"List-Id": "<vendor-news.lists.example>"}))
    assert ignored_reply.status == "stored"  # an ignore rule does not drop a reply on a ticket


def test_a_rule_can_pick_its_own_acknowledgement_template(tmp_path):
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "billing.subject.j2").write_text("Billing has your request")
    (templates / "billing.txt.j2").write_text("Billing ticket {{ ticket.id }}: we answer within a day.\n")
    h = harness(tmp_path, tiers=TIERS, notify={"templates_dir": "templates"},
                rules=[{"name": "billing", "if": {"to": "billing@example.test"}, "then": {"template": "billing"}}])
    out = h.take(make_message(to="billing@example.test"))
    other = h.take(make_message(subject="something else"))
    acks = dict(h.store.db.execute("SELECT ticket_id, data FROM outbox WHERE kind = 'acknowledgement'").fetchall())
    assert b"Billing has your request" in acks[out.ticket_id]
    assert f"Billing ticket {out.ticket_id}: we answer".encode() in acks[out.ticket_id]
    assert b"Billing" not in acks[other.ticket_id]


def test_check_config_renders_a_rules_template_and_names_a_missing_one(tmp_path):
    from click.testing import CliRunner

    from maildesk.cli import cli
    from maildesk.tokens import write_secret

    (tmp_path / "templates").mkdir()
    config = tmp_path / "maildesk.toml"
    config.write_text('[desk]\naddress = "support@example.test"\n[notify]\ntemplates_dir = "templates"\n'
                      '[[rule]]\nname = "billing"\nif.to = "billing@example.test"\nthen.template = "billing"\n')
    write_secret(tmp_path / "var" / "secret.key")
    result = CliRunner().invoke(cli, ["--config", str(config), "check-config"])
    assert result.exit_code == 2 and "billing.subject.j2" in result.output
