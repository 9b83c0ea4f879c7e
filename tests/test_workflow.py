"""The ticket state machine: each command's plan from each state, all or nothing across a mail."""

from __future__ import annotations

import pytest

from maildesk.agents.workflow import Desk, TicketState, plan
from maildesk.intake.commands import Command

DESK = Desk(("L1", "L2", "L3", "L4"), {"L1": ("alice@x.test", "bob@x.test"), "L2": ("carol@x.test",),
                                       "L3": ("dave@x.test",), "L4": ("vendor@v.test",)}, "alice@x.test")
NEW = TicketState(7, "new", "L1", "normal", None)


def cmd(name: str, args: str = "", *, tier: str | None = None, values: tuple[str, ...] = ()) -> Command:
    return Command(name=name, args=args, text=args, tier=tier, values=values, line=1)


@pytest.mark.parametrize("command, state, expected", [
    (cmd("take"), NEW, {"assignee": "alice@x.test", "status": "open"}),
    (cmd("assign", "bob@x.test"), NEW, {"assignee": "bob@x.test", "status": "open"}),
    (cmd("escalate", "router firmware", tier="next"), NEW, {"tier": "L2", "status": "open", "assignee": None}),
    (cmd("escalate", "needs L3", tier="L3"), NEW, {"tier": "L3"}),
    (cmd("escalate", "vendor bug"), TicketState(7, "open", "L3", "high", "dave@x.test"), {"tier": "L4"}),
    (cmd("deescalate", "fix found"), TicketState(7, "open", "L3", "high", "dave@x.test"), {"tier": "L2"}),
    (cmd("deescalate", "tell the customer", tier="L1"), TicketState(7, "open", "L3", "high", None), {"tier": "L1"}),
    (cmd("priority", "urgent", values=("urgent",)), NEW, {"priority": "urgent"}),
    (cmd("tag", "+vip -old", values=("+vip", "-old")), TicketState(7, "open", "L1", "normal", None, ("old",)),
     {"tags": ("vip",)}),
    (cmd("pending"), NEW, {"status": "pending"}),
    (cmd("hold", "VND-42"), TicketState(7, "open", "L4", "normal", None), {"status": "on_hold"}),
    (cmd("resolve", "reset the token"), NEW, {"status": "resolved"}),
    (cmd("close"), TicketState(7, "resolved", "L1", "normal", None), {"status": "closed"}),
    (cmd("reopen"), TicketState(7, "closed", "L1", "normal", None), {"status": "open"}),
    (cmd("cc", "+dan@c.test", values=("+dan@c.test",)), NEW, {"cc": ("dan@c.test",)}),
    (cmd("note", "called the customer"), NEW, {}),
])
def test_each_command_plans_its_change(command, state, expected):
    result = plan(state, (command,), DESK)
    assert result.ok, result.failed
    assert {k: getattr(result.end, k) for k in expected} == expected


@pytest.mark.parametrize("command, state, problem", [
    (cmd("resolve", "done"), TicketState(7, "closed", "L1", "normal", None), "is closed"),
    (cmd("take"), TicketState(7, "open", "L2", "normal", None), "not an agent of tier L2"),
    (cmd("assign", "carol@x.test"), NEW, "not an agent of tier L1"),
    (cmd("escalate", "x", tier="L1"), TicketState(7, "open", "L2", "normal", None), "not above"),
    (cmd("escalate", "x", tier="L9"), NEW, "no tier L9"),
    (cmd("escalate", "x"), TicketState(7, "open", "L4", "normal", None), "no tier above L4"),
    (cmd("deescalate", "x"), NEW, "no tier below L1"),
    (cmd("reopen"), NEW, "cannot reopen"),
    (cmd("pending"), TicketState(7, "resolved", "L1", "normal", None), "cannot pending"),
    (cmd("merge", "12", values=("12",)), NEW, "no ticket #12"),
    (cmd("merge", "7", values=("7",)), NEW, "is this ticket"),
    (cmd("link", "12", values=("12",)), NEW, "no ticket #12"),
    (cmd("requester", "bob@x.test", values=("bob@x.test",)), NEW, "is an agent"),
    (cmd("kb"), NEW, "send it with #resolve"),
])
def test_an_invalid_command_fails_with_a_reason(command, state, problem):
    result = plan(state, (command,), DESK)
    assert not result.ok and problem in result.failed[0]


def test_commands_apply_in_order_and_a_later_one_sees_the_earlier_ones_change():
    result = plan(NEW, (cmd("take"), cmd("escalate", "router firmware"), cmd("priority", "high", values=("high",))),
                  DESK)
    assert result.ok and (result.end.tier, result.end.assignee, result.end.priority) == ("L2", None, "high")
    assert [e.kind for e in result.effects] == ["escalated"]
    assert result.effects[0].detail == {"from_tier": "L1", "to_tier": "L2", "reason": "router firmware"}


def test_resolving_twice_fails_the_second_and_the_mail_is_not_ok():
    result = plan(NEW, (cmd("resolve", "fixed"), cmd("resolve", "again")), DESK)
    assert not result.ok and len(result.done) == 1 and "is resolved" in result.failed[0]


def test_merge_closes_this_ticket_and_link_changes_nothing_here():
    desk = Desk(DESK.tiers, DESK.agents, DESK.actor, others={9: "open", 10: "closed"})
    merged = plan(NEW, (cmd("merge", "9", values=("9",)),), desk)
    assert merged.ok and merged.end.status == "closed" and merged.effects[0].detail == {"into": 9}
    assert "is closed" in plan(NEW, (cmd("merge", "10", values=("10",)),), desk).failed[0]
    linked = plan(NEW, (cmd("link", "#9", values=("9",)),), desk)
    assert linked.ok and linked.end == NEW and linked.effects[0].detail == {"problem": 9}
