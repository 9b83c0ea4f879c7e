"""The [outbound], [notify] and [[tier]] sections: where notices go, how they look, who gets alerts."""

from __future__ import annotations

import os
import re
import ssl
from dataclasses import dataclass
from email import policy
from pathlib import Path
from typing import Any

from maildesk.config.auth import SERVER_OPTIONS, OAuthConfig, read_oauth
from maildesk.config.schema import Option, Problems, in_range, is_address, is_name, one_of, read_table, show
from maildesk.errors import ConfigError
from maildesk.models import Address

DEFAULT_PORTS = {"ssl": 465, "starttls": 587, "none": 25}


@dataclass(frozen=True)
class OutboundConfig:
    kind: str  # "smtp" | "maildir"
    sender: Address  # the From of every notice
    path: Path | None = None  # maildir: where notices are written
    host: str = ""
    port: int = 587
    security: str = "starttls"
    username: str = ""
    password_env: str = ""
    password_file: Path | None = None
    daily_auto_limit: int = 20
    helo_name: str = ""  # the name given in EHLO; "" = this host's fully qualified name
    ca_file: Path | None = None  # trust this CA (PEM) for the server's certificate, not the system's
    oauth: OAuthConfig | None = None  # auth = "oauth2": AUTH XOAUTH2 with a token instead of a password

    def tls_context(self) -> ssl.SSLContext | None:
        """The TLS settings for a private CA; None: the system trust store."""
        return ssl.create_default_context(cafile=str(self.ca_file)) if self.ca_file else None

    def password(self) -> str:
        """The SMTP password from its configured source; '' without one."""
        return read_password(self.password_env, self.password_file, "outbound")


#: Programs and scripts a mail client would run: listed in notices, never attached.
NEVER_ATTACHED = (".exe", ".com", ".bat", ".cmd", ".scr", ".pif", ".msi", ".msp", ".dll", ".cpl", ".js", ".jse",
                  ".vbs", ".vbe", ".wsf", ".wsh", ".hta", ".ps1", ".psm1", ".jar", ".sh", ".lnk", ".reg", ".iso",
                  ".application", ".appx", ".msix", ".docm", ".xlsm", ".pptm")


@dataclass(frozen=True)
class NotifyConfig:
    enabled: bool = True  # queue acknowledgements and alerts at all
    templates_dir: Path | None = None
    help_links: tuple[tuple[str, str], ...] = ()  # (title, url) for acknowledgements
    attach_max_bytes: int = 10_000_000  # files a notice to agents carries, in all; the rest are listed
    attach_never: tuple[str, ...] = NEVER_ATTACHED  # file name endings only ever listed, never attached


@dataclass(frozen=True)
class TierConfig:
    name: str
    agents: tuple[str, ...] = ()
    assign: str = ""  # how new tickets get an owner: "" (agents take them), "round-robin", "least-open"
    vendor: bool = False  # an outside vendor: its members get escalations, never command, never reach customers


def check_password_source(raw: Any, values: dict[str, Any], where: str, problems: Problems) -> None:
    """At most one password source, and never the password itself in the file."""
    if values["password_env"] and values["password_file"]:
        problems.add(f"{where}.password_file", "give password_env or password_file, not both")
    if isinstance(raw, dict) and "password" in raw:
        problems.add(f"{where}.password", "never put a password in the file: use password_env or password_file")


def read_password(env: str, file: Path | None, key: str) -> str:
    """A password from an environment variable or a file, never from the TOML itself."""
    if env:
        value = os.environ.get(env)
        if value is None:
            raise ConfigError(f"{key}.password_env", f"environment variable {env} is not set")
        return value
    if file:
        try:
            return file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"{key}.password_file", f"cannot read {file}: {exc.strerror}") from exc
    return ""


OUTBOUND = {
    "kind": Option(str, "maildir", one_of("smtp", "maildir")),
    "path": Option(str, ""),
    "security": Option(str, "starttls", one_of("ssl", "starttls", "none")),
    "from": Option(str, ""),
    "daily_auto_limit": Option(int, 20, in_range(0, 100_000)),
    "helo_name": Option(str, ""),
    **SERVER_OPTIONS,
}

NOTIFY = {
    "enabled": Option(bool, True),
    "templates_dir": Option(str, ""),
    "help_links": Option(list, []),
    "attach_max_bytes": Option(int, 10_000_000, in_range(0, 100_000_000)),
    "attach_never": Option(list, list(NEVER_ATTACHED)),
}

TIER = {
    "name": Option(str, check=is_name),
    "agents": Option(list, []),
    "assign": Option(str, "", one_of("", "round-robin", "least-open")),
    "vendor": Option(bool, False),
}


def _sender(value: str, desk_name: str, desk_address: str, problems: Problems) -> Address:
    if not value:
        return Address(desk_address.lower(), desk_name)
    try:
        found = policy.default.header_factory("from", value).addresses
    except Exception:  # the stdlib parser fails on some garbage
        found = ()
    if len(found) != 1 or is_address(found[0].addr_spec):
        problems.add("outbound.from", f"expected one address like \"Support <support@example.test>\", got {show(value)}")
        return Address(desk_address.lower(), desk_name)
    return Address(found[0].addr_spec.lower(), found[0].display_name)


def is_host_name(value: str) -> bool:
    """A DNS name or an address literal such as [192.0.2.1]: what EHLO may carry."""
    return bool(re.fullmatch(r"\[[0-9A-Fa-f:.]+\]|(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*"
                             r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?", value))


def read_outbound(raw: Any, *, base: Path, data_dir: Path, desk_name: str, desk_address: str,
                  problems: Problems) -> OutboundConfig:
    v = read_table(raw, "outbound", OUTBOUND, problems)
    if v["kind"] == "smtp" and not v["host"]:
        problems.add("outbound.host", 'required for kind = "smtp"')
    check_password_source(raw, v, "outbound", problems)
    oauth = read_oauth(raw, v, "outbound", base, problems)
    if oauth is not None and not v["username"]:
        problems.add("outbound.username", 'required with auth = "oauth2": the account the token is for')
    if v["username"] and oauth is None and not (v["password_env"] or v["password_file"]):
        problems.add("outbound.username", "a username needs a password source: password_env or password_file")
    ca_file = base / v["ca_file"] if v["ca_file"] else None
    if ca_file is not None and not ca_file.is_file():
        problems.add("outbound.ca_file", f"file not found: {ca_file}")
    if v["helo_name"] and not is_host_name(v["helo_name"]):
        problems.add("outbound.helo_name", f"expected a host name, got {show(v['helo_name'])}")
    return OutboundConfig(
        kind=v["kind"], sender=_sender(v["from"], desk_name, desk_address, problems),
        path=base / v["path"] if v["path"] else data_dir / "outbox", host=v["host"],
        port=v["port"] or DEFAULT_PORTS.get(v["security"], 587), security=v["security"], username=v["username"],
        password_env=v["password_env"], password_file=base / v["password_file"] if v["password_file"] else None,
        daily_auto_limit=v["daily_auto_limit"], helo_name=v["helo_name"], ca_file=ca_file, oauth=oauth,
    )


def read_notify(raw: Any, *, base: Path, problems: Problems) -> NotifyConfig:
    v = read_table(raw, "notify", NOTIFY, problems)
    links = []
    for i, link in enumerate(v["help_links"]):
        where = f"notify.help_links[{i}]"
        if not isinstance(link, dict) or set(link) != {"title", "url"} or not all(
                isinstance(x, str) for x in link.values()):
            problems.add(where, f'expected {{ title = "...", url = "https://..." }}, got {show(link)}')
        elif not link["url"].startswith(("https://", "http://")):
            problems.add(f"{where}.url", f"expected an http(s) URL, got {show(link['url'])}")
        else:
            links.append((link["title"], link["url"]))
    never = []
    for i, ending in enumerate(v["attach_never"]):
        if not isinstance(ending, str) or not re.fullmatch(r"\.[A-Za-z0-9_+-]{1,16}", ending):
            problems.add(f"notify.attach_never[{i}]", f'expected a file name ending like ".exe", got {show(ending)}')
        else:
            never.append(ending.lower())
    return NotifyConfig(enabled=v["enabled"], templates_dir=base / v["templates_dir"] if v["templates_dir"] else None,
                        help_links=tuple(links), attach_max_bytes=v["attach_max_bytes"], attach_never=tuple(never))


def address_list(raw: list[Any], key: str, problems: Problems, *, desk_address: str | None,
                 role: str = "an agent") -> list[str]:
    """People's addresses (a tier's agents, the admins), lower-cased; the desk's own address and
    repeats are refused."""
    agents: list[str] = []
    for j, agent in enumerate(raw):
        problem = f"expected an email address, got {show(agent)}" if not isinstance(agent, str) else is_address(agent)
        if not problem and agent.lower() == (desk_address or "").lower():
            problem = f"{show(agent)} is the desk's own address: it cannot be {role} (its mail would loop)"
        if not problem and agent.lower() in agents:
            problem = f"{show(agent)} is listed twice"
        if problem:
            problems.add(f"{key}[{j}]", problem)
        else:
            agents.append(agent.lower())
    return agents


def read_tiers(raw: Any, problems: Problems, *, desk_address: str | None = None) -> tuple[TierConfig, ...]:
    """The [[tier]] list in escalation order; without one, L1, L2 and L3 with no agents."""
    if raw is None:
        return tuple(TierConfig(name) for name in ("L1", "L2", "L3"))
    if not isinstance(raw, list) or not raw:
        problems.add("tier", f"expected a non-empty list of [[tier]] tables, got {show(raw)}")
        return ()
    tiers: list[TierConfig] = []
    for i, item in enumerate(raw):
        v = read_table(item, f"tier[{i}]", TIER, problems)
        agents = address_list(v["agents"], f"tier[{i}].agents", problems, desk_address=desk_address)
        if v["name"] in {t.name for t in tiers}:
            problems.add(f"tier[{i}].name", f"duplicate tier name {show(v['name'])}")
        elif v["name"]:
            if v["assign"] and not agents:
                problems.add(f"tier[{i}].assign", f"{show(v['assign'])} needs agents to assign to")
            tiers.append(TierConfig(v["name"], tuple(agents), v["assign"], v["vendor"]))
    return tuple(tiers)
