"""``maildesk outbox``: what is waiting to be sent, what failed and why, and sending it again."""

from __future__ import annotations

from datetime import datetime, timezone

import click

from maildesk.cli import render
from maildesk.cli.output import echo, json_text
from maildesk.cli.state import State


@click.group()
def outbox() -> None:
    """Outgoing notices: queued, sending, sent or failed."""


@outbox.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@click.option("--status", type=click.Choice(["queued", "sending", "sent", "failed"]), help="Only this status.")
@click.option("--limit", type=int, default=100, show_default=True, help="At most this many, newest first.")
@click.pass_obj
def outbox_list(state: State, as_json: bool, status: str | None, limit: int) -> None:
    """List notices with status, attempts, last error and next attempt."""
    with state.store() as store:
        entries = [e.__dict__ for e in store.outbox.list(status=status, limit=limit)]
    if as_json:
        echo(json_text(entries, indent=2))
    else:
        echo(render.outbox_table(entries))


@outbox.command("retry")
@click.argument("entry_id", type=int)
@click.pass_obj
def outbox_retry(state: State, entry_id: int) -> None:
    """Make a queued or failed notice due now (it keeps its Message-ID)."""
    with state.store() as store:
        with store.atomic():
            ok = store.outbox.retry(entry_id, now=datetime.now(timezone.utc))
    if not ok:
        raise click.ClickException(f"no unsent notice {entry_id}")
    echo(f"notice {entry_id} is due now")
