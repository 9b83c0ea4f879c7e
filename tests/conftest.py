"""Shared pytest fixtures for the maildesk tests."""

from imapserver import dovecot, make_dovecot

__all__ = ["dovecot", "make_dovecot"]
