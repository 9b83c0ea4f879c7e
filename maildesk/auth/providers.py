"""Where Microsoft 365, Google and other OAuth2 providers take token and device-code requests."""

from __future__ import annotations

import re
from dataclasses import dataclass

MICROSOFT_LOGIN = "https://login.microsoftonline.com"
MICROSOFT_SCOPE = ("offline_access https://outlook.office.com/IMAP.AccessAsUser.All "
                   "https://outlook.office.com/SMTP.Send")
MICROSOFT_SERVICE_SCOPE = "https://outlook.office365.com/.default"
MICROSOFT_SHARED_TENANTS = frozenset({"common", "organizations", "consumers"})
GOOGLE_AUTH_URL = "https://accounts.google.com/o/oauth2/v2/auth"
GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token"
GOOGLE_DEVICE_URL = "https://oauth2.googleapis.com/device/code"
GOOGLE_SCOPE = "https://mail.google.com/"
PROVIDERS = ("microsoft", "google", "generic")
_TENANT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]{0,99}$")


@dataclass(frozen=True)
class Endpoints:
    """Where a provider takes token and device-code requests, and the scope asked for."""

    token_url: str
    device_url: str = ""
    scope: str = ""
    auth_url: str = ""  # where a browser signs in (the authorization-code flow)


def endpoints(provider: str, *, tenant: str = "", token_url: str = "", device_url: str = "",
              scope: str = "", service: bool = False, auth_url: str = "") -> Endpoints:
    """A provider's endpoints; explicit ``token_url``/``device_url``/``scope``/``auth_url`` win over defaults.

    ``service`` (app-only, client credentials) changes only Microsoft's defaults: the
    ``.default`` scope, and the directory's own tenant is required.
    """
    name = provider.strip().lower()
    if name == "microsoft":
        base = _microsoft_base(tenant, service)
        defaults = Endpoints(f"{base}/token", f"{base}/devicecode",
                             MICROSOFT_SERVICE_SCOPE if service else MICROSOFT_SCOPE, f"{base}/authorize")
    elif name == "google":
        defaults = Endpoints(GOOGLE_TOKEN_URL, GOOGLE_DEVICE_URL, GOOGLE_SCOPE, GOOGLE_AUTH_URL)
    elif name == "generic":
        if not token_url:
            raise ValueError("provider generic needs a token_url")
        defaults = Endpoints(token_url)
    else:
        raise ValueError(f"unknown OAuth2 provider {provider!r}; expected one of {PROVIDERS}")
    return Endpoints(token_url or defaults.token_url, device_url or defaults.device_url,
                     scope or defaults.scope, auth_url or defaults.auth_url)


def _microsoft_base(tenant: str, service: bool) -> str:
    tenant = tenant.strip() or "common"
    if not _TENANT.match(tenant):
        raise ValueError(f"invalid Microsoft tenant {tenant!r}")
    if service and tenant.lower() in MICROSOFT_SHARED_TENANTS:
        raise ValueError("app-only (service) access needs the tenant id or domain, "
                         f"not {tenant!r}")
    return f"{MICROSOFT_LOGIN}/{tenant}/oauth2/v2.0"
