"""The desk's health in one report: daemon, mailboxes, outbox, quarantine and timers, judged ok/warn/fail."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from maildesk.desk import Desk
from maildesk.errors import StoreUnavailable
from maildesk.store import Store
from maildesk.store.faults import FaultLog, StorageFault, storage_error
from maildesk.store.health import PageCheck
from maildesk.store.operations import MailboxHealth

Level = Literal["ok", "warn", "fail"]

HEARTBEAT_STALE = timedelta(minutes=2)  # the daemon beats every 30 s
FETCH_STALE = timedelta(minutes=30)  # a connected mailbox is looked at least every 10 min (IDLE renewal)
OUTBOX_STUCK = timedelta(minutes=30)  # a notice queued this long is not going out
TIMER_GRACE = timedelta(minutes=15)  # an SLA timer this far past due is not being fired
CHECK_BUDGET = 5.0  # seconds PRAGMA quick_check may take (0.7-2.3 ms per MB: BENCHMARKS.md)


@dataclass(frozen=True)
class Finding:
    level: Level
    subject: str  # "daemon", "mailbox support", "outbox" ...
    detail: str


@dataclass(frozen=True)
class MailboxStatus:
    name: str
    kind: str
    connected: bool | None  # None: never checked
    last_fetch_at: datetime | None
    last_error: str
    last_error_at: datetime | None
    failing_since: datetime | None
    uidvalidity: int | None
    on_server: int | None  # at the last reconciliation
    waiting: int | None
    missing: int | None
    missing_refs: tuple[str, ...]
    reconciled_at: datetime | None
    stored: int  # messages ever taken in from it


@dataclass(frozen=True)
class StatusReport:
    now: datetime
    daemon: dict[str, Any] | None
    mailboxes: tuple[MailboxStatus, ...]
    outbox: dict[str, Any]
    quarantine: dict[str, int]
    timers: dict[str, int]
    findings: tuple[Finding, ...]
    storage: dict[str, Any]  # the page check and the storage failures recorded beside the database

    @property
    def healthy(self) -> bool:
        return all(f.level != "fail" for f in self.findings)

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["healthy"] = self.healthy
        return _plain(data)


def check(desk: Desk, *, budget: float | None = CHECK_BUDGET) -> StatusReport:
    """Open the database and gather the report; a database that cannot even be opened is reported, not raised."""
    try:
        store = desk.open_store()
    except StoreUnavailable as exc:
        return _unreadable(desk, _storage(_faults(desk), None, exc))
    try:
        return gather(desk, store, budget=budget)
    finally:
        store.close()


def gather(desk: Desk, store: Store, *, budget: float | None = CHECK_BUDGET) -> StatusReport:
    """Read everything `status` shows from the database and judge it.

    ``PRAGMA quick_check`` runs first for up to ``budget`` seconds (None: not at all); a database
    too broken to answer the other queries still gives a report, of its storage alone.
    """
    faults = _faults(desk)
    pages, broken = _check_pages(store, budget)
    try:
        return _gather(desk, store, _storage(faults, pages, broken))
    except Exception as exc:
        failure = storage_error(exc)
        if failure is None:
            raise
        return _unreadable(desk, _storage(faults, pages, broken or failure))


def _faults(desk: Desk) -> tuple[StorageFault, ...]:
    return FaultLog(desk.db_path).read(cfg.name for cfg in desk.config.mailboxes)


def _check_pages(store: Store, budget: float | None) -> tuple[PageCheck | None, StoreUnavailable | None]:
    if budget is None:
        return None, None
    try:
        return store.gauges.check_pages(budget), None
    except StoreUnavailable as exc:
        return None, exc


def _gather(desk: Desk, store: Store, storage: dict[str, Any]) -> StatusReport:
    now, gauges = desk.clock(), store.gauges
    beat = store.health.heartbeat()
    daemon = None if beat is None else asdict(beat)
    health = {h.mailbox: h for h in store.health.all()}
    stored = gauges.stored_by_mailbox()
    mailboxes = tuple(_mailbox(cfg.name, cfg.kind, health.get(cfg.name), stored.get(cfg.name, 0))
                      for cfg in desk.config.mailboxes)
    counts = gauges.outbox_counts()
    outbox = {"queued": counts.get("queued", 0) + counts.get("sending", 0), "retrying": gauges.outbox_retrying(),
              "failed": counts.get("failed", 0), "sent": counts.get("sent", 0),
              "oldest_queued_seconds": gauges.oldest_queued_age(now), "last_error": gauges.outbox_last_error()}
    timers = {"pending": gauges.timers_pending(), "overdue": gauges.timers_overdue(now - TIMER_GRACE)}
    quarantine = gauges.quarantine_by_kind()
    alive = daemon is not None and not daemon["stopped_at"] and now - daemon["heartbeat_at"] <= HEARTBEAT_STALE
    failing = bool(storage["failing"]) or storage["check"] == "failed"
    findings = (*_judge_daemon(daemon, now), *_judge_storage(storage),
                *(f for m in mailboxes for f in _judge_mailbox(m, now, alive)),
                *_judge_outbox(outbox, failing), *_judge_logins(desk, store), *_judge_rest(quarantine, timers))
    return StatusReport(now, daemon, mailboxes, outbox, quarantine, timers, tuple(findings), storage)


def _unreadable(desk: Desk, storage: dict[str, Any]) -> StatusReport:
    """The report when the database cannot answer: its storage, and nothing it would have had to tell."""
    return StatusReport(desk.clock(), None, (), {}, {}, {}, tuple(_judge_storage(storage)), storage)


def _storage(faults: tuple[StorageFault, ...], pages: PageCheck | None,
             failure: StoreUnavailable | None) -> dict[str, Any]:
    """The report's ``storage`` section: the page check's result and each place's recorded failure."""
    kind = "corrupt"
    if failure is not None:
        check, detail, kind = "failed", str(failure), getattr(failure, "kind", "unavailable")
    elif pages is None:
        check, detail = "skipped", ""
    else:
        check = {True: "ok", False: "failed", None: "unfinished"}[pages.ok]
        detail = "; ".join(pages.problems[:3])
    return {"check": check, "check_detail": detail, "check_kind": kind if check == "failed" else "",
            "check_seconds": pages.seconds if pages else None, "failing": [asdict(f) for f in faults]}


_ADVICE = {"corrupt": ": restore a backup (README: Backups)", "full": ": make room for the database"}


def _judge_storage(storage: dict[str, Any]) -> list[Finding]:
    found = [Finding("fail", "storage", f"{f['place']}: {f['error']} (since {f['at'].isoformat(timespec='seconds')}"
                     f", pid {f['pid']}){_ADVICE.get(f['kind'], '')}") for f in storage["failing"]]
    check, detail, seconds = storage["check"], storage["check_detail"], storage["check_seconds"]
    if check == "failed":
        found.append(Finding("fail", "storage", f"the database cannot be read: {detail}"
                             f"{_ADVICE.get(storage['check_kind'], '')}"))
    elif check == "unfinished":
        found.append(Finding("warn", "storage", f"quick_check did not finish in {seconds:.0f} s; failures the "
                             "daemon meets are still shown here"))
    elif check == "ok" and not found:
        found.append(Finding("ok", "storage", f"quick_check passed in {seconds * 1000:.0f} ms"))
    return found


def _mailbox(name: str, kind: str, h: MailboxHealth | None, stored: int) -> MailboxStatus:
    if h is None:
        return MailboxStatus(name, kind, None, None, "", None, None, None, None, None, None, (), None, stored)
    return MailboxStatus(name, kind, h.connected, h.last_fetch_at, h.last_error, h.last_error_at, h.failing_since,
                         h.uidvalidity, h.on_server, h.waiting, h.missing, h.missing_refs, h.reconciled_at, stored)


def _judge_daemon(daemon: dict[str, Any] | None, now: datetime) -> list[Finding]:
    if daemon is None:
        return [Finding("warn", "daemon", "has never run here (fine when `maildesk run --once` runs from cron)")]
    if daemon["stopped_at"] is not None:
        return [Finding("fail", "daemon", f"stopped at {daemon['stopped_at'].isoformat(timespec='seconds')} "
                        f"(pid {daemon['pid']})")]
    age = now - daemon["heartbeat_at"]
    if age > HEARTBEAT_STALE:
        return [Finding("fail", "daemon", f"not running: last seen {_ago(age)} ago (pid {daemon['pid']})")]
    return [Finding("ok", "daemon", f"running (pid {daemon['pid']}, version {daemon['version']})")]


def _judge_mailbox(m: MailboxStatus, now: datetime, daemon_alive: bool) -> list[Finding]:
    subject = f"mailbox {m.name}"
    if m.connected is None:
        return [Finding("warn", subject, "not checked yet")]
    found = []
    if m.failing_since is not None:
        found.append(Finding("fail", subject, f"failing since {m.failing_since.isoformat(timespec='seconds')}: "
                             f"{m.last_error}"))
    elif daemon_alive and m.last_fetch_at is not None and now - m.last_fetch_at > FETCH_STALE:
        found.append(Finding("fail", subject, f"not read for {_ago(now - m.last_fetch_at)}"))
    if m.missing:
        shown = ", ".join(m.missing_refs[:5]) + (" ..." if m.missing > 5 else "")
        found.append(Finding("fail", subject, f"{m.missing} message(s) on the server were never stored: {shown}"))
    if not found:
        found.append(Finding("ok", subject, "working" + (f", {m.waiting} waiting" if m.waiting else "")))
    return found


def _judge_outbox(outbox: dict[str, Any], storage_failing: bool = False) -> list[Finding]:
    found = []
    oldest = outbox["oldest_queued_seconds"]
    why = f" (last error: {outbox['last_error']})" if outbox["last_error"] else ""
    if storage_failing and outbox["queued"]:
        found.append(Finding("fail", "outbox", f"{outbox['queued']} notice(s) waiting while the database fails"
                             f"{why}"))
    elif oldest is not None and timedelta(seconds=oldest) > OUTBOX_STUCK:
        found.append(Finding("fail", "outbox", f"{outbox['queued']} notice(s) waiting, the oldest for "
                             f"{_ago(timedelta(seconds=oldest))}{why}"))
    elif outbox["retrying"]:
        found.append(Finding("warn", "outbox", f"{outbox['retrying']} notice(s) failed once and are retried{why}"))
    return found or [Finding("ok", "outbox", f"{outbox['queued']} waiting")]


def _judge_logins(desk: Desk, store: Store) -> list[Finding]:
    """Every OAuth2 login that needs an admin's sign-in and has none stored yet."""
    logins = [(f"mailbox {m.name}", m.name, m.oauth) for m in desk.config.mailboxes]
    if desk.config.outbound is not None:
        logins.append(("outbound", "outbound", desk.config.outbound.oauth))
    return [Finding("fail", subject, f"no OAuth2 login stored: run `maildesk auth login {name}`")
            for subject, name, oauth in logins
            if oauth is not None and not oauth.service and store.tokens.get(name) is None]


def _judge_rest(quarantine: dict[str, int], timers: dict[str, int]) -> list[Finding]:
    found = []
    if quarantine.get("error"):
        found.append(Finding("warn", "quarantine", f"{quarantine['error']} message(s) could not be processed: "
                             "see `maildesk quarantine list`"))
    if timers["overdue"]:
        found.append(Finding("fail", "timers", f"{timers['overdue']} SLA timer(s) overdue by more than "
                             f"{_ago(TIMER_GRACE)}: is the daemon running?"))
    return found


def _ago(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def render_text(report: StatusReport) -> str:
    """The report for a terminal: one line per finding, then the numbers."""
    marks = {"ok": "ok  ", "warn": "WARN", "fail": "FAIL"}
    lines = [f"maildesk: {'healthy' if report.healthy else 'UNHEALTHY'}"]
    lines += [f"  {marks[f.level]} {f.subject}: {f.detail}" for f in report.findings]
    for m in report.mailboxes:
        lines.append(f"  mailbox {m.name} ({m.kind}): stored {m.stored}, on server {_n(m.on_server)}, waiting "
                     f"{_n(m.waiting)}, missing {_n(m.missing)}, UIDVALIDITY {_n(m.uidvalidity)}, last fetch "
                     f"{m.last_fetch_at.isoformat(timespec='seconds') if m.last_fetch_at else '-'}")
    o = report.outbox
    if not o:  # the database could not tell
        return "\n".join(lines)
    lines.append(f"  outbox: {o['queued']} queued, {o['retrying']} retrying, {o['failed']} failed, {o['sent']} sent")
    held = ", ".join(f"{n} {kind}" for kind, n in sorted(report.quarantine.items())) or "empty"
    lines.append(f"  quarantine: {held}")
    lines.append(f"  SLA timers: {report.timers['pending']} pending, {report.timers['overdue']} overdue")
    return "\n".join(lines)


def _n(value: int | None) -> str:
    return "-" if value is None else str(value)
