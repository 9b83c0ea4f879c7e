"""Mail commands: ``run`` serves the mailboxes; ``deliver`` takes one message from an MTA."""

from __future__ import annotations

import logging
import sys
from datetime import datetime, timezone

import click

from maildesk.cli.output import echo
from maildesk.cli.state import State
from maildesk.clock import ManualClock
from maildesk.daemon import run_once
from maildesk.service import run_forever
from maildesk.desk import Desk
from maildesk.errors import ConfigError, SchemaTooNew, StoreCorrupt, StoreUnavailable
from maildesk.health import StorageWatch
from maildesk.intake.sniff import not_mail
from maildesk.models import Origin, Outcome, RawMessage
from maildesk.pipeline import Runner, raw_hash
from maildesk.stage import Context
from maildesk.store.faults import FaultLog

EX_DATAERR = 65  # sysexits.h: the input was not a message; the MTA bounces it
EX_IOERR = 74  # run --once: the database is corrupt (deliver says 75 even then: an MTA bounces on 74)
EX_TEMPFAIL = 75  # the database could not take the mail (full, locked): try again later
log = logging.getLogger("maildesk.intake")


def parse_now(value: str | None) -> datetime | None:
    """``--now``: an ISO 8601 time (UTC when it names no offset)."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter(f"expected an ISO 8601 time like 2026-12-01T09:30+01:00, got {value!r}") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


@click.command()
@click.option("--once", is_flag=True, help="Take in everything waiting in every mailbox, then exit.")
@click.option("--now", "now", metavar="ISO-TIME",
              help="With --once: act as if it were this time (SLA timers fire as they would then).")
@click.pass_obj
def run(state: State, once: bool, now: str | None) -> None:
    """Run the daemon: poll (or IDLE on) every mailbox and turn mail into tickets."""
    desk_log = logging.getLogger("maildesk")
    if desk_log.getEffectiveLevel() > logging.INFO:
        desk_log.setLevel(logging.INFO)
    moment = parse_now(now)
    if moment is not None and not once:
        raise click.UsageError("--now works with --once only")
    desk = state.desk(clock=ManualClock(moment)) if moment else state.desk()
    try:
        if once:
            failed = run_once(desk)
            if failed:
                raise SystemExit(1)
            return
        run_forever(desk)
    except SchemaTooNew as exc:
        raise click.ClickException(str(exc)) from exc
    except StoreUnavailable as exc:  # run --once: the database failed; what was not stored waits where it is
        echo(f"maildesk run: the database failed, the run stopped: {exc}", err=True)
        raise SystemExit(EX_IOERR if isinstance(exc, StoreCorrupt) else EX_TEMPFAIL) from exc


@click.command()
@click.option("--mailbox", "mailbox", default="deliver", show_default=True,
              help="Name to record as the message's mailbox.")
@click.pass_obj
def deliver(state: State, mailbox: str) -> None:
    """Take one message on standard input (for an MTA pipe). Exit 75 if it could not be stored, 65 if empty."""
    data = sys.stdin.buffer.read()
    if not data.strip():  # nothing to keep: say so, so the MTA bounces it instead of counting it delivered
        echo(f"maildesk deliver: not a message: {not_mail(data)}", err=True)
        raise SystemExit(EX_DATAERR)
    try:
        desk = Desk.load(state.config_or_raise())
        outcome = StorageWatch(desk, "deliver").run(lambda: _store_one(desk, mailbox, data))
    except (StoreUnavailable, ConfigError) as exc:
        echo(f"maildesk deliver: message not stored, try again later: {exc}", err=True)
        raise SystemExit(EX_TEMPFAIL) from exc
    except Exception as exc:  # the MTA keeps the message and retries
        log.exception("deliver failed")
        echo(f"maildesk deliver: message not stored, try again later: {exc}", err=True)
        raise SystemExit(EX_TEMPFAIL) from exc
    echo(f"{outcome.status}" + (f" ticket {outcome.ticket_id}" if outcome.ticket_id else "")
         + (f" request {outcome.request_id}" if outcome.request_id else ""))


def _store_one(desk: Desk, mailbox: str, data: bytes) -> Outcome:
    """Run one message through the pipeline and make it durable."""
    store = desk.open_store()
    FaultLog(desk.db_path).reserve()
    try:
        raw = RawMessage(Origin(mailbox, f"sha256:{raw_hash(data)}"), data, datetime.now(timezone.utc))
        outcome = Runner(Context(desk, store)).process(raw)
        store.sync()  # durable before exit 0 lets the MTA drop its copy
    finally:
        store.close()
    return outcome
