"""The ``maildesk`` command line: one group, subcommands in sibling modules."""

from __future__ import annotations

import logging

import click

from maildesk import __version__
from maildesk.cli.admin import check_config, init
from maildesk.cli.auth import auth
from maildesk.cli.backup import backup
from maildesk.cli.mail import deliver, run
from maildesk.cli.outbox import outbox
from maildesk.cli.kb import kb
from maildesk.cli.records import export, quarantine, tickets
from maildesk.cli.report import report
from maildesk.cli.routing import queue, rules
from maildesk.cli.state import State
from maildesk.cli.status import status
from maildesk.logs import configure

EXIT_CONFIG = 2


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              help="Config file. Default: $MAILDESK_CONFIG, else ./maildesk.toml, else the embedded default.")
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text", envvar="MAILDESK_LOG_FORMAT",
              show_default=True, help="Log lines as text, or one JSON object per line for log shippers.")
@click.version_option(__version__, prog_name="maildesk")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, verbose: int, log_format: str) -> None:
    """maildesk: an email-driven, tiered support desk."""
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(verbose, 2)]
    configure(fmt=log_format, level=level)
    ctx.obj = State(config_path)


for command in (init, check_config, run, deliver, status, auth, tickets, quarantine, outbox, queue, rules, kb,
                report, export, backup):
    cli.add_command(command)


def main() -> None:
    cli(prog_name="maildesk")


__all__ = ["cli", "main"]
