"""Test helpers: a desk with its own data dir and a manual clock, and a runner over it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from maildesk.clock import ManualClock
from maildesk.config import build
from maildesk.desk import Desk
from maildesk.models import Origin, RawMessage, Outcome
from maildesk.pipeline import Runner, raw_hash
from maildesk.stage import Context
from maildesk.store import Store
from maildesk.tokens import write_secret

START = datetime(2026, 11, 2, 10, 0, tzinfo=timezone.utc)


def dovecot_mailbox(tmp_path: Path, dovecot: Any) -> dict:
    """A ``[[mailbox]]`` for the Dovecot test server (its password in a file beside the config)."""
    (tmp_path / "imap.pw").write_text(dovecot.password)
    return {"name": "support", "kind": "imap", "host": dovecot.host, "port": dovecot.port, "security": "none",
            "username": dovecot.user, "password_file": "imap.pw", "idle": False, "poll_seconds": 1}


def smtp_outbound(smtp: Any, **options: Any) -> dict:
    """An ``[outbound]`` for the aiosmtpd test server, in plain text."""
    return {"kind": "smtp", "host": "127.0.0.1", "port": smtp.port, "security": "none", **options}


def make_desk(tmp_path: Path, *, mailboxes: list[dict] | None = None, limits: dict | None = None,
              tiers: list[dict] | None = None, outbound: dict | None = None, notify: dict | None = None,
              routing: dict | None = None, rules: list[dict] | None = None, security: dict | None = None,
              sla: dict | None = None, timers: dict | None = None, desk: dict | None = None,
              metrics: dict | None = None, business_hours: dict | None = None,
              digest: dict | None = None) -> Desk:
    data: dict = {"desk": {"name": "Example Support", "address": "support@example.test", "data_dir": "var",
                           **(desk or {})}}
    sections = {"mailbox": mailboxes, "limits": limits or None, "tier": tiers, "outbound": outbound,
                "notify": notify, "routing": routing, "rule": rules, "security": security, "sla": sla,
                "timers": timers, "metrics": metrics, "business_hours": business_hours, "digest": digest}
    data.update({key: value for key, value in sections.items() if value is not None})
    config = build(data, base=tmp_path, source=tmp_path / "maildesk.toml")
    if not config.desk.secret_file.exists():
        write_secret(config.desk.secret_file)
    return Desk.load(config, clock=ManualClock(START))


@dataclass
class Harness:
    desk: Desk
    store: Store
    runner: Runner

    def take(self, data: bytes, *, mailbox: str = "test", ref: str | None = None) -> Outcome:
        origin = Origin(mailbox, ref or raw_hash(data))
        return self.runner.process(RawMessage(origin, data, self.desk.clock()))

    def ticket_count(self) -> int:
        return int(self.store.db.execute("SELECT COUNT(*) FROM tickets").fetchone()[0])

    def message_count(self) -> int:
        return int(self.store.db.execute("SELECT COUNT(*) FROM messages").fetchone()[0])


def harness(tmp_path: Path, **kw: object) -> Harness:
    desk = make_desk(tmp_path, **kw)  # type: ignore[arg-type]
    store = desk.open_store()
    return Harness(desk, store, Runner(Context(desk, store)))
