"""Load maildesk.toml (or the embedded default) into typed, frozen settings."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from maildesk.config.outbound import (
    address_list,
    NotifyConfig,
    OutboundConfig,
    TierConfig,
    read_notify,
    read_outbound,
    read_tiers,
)
from maildesk.config.metrics import MetricsConfig, read_metrics
from maildesk.config.mailbox import MailboxConfig, read_mailboxes
from maildesk.config.schema import Option, Problems, in_range, is_address, non_empty, read_table, show
from maildesk.errors import ConfigError
from maildesk.intake.limits import Limits
from maildesk.config.routing import read_routing
from maildesk.config.digest import DigestConfig, read_digest
from maildesk.config.sla import SlaConfig, read_sla
from maildesk.routing.model import RoutingConfig

ENV_VAR = "MAILDESK_CONFIG"
DEFAULT_FILE = "maildesk.toml"


@dataclass(frozen=True)
class DeskConfig:
    name: str
    address: str
    data_dir: Path
    secret_file: Path
    db_busy_timeout_ms: int = 5000
    admins: tuple[str, ...] = ()  # told by email when a mailbox stops working
    admin_alert_minutes: int = 60  # at most one alert per mailbox and problem in this time

    @property
    def domain(self) -> str:
        return self.address.rpartition("@")[2]


@dataclass(frozen=True)
class SecurityConfig:
    """Who may command by email: beyond the reply token and the From address, optionally DMARC."""

    require_dmarc: bool = False  # commands also need DKIM/DMARC pass for the agent's domain ...
    authserv_id: str = ""  # ... in the topmost Authentication-Results of this receiving server


@dataclass(frozen=True)
class TicketsConfig:
    """The ticket lifecycle's settings."""

    reopen_window_days: int = 7  # a customer's reply reopens a resolved ticket within this many days


@dataclass(frozen=True)
class Config:
    desk: DeskConfig
    mailboxes: tuple[MailboxConfig, ...]
    limits: Limits
    source: Path | None  # the file it came from; None for the embedded default
    outbound: OutboundConfig | None = None  # None only in configs built by hand in tests
    notify: NotifyConfig = NotifyConfig()
    tiers: tuple[TierConfig, ...] = ()
    intake_workers: int = 0  # processes for the pure intake steps; 0 = in the daemon itself
    routing: RoutingConfig = RoutingConfig()
    security: SecurityConfig = SecurityConfig()
    tickets: TicketsConfig = TicketsConfig()
    sla: SlaConfig = SlaConfig()
    metrics: MetricsConfig = MetricsConfig()
    digest: DigestConfig = DigestConfig()

    def tier(self, name: str) -> TierConfig | None:
        return next((t for t in self.tiers if t.name == name), None)

    @property
    def embedded(self) -> bool:
        return self.source is None

    def mailbox(self, name: str) -> MailboxConfig | None:
        return next((m for m in self.mailboxes if m.name == name), None)


DESK = {
    "name": Option(str, "maildesk", non_empty),
    "address": Option(str, check=is_address),
    "data_dir": Option(str, "var", non_empty),
    "secret_file": Option(str, "", help="defaults to <data_dir>/secret.key"),
    "db_busy_timeout_ms": Option(int, 5000, in_range(0, 600_000)),
    "admins": Option(list, []),
    "admin_alert_minutes": Option(int, 60, in_range(1, 10080)),
}

SECURITY = {
    "require_dmarc": Option(bool, False),
    "authserv_id": Option(str, ""),
}

TICKETS = {
    "reopen_window_days": Option(int, 7, in_range(0, 3650)),
}

LIMITS = {
    "max_message_bytes": Option(int, Limits.max_message_bytes, in_range(1024, 2**31)),
    "max_mime_depth": Option(int, Limits.max_mime_depth, in_range(1, 1000)),
    "max_parts": Option(int, Limits.max_parts, in_range(1, 100_000)),
    "max_header_lines": Option(int, Limits.max_header_lines, in_range(10, 100_000)),
}

def _workers(value: Any) -> str | None:
    if value == "auto" or (isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 64):
        return None
    return f'expected "auto" or a number from 0 to 64, got {show(value)}'


INTAKE = {"workers": Option((str, int), "auto", _workers)}

TOP = {"desk", "mailbox", "limits", "intake", "outbound", "notify", "tier", "routing", "rule", "security", "tickets",
       "business_hours", "sla", "timers", "metrics", "digest"}


def build(data: dict[str, Any], *, base: Path, source: Path | None) -> Config:
    """Validate parsed TOML; raise one ConfigError listing every problem."""
    problems = Problems()
    for key in data:
        if key not in TOP:
            problems.add(key, f"unknown section (known sections: {', '.join(sorted(TOP))})")
    desk_raw = data.get("desk")
    if desk_raw is None:
        problems.add("desk", "required section is missing")
        desk_raw = {}
    d = read_table(desk_raw, "desk", DESK, problems)
    data_dir = base / (d["data_dir"] or "var")
    admins = address_list(d["admins"], "desk.admins", problems, desk_address=d["address"], role="an admin")
    desk = DeskConfig(d["name"], d["address"] or "", data_dir,
                      base / d["secret_file"] if d["secret_file"] else data_dir / "secret.key",
                      d["db_busy_timeout_ms"], tuple(admins), d["admin_alert_minutes"])
    boxes = read_mailboxes(data.get("mailbox", []), base, problems)
    names = [b.name for b in boxes]
    limits = Limits(**read_table(data.get("limits", {}), "limits", LIMITS, problems))
    workers = read_table(data.get("intake", {}), "intake", INTAKE, problems)["workers"]
    outbound = read_outbound(data.get("outbound", {}), base=base, data_dir=data_dir, desk_name=desk.name or "",
                             desk_address=desk.address, problems=problems)
    notify = read_notify(data.get("notify", {}), base=base, problems=problems)
    tiers = read_tiers(data.get("tier"), problems, desk_address=desk.address)
    routing = read_routing(data, tiers=tiers, problems=problems, mailboxes=names)
    sec = read_table(data.get("security", {}), "security", SECURITY, problems)
    tickets = read_table(data.get("tickets", {}), "tickets", TICKETS, problems)
    sla = read_sla(data, problems)
    digest = read_digest(data, sla.calendar, problems)
    metrics = read_metrics(data.get("metrics", {}), problems)
    for rule in routing.rules:
        if rule.actions.sla and rule.actions.sla not in sla.policies:
            problems.add(f"{rule.key}.then.sla", f"in rule {rule.name!r}: no SLA policy {rule.actions.sla!r} "
                         f"(policies: {', '.join(sla.policies) or 'none; add [sla.NAME] tables'})")
    if sec["require_dmarc"] and not sec["authserv_id"]:
        problems.add("security.authserv_id", "required with require_dmarc = true: the receiving server's "
                     "authserv-id, as it writes it at the start of its Authentication-Results header")
    if problems:
        (key, problem), *more = problems.items
        raise ConfigError(key, problem, more=tuple(more))
    return Config(desk=desk, mailboxes=boxes, limits=limits, source=source,
                  outbound=outbound, notify=notify, tiers=tiers, routing=routing, security=SecurityConfig(**sec),
                  tickets=TicketsConfig(**tickets), sla=sla, metrics=metrics, digest=digest,
                  intake_workers=default_workers() if workers == "auto" else workers)


def default_workers() -> int:
    """One worker process per core, at most four: the daemon itself mostly waits on the disk."""
    return max(1, min(4, os.cpu_count() or 1))


def parse_toml(text: str, *, where: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("", f"{where}: not valid TOML: {exc}") from exc


def embedded_text() -> str:
    return resources.files("maildesk").joinpath("data/default.toml").read_text(encoding="utf-8")


def starter_text() -> str:
    return resources.files("maildesk").joinpath("data/starter.toml").read_text(encoding="utf-8")


def resolve_path(explicit: str | os.PathLike[str] | None) -> Path | None:
    """--config, else $MAILDESK_CONFIG, else ./maildesk.toml, else None (embedded default)."""
    if explicit:
        return Path(explicit)
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR])
    local = Path(DEFAULT_FILE)
    return local if local.exists() else None


def load_config(path: str | os.PathLike[str] | None = None, *, cwd: Path | None = None) -> Config:
    """Load the configuration the CLI would use; raise ConfigError naming the key path."""
    chosen = resolve_path(path)
    if chosen is None:
        return build(parse_toml(embedded_text(), where="embedded default"), base=cwd or Path.cwd(), source=None)
    try:
        text = chosen.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError("", f"cannot read config file {chosen}: {exc.strerror}") from exc
    return build(parse_toml(text, where=str(chosen)), base=chosen.resolve().parent, source=chosen)
