"""Signed reply tokens: ``support+<ticket>-<role>-<mac>@domain`` addresses nobody can guess."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

MAC_CHARS = 20  # base32 characters: 100 bits
_TOKEN = re.compile(r"^(\d{1,12})-([a-z0-9]{1,24})-([a-z2-7]{%d})$" % MAC_CHARS)
SECRET_BYTES = 32


@dataclass(frozen=True)
class Claim:
    """What a verified token proves: the ticket, and who it was issued to (``c`` = customer)."""

    ticket_id: int
    role: str


def _mac(secret: bytes, ticket_id: int, role: str) -> str:
    digest = hmac.new(secret, f"maildesk-reply:{ticket_id}:{role}".encode(), hashlib.sha256).digest()
    return base64.b32encode(digest).decode().lower()[:MAC_CHARS]


def make_token(secret: bytes, ticket_id: int, role: str = "c") -> str:
    if not re.fullmatch(r"[a-z0-9]{1,24}", role):
        raise ValueError(f"bad token role: {role!r}")
    return f"{ticket_id}-{role}-{_mac(secret, ticket_id, role)}"


def verify_token(secret: bytes, token: str) -> Claim | None:
    """The claim a token makes, if its MAC is right; None for anything forged or malformed."""
    m = _TOKEN.match(token.lower())
    if not m:
        return None
    ticket_id, role, mac = int(m.group(1)), m.group(2), m.group(3)
    if not hmac.compare_digest(mac, _mac(secret, ticket_id, role)):
        return None
    return Claim(ticket_id, role)


def reply_address(desk_address: str, token: str) -> str:
    local, _, domain = desk_address.partition("@")
    return f"{local}+{token}@{domain}"


def tokens_in(addresses: tuple[str, ...] | list[str], desk_address: str) -> list[str]:
    """Tokens found in ``local+token@domain`` recipients on the desk's domain."""
    local, _, domain = desk_address.lower().partition("@")
    found = []
    for addr in addresses:
        a_local, _, a_domain = addr.lower().rpartition("@")
        if a_domain == domain and a_local.startswith(local + "+"):
            found.append(a_local[len(local) + 1:])
    return found


def load_secret(path: Path, *, create: bool = False) -> bytes:
    """Read the desk secret; with ``create``, write a new random one (mode 0600) if missing."""
    if create and not path.exists():
        write_secret(path)
    data = path.read_bytes().strip()
    if len(data) < 32:
        raise ValueError(f"secret in {path} is too short ({len(data)} bytes, need at least 32)")
    return data


def write_secret(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = path.open("x", encoding="ascii")
    try:
        path.chmod(0o600)
        fd.write(secrets.token_hex(SECRET_BYTES) + "\n")
    finally:
        fd.close()
