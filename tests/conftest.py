"""Shared pytest fixtures for the maildesk tests."""

from imapserver import dovecot, make_dovecot
from oauthserver import oauth_server
from smtpserver import make_smtp_server, smtp_server

__all__ = ["dovecot", "make_dovecot", "make_smtp_server", "oauth_server", "smtp_server"]
