"""The ticket state machine: each agent command is a small class that plans a change, or says why not."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from maildesk.intake.commands import Command

STATUSES: tuple[str, ...] = ("new", "open", "pending", "on_hold", "resolved", "closed")
ACTIVE: frozenset[str] = frozenset({"new", "open", "pending", "on_hold"})
PRIORITIES: tuple[str, ...] = ("low", "normal", "high", "urgent")


@dataclass(frozen=True)
class TicketState:
    """What commands read and change; ``tags`` and ``cc`` as sorted tuples."""

    id: int
    status: str
    tier: str
    priority: str
    assignee: str | None
    tags: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()


@dataclass(frozen=True)
class Effect:
    """Something a command causes beyond the ticket's fields: a notice, a note, a link."""

    kind: str  # "escalated", "deescalated", "resolved", "note", "help", "merge", "link", "kb", "look"
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Planned:
    """A command's outcome in the plan: the state after it, what it caused, and a line for the receipt."""

    state: TicketState
    done: str
    effects: tuple[Effect, ...] = ()


@dataclass(frozen=True)
class Desk:
    """What the state machine knows of the desk: the tiers in escalation order and their agents."""

    tiers: tuple[str, ...]
    agents: dict[str, tuple[str, ...]]
    actor: str  # the agent whose mail this is
    others: dict[int, str] = field(default_factory=dict)  # status of each ticket a command names
    vendors: frozenset[str] = frozenset()  # tiers that are outside vendors

    def tier_of(self, agent: str) -> tuple[str, ...]:
        return tuple(t for t in self.tiers if agent in self.agents.get(t, ()))


class Handler(Protocol):
    name: str

    def plan(self, state: TicketState, cmd: Command, desk: Desk) -> Planned | str: ...


def _active(state: TicketState, what: str) -> str | None:
    if state.status not in ACTIVE:
        return f"cannot {what}: ticket #{state.id} is {state.status} (#reopen it first)"
    return None


def _opened(state: TicketState) -> str:
    return "open" if state.status == "new" else state.status


class Take:
    name = "take"

    def plan(self, state: TicketState, cmd: Command, desk: Desk) -> Planned | str:
        if problem := _active(state, "take it"):
            return problem
        if state.tier not in desk.tier_of(desk.actor):
            return f"you are not an agent of tier {state.tier}, where ticket #{state.id} is"
        return Planned(replace(state, assignee=desk.actor, status=_opened(state)), f"taken by {desk.actor}")


class Assign:
    name = "assign"

    def plan(self, state: TicketState, cmd: Command, desk: Desk) -> Planned | str:
        agent = cmd.args.strip().lower()
        if problem := _active(state, "assign it"):
            return problem
        if agent not in desk.agents.get(state.tier, ()):
            return f"{agent or '(nobody)'} is not an agent of tier {state.tier}"
        return Planned(replace(state, assignee=agent, status=_opened(state)), f"assigned to {agent}")


class Escalate:
    name = "escalate"
    down = False

    def plan(self, state: TicketState, cmd: Command, desk: Desk) -> Planned | str:
        if problem := _active(state, self.name):
            return problem
        target = self._target(state, cmd, desk)
        if target.startswith("!"):
            return target[1:]
        kind = "deescalated" if self.down else "escalated"
        effect = Effect(kind, {"from_tier": state.tier, "to_tier": target, "reason": cmd.text})
        # a vendor does not own tickets: whoever sent it there stays the owner, and hears back
        owner = (state.assignee or desk.actor) if target in desk.vendors else None
        new = replace(state, tier=target, assignee=owner, status="open")
        return Planned(new, f"{kind} from {state.tier} to {target}", (effect,))

    def _target(self, state: TicketState, cmd: Command, desk: Desk) -> str:
        """The tier to move to, or "!" and why not."""
        here = desk.tiers.index(state.tier) if state.tier in desk.tiers else 0
        wanted = cmd.tier if cmd.tier and cmd.tier != "next" else None
        if wanted is None:
            step = here - 1 if self.down else here + 1
            if not 0 <= step < len(desk.tiers):
                return f"!there is no tier {'below' if self.down else 'above'} {state.tier}"
            return desk.tiers[step]
        if wanted not in desk.tiers:
            return f"!no tier {wanted} (tiers: {', '.join(desk.tiers)})"
        there = desk.tiers.index(wanted)
        if (there >= here) if self.down else (there <= here):
            return f"!{wanted} is not {'below' if self.down else 'above'} {state.tier}"
        return wanted


class Deescalate(Escalate):
    name = "deescalate"
    down = True


class Priority:
    name = "priority"

    def plan(self, state: TicketState, cmd: Command, desk: Desk) -> Planned | str:
        value = (cmd.values or (cmd.args,))[0].lower()
        if value not in PRIORITIES:
            return f"priority must be one of {', '.join(PRIORITIES)}"
        return Planned(replace(state, priority=value), f"priority {value}")


class Tag:
    name = "tag"

    def plan(self, state: TicketState, cmd: Command, desk: Desk) -> Planned | str:
        tags = set(state.tags)
        for op in cmd.values:
            tags.discard(op[1:]) if op.startswith("-") else tags.add(op.lstrip("+"))
        return Planned(replace(state, tags=tuple(sorted(tags))), "tags " + " ".join(cmd.values))


class Status:
    """``#pending``, ``#hold``, ``#close`` and ``#reopen``: status changes allowed from some states."""

    def __init__(self, name: str, to: str, allowed: frozenset[str]) -> None:
        self.name, self.to, self.allowed = name, to, allowed

    def plan(self, state: TicketState, cmd: Command, desk: Desk) -> Planned | str:
        if state.status not in self.allowed:
            return f"cannot {self.name}: ticket #{state.id} is {state.status}"
        detail = f" ({cmd.args})" if self.name == "hold" and cmd.args else ""
        effects = (Effect("hold", {"reference": cmd.args}),) if self.name == "hold" else ()
        return Planned(replace(state, status=self.to), f"status {self.to}{detail}", effects)


class Resolve:
    name = "resolve"

    def plan(self, state: TicketState, cmd: Command, desk: Desk) -> Planned | str:
        if problem := _active(state, "resolve it"):
            return problem
        return Planned(replace(state, status="resolved"), "resolved",
                       (Effect("resolved", {"summary": cmd.text}),))


class Note:
    name = "note"

    def plan(self, state: TicketState, cmd: Command, desk: Desk) -> Planned | str:
        return Planned(state, "internal note added", (Effect("note", {"text": cmd.text}),))


class Cc:
    name = "cc"

    def plan(self, state: TicketState, cmd: Command, desk: Desk) -> Planned | str:
        cc = set(state.cc)
        for op in cmd.values:
            address = op.lstrip("+-").lower()
            cc.discard(address) if op.startswith("-") else cc.add(address)
        return Planned(replace(state, cc=tuple(sorted(cc))), "cc " + " ".join(cmd.values))


class Merge:
    """``#merge ID``: this ticket's messages, people and history move into ticket ID; this one closes."""

    name = "merge"

    def plan(self, state: TicketState, cmd: Command, desk: Desk) -> Planned | str:
        target = _other(state, cmd, desk)
        if isinstance(target, str):
            return target
        if desk.others[target] == "closed":
            return f"ticket #{target} is closed: #reopen it first"
        return Planned(replace(state, status="closed"), f"merged into #{target}", (Effect("merge", {"into": target}),))


class Link:
    """``#link ID``: this ticket is an incident of problem ticket ID; resolving that resolves this."""

    name = "link"

    def plan(self, state: TicketState, cmd: Command, desk: Desk) -> Planned | str:
        target = _other(state, cmd, desk)
        if isinstance(target, str):
            return target
        return Planned(state, f"linked as an incident of problem #{target}", (Effect("link", {"problem": target}),))


def _other(state: TicketState, cmd: Command, desk: Desk) -> int | str:
    """The ticket a ``#merge``/``#link`` names, or why it cannot be used."""
    number = (cmd.values or (cmd.args,))[0].lstrip("#")
    if not number.isdigit():
        return f"expected a ticket number, got {cmd.args!r}"
    target = int(number)
    if target == state.id:
        return f"ticket #{target} is this ticket"
    if target not in desk.others:
        return f"there is no ticket #{target}"
    return target


class Requester:
    """``#requester ADDRESS``: the customer this ticket is for (an agent opening it on their behalf)."""

    name = "requester"

    def plan(self, state: TicketState, cmd: Command, desk: Desk) -> Planned | str:
        address = (cmd.values or (cmd.args,))[0].lower()
        if any(address in agents for agents in desk.agents.values()):
            return f"{address} is an agent, not a customer"
        return Planned(state, f"requester {address}", (Effect("requester", {"address": address}),))


class Kb:
    """``#kb [TITLE]`` with ``#resolve``: the resolution becomes a (draft) knowledge article."""

    name = "kb"

    def plan(self, state: TicketState, cmd: Command, desk: Desk) -> Planned | str:
        if state.status != "resolved":
            return "#kb saves a resolution: send it with #resolve SUMMARY (or on a resolved ticket)"
        return Planned(state, "knowledge article drafted", (Effect("kb", {"title": cmd.args}),))


class Help:
    name = "help"

    def plan(self, state: TicketState, cmd: Command, desk: Desk) -> Planned | str:
        return Planned(state, "help sent", (Effect("help"),))


class Look:
    """``#queue``, ``#show ID``, ``#file ID NAME``: questions to the desk, answered in the receipt."""

    def __init__(self, name: str) -> None:
        self.name = name

    def plan(self, state: TicketState, cmd: Command, desk: Desk) -> Planned | str:
        return Planned(state, f"#{self.name} {cmd.args}".strip() + ": answered below", (look_effect(cmd),))


def look_effect(cmd: Command) -> Effect:
    """The question a ``#queue``, ``#show`` or ``#file`` line asks, for ``maildesk.agents.looks``."""
    return Effect("look", {"what": cmd.name, "values": list(cmd.values), "text": cmd.text})


HANDLERS: dict[str, Handler] = {h.name: h for h in (
    Look("queue"), Look("show"), Look("file"),
    Take(), Assign(), Escalate(), Deescalate(), Priority(), Tag(), Resolve(), Note(), Cc(), Help(), Merge(),
    Link(), Requester(), Kb(),
    Status("pending", "pending", frozenset({"new", "open", "on_hold"})),
    Status("hold", "on_hold", frozenset({"new", "open", "pending"})),
    Status("close", "closed", frozenset(STATUSES) - {"closed"}),
    Status("reopen", "open", frozenset({"resolved", "closed"})),
)}


@dataclass(frozen=True)
class Plan:
    """A whole command mail, planned: applied all together, or (any failure) not at all."""

    start: TicketState
    end: TicketState
    done: tuple[str, ...]
    failed: tuple[str, ...]
    effects: tuple[Effect, ...]

    @property
    def ok(self) -> bool:
        return not self.failed


def plan(state: TicketState, commands: tuple[Command, ...], desk: Desk) -> Plan:
    """Run each command over the state left by the one before (``#kb`` last: it files the resolution)."""
    current, done, failed, effects = state, [], [], []
    ordered = [c for c in commands if c.name != "kb"] + [c for c in commands if c.name == "kb"]  # after #resolve
    for cmd in ordered:
        handler = HANDLERS.get(cmd.name)
        outcome = handler.plan(current, cmd, desk) if handler else f"#{cmd.name} is not available yet"
        if isinstance(outcome, str):
            failed.append(f"line {cmd.line}: #{cmd.name}: {outcome}")
            continue
        current = outcome.state
        done.append(outcome.done)
        effects.extend(outcome.effects)
    return Plan(state, current, tuple(done), tuple(failed), tuple(effects))
