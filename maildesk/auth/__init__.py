"""OAuth2 for mailboxes and outbound SMTP: provider endpoints, token flows, SASL strings, stored tokens."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from maildesk.config.auth import OAuthConfig
    from maildesk.desk import Desk


class TokenSource(Protocol):
    """OAuth2 access tokens for one login; ``fresh`` asks for a new one (the server refused the last)."""

    def token(self, *, fresh: bool = False) -> str: ...


def for_login(desk: Desk, name: str, oauth: OAuthConfig | None, subject: str) -> TokenSource | None:
    """The token keeper of one configured login (a mailbox, or "outbound"); None for a password
    login, which then never loads the OAuth2 and cryptography code."""
    if oauth is None:
        return None
    from maildesk.auth.keeper import TokenKeeper

    return TokenKeeper(name, oauth, subject=subject, open_store=desk.open_store, secret=desk.secret,
                       clock=desk.clock)


__all__ = ["TokenSource", "for_login"]
