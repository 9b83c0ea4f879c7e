"""Mailboxes: where mail comes from. One source class per ``kind``, chosen from this registry."""

from __future__ import annotations

import ssl

from collections.abc import Callable
from typing import TYPE_CHECKING

from maildesk.auth import TokenSource
from maildesk.clock import Clock
from maildesk.mailbox.base import Ledger, Settlement, Source
from maildesk.mailbox.maildir import MaildirSource

if TYPE_CHECKING:  # config imports intake, which imports the store, which imports this package
    from maildesk.config import MailboxConfig


def _maildir(cfg: MailboxConfig, clock: Clock, tokens: TokenSource | None) -> Source:
    assert cfg.path is not None
    return MaildirSource(name=cfg.name, path=cfg.path, poll_seconds=min(cfg.poll_seconds, 5), clock=clock)


def _imap(cfg: MailboxConfig, clock: Clock, tokens: TokenSource | None) -> Source:
    from maildesk.mailbox.imap import ImapSource  # imapclient is imported only there

    if cfg.oauth is not None and tokens is None:
        raise ValueError(f"mailbox {cfg.name!r} logs in with OAuth2: give it a token source")
    return ImapSource(
        name=cfg.name, host=cfg.host, port=cfg.port, security=cfg.security, username=cfg.username,
        password=cfg.password() if cfg.oauth is None else "", tokens=tokens, folder=cfg.folder, processed_folder=cfg.processed_folder,
        quarantine_folder=cfg.quarantine_folder, idle=cfg.idle, poll_seconds=cfg.poll_seconds, clock=clock,
        timeout=cfg.timeout_seconds,
        ssl_context=ssl.create_default_context(cafile=str(cfg.ca_file)) if cfg.ca_file else None,
    )


SOURCES: dict[str, Callable[[MailboxConfig, Clock, TokenSource | None], Source]] = {
    "maildir": _maildir, "imap": _imap}


def open_source(cfg: MailboxConfig, clock: Clock, *, tokens: TokenSource | None = None) -> Source:
    """Build the source for one configured mailbox (not yet connected)."""
    return SOURCES[cfg.kind](cfg, clock, tokens)


__all__ = ["Ledger", "Settlement", "Source", "SOURCES", "open_source"]
