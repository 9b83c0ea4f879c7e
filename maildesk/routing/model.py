"""The routing records: compiled rules, the routing settings, and the decision with its explanation."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import Any, Literal, Protocol

from maildesk.models import ParsedMessage
from maildesk.routing.engines import DEFAULT_LIMIT_MS, MatchBudget

PRIORITIES: tuple[str, ...] = ("low", "normal", "high", "urgent")  # in rising order
Action = Literal["route", "ignore", "quarantine"]


@dataclass(frozen=True)
class Facts:
    """What a rule may look at: the parsed message and the mailbox it came in through; ``budget`` is
    the time its patterns may still take on the backtracking engine (``evaluate`` sets it)."""

    parsed: ParsedMessage
    mailbox: str
    budget: MatchBudget = field(default_factory=MatchBudget, compare=False, repr=False)

    @cached_property
    def headers(self) -> Mapping[str, tuple[str, ...]]:
        """Header values by lower-case name, gathered once for all the rules."""
        found: dict[str, list[str]] = {}
        for name, value in self.parsed.headers:
            found.setdefault(name.lower(), []).append(value)
        return {name: tuple(values) for name, values in found.items()}


@dataclass(frozen=True)
class Outcome:
    """One condition's verdict: whether it held, a short why, and named regex groups it captured."""

    held: bool
    why: str = ""
    groups: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


class Condition(Protocol):
    """One compiled ``if.<key>`` of a rule, e.g. ``subject_matches``; ``key`` is its TOML key."""

    key: str

    def test(self, facts: Facts) -> Outcome: ...

    def holds(self, facts: Facts) -> bool:
        """``test(facts).held``, without building the explanation: the hot path."""
        ...


@dataclass(frozen=True)
class Actions:
    """A rule's ``then``: every field is optional; ``tags`` may hold ``{group}`` placeholders."""

    tier: str | None = None
    priority: str | None = None
    tags: tuple[str, ...] = ()
    assign: str | None = None
    sla: str | None = None
    template: str | None = None
    action: Action = "route"


@dataclass(frozen=True)
class Rule:
    """One ``[[rule]]``: all of ``conditions`` must hold; ``proceed`` is the TOML ``continue``."""

    name: str
    conditions: tuple[Condition, ...]
    actions: Actions
    proceed: bool = False
    key: str = ""  # the TOML key path, e.g. "rule[2]"


@dataclass(frozen=True)
class RoutingConfig:
    """The ``[routing]`` section and the ``[[rule]]`` list, compiled once at start."""

    default_tier: str = "L1"
    default_priority: str = "normal"
    rules: tuple[Rule, ...] = ()
    match_time_limit_ms: int = DEFAULT_LIMIT_MS  # per message, over all rules, for backtracking patterns


@dataclass(frozen=True)
class ConditionTrace:
    key: str
    held: bool
    why: str


@dataclass(frozen=True)
class RuleTrace:
    """How one rule fared: matched, or the first condition that failed (later ones are not tried)."""

    name: str
    matched: bool
    conditions: tuple[ConditionTrace, ...]
    skipped: bool = False  # not evaluated: an earlier rule matched without ``continue``

    @property
    def failed(self) -> ConditionTrace | None:
        return next((c for c in self.conditions if not c.held), None)


@dataclass(frozen=True)
class Decision:
    """Where a new ticket goes and why: the merged actions of the matching rules, and every rule's trace."""

    tier: str
    priority: str
    tags: tuple[str, ...] = ()
    assign: str | None = None
    sla: str | None = None
    template: str | None = None
    action: Action = "route"
    rules: tuple[str, ...] = ()  # names of the rules that matched and decided, in order
    trace: tuple[RuleTrace, ...] = ()

    def explain(self) -> dict[str, Any]:
        """The decision as JSON-ready data (for events, ``tickets show`` and ``rules test --json``)."""
        return {
            "tier": self.tier, "priority": self.priority, "tags": list(self.tags), "assign": self.assign,
            "sla": self.sla, "template": self.template, "action": self.action, "rules": list(self.rules),
            "matched": [{"rule": t.name, "conditions": [{"key": c.key, "why": c.why} for c in t.conditions]}
                        for t in self.trace if t.matched],
        }
