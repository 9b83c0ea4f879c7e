"""The [routing] section and the [[rule]] list: checked, then compiled once into a RoutingConfig."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from string import Formatter
from typing import Any

from maildesk.config.outbound import TierConfig
from maildesk.config.schema import (
    Option,
    Problems,
    in_range,
    is_address,
    is_name,
    non_empty,
    one_of,
    read_table,
    show,
)
from maildesk.routing.compile import Site, compile_table
from maildesk.routing.conditions import group_names
from maildesk.routing.engines import DEFAULT_LIMIT_MS
from maildesk.routing.model import PRIORITIES, Actions, Condition, Rule, RoutingConfig
from maildesk.routing.rules import TAG

ROUTING = {
    "default_tier": Option(str, "", help="defaults to the first [[tier]]"),
    "default_priority": Option(str, "normal", one_of(*PRIORITIES)),
    # per message, over all its rules: the time patterns that need the backtracking engine may take
    "match_time_limit_ms": Option(int, DEFAULT_LIMIT_MS, in_range(10, 60_000)),
}

RULE = {
    "name": Option(str, check=non_empty),
    "if": Option(dict, {}),
    "then": Option(dict, {}),
    "continue": Option(bool, False),
}

THEN = {
    "tier": Option(str, ""),
    "priority": Option(str, "", one_of(*PRIORITIES)),
    "tags": Option(list, []),
    "assign": Option(str, "", is_address),
    "sla": Option(str, "", is_name),
    "template": Option(str, "", is_name),
    "action": Option(str, "", one_of("ignore", "quarantine")),
}


class InRule(Problems):
    """Passes a rule's problems on with the rule's name in front, so each message says which rule."""

    def __init__(self, target: Problems, name: str | None) -> None:
        super().__init__()
        self.target = target
        self.prefix = f"in rule {show(name)}: " if name else ""

    def add(self, key: str, problem: str) -> None:
        super().add(key, problem)
        self.target.add(key, self.prefix + problem)


@dataclass(frozen=True)
class _Known:
    """What the rules may refer to: the tiers (with their agents), the default tier and the mailboxes."""

    tiers: Mapping[str, TierConfig]
    default_tier: str
    mailboxes: frozenset[str] | None


def read_routing(data: Mapping[str, Any], *, tiers: Sequence[TierConfig], problems: Problems,
                 mailboxes: Sequence[str] | None = None) -> RoutingConfig:
    """The routing settings and rules of the whole TOML document; every mistake goes to ``problems``.

    ``mailboxes``, when given, are the configured mailbox names a ``mailbox`` condition may name.
    """
    v = read_table(data.get("routing", {}), "routing", ROUTING, problems)
    default_tier = v["default_tier"] or (tiers[0].name if tiers else RoutingConfig.default_tier)
    known = _Known({t.name: t for t in tiers}, default_tier, frozenset(mailboxes) if mailboxes is not None else None)
    problem = _tier_problem(default_tier, known)
    if problem:
        problems.add("routing.default_tier", problem)
    raw_rules = data.get("rule", [])
    if not isinstance(raw_rules, list):
        problems.add("rule", f"expected a list of [[rule]] tables, got {show(raw_rules)}")
        raw_rules = []
    rules: list[Rule] = []
    for i, raw in enumerate(raw_rules):
        rule = _rule(raw, f"rule[{i}]", known, problems)
        if rule is None:
            continue
        same = next((r for r in rules if r.name == rule.name), None)
        if same:
            problems.add(f"{rule.key}.name", f"in rule {show(rule.name)}: duplicate rule name (also {same.key})")
        rules.append(rule)
    return RoutingConfig(default_tier=default_tier, default_priority=v["default_priority"], rules=tuple(rules),
                         match_time_limit_ms=v["match_time_limit_ms"])


def _tier_problem(name: str, known: _Known) -> str | None:
    if not known.tiers or name in known.tiers:  # no tiers: their own section is already wrong
        return None
    return f"unknown tier {show(name)} (tiers: {', '.join(known.tiers)})"


def _rule(raw: Any, key: str, known: _Known, problems: Problems) -> Rule | None:
    """One [[rule]]; None when it has no usable name."""
    name = raw.get("name") if isinstance(raw, dict) else None
    mine = InRule(problems, name if isinstance(name, str) and name.strip() else None)
    v = read_table(raw, key, RULE, mine)
    conditions = compile_table(v["if"], Site(f"{key}.if", mine, known.mailboxes), empty_ok=True)
    if isinstance(raw, dict) and not raw.get("then", {}):
        mine.add(f"{key}.then", f"no actions: give at least one of {', '.join(THEN)}")
    actions = _actions(v["then"], f"{key}.then", conditions, known, mine)
    if not v.get("name") or not v["name"].strip():
        return None
    return Rule(name=v["name"], conditions=conditions, actions=actions, proceed=v["continue"], key=key)


def _actions(raw: dict[str, Any], key: str, conditions: tuple[Condition, ...], known: _Known,
             problems: Problems) -> Actions:
    """A rule's ``then`` table; tags may use the named groups of the rule's own patterns."""
    v = read_table(raw, key, THEN, problems)
    if v["tier"]:
        problem = _tier_problem(v["tier"], known)
        if problem:
            problems.add(f"{key}.tier", problem)
    if v["assign"]:
        _check_assign(v["assign"].lower(), v["tier"] or known.default_tier, f"{key}.assign", known, problems)
    groups = group_names(conditions)
    tags = (_tag(t, f"{key}.tags[{i}]", groups, problems) for i, t in enumerate(v["tags"]))
    return Actions(
        tier=v["tier"] or None, priority=v["priority"] or None, tags=tuple(dict.fromkeys(t for t in tags if t)),
        assign=v["assign"].lower() or None, sla=v["sla"] or None, template=v["template"] or None,
        action=v["action"] or "route",
    )


def _check_assign(agent: str, tier: str, key: str, known: _Known, problems: Problems) -> None:
    """An owner must be an agent of the tier the rule places tickets in (its own, or the default)."""
    config = known.tiers.get(tier)
    if config is None or agent in config.agents or is_address(agent):
        return  # an unknown tier or a malformed address is reported on its own
    agents = ", ".join(config.agents) or "it has none"
    problems.add(key, f"{show(agent)} is not an agent of tier {show(tier)} (its agents: {agents})")


def _tag(value: Any, key: str, groups: frozenset[str], problems: Problems) -> str | None:
    """A tag as written, lower-cased outside its ``{group}`` placeholders; None after a problem."""
    if not isinstance(value, str):
        problems.add(key, f"expected a string, got {show(value)}")
        return None
    try:
        parts = list(Formatter().parse(value))
    except ValueError as exc:
        problems.add(key, f"bad placeholder in tag {show(value)}: {exc}")
        return None
    template, sample = "", ""
    for text, field, spec, conversion in parts:
        template, sample = template + text.lower(), sample + text.lower()
        if field is None:
            continue
        problem = _placeholder(field, spec, conversion, groups)
        if problem:
            problems.add(key, f"tag {show(value)}: {problem}")
            return None
        template, sample = template + "{" + field + "}", sample + "x"
    if not TAG.fullmatch(sample):
        problems.add(key, f"expected a tag of lower-case letters, digits, '.', '_' or '-' starting with a letter "
                          f"or digit, got {show(value)}")
        return None
    return template


def _placeholder(field: str, spec: str | None, conversion: str | None, groups: frozenset[str]) -> str | None:
    if not field.isidentifier() or spec or conversion:
        return f"placeholder {{{field}}} must be just a group name, like {{order}}"
    if field not in groups:
        known = ", ".join(sorted(groups)) or "none"
        return f"no pattern in this rule has a group named {show(field)} (named groups: {known})"
    return None
