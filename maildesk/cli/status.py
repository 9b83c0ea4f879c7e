"""``maildesk status``: is the desk healthy? For people and for monitoring checks (exit 1 when not)."""

from __future__ import annotations

import click

from maildesk.cli.output import echo, json_text
from maildesk.cli.state import State
from maildesk.errors import SchemaTooNew
from maildesk.status import check, render_text

EXIT_UNHEALTHY = 1


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_obj
def status(state: State, as_json: bool) -> None:
    """The database (a page check and any full or corrupt failure met), daemon, mailboxes (connected,
    last fetch, last error, waiting vs stored, mail never stored, UIDVALIDITY), outbox, quarantine
    and SLA timers. Exits 1 when anything is unhealthy."""
    desk = state.desk()
    try:
        report = check(desk)
    except SchemaTooNew as exc:
        raise click.ClickException(str(exc)) from exc
    echo(json_text(report.as_json(), indent=2) if as_json else render_text(report))
    if not report.healthy:
        raise SystemExit(EXIT_UNHEALTHY)
