"""How a mailbox or the outbound server is logged in to: a password source, or OAuth2 keys."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from maildesk.auth.providers import PROVIDERS
from maildesk.config.schema import Option, Problems, in_range, one_of, show

GRANTS = ("device_code", "authorization_code", "client_credentials")
_TENANTS_FOR_USERS = ("", "common", "organizations", "consumers")

# Merged into the [[mailbox]] and [outbound] option tables.
AUTH_OPTIONS = {
    "auth": Option(str, "password", one_of("password", "oauth2")),
    "provider": Option(str, "", one_of("", *PROVIDERS)),
    "tenant": Option(str, ""),
    "client_id": Option(str, ""),
    "client_secret_env": Option(str, ""),
    "client_secret_file": Option(str, ""),
    "grant": Option(str, "", one_of("", *GRANTS)),
    "token_url": Option(str, ""),
    "device_url": Option(str, ""),
    "auth_url": Option(str, ""),
    "scope": Option(str, ""),
}
OAUTH_KEYS = tuple(k for k in AUTH_OPTIONS if k != "auth")

# The keys of every table that logs in to a server ([[mailbox]] with kind = "imap", [outbound]).
SERVER_OPTIONS = {
    "host": Option(str, ""),
    "port": Option(int, 0, in_range(0, 65535)),
    "username": Option(str, ""),
    "password_env": Option(str, ""),
    "password_file": Option(str, ""),
    "ca_file": Option(str, ""),
    **AUTH_OPTIONS,
}


@dataclass(frozen=True)
class OAuthConfig:
    """One OAuth2 client registration: where tokens come from and which flow gets the first one.

    ``device_code`` (Microsoft's default): an admin signs in once with ``maildesk auth login``,
    entering a code at the provider; ``authorization_code`` (Google's default: its device flow
    does not grant the mail scope): the same command opens a browser sign-in that comes back to
    a loopback address. Either way the refresh token is kept (sealed) in the database.
    ``client_credentials``: the app's own secret gets access tokens directly (Microsoft 365
    service access); nothing is stored but the access token.
    """

    provider: str
    client_id: str
    key: str  # the TOML table the keys came from, e.g. "mailbox[0]" or "outbound"
    tenant: str = ""
    client_secret_env: str = ""
    client_secret_file: Path | None = None
    grant: str = "device_code"
    token_url: str = ""
    device_url: str = ""
    scope: str = ""
    auth_url: str = ""

    @property
    def service(self) -> bool:
        return self.grant == "client_credentials"

    def client_secret(self) -> str:
        """The client secret from its source ('' for a public client); never from the TOML."""
        from maildesk.config.outbound import read_password

        return read_password(self.client_secret_env, self.client_secret_file, self.key)


def read_oauth(raw: Any, values: dict[str, Any], where: str, base: Path, problems: Problems) -> OAuthConfig | None:
    """The OAuth2 settings of one table whose ``auth = "oauth2"``; None for password logins.

    With password auth, any OAuth2 key is a mistake worth naming; with OAuth2, a password source is.
    """
    if values["auth"] != "oauth2":
        for key in OAUTH_KEYS:
            if isinstance(raw, dict) and key in raw:
                problems.add(f"{where}.{key}", 'only used with auth = "oauth2"')
        return None
    for key in ("password_env", "password_file"):
        if values.get(key):
            problems.add(f"{where}.{key}", 'auth = "oauth2" logs in with tokens, not a password')
    if isinstance(raw, dict) and "client_secret" in raw:
        problems.add(f"{where}.client_secret", "never put a secret in the file: use client_secret_env "
                     "or client_secret_file")
    _check_oauth(values, where, problems)
    secret_file = values["client_secret_file"]
    return OAuthConfig(
        provider=values["provider"] or "generic", client_id=values["client_id"], key=where,
        tenant=values["tenant"], client_secret_env=values["client_secret_env"],
        client_secret_file=base / secret_file if secret_file else None, grant=_grant(values),
        token_url=values["token_url"], device_url=values["device_url"], scope=values["scope"],
        auth_url=values["auth_url"],
    )


def _grant(values: dict[str, Any]) -> str:
    """The flow asked for, else the provider's: Google's device flow cannot get the mail scope."""
    return values["grant"] or ("authorization_code" if values["provider"] == "google" else "device_code")


def _check_oauth(v: dict[str, Any], where: str, problems: Problems) -> None:
    if not v["provider"]:
        problems.add(f"{where}.provider", f'required with auth = "oauth2": one of {", ".join(PROVIDERS)}')
    if not v["client_id"]:
        problems.add(f"{where}.client_id", 'required with auth = "oauth2"')
    if v["client_secret_env"] and v["client_secret_file"]:
        problems.add(f"{where}.client_secret_file", "give client_secret_env or client_secret_file, not both")
    has_secret = bool(v["client_secret_env"] or v["client_secret_file"])
    if v["grant"] == "client_credentials":
        if not has_secret:
            problems.add(f"{where}.grant", "client_credentials needs a client secret: client_secret_env "
                         "or client_secret_file")
        if v["provider"] == "microsoft" and v["tenant"] in _TENANTS_FOR_USERS:
            problems.add(f"{where}.tenant", "client_credentials needs your directory (tenant) id or domain, "
                         f"got {show(v['tenant'])}")
    if v["provider"] == "google" and not has_secret:
        problems.add(f"{where}.client_secret_env", "Google requires the client secret of the OAuth client: "
                     "client_secret_env or client_secret_file")
    if v["provider"] == "generic" and not v["token_url"]:
        problems.add(f"{where}.token_url", 'required with provider = "generic"')
    if v["provider"] == "google" and v["grant"] == "device_code":
        problems.add(f"{where}.grant", 'Google\'s device flow does not grant the Gmail scope: use "authorization_code" '
                     "(the default for Google)")
    if v["provider"] == "generic" and _grant(v) == "authorization_code" and not v["auth_url"]:
        problems.add(f"{where}.auth_url", 'required with provider = "generic" and grant = "authorization_code"')
    if v["provider"] == "generic" and _grant(v) == "device_code" and not v["device_url"]:
        problems.add(f"{where}.device_url", 'required with provider = "generic" and grant = "device_code"')
    for key in ("token_url", "device_url", "auth_url"):
        url = v[key]
        if url and not url.startswith(("https://", "http://127.0.0.1", "http://localhost", "http://[::1]")):
            problems.add(f"{where}.{key}", f"expected an https:// URL (plain http only on loopback), got {show(url)}")
