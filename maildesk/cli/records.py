"""Read and repair records: ``tickets``, ``quarantine`` and ``export``."""

from __future__ import annotations

from datetime import datetime, timezone

import click

from maildesk.cli import render
from maildesk.cli.output import echo, json_text
from maildesk.cli.state import State
from maildesk.errors import NotFound
from maildesk.models import Origin, RawMessage
from maildesk.pipeline import Runner
from maildesk.sla.timers import clock_report
from maildesk.stage import Context
from maildesk.store import views


def _json(value: object) -> None:
    echo(json_text(value))


@click.group()
def tickets() -> None:
    """List and show tickets."""


@tickets.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@click.option("--status", help="Only tickets with this status (new, open, ...).")
@click.option("--tier", help="Only tickets in this tier (L1, L2, ...).")
@click.option("--limit", type=int, help="At most this many tickets.")
@click.pass_obj
def tickets_list(state: State, as_json: bool, status: str | None, tier: str | None, limit: int | None) -> None:
    """List tickets, most recently active first."""
    with state.store() as store:
        rows = views.list_tickets(store.db, status=status, tier=tier, limit=limit)
    _json(rows) if as_json else echo(render.ticket_table(rows))


@tickets.command("show")
@click.argument("ticket_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_obj
def tickets_show(state: State, ticket_id: int, as_json: bool) -> None:
    """Show one ticket with its participants, messages and events."""
    desk = state.desk()
    with state.store() as store:
        ticket = views.show_ticket(store.db, ticket_id)
        ticket["sla"] = clock_report(Context(desk, store), ticket_id)
    _json(ticket) if as_json else echo(render.ticket_detail(ticket))


@click.command()
@click.pass_obj
def export(state: State) -> None:
    """Print every ticket as one JSON object per line (the `tickets show --json` shape)."""
    desk = state.desk()
    with state.store() as store:
        ctx = Context(desk, store)
        for ticket in views.iter_tickets(store.db):
            ticket["sla"] = clock_report(ctx, ticket["id"])
            echo(json_text(ticket, indent=None, separators=(",", ":")))


@click.group()
def quarantine() -> None:
    """Messages held back with a reason: errors, limits, bounces, stray auto-replies."""


@quarantine.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@click.option("--all", "show_all", is_flag=True, help="Include released entries.")
@click.pass_obj
def quarantine_list(state: State, as_json: bool, show_all: bool) -> None:
    """List quarantined messages with their reasons."""
    with state.store() as store:
        entries = [e.__dict__ for e in store.quarantine.list(status=None if show_all else "held")]
    _json(entries) if as_json else echo(render.quarantine_table(entries))


@quarantine.command("retry")
@click.argument("entry_id", type=int)
@click.pass_obj
def quarantine_retry(state: State, entry_id: int) -> None:
    """Run a quarantined message through the pipeline again (e.g. after raising a limit)."""
    desk = state.desk()
    store = desk.open_store()
    try:
        entry = store.quarantine.get(entry_id)
        if entry is None:
            raise NotFound(f"no quarantine entry {entry_id}")
        if entry.status != "held":
            raise click.ClickException(f"quarantine entry {entry_id} is already {entry.status}")
        data = store.quarantine.raw(entry_id)
        if data is None:
            raise click.ClickException(f"raw bytes of quarantine entry {entry_id} are missing")
        raw = RawMessage(Origin(entry.mailbox or "retry", f"retry:{entry_id}"), data, datetime.now(timezone.utc))
        outcome = Runner(Context(desk, store)).process(raw, retry_of=entry_id)
    except NotFound as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        store.close()
    if outcome.status == "quarantined":
        echo(f"still quarantined: {outcome.reason}")
        raise SystemExit(1)
    where = f"ticket {outcome.ticket_id}" if outcome.ticket_id else f"message {outcome.message_pk}"
    echo(f"released: {outcome.status} ({where})")
