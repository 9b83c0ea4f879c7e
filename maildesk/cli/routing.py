"""``maildesk queue`` (each tier's open tickets) and ``maildesk rules test`` (a dry run of the rules)."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import click

from maildesk.cli import render
from maildesk.cli.output import echo, json_text
from maildesk.cli.state import State
from maildesk.errors import MatchTimeLimit, Quarantine
from maildesk.intake.limits import check_raw, check_tree
from maildesk.intake.parse import parse_bytes, read_message
from maildesk.routing.model import Facts
from maildesk.routing.rules import evaluate
from maildesk.sla.timers import clock_report
from maildesk.stage import Context


@click.command()
@click.argument("tier", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object: tier -> tickets.")
@click.pass_obj
def queue(state: State, tier: str | None, as_json: bool) -> None:
    """Each tier's open tickets, oldest first, with age, priority and assignee."""
    config = state.config()
    if tier is not None and config.tier(tier) is None:
        raise click.ClickException(f"no tier {tier!r} (tiers: {', '.join(t.name for t in config.tiers)})")
    desk = state.desk()
    with state.store() as store:
        tickets = store.queues.open_tickets(tier)
        ctx = Context(desk, store)
        for ticket in tickets:  # each SLA clock's state, and the next event the ticket is heading for
            pending = store.timers.pending(ticket["id"])
            kind, due = next(iter(pending.items()), (None, None))
            ticket["next_sla"] = {"timer": kind.partition("@")[0], "due_at": due} if kind else None
            ticket["sla"] = [{k: c[k] for k in ("clock", "state", "due_at")} for c in clock_report(ctx, ticket["id"])]
    now = datetime.now(timezone.utc)
    names = [tier] if tier else [t.name for t in config.tiers]
    names += sorted({t["tier"] for t in tickets} - set(names))  # tickets left in a tier no longer configured
    queues: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    for ticket in tickets:
        ticket["age_seconds"] = int((now - datetime.fromisoformat(ticket["created_at"])).total_seconds())
        queues[ticket["tier"]].append(ticket)
    echo(json_text(queues, indent=2) if as_json else render.queues(queues))


@click.group()
def rules() -> None:
    """The routing rules: try them on a saved message."""


@rules.command("test")
@click.argument("eml", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--mailbox", help="The mailbox it arrived through (default: the first configured).")
@click.option("--json", "as_json", is_flag=True, help="Print the decision and every rule's result as JSON.")
@click.pass_obj
def rules_test(state: State, eml: Path, mailbox: str | None, as_json: bool) -> None:
    """Show, rule by rule, how a saved message would be routed. Changes and sends nothing."""
    config = state.config()
    data = eml.read_bytes()
    try:
        check_raw(data, config.limits)
        msg = parse_bytes(data)
        check_tree(msg, config.limits)
    except Quarantine as q:
        raise click.ClickException(f"{eml}: intake would quarantine it: {q.reason}") from q
    box = mailbox or (config.mailboxes[0].name if config.mailboxes else "")
    try:
        decision = evaluate(config.routing, Facts(parsed=read_message(msg), mailbox=box))
    except MatchTimeLimit as exc:
        raise click.ClickException(f"{eml}: intake would quarantine it: {exc}") from exc
    if as_json:
        trace = [{"rule": t.name, "matched": t.matched, "skipped": t.skipped,
                  "conditions": [{"key": c.key, "held": c.held, "why": c.why} for c in t.conditions]}
                 for t in decision.trace]
        echo(json_text({"decision": decision.explain(), "rules": trace}, indent=2))
    else:
        echo(render.rule_trace(decision))
