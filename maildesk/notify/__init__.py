"""Notify: outgoing notices, queued in the message's transaction and sent through the outbox.

The steps run after routing, in this order; each is a small class with a ``name`` and ``process``.
"""

from __future__ import annotations

from maildesk.notify.steps import Acknowledge, AlertTier, Readmit

NOTIFY_STEPS = (Readmit(), Acknowledge(), AlertTier())

__all__ = ["NOTIFY_STEPS"]
