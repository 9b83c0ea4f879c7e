"""OAuth2 for mailboxes and outbound SMTP: provider endpoints, token flows, SASL strings, stored tokens."""

from __future__ import annotations

from typing import Protocol


class TokenSource(Protocol):
    """OAuth2 access tokens for one login; ``fresh`` asks for a new one (the server refused the last)."""

    def token(self, *, fresh: bool = False) -> str: ...


__all__ = ["TokenSource"]
