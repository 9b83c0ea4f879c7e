"""``maildesk backup FILE``: a consistent copy of the live database, safe while the daemon runs."""

from __future__ import annotations

from pathlib import Path

import click

from maildesk.cli.output import echo
from maildesk.cli.state import State
from maildesk.errors import MaildeskError
from maildesk.store import DB_NAME
from maildesk.store.backup import backup as copy_database


@click.command("backup")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace FILE if it exists.")
@click.option("--pages", type=click.IntRange(min=1), default=1024, show_default=True,
              help="Database pages copied per step.")
@click.pass_obj
def backup(state: State, file: Path, force: bool, pages: int) -> None:
    """Copy the live database to FILE (mode 0600), checked and complete, safe while the daemon runs."""
    config = state.config()
    try:
        report = copy_database(config.desk.data_dir / DB_NAME, file, pages=pages, force=force)
    except MaildeskError as exc:
        raise click.ClickException(str(exc)) from exc
    echo(f"wrote {report.path}: {report.size} bytes, {report.tickets} tickets, {report.messages} messages")
    echo(f"keep {config.desk.secret_file} with it: stored OAuth2 tokens cannot be decrypted without it",
               err=True)
