"""Evaluate the compiled routing rules against one new ticket's facts: pure, fast, and explained."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache

from maildesk.errors import MatchTimeLimit
from maildesk.routing.engines import MatchBudget
from maildesk.routing.model import (
    PRIORITIES,
    Condition,
    ConditionTrace,
    Decision,
    Facts,
    Rule,
    RoutingConfig,
    RuleTrace,
)

CAPTURE_MAX = 64  # characters of captured text that may go into a tag
TAG = re.compile(r"[a-z0-9][a-z0-9._-]*")
_UNSAFE = re.compile(r"[^a-z0-9._-]+")
_RANK = {p: i for i, p in enumerate(PRIORITIES)}


def evaluate(routing: RoutingConfig, facts: Facts, *, explain_all: bool = True) -> Decision:
    """Run the rules in order: the first match decides and stops, unless it says ``continue``.

    The trace has every rule (``rules test``), or with ``explain_all=False`` only the ones that
    matched: all a ticket records, and far less to carry back from a worker process. Raises
    ``MatchTimeLimit`` naming the rule whose pattern used up ``match_time_limit_ms``.
    """
    facts = Facts(facts.parsed, facts.mailbox, MatchBudget(routing.match_time_limit_ms))  # a fresh budget
    matched: list[tuple[Rule, Mapping[str, str]]] = []
    traces: list[RuleTrace] = []
    stopped = False
    for rule in routing.rules:
        if stopped:
            if not explain_all:
                break
            traces.append(_skipped(rule.name))
            continue
        try:
            if not explain_all and not _holds(rule.conditions, facts):
                continue  # no match, and no trace wanted: not worth explaining
            trace, groups = _try(rule, facts)
        except MatchTimeLimit as exc:
            raise exc.in_rule(rule.name, rule.key) from None
        if trace.matched or explain_all:
            traces.append(trace)
        if trace.matched:
            matched.append((rule, groups))
            stopped = not rule.proceed
    return _merge(routing, matched, tuple(traces))


def _holds(conditions: Sequence[Condition], facts: Facts) -> bool:
    for condition in conditions:  # a plain loop: this runs for every rule of every message
        if not condition.holds(facts):
            return False
    return True


# the same few verdicts recur message after message: each frozen record is made once
_condition_trace = lru_cache(maxsize=4096)(ConditionTrace)


@lru_cache(maxsize=4096)
def _skipped(name: str) -> RuleTrace:
    """The trace of a rule not tried: always the same, so made once."""
    return RuleTrace(name, matched=False, conditions=(), skipped=True)


def _try(rule: Rule, facts: Facts) -> tuple[RuleTrace, dict[str, str]]:
    """Test a rule's conditions in order, stopping at the first that fails; collect named groups."""
    tried: list[ConditionTrace] = []
    groups: dict[str, str] = {}
    for condition in rule.conditions:
        outcome = condition.test(facts)
        tried.append(_condition_trace(condition.key, outcome.held, outcome.why))
        if not outcome.held:
            return RuleTrace(rule.name, False, tuple(tried)), groups
        if outcome.groups:
            groups = {**outcome.groups, **groups}  # the first condition to capture a name keeps it
    return RuleTrace(rule.name, True, tuple(tried)), groups


def _merge(routing: RoutingConfig, matched: Sequence[tuple[Rule, Mapping[str, str]]],
           trace: tuple[RuleTrace, ...]) -> Decision:
    """Combine the matched rules: the first value set wins, the highest priority, the union of tags."""
    actions = [rule.actions for rule, _ in matched]
    tier = _first(a.tier for a in actions) or routing.default_tier
    priorities = [a.priority for a in actions if a.priority]
    tags: dict[str, None] = {}
    for rule, groups in matched:
        tags.update(dict.fromkeys(t for t in (render_tag(x, groups) for x in rule.actions.tags) if t))
    return Decision(
        tier=tier,
        priority=max(priorities, key=_RANK.__getitem__) if priorities else routing.default_priority,
        tags=tuple(tags),
        # an owner only from a rule that places tickets in the tier decided: its agent may work there
        assign=_first(a.assign for a in actions if (a.tier or routing.default_tier) == tier),
        sla=_first(a.sla for a in actions),
        template=_first(a.template for a in actions),
        action=next((a.action for a in actions if a.action != "route"), "route"),
        rules=tuple(rule.name for rule, _ in matched),
        trace=trace,
    )


def _first(values: Iterable[str | None]) -> str | None:
    return next((v for v in values if v), None)


class _Captured(dict[str, str]):
    """The named groups a tag may use; a group that took part in no match gives ""."""

    def __missing__(self, key: str) -> str:
        return ""


def sanitise(text: str) -> str:
    """Captured text made safe for a tag: lower-case letters, digits, '-', '_' and '.', at most 64 of them."""
    return _UNSAFE.sub("-", text.lower()).strip("-")[:CAPTURE_MAX]


def render_tag(template: str, groups: Mapping[str, str]) -> str | None:
    """A tag with its ``{group}`` placeholders filled from sanitised captures; None when nothing usable is left."""
    if "{" not in template:
        return template
    tag = template.format_map(_Captured({name: sanitise(value) for name, value in groups.items()}))
    tag = tag.lstrip("._-")
    return tag if TAG.fullmatch(tag) else None
