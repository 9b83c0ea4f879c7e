"""SASL initial responses for token logins: XOAUTH2 and OAUTHBEARER (RFC 7628)."""

from __future__ import annotations

import json

_FORBIDDEN = ("\x01", "\r", "\n")


def _check(name: str, value: str) -> None:
    if not value:
        raise ValueError(f"{name} is empty")
    if any(char in value for char in _FORBIDDEN):
        raise ValueError(f"{name} contains a control character (\\x01, CR or LF)")


def xoauth2(user: str, token: str) -> bytes:
    """``user=U^Aauth=Bearer T^A^A``: the XOAUTH2 format of Google and Microsoft."""
    _check("user", user)
    _check("token", token)
    return f"user={user}\x01auth=Bearer {token}\x01\x01".encode()


def escape_authzid(user: str) -> str:
    """RFC 5801 saslname escaping: ``=`` becomes ``=3D`` and ``,`` becomes ``=2C``."""
    return user.replace("=", "=3D").replace(",", "=2C")


def oauthbearer(user: str, token: str, *, host: str = "", port: int | None = None) -> bytes:
    """The RFC 7628 client response: gs2 header ``n,a=USER,`` then the key/value pairs."""
    _check("user", user)
    _check("token", token)
    if any(char in host for char in _FORBIDDEN):
        raise ValueError("host contains a control character (\\x01, CR or LF)")
    parts = [f"n,a={escape_authzid(user)},"]
    if host:
        parts.append(f"host={host}")
    if port is not None:
        parts.append(f"port={int(port)}")
    parts.append(f"auth=Bearer {token}")
    return ("\x01".join(parts) + "\x01\x01").encode()


def parse_oauthbearer_error(data: bytes) -> dict[str, str]:
    """The server's JSON failure challenge (RFC 7628 section 3.2.2); {} when it is not one.

    Values are returned as strings (``status``, ``scope``, ``openid-configuration``, ...).
    """
    try:
        parsed = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return {}
    if not isinstance(parsed, dict):
        return {}
    return {str(key): str(value) for key, value in parsed.items()
            if isinstance(value, (str, int, float)) and not isinstance(value, bool)}
