"""The [[mailbox]] tables: where mail comes from and how each mailbox is logged in to."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from maildesk.config.auth import SERVER_OPTIONS, OAuthConfig, read_oauth
from maildesk.config.outbound import check_password_source, read_password
from maildesk.config.schema import Option, Problems, in_range, is_name, non_empty, one_of, read_table, show


@dataclass(frozen=True)
class MailboxConfig:
    name: str
    kind: str  # "imap" | "maildir"
    path: Path | None = None
    host: str = ""
    port: int = 993
    security: str = "ssl"
    username: str = ""
    password_env: str = ""
    password_file: Path | None = None
    folder: str = "INBOX"
    processed_folder: str | None = None
    quarantine_folder: str | None = None
    idle: bool = True
    poll_seconds: int = 60
    key: str = ""  # the TOML key path, e.g. "mailbox[0]", for error messages
    ca_file: Path | None = None  # trust this CA (PEM) for the server's certificate, not the system's
    oauth: OAuthConfig | None = None  # auth = "oauth2": log in with tokens instead of a password
    reconcile_minutes: int = 10  # how often the folder is compared with what is stored; 0 = never
    timeout_seconds: int = 60  # a server silent this long on one command counts as down

    def password(self) -> str:
        """Read the password from its configured source (never from the TOML itself)."""
        return read_password(self.password_env, self.password_file, self.key)


MAILBOX = {
    "name": Option(str, check=is_name),
    "kind": Option(str, check=one_of("imap", "maildir")),
    "path": Option(str, ""),
    "security": Option(str, "ssl", one_of("ssl", "starttls", "none")),
    "folder": Option(str, "INBOX", non_empty),
    "processed_folder": Option(str, ""),
    "quarantine_folder": Option(str, ""),
    "idle": Option(bool, True),
    "poll_seconds": Option(int, 60, in_range(1, 86400)),
    "reconcile_minutes": Option(int, 10, in_range(0, 10080)),
    "timeout_seconds": Option(int, 60, in_range(1, 3600)),
    **SERVER_OPTIONS,
}


def read_mailboxes(raw: Any, base: Path, problems: Problems) -> tuple[MailboxConfig, ...]:
    """Every [[mailbox]], each with a unique name."""
    if not isinstance(raw, list):
        problems.add("mailbox", f"expected a list of [[mailbox]] tables, got {show(raw)}")
        raw = []
    boxes = [_mailbox(item, i, base, problems) for i, item in enumerate(raw)]
    names = [b.name for b in boxes if b]
    for i, name in enumerate(names):
        if name in names[:i]:
            problems.add(f"mailbox[{i}].name", f"duplicate mailbox name {show(name)}")
    return tuple(b for b in boxes if b)


def _mailbox(raw: Any, index: int, base: Path, problems: Problems) -> MailboxConfig | None:
    where = f"mailbox[{index}]"
    v = read_table(raw, where, MAILBOX, problems)
    if v["kind"] == "maildir" and not v["path"]:
        problems.add(f"{where}.path", "required for kind = \"maildir\"")
    if v["kind"] == "maildir" and v["auth"] == "oauth2":
        problems.add(f"{where}.auth", 'a maildir is read from disk: it has no login')
    if v["kind"] == "imap":
        if not v["host"]:
            problems.add(f"{where}.host", "required for kind = \"imap\"")
        if not v["username"]:
            problems.add(f"{where}.username", "required for kind = \"imap\"")
        check_password_source(raw, v, where, problems)
    oauth = read_oauth(raw, v, where, base, problems)
    ca_file = base / v["ca_file"] if v["ca_file"] else None
    if ca_file is not None and not ca_file.is_file():
        problems.add(f"{where}.ca_file", f"file not found: {ca_file}")
    if v["name"] is None or v["kind"] is None:
        return None
    port = v["port"] or {"ssl": 993}.get(v["security"], 143)
    return MailboxConfig(
        name=v["name"], kind=v["kind"], path=(base / v["path"]) if v["path"] else None,
        host=v["host"], port=port, security=v["security"], username=v["username"],
        password_env=v["password_env"], password_file=(base / v["password_file"]) if v["password_file"] else None,
        folder=v["folder"], processed_folder=v["processed_folder"] or None,
        quarantine_folder=v["quarantine_folder"] or None, idle=v["idle"], poll_seconds=v["poll_seconds"], key=where,
        ca_file=ca_file, oauth=oauth, reconcile_minutes=v["reconcile_minutes"],
        timeout_seconds=v["timeout_seconds"],
    )
